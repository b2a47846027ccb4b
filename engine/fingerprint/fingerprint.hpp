// Fingerprints (method.md section 3): per-feature bin ranges from a scaling subset of tasks,
// per-task d x b histograms of probabilities, means and covariances. No raw features.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compute/backend.hpp"
#include "core/matrix.hpp"
#include "core/progress.hpp"
#include "store/features_store.hpp"
#include "store/provenance.hpp"

namespace taskfp {

/// Per-feature binning limits [lo_f, hi_f] (float64, as numpy returns them) and where they came
/// from. Part of the fingerprint protocol: parties that join later reuse them.
struct BinRanges {
  std::vector<double> lo;
  std::vector<double> hi;
  std::vector<std::string> scaling_subset;  ///< tasks whose stacked features gave the ranges
  double lo_quantile = 0.05;
  double hi_quantile = 0.95;
  Provenance provenance;  ///< of the features the ranges were computed from

  [[nodiscard]] std::size_t dim() const { return lo.size(); }
};

struct TaskFingerprint {
  std::string name;
  std::int64_t n_samples = 0;
  std::vector<double> mean;                 ///< d, float64
  Matrix<double> covariance;                ///< d x d (ddof 1, as np.cov); empty if not computed
  std::map<int, Matrix<double>> histograms;  ///< bins -> d x b, each row sums to 1
};

struct FingerprintSet {
  Provenance provenance;
  BinRanges ranges;
  std::vector<int> bins;  ///< bin counts present for every task
  std::vector<TaskFingerprint> tasks;

  [[nodiscard]] std::vector<std::string> names() const;
  [[nodiscard]] const TaskFingerprint& at(const std::string& name) const;
  [[nodiscard]] std::size_t dim() const { return ranges.dim(); }
};

/// Ranges: the lo/hi quantiles per feature of the stacked features of `scaling_subset`.
BinRanges compute_ranges(const FeatureSet& features, const std::vector<std::string>& scaling_subset,
                         double lo_quantile = 0.05, double hi_quantile = 0.95);

/// d x bins histogram of one task: each value clipped to its feature's range and counted as
/// torch.histc counts it; rows normalized to sum 1 (float64).
Matrix<double> histogram(const Matrix<float>& features, const BinRanges& ranges, int bins);

/// Raw counts (d x bins) behind histogram(), counted by `backend` (every backend gives the same
/// counts: the same float32 arithmetic as torch.histc); exposed for exactness tests.
/// InputError for bins outside 1..2^24, mismatched dimensions, or 2^32 samples or more.
Matrix<std::int64_t> histogram_counts(const Matrix<float>& features, const BinRanges& ranges,
                                      int bins, const compute::Backend& backend = compute::cpu());

std::vector<double> feature_mean(const Matrix<float>& features);
/// Instruction sets the covariance kernel can use; every one gives the same bits.
enum class SimdLevel { Best, Avx2, Baseline };

/// Sample covariance (ddof 1), as np.cov(features, rowvar=False): each entry accumulated with
/// fused multiply-adds in sample order, the same bits on every machine (docs/numerics.md).
/// `simd` caps the instruction set (tests compare them).
Matrix<double> feature_covariance(const Matrix<float>& features, const std::vector<double>& mean,
                                  SimdLevel simd = SimdLevel::Best);

struct FingerprintOptions {
  std::vector<int> bins = {100, 1000};
  bool covariance = true;
  ProgressFn progress;
  /// Where the histograms are counted (compute::select): the CPU or a GPU give the same counts.
  const compute::Backend* backend = &compute::cpu();
};

/// Fingerprints every task of `features` with the given ranges. ProvenanceError when the ranges
/// were computed from features made differently.
FingerprintSet fingerprint(const FeatureSet& features, const BinRanges& ranges,
                           const FingerprintOptions& options = {});

}  // namespace taskfp
