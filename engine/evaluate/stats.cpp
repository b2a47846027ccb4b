// Statistics primitives matching numpy / pandas / scipy.
#include "evaluate/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace taskfp::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// numpy/core/src/umath/loops_utils.h.src: pairwise_sum with 8 accumulators and blocks of 128.
double pairwise(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + static_cast<std::size_t>(j)];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

std::vector<double> average_ranks(std::span<const double> v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double avg = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j + 1));
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = avg;
    i = j + 1;
  }
  return rank;
}

// scipy/stats/_stats.pyx _weightedrankedtau with rank=None, the hyperbolic weigher, additive.
double weighted_ranked_tau(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  // np.lexsort((y, x)): by x, then y, stable.
  std::stable_sort(perm.begin(), perm.end(), [&](auto a, auto b) {
    if (x[a] != x[b]) return x[a] < x[b];
    return y[a] < y[b];
  });
  // rank = inverse of the reversed permutation: the largest element gets rank 0.
  std::vector<std::size_t> rank(n);
  for (std::size_t i = 0; i < n; ++i) rank[perm[n - 1 - i]] = i;
  auto weigher = [](std::size_t r) { return 1.0 / (1.0 + static_cast<double>(r)); };

  auto tie_weight = [&](auto same) {
    std::size_t first = 0;
    double acc = 0, s = weigher(rank[perm[0]]);
    for (std::size_t i = 1; i < n; ++i) {
      if (!same(perm[first], perm[i])) {
        acc += s * static_cast<double>(i - first - 1);
        first = i;
        s = 0;
      }
      s += weigher(rank[perm[i]]);
    }
    acc += s * static_cast<double>(n - first - 1);
    return std::pair{acc, first};
  };
  const double t = tie_weight([&](auto a, auto b) { return x[a] == x[b] && y[a] == y[b]; }).first;
  auto [u, first_x] = tie_weight([&](auto a, auto b) { return x[a] == x[b]; });
  if (first_x == 0) return kNaN;  // x is constant

  double exchanges = 0;
  std::vector<std::size_t> temp(n);
  // Merge sort of perm by y, weighing exchanges (discordances) on the way.
  auto weigh = [&](auto&& self, std::size_t offset, std::size_t length) -> double {
    if (length == 1) return weigher(rank[perm[offset]]);
    const std::size_t length0 = length / 2, length1 = length - length0, middle = offset + length0;
    double residual = self(self, offset, length0);
    const double weight = self(self, middle, length1) + residual;
    if (y[perm[middle - 1]] < y[perm[middle]]) return weight;
    std::size_t i = 0, j = 0, k = 0;
    while (j < length0 && k < length1) {
      if (y[perm[offset + j]] <= y[perm[middle + k]]) {
        temp[i] = perm[offset + j];
        residual -= weigher(rank[temp[i]]);
        ++j;
      } else {
        temp[i] = perm[middle + k];
        exchanges += weigher(rank[temp[i]]) * static_cast<double>(length0 - j) + residual;
        ++k;
      }
      ++i;
    }
    std::copy(perm.begin() + static_cast<long>(offset + j), perm.begin() + static_cast<long>(offset + length0),
              perm.begin() + static_cast<long>(offset + i));
    std::copy(temp.begin(), temp.begin() + static_cast<long>(i), perm.begin() + static_cast<long>(offset));
    return weight;
  };
  weigh(weigh, 0, n);

  auto [v, first_y] = tie_weight([&](auto a, auto b) { return y[a] == y[b]; });
  if (first_y == 0) return kNaN;  // y is constant
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += weigher(rank[perm[i]]);
  const double tot = s * static_cast<double>(n - 1);
  const double tau = ((tot - (v + u - t)) - 2. * exchanges) / std::sqrt(tot - u) / std::sqrt(tot - v);
  return std::min(1., std::max(-1., tau));
}

}  // namespace

double numpy_sum(std::span<const double> v) { return pairwise(v.data(), v.size()); }

double numpy_mean(std::span<const double> v) {
  if (v.empty()) return kNaN;
  return numpy_sum(v) / static_cast<double>(v.size());
}

double numpy_std(std::span<const double> v, int ddof) {
  const double m = numpy_mean(v);
  std::vector<double> sq(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) sq[i] = (v[i] - m) * (v[i] - m);
  return std::sqrt(numpy_sum(sq) / static_cast<double>(static_cast<long>(v.size()) - ddof));
}

double pandas_group_mean(std::span<const double> v) {
  double sum = 0, compensation = 0;
  std::size_t count = 0;
  for (double x : v) {
    if (std::isnan(x)) continue;
    ++count;
    const double y = x - compensation;
    const double t = sum + y;
    compensation = t - sum - y;
    sum = t;
  }
  return count ? sum / static_cast<double>(count) : kNaN;
}

double median(std::span<const double> v) {
  std::vector<double> x;
  for (double d : v)
    if (!std::isnan(d)) x.push_back(d);
  if (x.empty()) return kNaN;
  std::sort(x.begin(), x.end());
  const std::size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

std::vector<double> rank_pct(std::span<const double> v, bool ascending) {
  std::vector<double> finite;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isnan(v[i])) {
      finite.push_back(ascending ? v[i] : -v[i]);
      where.push_back(i);
    }
  auto r = average_ranks(finite);
  std::vector<double> out(v.size(), kNaN);
  for (std::size_t k = 0; k < where.size(); ++k) out[where[k]] = r[k] / static_cast<double>(finite.size());
  return out;
}

std::vector<double> rank_min_descending(std::span<const double> v) {
  std::vector<double> out(v.size(), kNaN);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) continue;
    std::size_t better = 0;
    for (double w : v)
      if (!std::isnan(w) && w > v[i]) ++better;
    out[i] = static_cast<double>(better + 1);
  }
  return out;
}

double weighted_tau(std::span<const double> x, std::span<const double> y) {
  if (x.empty()) return kNaN;
  return (weighted_ranked_tau(x, y) + weighted_ranked_tau(y, x)) / 2;
}

double kendall_tau(std::span<const double> x, std::span<const double> y) {
  // tau-b by counting pairs (O(n^2); n is a few dozen sources).
  const std::size_t n = x.size();
  double concordant = 0, discordant = 0, ties_x = 0, ties_y = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0 && dy == 0) continue;
      if (dx == 0) ties_x += 1;
      else if (dy == 0) ties_y += 1;
      else if ((dx > 0) == (dy > 0)) concordant += 1;
      else discordant += 1;
    }
  const double denom = std::sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y));
  if (denom == 0) return kNaN;
  return (concordant - discordant) / denom;
}

double pearson(std::span<const double> x, std::span<const double> y) {
  const std::size_t n = x.size();
  if (n < 2) return kNaN;
  const double mx = numpy_mean(x), my = numpy_mean(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return kNaN;  // a constant input has no correlation
  const double r = sxy / std::sqrt(sxx * syy);
  return std::max(-1.0, std::min(1.0, r));
}

double spearman(std::span<const double> x, std::span<const double> y) {
  auto rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

}  // namespace taskfp::stats
