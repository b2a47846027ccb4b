// Numerically exact re-statements of the reference's range and binning primitives:
// numpy 1.24 np.quantile (linear) on float32 data, and torch 1.13 clip + histc.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace taskfp {

/// np.quantile(values, q) for float32 input with the default linear method, as numpy 1.24
/// computes it: the virtual index (n-1)*q in float64, the gap between the two neighbouring order
/// statistics in float32, the interpolation in float64. `values` is reordered.
double numpy_quantile(std::span<float> values, double q);

/// Both quantiles of one feature (same semantics as numpy_quantile), sharing one partition.
std::pair<double, double> numpy_quantile_pair(std::span<float> values, double q_lo, double q_hi);

/// Order statistics k and k + 1 (k + 1 clamped to the last) of `values`, two ways; both return
/// values equal to those of a sort (a zero may come back with either sign, as from numpy).
/// By partitioning in place (std::nth_element):
std::pair<float, float> order_statistics_partition(std::span<float> values, std::size_t k);
/// By counting 65,536 buckets of the values' leading bits, then partitioning the one or two
/// buckets that hold ranks k and k + 1 (values untouched; scratch is reused). No NaN in `values`.
struct SelectScratch {
  std::vector<std::uint32_t> counts;
  std::vector<float> candidates[2];
};
std::pair<float, float> order_statistics_select(std::span<const float> values, std::size_t k,
                                                SelectScratch& scratch);
/// The same for up to two ranks at once, sharing the passes over `values`.
void order_statistics_select(std::span<const float> values, std::span<const std::size_t> ks,
                             std::span<std::pair<float, float>> out, SelectScratch& scratch);
/// From this many values on, the quantiles use order_statistics_select.
inline constexpr std::size_t kSelectByBuckets = 8192;

/// The float32 bin edges torch.histc uses for a clipped feature with limits [lo, hi] given as
/// float64 (numpy quantiles). When lo == hi the clipped data is constant c and histc falls back
/// to [c - 1, c + 1] (so every sample lands in bin b/2); taskfp applies the same rule when the
/// limits differ in float64 but coincide in float32, where histc would divide by zero.
struct HistcEdges {
  float clip_lo;  ///< clip limits (the float32 values of lo and hi)
  float clip_hi;
  float left;     ///< histc's outer edges
  float right;
};
HistcEdges histc_edges(double lo, double hi);

/// torch.histc's bin of an already clipped value: int((x - L) / (R - L) * b) in float32,
/// the last edge folded into bin b-1; -1 when x lies outside [L, R].
inline std::int64_t histc_bin(float x, const HistcEdges& e, std::int64_t bins) {
  if (!(x >= e.left && x <= e.right)) return -1;
  const float scaled = (x - e.left) / (e.right - e.left) * static_cast<float>(bins);
  auto pos = static_cast<std::int64_t>(scaled);
  if (pos == bins) pos -= 1;
  return pos;
}

/// Clip as torch.clip(min, max) does on float32: max first, then min.
inline float torch_clip(float x, float lo, float hi) {
  float y = x < lo ? lo : x;
  return y > hi ? hi : y;
}

}  // namespace taskfp
