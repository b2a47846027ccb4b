// Result files in JSON (nlohmann-json), scores and labels base64-packed little-endian.
#include "results.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "io/file_digest.hpp"
#include "io/output_files.hpp"

namespace taskfp::experiments {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const void* data, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const unsigned v = (b[i] << 16) | ((i + 1 < n ? b[i + 1] : 0) << 8) | (i + 2 < n ? b[i + 2] : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::vector<unsigned char> unbase64(const std::string& s) {
  int value[256];
  std::fill(std::begin(value), std::end(value), -1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (s.size() % 4 != 0) throw std::runtime_error("base64 text of a length not a multiple of 4");
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i < s.size(); i += 4) {
    unsigned v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c == '=') {
        ++pad;
        v <<= 6;
        continue;
      }
      if (value[c] < 0 || pad) throw std::runtime_error("not base64");
      v = (v << 6) | static_cast<unsigned>(value[c]);
    }
    out.push_back(static_cast<unsigned char>(v >> 16));
    if (pad < 2) out.push_back(static_cast<unsigned char>(v >> 8));
    if (pad < 1) out.push_back(static_cast<unsigned char>(v));
  }
  return out;
}

template <class T>
std::vector<T> unpack(const std::string& text) {
  static_assert(std::endian::native == std::endian::little);
  const auto bytes = unbase64(text);
  if (bytes.size() % sizeof(T) != 0) throw std::runtime_error("packed values of a broken length");
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

json to_json(const JobResult& r) {
  static_assert(std::endian::native == std::endian::little);
  return {{"format", "taskfp transfer result 1"},
          {"job", r.job},
          {"kind", r.kind},
          {"task", r.task},
          {"source", r.source},
          {"architecture", r.architecture},
          {"seed", r.seed},
          {"protocol", r.protocol},
          {"version", r.version},
          {"device", r.device},
          {"precision", r.precision},
          {"threads", r.threads},
          {"data", r.data},
          {"epochs", r.epochs},
          {"epoch_loss", r.epoch_loss},
          {"classes", r.classes},
          {"evaluation_samples", r.labels.size()},
          {"labels_int32_base64", base64(r.labels.data(), r.labels.size() * sizeof(int))},
          {"scores_float32_base64", base64(r.scores.data(), r.scores.size() * sizeof(float))},
          {"p", r.p},
          {"policy", r.policy},
          {"seconds", r.seconds},
          {"images", r.images}};
}

}  // namespace

std::string result_path(const std::string& study_dir, const std::string& job_id) {
  std::string rel;
  for (unsigned char c : job_id) {
    if (std::isalnum(c) || c == '/' || c == '_' || c == '-' || c == '.') rel += static_cast<char>(c);
    else rel += fmt::format("%{:02X}", c);
  }
  return (std::filesystem::path(study_dir) / "jobs" / (rel + ".json")).string();
}

void write_result(const std::string& path, const JobResult& result) {
  json doc = to_json(result);
  const std::string body = doc.dump();
  doc["checksum"] = text_digest(body);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_text_file(path, doc.dump() + "\n");
}

std::optional<JobResult> read_result(const std::string& path, const std::string& job, const std::string& protocol,
                                     std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "missing";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  JobResult r;
  try {
    json doc = json::parse(text.str());
    const std::string checksum = doc.at("checksum").get<std::string>();
    doc.erase("checksum");
    if (text_digest(doc.dump()) != checksum) {
      why = "damaged (its checksum does not match its content)";
      return std::nullopt;
    }
    r.job = doc.at("job").get<std::string>();
    r.kind = doc.at("kind").get<std::string>();
    r.task = doc.at("task").get<std::string>();
    r.source = doc.at("source").get<std::string>();
    r.architecture = doc.at("architecture").get<std::string>();
    r.seed = doc.at("seed").get<int>();
    r.protocol = doc.at("protocol").get<std::string>();
    r.version = doc.at("version").get<std::string>();
    r.device = doc.at("device").get<std::string>();
    r.precision = doc.at("precision").get<std::string>();
    r.threads = doc.at("threads").get<int>();
    r.data = doc.at("data").get<std::string>();
    r.epochs = doc.at("epochs").get<int>();
    r.epoch_loss = doc.at("epoch_loss").get<std::vector<double>>();
    r.classes = doc.at("classes").get<int>();
    r.labels = unpack<int>(doc.at("labels_int32_base64").get<std::string>());
    r.scores = unpack<float>(doc.at("scores_float32_base64").get<std::string>());
    r.p = doc.at("p").get<std::map<std::string, double>>();
    r.policy = doc.at("policy").get<std::string>();
    r.seconds = doc.at("seconds").get<double>();
    r.images = doc.at("images").get<std::uint64_t>();
    if (r.scores.size() != r.labels.size() * static_cast<std::size_t>(r.classes))
      throw std::runtime_error("scores and labels of different lengths");
  } catch (const std::exception& e) {
    why = fmt::format("damaged ({})", e.what());
    return std::nullopt;
  }
  if (r.job != job) {
    why = fmt::format("of another job ('{}')", r.job);
    return std::nullopt;
  }
  if (r.protocol != protocol) {
    why = "made with another protocol (config values that decide results differ)";
    return std::nullopt;
  }
  return r;
}

}  // namespace taskfp::experiments
