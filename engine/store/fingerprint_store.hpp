// Fingerprint store (shareable; never holds raw features). HDF5 layout:
//   /                      attrs: taskfp_kind="fingerprints", schema_version, provenance, bins
//   /ranges/lo, /ranges/hi float64 d; attrs lo_quantile, hi_quantile; /ranges/scaling_subset
//   /tasks/<name>/mean     float64 d
//   /tasks/<name>/covariance  float64 d x d (optional)
//   /tasks/<name>/hist_<b> float64 d x b, rows sum to 1; attr n_samples on the group
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fingerprint/fingerprint.hpp"

namespace taskfp {

inline constexpr std::int64_t kFingerprintSchemaVersion = 1;

struct FingerprintLoadOptions {
  std::optional<std::vector<std::string>> tasks;  ///< only these (all when unset)
  std::optional<std::vector<int>> bins;           ///< only these bin counts (all when unset)
  bool covariance = true;                          ///< load covariances when present
};

void write_fingerprint_store(const std::string& path, const FingerprintSet& set);
FingerprintSet read_fingerprint_store(const std::string& path,
                                      const FingerprintLoadOptions& options = {});
/// Only the ranges (to bin new tasks with published ranges).
BinRanges read_ranges(const std::string& path);

}  // namespace taskfp
