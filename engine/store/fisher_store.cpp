// Fisher embedding store I/O.
#include "store/fisher_store.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"
#include "store/store_common.hpp"

namespace taskfp {

std::vector<std::string> FisherSet::names() const {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.task);
  return out;
}

const FisherEmbedding& FisherSet::at(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.task == name) return t;
  throw InputError(fmt::format("no Fisher embedding for task '{}'", name));
}

namespace {

std::size_t shape_size(const std::string& shape) {
  std::size_t n = 1;
  for (const auto& part : split(shape, 'x')) {
    require(!part.empty() && part.find_first_not_of("0123456789") == std::string::npos,
            "malformed parameter shape '{}'", shape);
    n *= std::stoull(part);
  }
  return n;
}

void validate(const FisherSet& set, const std::string& where) {
  require(!set.tasks.empty(), "{} holds no tasks", where);
  require(set.parameter_names.size() == set.parameter_shapes.size() && !set.parameter_names.empty(),
          "{}: {} parameter names for {} shapes", where, set.parameter_names.size(), set.parameter_shapes.size());
  std::size_t length = 0;
  for (const auto& s : set.parameter_shapes) length += shape_size(s);
  std::set<std::string> seen;
  for (const auto& t : set.tasks) {
    validate_task_name(t.task);
    require(seen.insert(t.task).second, "{}: task '{}' appears twice", where, t.task);
    require(t.values.size() == length, "{}: task '{}' has an embedding of {} values, its parameters have {}", where,
            t.task, t.values.size(), length);
    for (std::size_t k = 0; k < t.values.size(); ++k)
      require(std::isfinite(t.values[k]), "{}: task '{}' has a non-finite Fisher value ({}) at {}", where, t.task,
              t.values[k], k);
  }
}

}  // namespace

void write_fisher_store(const std::string& path, const FisherSet& set, OutputSet* outputs) {
  validate(set, "Fisher embeddings to write");
  h5::AtomicWrite out(path, outputs);
  h5::Handle root = h5::group(out.file(), "/");
  write_header(root.get(), "fisher", kFisherSchemaVersion, set.provenance,
               static_cast<std::int64_t>(set.tasks.front().values.size()));
  h5::Handle params = h5::group(out.file(), "parameters", true);
  h5::write(params.get(), "names", set.parameter_names);
  h5::write(params.get(), "shapes", set.parameter_shapes);
  h5::Handle tasks = h5::group(out.file(), "tasks", true);
  for (const auto& t : set.tasks) {
    h5::Handle g = h5::group(tasks.get(), t.task, true);
    Matrix<float> m(1, t.values.size());
    std::copy(t.values.begin(), t.values.end(), m.data.begin());
    h5::write(g.get(), "embedding", m);
    h5::set_attr(g.get(), "head_loss", t.head_loss);
    h5::set_attr(g.get(), "fisher_images", t.fisher_images);
    h5::set_attr(g.get(), "device", t.device);
    h5::set_attr(g.get(), "probe_seconds", t.probe_seconds);
    h5::set_attr(g.get(), "seconds", t.seconds);
  }
  out.commit();
}

