// Chunk planning, shards, resumable parts and their merge.
#include "extract/parts.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"
#include "io/output_files.hpp"
#include "store/features_store.hpp"
#include "store/store_common.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

std::string part_path(const std::string& parts_dir, const Chunk& c) {
  return (fs::path(parts_dir) / fmt::format("task{:05d}-{:09d}.h5", c.task, c.first)).string();
}

std::string plan_text(const ExtractPlan& plan) {
  std::ostringstream out;
  out << "key\t" << plan.key << "\n";
  for (const auto& c : plan.chunks) out << "chunk\t" << c.task << "\t" << c.first << "\t" << c.count << "\n";
  for (const auto& t : plan.tasks) out << "task\t" << t << "\n";
  return out.str();
}

std::string plan_path(const std::string& parts_dir) {
  return (fs::path(parts_dir) / "plan.txt").string();
}

// plan.txt line by line, every line checked: "key\t<key>" once, "chunk\t<task>\t<first>\t<count>"
// in decimal, "task\t<name>" with a name a store can hold. Nothing else, not even empty lines:
// the file is written by plan_text, so anything else means it was damaged.
ExtractPlan read_plan(const std::string& parts_dir) {
  const auto path = plan_path(parts_dir);
  std::ifstream in(path);
  require(in.good(), "'{}' has no plan.txt: not a parts folder of `taskfp extract`", parts_dir);
  ExtractPlan plan;
  bool have_key = false;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const auto bad = [&](const std::string& why) {
      return InputError(
          fmt::format("'{}', line {}: {}; the parts folder is damaged: remove it and extract again",
                      path, number, why));
    };
    const auto fields = split(line, '\t');
    if (fields[0] == "key" && fields.size() == 2) {
      if (have_key) throw bad("a second key");
      if (fields[1].empty()) throw bad("an empty key");
      plan.key = fields[1];
      have_key = true;
    } else if (fields[0] == "chunk" && fields.size() == 4) {
      std::size_t v[3] = {};
      for (std::size_t k = 0; k < 3; ++k) {
        const auto x = parse_number<std::size_t>(fields[k + 1]);
        if (!x) throw bad(fmt::format("chunk field '{}' is not a whole number", fields[k + 1]));
        v[k] = *x;
      }
      plan.chunks.push_back({v[0], v[1], v[2]});
    } else if (fields[0] == "task" && fields.size() == 2) {
      try {
        validate_task_name(fields[1]);
      } catch (const InputError& e) {
        throw bad(e.what());
      }
      plan.tasks.push_back(fields[1]);
    } else {
      throw bad(
          "not a line 'key', 'chunk <task> <first> <count>' or 'task <name>' (tab-separated)");
    }
  }
  require(have_key,
          "'{}' has no key line (empty or damaged); remove the parts folder and extract again",
          path);
  return plan;
}

// The plan as merge needs it: tasks (each once), chunks of listed tasks that cover every task's
// draws one after another from draw 0, the same number of draws for every task.
void validate_plan(const ExtractPlan& plan, const std::string& path) {
  const auto damaged = [&](const std::string& why) {
    return InputError(fmt::format(
        "'{}': {}; the parts folder is damaged: remove it and extract again", path, why));
  };
  if (plan.tasks.empty()) throw damaged("it lists no tasks");
  if (plan.chunks.empty()) throw damaged("it lists no chunks");
  std::set<std::string> names;
  for (const auto& t : plan.tasks)
    if (!names.insert(t).second) throw damaged(fmt::format("task '{}' appears twice", t));
  std::vector<std::size_t> draws(plan.tasks.size(), 0);  // per task: where its next chunk starts
  for (const auto& c : plan.chunks) {
    if (c.task >= plan.tasks.size())
      throw damaged(fmt::format("a chunk of task index {}, but {} tasks are listed", c.task,
                                plan.tasks.size()));
    auto& next = draws[c.task];
    if (c.first != next || c.count == 0 || c.count > SIZE_MAX - c.first)
      throw damaged(
          fmt::format("task '{}' has a chunk of draws {} to {} where its draws from {} on were due",
                      plan.tasks[c.task], c.first, c.first + c.count, next));
    next += c.count;
  }
  for (std::size_t t = 0; t < plan.tasks.size(); ++t)
    if (draws[t] != draws[0])
      throw damaged(
          fmt::format("task '{}' has {} draws in its chunks, task '{}' {}: every task has as many",
                      plan.tasks[t], draws[t], plan.tasks[0], draws[0]));
}

