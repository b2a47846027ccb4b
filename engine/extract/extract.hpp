// Feature extraction: images of each task -> preprocessing -> frozen backbone -> features store.
// Decoding and preprocessing of the next batch (OpenMP threads) overlap the current batch's
// inference.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/progress.hpp"
#include "extract/backbone.hpp"
#include "images/image_taskset.hpp"
#include "images/preprocess.hpp"
#include "store/features_store.hpp"

namespace taskfp {

struct ExtractOptions {
  std::size_t samples = 10000;  ///< images per task (drawn with replacement when fewer)
  std::uint64_t seed = 0;       ///< for the draws and shrunk subsets
  int batch = 32;
  bool skip_bad = false;        ///< drop unreadable images (recorded) instead of stopping
  PreprocessOptions preprocess;
  ProgressFn progress;          ///< (images done, images in all)
};

struct ExtractReport {
  std::vector<std::string> skipped;  ///< "<file>: <reason>" for every dropped image
  std::size_t images = 0;            ///< images run through the backbone
  double seconds = 0;
};

/// Features of the images draw[first .. first + count) of one task, in batches of
/// options.batch starting at `first` (so a sample's batch does not depend on how the work is
/// split, as long as ranges start at multiples of the batch size). on_batch(n) after each batch.
struct RangeFeatures {
  std::vector<float> rows;  ///< kept x dim
  std::size_t kept = 0, dim = 0;
  std::vector<std::string> skipped;
};
RangeFeatures extract_range(const TaskImages& images, const std::vector<std::size_t>& draw, std::size_t first,
                            std::size_t count, Backbone& backbone, const ExtractOptions& options,
                            const std::function<void(std::size_t)>& on_batch = {});

/// The provenance of extracted features.
Provenance extraction_provenance(const BackboneInfo& info, const ExtractOptions& options, std::size_t dim,
                                 const std::vector<std::string>& skipped);

/// Features of every task: n x feature_dim float32 per task, rows in draw order. InputError for
/// a bad image (file and reason) unless skip_bad; for an empty task; for a task whose every
/// drawn image was bad.
FeatureSet extract_features(const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                            const ExtractOptions& options, ExtractReport* report = nullptr);

}  // namespace taskfp
