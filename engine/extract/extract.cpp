// Extraction pipeline: a bounded prefetch of one batch (decode + preprocess on OpenMP threads in
// a helper thread) ahead of the backbone, running on across job boundaries.
#include "extract/extract.hpp"

#include <chrono>
#include <functional>
#include <future>
#include <new>

#include "core/error.hpp"
#include "images/image.hpp"

namespace taskfp {
namespace {

struct Batch {
  std::vector<float> pixels;        // count x 3 x size x size
  std::vector<std::string> errors;  // per item: empty, or why the image was unusable
  std::vector<std::string> notes;   // per item: empty, or what decoding recovered from
};

Batch prepare(const TaskImages& images, const std::vector<std::size_t>& draw, std::size_t first,
              std::size_t count, const PreprocessOptions& pre, std::uint64_t max_pixels) {
  Batch b;
  const std::size_t per = 3 * static_cast<std::size_t>(pre.size) * static_cast<std::size_t>(pre.size);
  b.pixels.resize(count * per);
  b.errors.resize(count);
  b.notes.resize(count);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t k = draw[first + i];
    try {
      const Image image = images.read(k, max_pixels);
      if (!image.warnings.empty())
        b.notes[i] = fmt::format("'{}': {}", images.describe(k), fmt::join(image.warnings, "; "));
      preprocess_into(image, pre, b.pixels.data() + i * per);
    } catch (const std::bad_alloc&) {  // in preprocessing (read_image names its own)
      b.errors[i] = fmt::format(
          "image '{}': not enough memory to preprocess it; decode fewer images at once "
          "(-j) or refuse large images with --max-image-pixels",
          images.describe(k));
    } catch (const std::exception& e) {  // reported by the caller (no exception leaves OpenMP)
      b.errors[i] = e.what();
    }
  }
  return b;
}

}  // namespace

void extract_ranges(const std::function<std::optional<RangeJob>()>& next_job, Backbone& backbone,
                    const ExtractOptions& o, const std::function<void(std::size_t)>& on_batch,
                    const std::function<void(const RangeJob&, RangeFeatures&&)>& on_done) {
  require(o.batch > 0, "the batch size must be positive");
  const std::size_t per_batch = static_cast<std::size_t>(o.batch);
  // The batch cursor runs over the jobs in order; each batch's decoding starts when it is taken.
  struct Pending {
    RangeJob job;
    bool last = false;  // the job's last batch
    std::future<Batch> batch;
  };
  std::optional<RangeJob> job;
  std::size_t from = 0;
  auto fetch_job = [&] {
    do job = next_job();
    while (job && job->count == 0);
    if (job) from = job->first;
  };
  auto take = [&]() -> std::optional<Pending> {
    if (!job) return std::nullopt;
    const std::size_t end = job->first + job->count, n = std::min(per_batch, end - from);
    Pending p{*job, from + n == end, {}};
    p.batch = std::async(std::launch::async, [j = *job, first = from, n, &o] {
      return prepare(*j.images, *j.draw, first, n, o.preprocess, o.max_image_pixels);
    });
    from += n;
    if (from == end) fetch_job();
    return p;
  };
  fetch_job();
  auto pending = take();
  RangeFeatures out;
  while (pending) {
    Batch cur = pending->batch.get();
    Pending now = std::move(*pending);
    pending = take();  // decodes while this batch is inferred
    const std::size_t n = cur.errors.size();
    // Unusable images: stop (naming the file), or drop them and record it.
    std::vector<std::size_t> good;
    for (std::size_t i = 0; i < n; ++i) {
      if (cur.errors[i].empty()) {
        good.push_back(i);
        if (!cur.notes[i].empty()) out.notes.push_back(std::move(cur.notes[i]));
        continue;
      }
      if (!o.skip_bad) {
        if (pending) pending->batch.wait();
        throw InputError(fmt::format("task '{}': {} (pass --skip-bad to drop unreadable images)",
                                     now.job.images->name, cur.errors[i]));
      }
      out.skipped.push_back(cur.errors[i]);
    }
    if (good.size() < n) {  // compact the usable images to the front
      const std::size_t per = cur.pixels.size() / n;
      for (std::size_t g = 0; g < good.size(); ++g)
        if (good[g] != g)
          std::copy_n(cur.pixels.begin() + static_cast<std::ptrdiff_t>(good[g] * per), per,
                      cur.pixels.begin() + static_cast<std::ptrdiff_t>(g * per));
    }
    if (!good.empty()) {
      const auto f = backbone.forward(cur.pixels.data(), good.size(), o.preprocess.size);
      out.add(f.data(), good.size(), f.size() / good.size());
    }
    if (on_batch) on_batch(n);
    if (now.last) {
      on_done(now.job, std::move(out));
      out = RangeFeatures{};
    }
  }
}