FisherSet read_fisher_store(const std::string& path, const std::vector<std::string>& wanted) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  FisherSet set;
  set.provenance = read_header(root.get(), path, "fisher", kFisherSchemaVersion);
  require(h5::exists(file.get(), "parameters/names") && h5::exists(file.get(), "parameters/shapes"),
          "'{}' lacks its parameter list (/parameters)", path);
  set.parameter_names = h5::read_strings(file.get(), "parameters/names");
  set.parameter_shapes = h5::read_strings(file.get(), "parameters/shapes");
  const auto available = h5::exists(file.get(), "tasks") ? h5::children(file.get(), "tasks") : std::vector<std::string>{};
  std::vector<std::string> names = wanted.empty() ? available : wanted;
  for (const auto& name : names) {
    require(std::find(available.begin(), available.end(), name) != available.end(),
            "'{}' has no Fisher embedding for task '{}'", path, name);
    h5::Handle g = h5::group(file.get(), "tasks/" + name);
    FisherEmbedding t;
    t.task = name;
    t.values = h5::read_f32_flat(g.get(), "embedding");
    if (h5::has_attr(g.get(), "head_loss")) t.head_loss = h5::attr_double(g.get(), "head_loss");
    if (h5::has_attr(g.get(), "fisher_images")) t.fisher_images = h5::attr_int(g.get(), "fisher_images");
    if (h5::has_attr(g.get(), "device")) t.device = h5::attr_string(g.get(), "device");
    if (h5::has_attr(g.get(), "probe_seconds")) t.probe_seconds = h5::attr_double(g.get(), "probe_seconds");
    if (h5::has_attr(g.get(), "seconds")) t.seconds = h5::attr_double(g.get(), "seconds");
    set.tasks.push_back(std::move(t));
  }
  validate(set, "'" + path + "'");
  require(set.provenance.feature_dim == static_cast<std::int64_t>(set.tasks.front().values.size()),
          "'{}': its header says {} values per embedding, the embeddings have {}", path, set.provenance.feature_dim,
          set.tasks.front().values.size());
  return set;
}

namespace {

// The settings lines' differing keys ("fisher_samples 200 vs 2000"), from their key=value words;
// both lines whole where they differ otherwise.
std::string settings_difference(const std::string& a, const std::string& b) {
  auto words = [](const std::string& line) {
    std::map<std::string, std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;)
      if (const auto eq = w.find('='); eq != std::string::npos) out[w.substr(0, eq)] = w.substr(eq + 1);
    return out;
  };
  const auto wa = words(a), wb = words(b);
  std::vector<std::string> keys;
  for (const auto& [k, v] : wa) {
    const auto it = wb.find(k);
    if (it == wb.end() || it->second != v)
      keys.push_back(fmt::format("{} {} vs {}", k, v, it == wb.end() ? "(none)" : it->second));
  }
  for (const auto& [k, v] : wb)
    if (!wa.count(k)) keys.push_back(fmt::format("{} (none) vs {}", k, v));
  if (keys.empty()) return fmt::format("settings '{}' vs '{}'", a, b);
  return fmt::format("settings {}", fmt::join(keys, ", "));
}

}  // namespace

FisherSet read_fisher_stores(const std::vector<std::string>& paths) {
  require(!paths.empty(), "no Fisher store given");
  FisherSet all = read_fisher_store(paths.front());
  std::map<std::string, std::string> from;  // task -> the store it came from
  for (const auto& t : all.tasks) from[t.task] = paths.front();
  for (std::size_t i = 1; i < paths.size(); ++i) {
    FisherSet more = read_fisher_store(paths[i]);
    const auto& a = all.provenance;
    const auto& b = more.provenance;
    std::vector<std::string> diffs;
    if (a.backbone != b.backbone) diffs.push_back(fmt::format("probe '{}' vs '{}'", a.backbone, b.backbone));
    if (a.weights_checksum != b.weights_checksum)
      diffs.push_back(fmt::format("weights '{}' ({}) vs '{}' ({})", a.weights, a.weights_checksum, b.weights,
                                  b.weights_checksum));
    if (a.preprocessing != b.preprocessing) diffs.push_back(settings_difference(a.preprocessing, b.preprocessing));
    if (all.parameter_names != more.parameter_names || all.parameter_shapes != more.parameter_shapes)
      diffs.push_back("kept parameters differ");
    if (!diffs.empty())
      throw ProvenanceError(fmt::format("the Fisher stores '{}' and '{}' were made with different probes or "
                                        "settings and must not be compared: {}",
                                        paths.front(), paths[i], fmt::join(diffs, "; ")));
    for (auto& t : more.tasks) {
      const auto [at, fresh] = from.try_emplace(t.task, paths[i]);
      require(fresh, "task '{}' is in two Fisher stores, '{}' and '{}'", t.task, at->second, paths[i]);
      all.tasks.push_back(std::move(t));
    }
  }
  return all;
}

}  // namespace taskfp
