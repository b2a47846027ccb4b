// Quantiles and histc edges matching numpy 1.24 / torch 1.13 bit for bit.
#include "fingerprint/binning.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

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

}  // namespace

std::pair<float, float> order_statistics_partition(std::span<float> values, std::size_t k) {
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  const float a = values[k];
  if (k + 1 >= values.size()) return {a, a};
  const float b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(k) + 1, values.end());
  return {a, b};
}

void order_statistics_select(std::span<const float> values, std::span<const std::size_t> ks,
                             std::span<std::pair<float, float>> out, SelectScratch& scratch) {
  assert(ks.size() == out.size() && ks.size() <= 2 && !values.empty());
  // Keys that order like the floats (zeros of either sign share one key); buckets by the top 16
  // bits: sign, exponent and 7 mantissa bits, so one bucket spans under 1% of a value.
  const auto bucket = [](float v) {
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    if (v == 0.0f) u = 0;
    return ((u & 0x80000000u) ? ~u : (u | 0x80000000u)) >> 16;
  };
  auto& counts = scratch.counts;
  counts.assign(std::size_t{1} << 16, 0u);
  for (float v : values) ++counts[bucket(v)];
  // Per rank k: the buckets holding ranks k and k + 1 (k + 1 clamped to the last rank), and
  // how many values lie in the buckets below k's.
  struct Want {
    std::size_t rank_k, rank_b, bucket_k = 0, bucket_b = 0, below_k = 0;
    bool found_k = false, found_b = false;
  };
  Want want[2];
  for (std::size_t i = 0; i < ks.size(); ++i)
    want[i] = {ks[i], std::min(ks[i] + 1, values.size() - 1)};
  std::size_t below = 0;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    const std::size_t upto = below + counts[b];
    for (std::size_t i = 0; i < ks.size(); ++i) {
      auto& w = want[i];
      if (!w.found_k && upto > w.rank_k) w = {w.rank_k, w.rank_b, b, w.bucket_b, below, true, w.found_b};
      if (!w.found_b && upto > w.rank_b) {
        w.bucket_b = b;
        w.found_b = true;
      }
    }
    below = upto;
    if (want[0].found_b && (ks.size() < 2 || want[1].found_b)) break;
  }
  for (std::size_t i = 0; i < ks.size(); ++i) scratch.candidates[i].clear();
  for (float v : values) {
    const std::uint32_t b = bucket(v);
    for (std::size_t i = 0; i < ks.size(); ++i)
      if (b == want[i].bucket_k || b == want[i].bucket_b) scratch.candidates[i].push_back(v);
  }
  // Every value below the candidates ranks before them: rank k is rank k - below_k among them.
  for (std::size_t i = 0; i < ks.size(); ++i)
    out[i] = order_statistics_partition(scratch.candidates[i], want[i].rank_k - want[i].below_k);
}

std::pair<float, float> order_statistics_select(std::span<const float> values, std::size_t k,
                                                SelectScratch& scratch) {
  std::pair<float, float> out;
  order_statistics_select(values, {&k, 1}, {&out, 1}, scratch);
  return out;
}

namespace {

// Order statistics k and k+1 of `values` (k+1 only when it exists).
std::pair<float, float> neighbours(std::span<float> values, std::size_t k) {
  if (values.size() < kSelectByBuckets) return order_statistics_partition(values, k);
  thread_local SelectScratch scratch;
  return order_statistics_select(values, k, scratch);
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
  // The upper quantile first: where it partitions (small inputs), everything below it ends up in
  // the front part, so the lower one only needs to search there.
  const bool partitions = values.size() < kSelectByBuckets;
  if (!partitions && !lo_idx.at_top && !hi_idx.at_top) {
    // Large inputs: one bucket count and one candidate pass serve both quantiles (about 3x
    // faster than partitioning 280,000 values twice, bench/RESULTS.md).
    thread_local SelectScratch scratch;
    const std::size_t ks[2] = {lo_idx.previous, hi_idx.previous};
    std::pair<float, float> st[2];
    order_statistics_select(values, ks, st, scratch);
    return {numpy_lerp(st[0].first, st[0].second, lo_idx.gamma),
            numpy_lerp(st[1].first, st[1].second, hi_idx.gamma)};
  }
  const double hi = quantile_from(values, hi_idx);
  std::span<float> front = values;
  if (partitions && !hi_idx.at_top && lo_idx.previous + 1 < hi_idx.previous)
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
