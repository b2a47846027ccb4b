// Extraction pipeline: a bounded prefetch of one batch (decode + preprocess on OpenMP threads in
// a helper thread) ahead of the backbone.
#include "extract/extract.hpp"

#include <chrono>
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

FeatureSet extract_features(const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                            const ExtractOptions& o, ExtractReport* report) {
  require(o.samples > 0 && o.batch > 0, "samples and batch size must be positive");
  const auto t0 = std::chrono::steady_clock::now();
  ExtractReport local;
  ExtractReport& rep = report ? *report : local;
  FeatureSet out;
  const std::size_t total = tasks.size() * o.samples;
  std::size_t done = 0;
  for (const auto& spec : tasks) {
    const auto images = list_task_images(spec, o.seed);
    const auto draw = draw_samples(images.files.size(), o.samples, o.seed, spec.name);
    const std::size_t per_batch = static_cast<std::size_t>(o.batch);
    auto launch = [&](std::size_t first) {
      const std::size_t count = std::min(per_batch, draw.size() - first);
      return std::async(std::launch::async, prepare, std::cref(images), std::cref(draw), first, count,
                        std::cref(o.preprocess));
    };
    std::vector<float> rows;
    std::size_t kept = 0;
    int dim = 0;
    auto next = launch(0);
    for (std::size_t first = 0; first < draw.size(); first += per_batch) {
      Batch cur = next.get();
      if (first + per_batch < draw.size()) next = launch(first + per_batch);  // overlaps inference
      const std::size_t count = cur.errors.size();
      // Unusable images: stop (naming the file), or drop them and record it.
      std::vector<std::size_t> good;
      for (std::size_t i = 0; i < count; ++i) {
        if (cur.errors[i].empty()) {
          good.push_back(i);
          continue;
        }
        if (!o.skip_bad) {
          if (next.valid()) next.wait();
          throw InputError(fmt::format("task '{}': {} (pass --skip-bad to drop unreadable images)",
                                       spec.name, cur.errors[i]));
        }
        rep.skipped.push_back(cur.errors[i]);
      }
      if (good.size() < count) {  // compact the usable images to the front
        const std::size_t per = cur.pixels.size() / count;
        for (std::size_t g = 0; g < good.size(); ++g)
          if (good[g] != g)
            std::copy_n(cur.pixels.begin() + static_cast<std::ptrdiff_t>(good[g] * per), per,
                        cur.pixels.begin() + static_cast<std::ptrdiff_t>(g * per));
      }
      if (!good.empty()) {
        const auto f = backbone.forward(cur.pixels.data(), good.size(), o.preprocess.size);
        dim = static_cast<int>(f.size() / good.size());
        rows.insert(rows.end(), f.begin(), f.end());
        kept += good.size();
        rep.images += good.size();
      }
      done += count;
      if (o.progress) o.progress(done, total);
    }
    require(kept > 0, "task '{}': none of its {} drawn images could be read", spec.name, draw.size());
    TaskFeatures t;
    t.name = spec.name;
    t.values = Matrix<float>::uninitialized(kept, static_cast<std::size_t>(dim));
    std::copy(rows.begin(), rows.end(), t.values.data.begin());
    out.tasks.push_back(std::move(t));
  }
  const auto& info = backbone.info();
  out.provenance.backbone = info.name;
  out.provenance.weights = info.weights;
  out.provenance.weights_checksum = info.weights_checksum;
  out.provenance.preprocessing = o.preprocess.describe();
  out.provenance.feature_dim = out.tasks.empty() ? 0 : static_cast<std::int64_t>(out.tasks.front().values.cols);
  std::string origin = fmt::format("taskfp extract: {} samples per task, seed {}", o.samples, o.seed);
  if (!rep.skipped.empty())
    origin += fmt::format("; {} unreadable images skipped: {}", rep.skipped.size(), fmt::join(rep.skipped, "; "));
  out.provenance.origin = origin;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace taskfp
