// The baseline distances the paper compares bKLD against (CPU): VDNA, EMD-AVG, COS, FID, MMD-coral,
// SEMANTIC. Orientation: rows = sources, cols = targets.
#pragma once

#include <string>
#include <vector>

#include "distance/distance.hpp"

namespace taskfp {

/// VDNA (histograms) and EMD-AVG (means): L1 distance between cumulative sums over the
/// preprocessed rows. Unweighted: mean over rows. Weighted, as the reference: VDNA multiplies
/// each feature's L1 by its weight and averages over features; EMD-AVG's single row sum is
/// broadcast against the weight vector, i.e. multiplied by the mean weight.
DistanceMatrix cdf_l1_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                             const std::vector<std::string>& sources,
                             const std::vector<std::string>& targets);

/// COS: mean over rows of 1 - cos(p_row, q_row), cos with torch's 1e-12 in each squared norm.
DistanceMatrix cosine_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                             const std::vector<std::string>& sources,
                             const std::vector<std::string>& targets);

/// FID: |mu_s - mu_t|^2 + tr S_s + tr S_t - 2 tr sqrt(S_s S_t), the last term as the sum of the
/// square roots of the eigenvalues of sqrt(S_s) S_t sqrt(S_s) (symmetric, no matrix sqrt per pair).
DistanceMatrix fid_matrix(const FingerprintSet& fps, const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, const ProgressFn& progress);

/// Deep CORAL: mean((mu_s - mu_t)^2) + mean((S_s - S_t)^2) over all entries.
DistanceMatrix coral_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                            const std::vector<std::string>& sources,
                            const std::vector<std::string>& targets);

/// SEMANTIC: 1 - Jaccard of the keyword sets, minus the reference's tie-breakers per source row
/// (0.001 x rank of source size, 1e-5 x rank of dimension, 1e-7 x row position). Shrunk
/// variants ("<task> --shrink_train N") use their base task's keywords and ranks.
DistanceMatrix semantic_matrix(const TaskInfoTable& info, const std::vector<std::string>& sources,
                               const std::vector<std::string>& targets);

}  // namespace taskfp
