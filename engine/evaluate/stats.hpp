// Statistics with the reference stack's floating-point behaviour (numpy 1.24, pandas 1.5,
// scipy 1.10), where the published numbers depend on it.
#pragma once

#include "core/random.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace taskfp::stats {

/// numpy's pairwise summation (np.sum / np.add.reduce on a contiguous float64 array).
double numpy_sum(std::span<const double> v);
/// np.mean: numpy_sum / n.
double numpy_mean(std::span<const double> v);
/// np.std(v, ddof): sqrt(numpy_sum((v - mean)^2) / (n - ddof)).
double numpy_std(std::span<const double> v, int ddof = 0);
/// pandas' groupby mean: Kahan-compensated sum over the group, divided by its size (NaN skipped).
double pandas_group_mean(std::span<const double> v);
/// Median of the non-NaN values (mean of the two middle ones for an even count).
double median(std::span<const double> v);

/// pandas Series.rank(method='average', pct=True, ascending): ranks of the non-NaN values,
/// ties averaged, divided by their count; NaN stays NaN.
std::vector<double> rank_pct(std::span<const double> v, bool ascending = true);
/// pandas Series.rank(method='min', ascending=false): 1 = largest, ties share the best rank.
std::vector<double> rank_min_descending(std::span<const double> v);

/// scipy.stats.weightedtau(x, y) with its defaults (rank=True, hyperbolic weigher 1/(r+1),
/// additive): the average of the two directed weighted rank taus. NaN when x or y is constant.
double weighted_tau(std::span<const double> x, std::span<const double> y);
/// scipy.stats.kendalltau(x, y) (tau-b); NaN when either is constant.
double kendall_tau(std::span<const double> x, std::span<const double> y);
/// scipy.stats.spearmanr(x, y): Pearson correlation of average ranks.
double spearman(std::span<const double> x, std::span<const double> y);
/// np.corrcoef(x, y)[0, 1].
double pearson(std::span<const double> x, std::span<const double> y);

/// Deterministic random numbers for bootstraps (core/random.hpp).
using SplitMix = taskfp::SplitMix;

}  // namespace taskfp::stats
