// Features: per task an n x d float32 matrix (private data; never leaves the site that made it).
// Stored as HDF5: /tasks/<task name>/features, provenance as root attributes.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "store/provenance.hpp"

namespace taskfp {

inline constexpr std::int64_t kFeaturesSchemaVersion = 1;

struct TaskFeatures {
  std::string name;
  Matrix<float> values;  ///< rows = samples, cols = features
};

struct FeatureSet {
  Provenance provenance;
  std::vector<TaskFeatures> tasks;

  [[nodiscard]] std::vector<std::string> names() const;
  /// The task named `name`; InputError when absent.
  [[nodiscard]] const TaskFeatures& at(const std::string& name) const;
};

struct FeatureLoadOptions {
  std::optional<std::vector<std::string>> tasks;  ///< only these (all when unset)
  std::size_t min_samples = 2;                    ///< tasks with fewer samples are refused
};

/// Checks every task: finite values, at least `min_samples` rows, one feature size, valid names.
void validate_features(const FeatureSet& set, std::size_t min_samples, const std::string& where);

void write_features_store(const std::string& path, const FeatureSet& set);
FeatureSet read_features_store(const std::string& path, const FeatureLoadOptions& options = {});
/// Reads a features store one task at a time, each checked as read_features_store checks it,
/// and hands each to `visit` with the store's provenance: for looking through stores larger than
/// memory (`taskfp inspect`) with the readers' own checks.
void visit_features_store(const std::string& path, const FeatureLoadOptions& options,
                          const std::function<void(const Provenance&, TaskFeatures&&)>& visit);

/// Imports the paper's layout `<dir>/<task name>/features_0001.npy` (one folder per task; folder
/// names may contain spaces; any dtype io/npy.hpp reads, as float32). Provenance is unknown unless
/// given; its origin records the folder and the files' dtypes ("...; npy dtype '>f8'").
FeatureSet import_npy_folder(const std::string& dir, const FeatureLoadOptions& options = {},
                             const Provenance& provenance = {});

/// A folder is imported as npy layout, a file read as a features store.
FeatureSet load_features(const std::string& path, const FeatureLoadOptions& options = {});

}  // namespace taskfp