void RangeFeatures::add(const float* values, std::size_t n, std::size_t d) {
  dim = d;
  rows.insert(rows.end(), values, values + n * d);
  kept += n;
}

Matrix<float> RangeFeatures::matrix() const {
  auto m = Matrix<float>::uninitialized(kept, dim);
  std::copy(rows.begin(), rows.end(), m.data.begin());
  return m;
}

std::string device_kind(const std::string& device) { return device.substr(0, device.find(':')); }

std::string listing_line(const TaskImages& images) {
  std::vector<std::string> parts;
  if (!images.inputs.empty()) parts.push_back(images.inputs);
  if (!images.unreadable.empty())
    parts.push_back(fmt::format("left out {} unreadable file{}: {}", images.unreadable.size(),
                                images.unreadable.size() == 1 ? "" : "s", fmt::join(images.unreadable, "; ")));
  if (auto summary = images.ignored.summary(); !summary.empty()) parts.push_back(std::move(summary));
  return parts.empty() ? std::string() : fmt::format("task '{}': {}", images.name, fmt::join(parts, "; "));
}

Provenance extraction_provenance(const BackboneInfo& info, const ExtractOptions& o, std::size_t dim) {
  Provenance p;
  p.backbone = info.name;
  p.weights = info.weights;
  p.weights_checksum = info.weights_checksum;
  p.preprocessing = o.preprocess.describe();
  p.feature_dim = static_cast<std::int64_t>(dim);
  p.origin = fmt::format("taskfp extract: {} samples per task, seed {}, batch {}, precision {}", o.samples, o.seed,
                         o.batch, info.precision);
  return p;
}

void note_run(Provenance& p, const std::vector<std::string>& skipped,
              const std::vector<std::string>& listed, const std::vector<std::string>& devices) {
  if (!skipped.empty())
    p.origin += fmt::format("; {} unreadable images skipped: {}", skipped.size(), fmt::join(skipped, "; "));
  for (const auto& line : listed) p.origin += "; " + line;
  p.origin += fmt::format("; computed on {}", fmt::join(devices, " and "));
}

FeatureSet extract_features(const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                            const ExtractOptions& o, ExtractReport* report) {
  require(o.samples > 0, "samples must be positive");
  const auto t0 = std::chrono::steady_clock::now();
  ExtractReport local;
  ExtractReport& rep = report ? *report : local;
  FeatureSet out;
  const std::size_t total = tasks.size() * o.samples;
  std::size_t done = 0;
  std::size_t next = 0;
  out.tasks.resize(tasks.size());
  extract_ranges(
      [&]() -> std::optional<RangeJob> {
        if (next == tasks.size()) return std::nullopt;
        const auto& spec = tasks[next];
        auto images = std::make_shared<const TaskImages>(list_task_images(spec, o.seed, o.max_image_pixels, o.skip_bad));
        auto draw = std::make_shared<const std::vector<std::size_t>>(
            draw_samples(images->files.size(), o.samples, o.seed, spec.name));
        const std::size_t count = draw->size();
        return RangeJob{std::move(images), std::move(draw), 0, count, next++};
      },
      backbone, o,
      [&](std::size_t n) {
        done += n;
        if (o.progress) o.progress(done, total);
      },
      [&](const RangeJob& job, RangeFeatures&& r) {
        require(r.kept > 0, "task '{}': none of its {} drawn images could be read", job.images->name, job.count);
        rep.images += r.kept;
        rep.skipped.insert(rep.skipped.end(), r.skipped.begin(), r.skipped.end());
        rep.notes.insert(rep.notes.end(), r.notes.begin(), r.notes.end());
        if (auto line = listing_line(*job.images); !line.empty()) rep.listed.push_back(std::move(line));
        rep.unreadable_files.insert(rep.unreadable_files.end(), job.images->unreadable.begin(),
                                    job.images->unreadable.end());
        out.tasks[job.tag] = {tasks[job.tag].name, r.matrix()};
      });
  out.provenance =
      extraction_provenance(backbone.info(), o, out.tasks.empty() ? 0 : out.tasks.front().values.cols);
  note_run(out.provenance, rep.skipped, rep.listed, {device_kind(backbone.info().device)});
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace taskfp
