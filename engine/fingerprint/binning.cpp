// Quantiles and histc edges matching numpy 1.24 / torch 1.13 bit for bit.
#include "fingerprint/binning.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace taskfp {
namespace {

// numpy's _lerp: the difference b - a is taken in the input dtype (float32), the rest in float64;
// for t >= 0.5 numpy evaluates from the upper neighbour to stay monotone.
double numpy_lerp(float a, float b, double t) {
  const float diff = b - a;
  if (t >= 0.5) return static_cast<double>(b) - static_cast<double>(diff) * (1.0 - t);
  return static_cast<double>(a) + static_cast<double>(diff) * t;
}

struct QuantileIndex {
  std::size_t previous;
  double gamma;
  bool at_top;  // virtual index at or past the last element: numpy interpolates max with itself
};

QuantileIndex quantile_index(std::size_t n, double q) {
  const double virtual_index = static_cast<double>(n - 1) * q;
  // numpy sets both neighbour indices to -1 here and keeps gamma = virtual_index - (-1).
  if (virtual_index >= static_cast<double>(n - 1)) return {n - 1, virtual_index + 1.0, true};
  if (virtual_index < 0) return {0, 0.0, false};
  const double previous = std::floor(virtual_index);
  return {static_cast<std::size_t>(previous), virtual_index - previous, false};
}

// Order statistics k and k+1 of `values` (k+1 only when it exists), partitioning in place.
std::pair<float, float> neighbours(std::span<float> values, std::size_t k) {
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  const float a = values[k];
  if (k + 1 >= values.size()) return {a, a};
  const float b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(k) + 1, values.end());
  return {a, b};
}

double quantile_from(std::span<float> values, const QuantileIndex& qi) {
  if (qi.at_top) {
    // Not just the maximum m: numpy still evaluates its lerp, m - (m - m) * (1 - gamma). That
    // turns a maximum of -0.0 into +0.0 (n > 1) and +inf into NaN (inf - inf), as
    // tests/test_binning.cpp checks against numpy.
    const float m = *std::max_element(values.begin(), values.end());
    return numpy_lerp(m, m, qi.gamma);
  }
  auto [a, b] = neighbours(values, qi.previous);
  return numpy_lerp(a, b, qi.gamma);
}

}  // namespace

double numpy_quantile(std::span<float> values, double q) {
  assert(!values.empty());
  return quantile_from(values, quantile_index(values.size(), q));
}

std::pair<double, double> numpy_quantile_pair(std::span<float> values, double q_lo, double q_hi) {
  assert(!values.empty() && q_lo <= q_hi);
  const auto lo_idx = quantile_index(values.size(), q_lo);
  const auto hi_idx = quantile_index(values.size(), q_hi);
  // The upper quantile first: its partition leaves everything below it in the front part, so the
  // lower one only needs to search there.
  const double hi = quantile_from(values, hi_idx);
  std::span<float> front = values;
  if (!hi_idx.at_top && lo_idx.previous + 1 < hi_idx.previous)
    front = values.first(hi_idx.previous + 1);
  const double lo = quantile_from(front, lo_idx);
  return {lo, hi};
}

HistcEdges histc_edges(double lo, double hi) {
  HistcEdges e{};
  e.clip_lo = static_cast<float>(lo);
  e.clip_hi = static_cast<float>(hi);
  // torch picks the outer edges in float64 from the Scalar limits, then builds float32 edges.
  double left = lo, right = hi;
  if (left == right || e.clip_lo == e.clip_hi) {
    // All clipped values equal c = float32(lo); histc takes the data's min/max (both c) and
    // widens an empty range to [c - 1, c + 1].
    const double c = static_cast<double>(e.clip_lo);
    left = c - 1.0;
    right = c + 1.0;
  }
  e.left = static_cast<float>(left);
  e.right = static_cast<float>(right);
  return e;
}

}  // namespace taskfp