// Whether a dataset holds floats of 4 bytes (the h5 layer converts whatever it reads).
bool is_float32(h5::hid file, const char* name) {
  h5::Handle ds(H5Dopen2(file, name, H5P_DEFAULT));
  if (ds.get() < 0) return false;
  h5::Handle type(H5Dget_type(ds.get()));
  return type.get() >= 0 && H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 4;
}

struct PartShape {
  std::size_t rows = 0, cols = 0;
};

// A part checked against its chunk, from its attributes and dataset shapes alone (nothing large
// is read): its key, task and first draw; float32 2-D features whose rows and skipped images add
// up to the chunk's draws, and which the file can hold. Every message names the part.
PartShape check_part(const std::string& path, const ExtractPlan& plan, const Chunk& c) {
  try {
    auto file = h5::open_read(path);
    h5::Handle root = h5::group(file.get(), "/");
    for (const char* attr : {"key", "task", "first", "dim", "device"})
      require(h5::has_attr(root.get(), attr),
              "'{}' lacks the attribute '{}': not a part of `taskfp extract`", path, attr);
    require(h5::attr_string(root.get(), "key") == plan.key,
            "'{}' belongs to a different extraction", path);
    read_header(root.get(), path, "features-part", 1);
    const auto task = h5::attr_string(root.get(), "task");
    require(task == plan.tasks[c.task], "'{}' holds task '{}', its chunk is of task '{}'", path,
            task, plan.tasks[c.task]);
    const auto first = h5::attr_int(root.get(), "first");
    require(first >= 0 && static_cast<std::size_t>(first) == c.first,
            "'{}' starts at draw {}, its chunk at draw {}", path, first, c.first);
    require(h5::exists(file.get(), "features") && h5::exists(file.get(), "skipped"),
            "'{}' lacks its features or skipped dataset", path);
    const auto dims = h5::shape(file.get(), "features");
    require(dims.size() == 2, "'{}': its features are not a 2-D array (rank {})", path,
            dims.size());
    require(is_float32(file.get(), "features"), "'{}': its features are not float32", path);
    const auto skipped = h5::shape(file.get(), "skipped");
    require(skipped.size() == 1, "'{}': its skipped list is not a list (rank {})", path,
            skipped.size());
    const std::uint64_t rows = dims[0], cols = dims[1];
    require(rows <= c.count && skipped[0] == c.count - rows,
            "'{}' holds {} rows of features and {} skipped images, its chunk has {} draws: each "
            "draw gives one or "
            "the other",
            path, rows, skipped[0], c.count);
    if (rows > 0) {
      require(cols > 0 && cols <= fs::file_size(path) / sizeof(float) / rows,
              "'{}': its features claim {} x {} values, more than the file holds", path, rows,
              cols);
      const auto dim = h5::attr_int(root.get(), "dim");
      require(dim >= 0 && static_cast<std::uint64_t>(dim) == cols,
              "'{}': its dim attribute says {} features, its features have {}", path, dim, cols);
    }
    return {static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)};
  } catch (const InputError& e) {  // the h5 layer's messages do not name the file
    const std::string msg = e.what();
    if (msg.find(path) != std::string::npos) throw;
    throw InputError(fmt::format("'{}': {}", path, msg));
  }
}

}  // namespace

