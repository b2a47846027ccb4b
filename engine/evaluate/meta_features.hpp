// Meta-features of source tasks that the paper's P2L baseline adds to a distance's affinities
// (P2L, arXiv 1908.07630, as the paper's code applies it: mml_tf's HyperParameter and
// get_affinity_df, mml's AllTasksInfos.get_transformed). A task-info column
// is transformed over all tasks of the task-info table by scipy.stats.boxcox (maximum-likelihood
// lambda) and then scipy.stats.zscore; the affinity of source s for target t becomes
// similarity * A[s][t] + samples * T(num_samples)[s].
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "io/task_info.hpp"

namespace taskfp {

/// scipy.stats.boxcox(x) with lmbda=None: lambda maximizes boxcox_llf (scipy 1.10's form:
/// (lambda - 1) sum log x - n/2 log var(x^lambda / lambda)), found by scipy.optimize.brent from
/// the bracket (-2, 2) (bracket search, then Brent's method with tol 1.48e-8, as scipy does);
/// values are expm1(lambda log x) / lambda (log x for lambda = 0). InputError for values that are
/// not positive and finite, or fewer than 2 values, or all equal.
struct BoxCox {
  double lambda = 0;
  std::vector<double> values;
};
BoxCox boxcox_mle(const std::vector<double>& x);

/// scipy.stats.zscore (ddof 0): (x - mean) / std. InputError for a constant vector.
std::vector<double> zscore(const std::vector<double>& x);

/// How much each term weighs in an affinity: the distance's (similarity) and the transformed
/// source sample count's. P2L in the paper: similarity 1.5, samples 1.0.
struct MetaFeatureWeights {
  double similarity = 1.0;
  double samples = 0.0;
};
inline constexpr MetaFeatureWeights kP2LWeights{1.5, 1.0};

/// zscore(boxcox(num_samples)) per task of the table (all of its rows), by task name.
std::unordered_map<std::string, double> transformed_sample_counts(const TaskInfoTable& info);

}  // namespace taskfp
