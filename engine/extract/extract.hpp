// Feature extraction: images of each task -> preprocessing -> frozen backbone -> features store.
// Decoding and preprocessing of the next batch (OpenMP threads) overlap the current batch's
// inference, across task and chunk boundaries.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/progress.hpp"
#include "extract/backbone.hpp"
#include "images/image.hpp"
#include "images/image_taskset.hpp"
#include "images/preprocess.hpp"
#include "store/features_store.hpp"

namespace taskfp {

struct ExtractOptions {
  std::size_t samples = 10000;  ///< images per task (drawn with replacement when fewer)
  std::uint64_t seed = 0;       ///< for the draws and shrunk subsets
  int batch = 32;
  bool skip_bad = false;        ///< drop unreadable images (recorded) instead of stopping
  /// Images of more pixels are unreadable (a decompression-bomb guard; images/image.hpp).
  std::uint64_t max_image_pixels = kDefaultMaxImagePixels;
  PreprocessOptions preprocess;
  ProgressFn progress;          ///< (images done, images in all)
};

struct ExtractReport {
  std::vector<std::string> skipped;  ///< "<file>: <reason>" for every dropped image
  /// "'<file>': <warning>" for every image decoded despite damage (libjpeg's warnings) or with
  /// parts left out (a TIFF's further pages); an image drawn twice is listed twice.
  std::vector<std::string> notes;
  /// listing_line for each task whose listing has something to say, once per task: by whoever
  /// computes its first chunk.
  std::vector<std::string> listed;
  /// "<file>: <reason>" for every file listing left out as unreadable (skip_bad; TaskImages::
  /// unreadable), once per task as `listed`.
  std::vector<std::string> unreadable_files;
  std::size_t images = 0;            ///< images run through the backbone
  double seconds = 0;
};

/// A run of consecutive draws of one task: draw[first .. first + count), inferred in batches of
/// options.batch starting at `first` (so a sample's batch does not depend on how the work is
/// split, as long as runs start at multiples of the batch size).
struct RangeJob {
  std::shared_ptr<const TaskImages> images;
  std::shared_ptr<const std::vector<std::size_t>> draw;
  std::size_t first = 0, count = 0;
  std::size_t tag = 0;  ///< the caller's (a task or chunk index), handed back with the features
};
struct RangeFeatures {
  std::vector<float> rows;  ///< kept x dim
  std::size_t kept = 0, dim = 0;
  std::vector<std::string> skipped;
  std::vector<std::string> notes;  ///< as ExtractReport::notes
  /// Appends n rows of `dim` features.
  void add(const float* values, std::size_t n, std::size_t dim);
  /// The rows as a kept x dim matrix.
  [[nodiscard]] Matrix<float> matrix() const;
};

/// Runs the jobs `next_job` hands out (until it returns nothing) through the backbone with one
/// continuous prefetch: the next batch, of this job or the next one, is decoded while the
/// current one is inferred, so job boundaries leave no core idle. on_batch(n) after each batch,
/// on_done(job, features) after each job. `next_job` is called on the calling thread.
void extract_ranges(const std::function<std::optional<RangeJob>()>& next_job, Backbone& backbone,
                    const ExtractOptions& options, const std::function<void(std::size_t)>& on_batch,
                    const std::function<void(const RangeJob&, RangeFeatures&&)>& on_done);

/// "cpu" or "cuda": the kind of a BackboneInfo::device.
std::string device_kind(const std::string& device);

/// The provenance of extracted features, the same for every chunk of a run.
Provenance extraction_provenance(const BackboneInfo& info, const ExtractOptions& options, std::size_t dim);
/// Adds what a whole run learnt to its provenance: the images it skipped, what the listing of
/// each task learnt (ExtractReport::listed) and the device kinds it ran on.
void note_run(Provenance& provenance, const std::vector<std::string>& skipped,
              const std::vector<std::string>& listed, const std::vector<std::string>& devices);
/// What listing a task learnt that its features' provenance keeps: "task '<name>': <how its
/// files became images (TaskImages::inputs)>; <files left out as unreadable (skip_bad)>; <what
/// its class folders held that was not read (IgnoredFiles::summary)>"; "" when none applies.
std::string listing_line(const TaskImages& images);

/// Features of every task: n x feature_dim float32 per task, rows in draw order. InputError for
/// a bad image (file and reason) unless skip_bad; for an empty task; for a task whose every
/// drawn image was bad.
FeatureSet extract_features(const std::vector<ImageTaskSpec>& tasks, Backbone& backbone,
                            const ExtractOptions& options, ExtractReport* report = nullptr);

}  // namespace taskfp