ExtractPlan plan_extraction(const std::vector<ImageTaskSpec>& tasks, const BackboneInfo& backbone,
                            const ExtractOptions& o, std::size_t chunk_size) {
  require(o.batch > 0 && chunk_size > 0, "batch and chunk sizes must be positive");
  require(o.samples > 0, "the images drawn per task (-n/--samples) must be at least 1");
  const std::size_t batch = static_cast<std::size_t>(o.batch);
  chunk_size = (chunk_size + batch - 1) / batch * batch;
  ExtractPlan plan;
  std::string names;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    plan.tasks.push_back(tasks[t].name);
    names += tasks[t].name + "\t" + tasks[t].describe_inputs() + "\n";
    for (std::size_t first = 0; first < o.samples; first += chunk_size)
      plan.chunks.push_back({t, first, std::min(chunk_size, o.samples - first)});
  }
  plan.key = fmt::format(
      "backbone={} weights={} precision={} samples={} seed={} batch={} chunk={} skip_bad={} "
      "max_pixels={} pre=[{}] "
      "tasks={:016x}",
      backbone.name, backbone.weights_checksum, backbone.precision, o.samples, o.seed, o.batch,
      chunk_size, o.skip_bad ? 1 : 0, o.max_image_pixels, o.preprocess.describe(),
      seed_for(0, names));
  return plan;
}

std::vector<std::size_t> shard_chunks(const ExtractPlan& plan, int shard, int shards) {
  require(shards >= 1 && shard >= 0 && shard < shards, "shard {} of {} does not exist", shard, shards);
  const std::size_t n = plan.chunks.size(), s = static_cast<std::size_t>(shards), r = static_cast<std::size_t>(shard);
  const std::size_t base = n / s, extra = n % s, first = r * base + std::min(r, extra);
  std::vector<std::size_t> out(base + (r < extra ? 1 : 0));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = first + i;
  return out;
}

