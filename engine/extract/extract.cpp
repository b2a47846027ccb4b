// Extraction pipeline: a bounded prefetch of one batch (decode + preprocess on OpenMP threads in
// a helper thread) ahead of the backbone.
#include "extract/extract.hpp"

#include <chrono>
#include <functional>
#include <future>

#include "core/error.hpp"
#include "images/image.hpp"

namespace taskfp {
namespace {

struct Batch {
  std::vector<float> pixels;        // count x 3 x size x size
  std::vector<std::string> errors;  // per item: empty, or why the image was unusable
};

Batch prepare(const TaskImages& images, const std::vector<std::size_t>& draw, std::size_t first,
              std::size_t count, const PreprocessOptions& pre) {
  Batch b;
  const std::size_t per = 3 * static_cast<std::size_t>(pre.size) * static_cast<std::size_t>(pre.size);
  b.pixels.resize(count * per);
  b.errors.resize(count);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < count; ++i) {
    const auto& file = images.files[draw[first + i]];
    try {
      const auto x = preprocess(read_image(file), pre);
      std::copy(x.begin(), x.end(), b.pixels.begin() + static_cast<std::ptrdiff_t>(i * per));
    } catch (const std::exception& e) {  // reported by the caller (no exception leaves OpenMP)
      b.errors[i] = e.what();
    }
  }
  return b;
}

}  // namespace

RangeFeatures extract_range(const TaskImages& images, const std::vector<std::size_t>& draw, std::size_t first,
                            std::size_t count, Backbone& backbone, const ExtractOptions& o,
                            const std::function<void(std::size_t)>& on_batch) {
  require(o.batch > 0, "the batch size must be positive");
  RangeFeatures out;
  const std::size_t per_batch = static_cast<std::size_t>(o.batch), end = first + count;
  auto launch = [&](std::size_t from) {
    return std::async(std::launch::async, prepare, std::cref(images), std::cref(draw), from,
                      std::min(per_batch, end - from), std::cref(o.preprocess));
  };
  auto next = launch(first);
  for (std::size_t from = first; from < end; from += per_batch) {
    Batch cur = next.get();
    if (from + per_batch < end) next = launch(from + per_batch);  // overlaps inference
    const std::size_t n = cur.errors.size();
    // Unusable images: stop (naming the file), or drop them and record it.
    std::vector<std::size_t> good;
    for (std::size_t i = 0; i < n; ++i) {
      if (cur.errors[i].empty()) {
        good.push_back(i);
        continue;
      }
      if (!o.skip_bad) {
        if (next.valid()) next.wait();
        throw InputError(fmt::format("task '{}': {} (pass --skip-bad to drop unreadable images)", images.name,
                                     cur.errors[i]));
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
      out.dim = f.size() / good.size();
      out.rows.insert(out.rows.end(), f.begin(), f.end());
      out.kept += good.size();
    }
    if (on_batch) on_batch(n);
  }
  return out;
}

Provenance extraction_provenance(const BackboneInfo& info, const ExtractOptions& o, std::size_t dim,
                                 const std::vector<std::string>& skipped) {
  Provenance p;
  p.backbone = info.name;
  p.weights = info.weights;
  p.weights_checksum = info.weights_checksum;
  p.preprocessing = o.preprocess.describe();
  p.feature_dim = static_cast<std::int64_t>(dim);
  p.origin = fmt::format("taskfp extract: {} samples per task, seed {}, batch {}", o.samples, o.seed, o.batch);
  if (!skipped.empty())
    p.origin += fmt::format("; {} unreadable images skipped: {}", skipped.size(), fmt::join(skipped, "; "));
  return p;
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
  for (const auto& spec : tasks) {
    const auto images = list_task_images(spec, o.seed);
    const auto draw = draw_samples(images.files.size(), o.samples, o.seed, spec.name);
    auto r = extract_range(images, draw, 0, draw.size(), backbone, o, [&](std::size_t n) {
      done += n;
      if (o.progress) o.progress(done, total);
    });
    require(r.kept > 0, "task '{}': none of its {} drawn images could be read", spec.name, draw.size());
    rep.images += r.kept;
    rep.skipped.insert(rep.skipped.end(), r.skipped.begin(), r.skipped.end());
    TaskFeatures t;
    t.name = spec.name;
    t.values = Matrix<float>::uninitialized(r.kept, r.dim);
    std::copy(r.rows.begin(), r.rows.end(), t.values.data.begin());
    out.tasks.push_back(std::move(t));
  }
  out.provenance = extraction_provenance(backbone.info(), o,
                                         out.tasks.empty() ? 0 : out.tasks.front().values.cols, rep.skipped);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace taskfp
