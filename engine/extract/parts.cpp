// Chunk planning, shards, resumable parts and their merge.
#include "extract/parts.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>
#include <sstream>

#include "core/error.hpp"
#include "core/random.hpp"
#include "io/hdf5.hpp"
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

ExtractPlan read_plan(const std::string& parts_dir) {
  const auto path = (fs::path(parts_dir) / "plan.txt").string();
  std::ifstream in(path);
  require(in.good(), "'{}' has no plan.txt: not a parts folder of `taskfp extract`", parts_dir);
  ExtractPlan plan;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind;
    std::getline(f, kind, '\t');
    if (kind == "key") {
      std::getline(f, plan.key);
    } else if (kind == "task") {
      std::string name;
      std::getline(f, name);
      plan.tasks.push_back(name);
    } else if (kind == "chunk") {
      Chunk c;
      f >> c.task >> c.first >> c.count;
      plan.chunks.push_back(c);
    }
  }
  return plan;
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp);
    out << text;
    require(out.good(), "cannot write '{}'", tmp);
  }
  fs::rename(tmp, path);
}

}  // namespace

ExtractPlan plan_extraction(const std::vector<ImageTaskSpec>& tasks, const BackboneInfo& backbone,
                            const ExtractOptions& o, std::size_t chunk_size) {
  require(o.batch > 0 && chunk_size > 0, "batch and chunk sizes must be positive");
  const std::size_t batch = static_cast<std::size_t>(o.batch);
  chunk_size = (chunk_size + batch - 1) / batch * batch;
  ExtractPlan plan;
  std::string names;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    plan.tasks.push_back(tasks[t].name);
    names += tasks[t].name + "\n";
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
                      dist::SharedCounter* shared) {
  fs::create_directories(parts_dir);
  const auto plan_path = (fs::path(parts_dir) / "plan.txt").string();
  bool fresh = !fs::exists(plan_path);
  const std::string old_key = fresh ? std::string() : read_plan(parts_dir).key;
  if (!fresh && old_key != plan.key) {
    // Another extraction's folder: taken over only when none of its chunks was finished.
    bool any_part = false;
    for (const auto& e : fs::directory_iterator(parts_dir))
      any_part |= e.path().filename().string().rfind("task", 0) == 0 && e.path().extension() == ".h5";
    require(!any_part, "'{}' holds parts of a different extraction ({}); remove it or choose another output",
            parts_dir, old_key);
    fresh = true;
  }
  if (fresh) write_text_atomically(plan_path, plan_text(plan));
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
        images = std::make_shared<const TaskImages>(list_task_images(tasks[c.task], o.seed));
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
    write_header(root.get(), "features-part", 1, extraction_provenance(backbone.info(), o, r.dim),
                 static_cast<std::int64_t>(r.dim));
    out.commit();
    ++rep.computed;
    rep.extract.images += r.kept;
    rep.extract.skipped.insert(rep.extract.skipped.end(), r.skipped.begin(), r.skipped.end());
  };
  extract_ranges(next_job, backbone, o, on_batch, write_part);
  return rep;
}

FeatureSet merge_parts(const std::string& parts_dir) {
  const auto plan = read_plan(parts_dir);
  std::vector<std::string> missing;
  for (const auto& c : plan.chunks)
    if (!fs::exists(part_path(parts_dir, c)))
      missing.push_back(fmt::format("{} draws {}-{}", plan.tasks.at(c.task), c.first, c.first + c.count - 1));
  require(missing.empty(), "'{}' is incomplete: {} of {} chunks missing ({}); run the missing shards again",
          parts_dir, missing.size(), plan.chunks.size(), fmt::join(missing, ", "));
  FeatureSet out;
  {  // every part carries the same provenance (same key): the first one's serves
    const auto path = part_path(parts_dir, plan.chunks.front());
    auto file = h5::open_read(path);
    h5::Handle root = h5::group(file.get(), "/");
    out.provenance = read_header(root.get(), path, "features-part", 1);
  }
  std::vector<std::string> skipped;
  std::set<std::string> devices;  // where the chunks ran
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    RangeFeatures task;
    for (const auto& c : plan.chunks) {
      if (c.task != t) continue;
      const auto path = part_path(parts_dir, c);
      auto file = h5::open_read(path);
      h5::Handle root = h5::group(file.get(), "/");
      require(h5::attr_string(root.get(), "key") == plan.key, "'{}' belongs to a different extraction", path);
      const auto m = h5::read_f32(file.get(), "features");
      if (m.rows > 0) task.add(m.data.data(), m.rows, m.cols);
      for (auto& s : h5::read_strings(file.get(), "skipped")) skipped.push_back(std::move(s));
      devices.insert(h5::attr_string(root.get(), "device"));
    }
    require(task.kept > 0, "task '{}': none of its drawn images could be read", plan.tasks[t]);
    out.tasks.push_back({plan.tasks[t], task.matrix()});
  }
  note_run(out.provenance, skipped, {devices.begin(), devices.end()});
  return out;
}

}  // namespace taskfp