ShardReport run_shard(const ExtractPlan& plan, const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                      const ExtractOptions& o, const std::string& parts_dir, int shard, int shards,
                      mpi::SharedCounter* shared) {
  fs::create_directories(parts_dir);
  const auto plan_file = plan_path(parts_dir);
  const auto text = plan_text(plan);
  bool fresh = !fs::exists(plan_file);
  std::string old_key;
  if (!fresh) {
    try {
      old_key = read_plan(parts_dir).key;
    } catch (const InputError& e) {  // a damaged plan: its parts cannot be trusted to be ours
      old_key = fmt::format("an unreadable plan.txt: {}", e.what());
    }
  }
  if (!fresh && old_key != plan.key) {
    // Another extraction's folder: taken over only when none of its chunks was finished.
    bool any_part = false;
    for (const auto& e : fs::directory_iterator(parts_dir))
      any_part |= e.path().filename().string().rfind("task", 0) == 0 && e.path().extension() == ".h5";
    if (any_part) {
      // Name the options that differ (the keys are "name=value" words), not two long keys.
      const auto words = [](const std::string& key) {  // "name=value" fields; values may hold spaces
        std::vector<std::string> out;
        std::istringstream in(key);
        for (std::string w; in >> w;) {
          const auto eq = w.find('=');
          const bool starts = eq != std::string::npos && eq > 0 &&
                              std::all_of(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(eq),
                                          [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
          if (starts || out.empty()) out.push_back(w);
          else out.back() += " " + w;
        }
        return out;
      };
      const auto now = words(plan.key), then = words(old_key);
      std::vector<std::string> differ;
      for (const auto& w : then)
        if (std::find(now.begin(), now.end(), w) == now.end()) {
          const auto name = w.substr(0, w.find('='));
          const auto here = std::find_if(now.begin(), now.end(), [&](const std::string& x) { return x.rfind(name + "=", 0) == 0; });
          differ.push_back(here == now.end() ? w : fmt::format("{} there, {} now", w, here->substr(name.size() + 1)));
        }
      throw InputError(fmt::format(
          "'{}' holds finished parts of a different extraction (options that differ: {}): rerun with its "
          "options to resume it, or remove the folder (or choose another output) to start afresh",
          parts_dir, differ.empty() ? old_key : fmt::format("{}", fmt::join(differ, "; "))));
    }
    fresh = true;
  }
  // The same key means the same plan; a plan of this key that reads differently (lines lost or
  // added by hand) is rewritten, its parts kept: merge checks each of them.
  if (!fresh) {
    std::ifstream in(plan_file);
    fresh = std::string(std::istreambuf_iterator<char>(in), {}) != text;
  }
  if (fresh) write_text_file(plan_file, text);
  ShardReport rep;
  // Which chunks: this shard's list, or (shared) whichever the counter hands out next. Progress
  // counts this worker's images; shared, it follows the chunks taken by all ranks.
  const auto mine = shared ? std::vector<std::size_t>{} : shard_chunks(plan, shard, shards);
  std::vector<std::size_t> before(plan.chunks.size() + 1, 0);  // images in the chunks before chunk k
  for (std::size_t k = 0; k < plan.chunks.size(); ++k) before[k + 1] = before[k] + plan.chunks[k].count;
  std::size_t total = shared ? before.back() : 0, done = 0;
  for (auto i : mine) total += plan.chunks[i].count;
  std::size_t next = 0;
  auto claim = [&]() -> std::optional<std::size_t> {
    if (!shared) return next < mine.size() ? std::optional(mine[next++]) : std::nullopt;
    const std::size_t k = shared->next();
    if (k >= plan.chunks.size()) return std::nullopt;
    done = before[k];
    return k;
  };
  // Chunks already in the folder (from an earlier run of the same extraction) are reused; the
  // others run through one continuous pipeline, each written as its part when done.
  std::size_t listed_task = SIZE_MAX;
  std::shared_ptr<const TaskImages> images;
  std::shared_ptr<const std::vector<std::size_t>> draw;
  auto next_job = [&]() -> std::optional<RangeJob> {
    for (auto k = claim(); k; k = claim()) {
      const auto& c = plan.chunks[*k];
      if (fs::exists(part_path(parts_dir, c))) {
        ++rep.reused;
        if (!shared) done += c.count;
        if (o.progress) o.progress(done, total);
        continue;
      }
      if (listed_task != c.task) {
        images = std::make_shared<const TaskImages>(list_task_images(tasks[c.task], o.seed, o.max_image_pixels, o.skip_bad));
        draw = std::make_shared<const std::vector<std::size_t>>(
            draw_samples(images->files.size(), o.samples, o.seed, tasks[c.task].name));
        listed_task = c.task;
      }
      return RangeJob{images, draw, c.first, c.count, *k};
    }
    return std::nullopt;
  };
  auto on_batch = [&](std::size_t n) {
    if (shared) shared->serve();  // rank 0 answers the others' requests for chunks
    done += n;
    if (o.progress) o.progress(done, total);
  };
  const std::string device = device_kind(backbone.info().device);
  auto write_part = [&](const RangeJob& job, RangeFeatures&& r) {
    const auto& c = plan.chunks[job.tag];
    h5::AtomicWrite out(part_path(parts_dir, c));
    h5::write(out.file(), "features", r.matrix());
    h5::Handle root = h5::group(out.file(), "/");
    h5::set_attr(root.get(), "key", plan.key);
    h5::set_attr(root.get(), "task", plan.tasks[c.task]);
    h5::set_attr(root.get(), "first", static_cast<std::int64_t>(c.first));
    h5::set_attr(root.get(), "dim", static_cast<std::int64_t>(r.dim));
    h5::set_attr(root.get(), "device", device);
    h5::write(out.file(), "skipped", r.skipped);
    // What listing the task learnt (its input mapping, what it ignored), once per task: on its
    // first chunk (merge_parts reads it).
    const auto listed = c.first == 0 ? listing_line(*job.images) : std::string();
    if (!listed.empty()) h5::set_attr(root.get(), "listing", listed);
    write_header(root.get(), "features-part", 1, extraction_provenance(backbone.info(), o, r.dim),
                 static_cast<std::int64_t>(r.dim));
    out.commit();
    ++rep.computed;
    rep.extract.images += r.kept;
    rep.extract.skipped.insert(rep.extract.skipped.end(), r.skipped.begin(), r.skipped.end());
    rep.extract.notes.insert(rep.extract.notes.end(), r.notes.begin(), r.notes.end());
    if (!listed.empty()) rep.extract.listed.push_back(listed);
    if (c.first == 0)
      rep.extract.unreadable_files.insert(rep.extract.unreadable_files.end(), job.images->unreadable.begin(),
                                          job.images->unreadable.end());
  };
  extract_ranges(next_job, backbone, o, on_batch, write_part);
  return rep;
}

FeatureSet merge_parts(const std::string& parts_dir) {
  const auto plan = read_plan(parts_dir);
  validate_plan(plan, plan_path(parts_dir));
  std::vector<std::string> missing;
  for (const auto& c : plan.chunks)
    if (!fs::exists(part_path(parts_dir, c)))
      missing.push_back(
          fmt::format("{} draws {}-{}", plan.tasks[c.task], c.first, c.first + c.count - 1));
  constexpr std::size_t kListed = 10;  // the message stays one readable line
  require(
      missing.empty(),
      "'{}' is incomplete: {} of {} chunks missing ({}{}); run the missing shards again", parts_dir,
      missing.size(), plan.chunks.size(),
      fmt::join(missing.begin(),
                missing.begin() + static_cast<std::ptrdiff_t>(std::min(kListed, missing.size())),
                ", "),
      missing.size() > kListed ? fmt::format(" and {} more", missing.size() - kListed)
                               : std::string());
  // Every part is checked before any is merged; one feature size for all (parts without rows,
  // every image of their chunk skipped, have none).
  std::size_t dim = 0;
  std::string dim_part;
  for (const auto& c : plan.chunks) {
    const auto path = part_path(parts_dir, c);
    const auto shape = check_part(path, plan, c);
    if (shape.rows == 0) continue;
    if (dim == 0) {
      dim = shape.cols;
      dim_part = path;
    }
    require(shape.cols == dim,
            "'{}' holds {} features per sample, '{}' holds {}: the parts of one extraction have "
            "one feature size",
            path, shape.cols, dim_part, dim);
  }
  FeatureSet out;
  {  // every part carries the same provenance (same key): the first one's serves
    const auto path = part_path(parts_dir, plan.chunks.front());
    auto file = h5::open_read(path);
    h5::Handle root = h5::group(file.get(), "/");
    out.provenance = read_header(root.get(), path, "features-part", 1);
    out.provenance.feature_dim = static_cast<std::int64_t>(dim);  // the first part may have no rows
  }
  std::vector<std::string> skipped, listed;
  std::set<std::string> devices;  // where the chunks ran
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    RangeFeatures task;
    for (const auto& c : plan.chunks) {
      if (c.task != t) continue;
      const auto path = part_path(parts_dir, c);
      auto file = h5::open_read(path);
      h5::Handle root = h5::group(file.get(), "/");
      const auto m = h5::read_f32(file.get(), "features");
      if (m.rows > 0) task.add(m.data.data(), m.rows, m.cols);
      for (auto& s : h5::read_strings(file.get(), "skipped")) skipped.push_back(std::move(s));
      if (c.first == 0 && h5::has_attr(root.get(), "listing"))
        listed.push_back(h5::attr_string(root.get(), "listing"));
      devices.insert(h5::attr_string(root.get(), "device"));
    }
    require(task.kept > 0, "task '{}': none of its drawn images could be read", plan.tasks[t]);
    out.tasks.push_back({plan.tasks[t], task.matrix()});
  }
  note_run(out.provenance, skipped, listed, {devices.begin(), devices.end()});
  return out;
}

FeatureSet merge_parts_into(const std::string& parts_dir, const std::string& out, bool keep_parts) {
  auto features = merge_parts(parts_dir);
  write_features_store(out, features);
  if (!keep_parts) std::filesystem::remove_all(parts_dir);
  return features;
}

void remove_unfinished_parts(const std::string& parts_dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(parts_dir, ec))
    if (e.path().extension() == ".h5") return;
  std::filesystem::remove_all(parts_dir, ec);
}

}  // namespace taskfp
