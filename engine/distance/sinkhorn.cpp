// The debiased Sinkhorn divergence (sinkhorn.hpp). The cost matrices come from GEMMs
// (|x|^2 + |y|^2 - 2 x.y, halved) in a fixed grid of 128 x 128 tiles, and are held for the pair
// where they fit the memory budget, or computed again slab by slab (whole tiles) on every
// soft-min pass where they do not: every entry comes from the same BLAS call either way, so both
// give the same bits. Every soft-min is a row-wise log-sum-exp with the row's maximum taken
// first, parallel over rows, each row summed in a fixed order (four AVX2 lanes where the
// processor has them), so the thread count never changes the result; the machine's vector unit
// can change the last bits.
#include "distance/sinkhorn.hpp"

#include <fmt/format.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/resources.hpp"
#include "distance/clouds.hpp"

namespace taskfp {
namespace {

void check_options(const SinkhornOptions& o) {
  require(std::isfinite(o.blur) && o.blur > 0.0, "the Sinkhorn blur must be a positive finite number (got {})",
          o.blur);
  require(std::isfinite(o.scaling) && o.scaling > 0.0 && o.scaling < 1.0,
          "the Sinkhorn scaling must lie strictly between 0 and 1 (got {})", o.scaling);
}

void check_cloud(const Matrix<double>& x, const std::string& name) {
  require(x.rows >= 2, "'{}' has {} point(s); the Sinkhorn divergence needs at least 2 per cloud", name, x.rows);
  for (std::size_t i = 0; i < x.data.size(); ++i)
    require(std::isfinite(x.data[i]), "'{}' has a {} coordinate (point {}, dimension {}): the Sinkhorn divergence "
            "needs finite features", name, std::isnan(x.data[i]) ? "NaN" : "infinite", i / x.cols, i % x.cols);
}

// C = |x_i - y_j|^2 / 2 for all i, j (n x m), as GeomLoss's squared_distances(x, y) / 2:
// |x_i|^2 - 2 x_i.y_j + |y_j|^2.
Matrix<double> half_squared_distances(const Matrix<double>& x, const std::vector<double>& nx, const Matrix<double>& y,
                                      const std::vector<double>& ny, const compute::Backend& backend) {
  auto c = Matrix<double>::uninitialized(x.rows, y.rows);
  // Tiles of 128 x 128 entries, computed in parallel on the CPU (a device ignores them).
  backend.gemm_abt(x.data.data(), x.rows, y.data.data(), y.rows, x.cols, c.data.data(), 1.0, 0.0, {128, 128});
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < x.rows; ++i)
    for (std::size_t j = 0; j < y.rows; ++j) {
      double& v = c.data[i * y.rows + j];
      v = (nx[i] - 2.0 * v + ny[j]) / 2.0;
    }
  return c;
}

Matrix<double> transposed(const Matrix<double>& c) {
  auto t = Matrix<double>::uninitialized(c.cols, c.rows);
  constexpr std::size_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (std::size_t j0 = 0; j0 < c.cols; j0 += kBlock)
    for (std::size_t i = 0; i < c.rows; ++i)
      for (std::size_t j = j0; j < std::min(c.cols, j0 + kBlock); ++j) t.data[j * c.rows + i] = c.data[i * c.cols + j];
  return t;
}

// exp of 4 doubles at once: glibc's vector math library (libmvec, the AVX2 variant of exp, within
// 4 ulp of the exact value; glibc's scalar exp is within 1).
extern "C" __m256d _ZGVdN4v_exp(__m256d x);

// One row's log-sum-exp of h_j - row_j / eps, the maximum taken first: scalar, and AVX2 four
// columns at a time (each lane summing its columns in order, the lanes added at the end).
double row_lse_scalar(const double* row, const double* h, std::size_t cols, double eps) {
  double mx = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < cols; ++j) mx = std::max(mx, h[j] - row[j] / eps);
  double sum = 0.0;
  for (std::size_t j = 0; j < cols; ++j) sum += std::exp(h[j] - row[j] / eps - mx);
  return mx + std::log(sum);
}

__attribute__((target("avx2,fma"))) double row_lse_avx2(const double* row, const double* h, std::size_t cols,
                                                        double eps) {
  const __m256d e = _mm256_set1_pd(1.0 / eps);
  __m256d m4 = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
  std::size_t j = 0;
  for (; j + 4 <= cols; j += 4)
    m4 = _mm256_max_pd(m4, _mm256_fnmadd_pd(_mm256_loadu_pd(row + j), e, _mm256_loadu_pd(h + j)));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, m4);
  double mx = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (std::size_t k = j; k < cols; ++k) mx = std::max(mx, h[k] - row[k] / eps);
  const __m256d m = _mm256_set1_pd(mx);
  __m256d s4 = _mm256_setzero_pd();
  for (j = 0; j + 4 <= cols; j += 4) {
    const __m256d v = _mm256_sub_pd(_mm256_fnmadd_pd(_mm256_loadu_pd(row + j), e, _mm256_loadu_pd(h + j)), m);
    s4 = _mm256_add_pd(s4, _ZGVdN4v_exp(v));
  }
  _mm256_store_pd(lanes, s4);
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (std::size_t k = j; k < cols; ++k) sum += std::exp(h[k] - row[k] / eps - mx);
  return mx + std::log(sum);
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");

// GeomLoss's softmin over the rows [r0, r0 + c.rows) of a cost matrix held in `c`:
// out_{r0 + i} = -eps * LSE_j(h_j - C_ij / eps), h on the columns of C.
void softmin_rows(double eps, const Matrix<double>& c, std::size_t r0, const std::vector<double>& h,
                  std::vector<double>& out) {
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < c.rows; ++i) {
    const double* row = c.data.data() + i * c.cols;
    out[r0 + i] = -eps * (kHaveAvx2 ? row_lse_avx2(row, h.data(), c.cols, eps) : row_lse_scalar(row, h.data(), c.cols, eps));
  }
}

// Rows [r0, r0 + r) of x, and of its norms.
Matrix<double> rows_of(const Matrix<double>& x, std::size_t r0, std::size_t r) {
  auto out = Matrix<double>::uninitialized(r, x.cols);
  std::copy(x.data.begin() + static_cast<std::ptrdiff_t>(r0 * x.cols),
            x.data.begin() + static_cast<std::ptrdiff_t>((r0 + r) * x.cols), out.data.begin());
  return out;
}
std::vector<double> part_of(const std::vector<double>& v, std::size_t r0, std::size_t r) {
  return {v.begin() + static_cast<std::ptrdiff_t>(r0), v.begin() + static_cast<std::ptrdiff_t>(r0 + r)};
}

// One of a pair's cost matrices: C(x, y) (or its transpose C(y, x) = C(x, y)^T), held whole, or
// computed slab by slab on every pass. A slab is whole 128-row (or, transposed, 128-column)
// tiles of C(x, y), so its entries come from the same BLAS calls as the held matrix's.
class Cost {
 public:
  static constexpr std::size_t kTile = 128;
  // Held: `held` (rows x cols).
  explicit Cost(const Matrix<double>* held) : held_(held) {}
  // Streamed: C(x, y), or C(x, y)^T with `transpose`, in slabs of at most `slab_bytes`.
  Cost(const Matrix<double>& x, const std::vector<double>& nx, const Matrix<double>& y, const std::vector<double>& ny,
       bool transpose, std::size_t slab_bytes, const compute::Backend& backend)
      : x_(&x), y_(&y), nx_(&nx), ny_(&ny), transpose_(transpose), backend_(&backend) {
    const std::size_t cols = transpose ? x.rows : y.rows;
    slab_ = std::max<std::size_t>(1, slab_bytes / (8 * cols * kTile)) * kTile;
  }
  [[nodiscard]] std::size_t rows() const { return held_ ? held_->rows : transpose_ ? y_->rows : x_->rows; }

  // out_i = -eps * LSE_j(h_j - C_ij / eps) for every row i.
  void softmin(double eps, const std::vector<double>& h, std::vector<double>& out) const {
    out.resize(rows());
    if (held_) return softmin_rows(eps, *held_, 0, h, out);
    for (std::size_t r0 = 0; r0 < rows(); r0 += slab_) {
      const std::size_t r = std::min(slab_, rows() - r0);
      if (!transpose_) {
        softmin_rows(eps, slab(rows_of(*x_, r0, r), part_of(*nx_, r0, r), *y_, *ny_), r0, h, out);
      } else {
        softmin_rows(eps, transposed(slab(*x_, *nx_, rows_of(*y_, r0, r), part_of(*ny_, r0, r))), r0, h, out);
      }
    }
  }

 private:
  Matrix<double> slab(const Matrix<double>& x, const std::vector<double>& nx, const Matrix<double>& y,
                      const std::vector<double>& ny) const {
    return half_squared_distances(x, nx, y, ny, *backend_);
  }
  const Matrix<double>* held_ = nullptr;
  const Matrix<double>*x_ = nullptr, *y_ = nullptr;
  const std::vector<double>*nx_ = nullptr, *ny_ = nullptr;
  bool transpose_ = false;
  std::size_t slab_ = kTile;
  const compute::Backend* backend_ = nullptr;
};

// log a + f / eps for every point.
std::vector<double> shifted(double log_weight, const std::vector<double>& f, double eps) {
  std::vector<double> h(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) h[i] = log_weight + f[i] / eps;
  return h;
}

double dot_weight(double w, const std::vector<double>& f) {
  double s = 0.0;
  for (double v : f) s += w * v;
  return s;
}

}  // namespace

std::vector<double> sinkhorn_eps_schedule(double diameter, const SinkhornOptions& o) {
  check_options(o);
  require(std::isfinite(diameter) && diameter > 0.0, "the clouds' diameter must be positive and finite (got {})",
          diameter);
  constexpr double p = 2.0;
  std::vector<double> eps{std::pow(diameter, p)};
  // numpy.arange(start, stop, step) on floats: ceil((stop - start) / step) values, the first
  // two start and start + step, the others start + i * (second - first).
  const double start = p * std::log(diameter), stop = p * std::log(o.blur), step = p * std::log(o.scaling);
  const double length = std::ceil((stop - start) / step);
  if (length > 0) {
    const auto n = static_cast<std::size_t>(length);
    const double delta = (start + step) - start;
    for (std::size_t i = 0; i < n; ++i) eps.push_back(std::exp(i == 0 ? start : start + static_cast<double>(i) * delta));
  }
  eps.push_back(std::pow(o.blur, p));
  return eps;
}

double cloud_diameter(const Matrix<double>& x, const Matrix<double>& y) {
  double sq = 0.0;
  for (std::size_t f = 0; f < x.cols; ++f) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto* m : {&x, &y})
      for (std::size_t i = 0; i < m->rows; ++i) {
        lo = std::min(lo, m->data[i * m->cols + f]);
        hi = std::max(hi, m->data[i * m->cols + f]);
      }
    sq += (hi - lo) * (hi - lo);
  }
  return std::sqrt(sq);
}

namespace {

// What a cloud contributes alone: its points' squared norms and its self-cost matrix C(x, x),
// the same for every pair the cloud is in.
struct CloudSelf {
  std::vector<double> norms;
  Matrix<double> cost;
};

CloudSelf self_costs(const Matrix<double>& x, const compute::Backend& backend) {
  CloudSelf c;
  c.norms = squared_norms(x);
  c.cost = half_squared_distances(x, c.norms, x, c.norms, backend);
  return c;
}

// The bytes of cost matrices a pair may hold (SinkhornOptions::hold_bytes, 0: a quarter of the
// physical memory).
long double hold_budget(const SinkhornOptions& o) {
  return o.hold_bytes > 0 ? static_cast<long double>(o.hold_bytes) : physical_memory() / 4.0L;
}


// The checks, the early zeros, then the schedule; `sx` and `sy` give the clouds' self-costs
// (computed here when null).
double divergence(const Matrix<double>& x, const Matrix<double>& y, const CloudSelf* sx, const CloudSelf* sy,
                  const SinkhornOptions& o, const compute::Backend& backend, const std::string& x_name,
                  const std::string& y_name, bool* streamed = nullptr) {
  check_options(o);
  require(x.cols == y.cols, "'{}' has {} features per point and '{}' {}: the clouds must have the same dimension",
          x_name, x.cols, y_name, y.cols);
  check_cloud(x, x_name);
  check_cloud(y, y_name);
  // Identical clouds: every update of the a<->b problem is that of a<->a, and S is exactly 0 (as
  // in GeomLoss, whose four cost matrices are then the same products).
  if (x.rows == y.rows && x.data == y.data) return 0.0;
  const double diameter = cloud_diameter(x, y);
  if (diameter == 0.0) return 0.0;  // every point of both clouds is the same point
  const auto eps_list = sinkhorn_eps_schedule(diameter, o);
  const std::size_t n = x.rows, m = y.rows;
  // The pair's cost matrices held while they fit the budget; otherwise computed again on every
  // pass, slab by slab (about 2 + the schedule's length GEMMs per matrix instead of one).
  const long double held_bytes = 8.0L * static_cast<long double>(2 * n * m + (sx ? 0 : n * n) + (sy ? 0 : m * m));
  const bool hold = held_bytes <= hold_budget(o);
  if (streamed) *streamed = !hold;
  if (hold)
    require_memory(held_bytes, fmt::format("the Sinkhorn divergence of '{}' ({} points) and '{}' ({} points)", x_name,
                                           n, y_name, m));
  // A cloud's own costs where they are not given: held with the others, or (streamed) its norms.
  auto own = [&](const Matrix<double>& z) { return hold ? self_costs(z, backend) : CloudSelf{squared_norms(z), {}}; };
  CloudSelf own_x, own_y;
  if (!sx) own_x = own(x), sx = &own_x;
  if (!sy) own_y = own(y), sy = &own_y;
  Matrix<double> held_xy, held_yx;
  if (hold) {
    held_xy = half_squared_distances(x, sx->norms, y, sy->norms, backend);
    held_yx = transposed(held_xy);
  }
  auto cost = [&](const Matrix<double>& held, const Matrix<double>& p, const std::vector<double>& np,
                  const Matrix<double>& q, const std::vector<double>& nq, bool transpose) {
    return held.rows > 0 ? Cost(&held) : Cost(p, np, q, nq, transpose, o.slab_bytes, backend);
  };
  const Cost c_xy = cost(held_xy, x, sx->norms, y, sy->norms, false);
  const Cost c_yx = cost(held_yx, x, sx->norms, y, sy->norms, true);
  const Cost c_xx = cost(sx->cost, x, sx->norms, x, sx->norms, false);
  const Cost c_yy = cost(sy->cost, y, sy->norms, y, sy->norms, false);
  const double a = 1.0 / static_cast<double>(n), b = 1.0 / static_cast<double>(m);
  const double a_log = std::log(a), b_log = std::log(b);
  const std::vector<double> a_logs(n, a_log), b_logs(m, b_log);

  std::vector<double> f_ba, g_ab, f_aa, g_bb, ft_ba, gt_ab, ft_aa, gt_bb;
  double eps = eps_list.front();
  c_yx.softmin(eps, a_logs, g_ab);  // a -> b
  c_xy.softmin(eps, b_logs, f_ba);  // b -> a
  c_xx.softmin(eps, a_logs, f_aa);  // a -> a
  c_yy.softmin(eps, b_logs, g_bb);  // b -> b
  for (double e : eps_list) {
    eps = e;
    c_xy.softmin(eps, shifted(b_log, g_ab, eps), ft_ba);
    c_yx.softmin(eps, shifted(a_log, f_ba, eps), gt_ab);
    c_xx.softmin(eps, shifted(a_log, f_aa, eps), ft_aa);
    c_yy.softmin(eps, shifted(b_log, g_bb, eps), gt_bb);
    for (std::size_t i = 0; i < n; ++i) f_ba[i] = 0.5 * (f_ba[i] + ft_ba[i]), f_aa[i] = 0.5 * (f_aa[i] + ft_aa[i]);
    for (std::size_t j = 0; j < m; ++j) g_ab[j] = 0.5 * (g_ab[j] + gt_ab[j]), g_bb[j] = 0.5 * (g_bb[j] + gt_bb[j]);
  }
  // The last, plain update at the final eps; the cross pair from the same previous values.
  c_xy.softmin(eps, shifted(b_log, g_ab, eps), ft_ba);
  c_yx.softmin(eps, shifted(a_log, f_ba, eps), gt_ab);
  c_xx.softmin(eps, shifted(a_log, f_aa, eps), ft_aa);
  c_yy.softmin(eps, shifted(b_log, g_bb, eps), gt_bb);
  // S = <a, f_ba - f_aa> + <b, g_ab - g_bb>
  std::vector<double> df(n), dg(m);
  for (std::size_t i = 0; i < n; ++i) df[i] = ft_ba[i] - ft_aa[i];
  for (std::size_t j = 0; j < m; ++j) dg[j] = gt_ab[j] - gt_bb[j];
  return dot_weight(a, df) + dot_weight(b, dg);
}

}  // namespace

double sinkhorn_divergence(const Matrix<double>& x, const Matrix<double>& y, const SinkhornOptions& o,
                           const compute::Backend& backend, const std::string& x_name, const std::string& y_name) {
  return divergence(x, y, nullptr, nullptr, o, backend, x_name, y_name);
}

DistanceMatrix sinkhorn_matrix(const MetricSpec& spec, const FeatureSet& features,
                               const std::vector<std::string>& sources, const std::vector<std::string>& targets,
                               const ProgressFn& progress, const compute::Backend& backend, std::size_t hold_bytes) {
  SinkhornOptions options{spec.mmd_blur, spec.sinkhorn_scaling};
  options.hold_bytes = hold_bytes;
  check_options(options);
  std::map<std::string, Matrix<double>> clouds;
  auto cloud = [&](const std::string& name) -> const Matrix<double>& {
    auto it = clouds.find(name);
    if (it != clouds.end()) return it->second;
    const auto& values = features.at(name).values;
    Matrix<double> x;
    if (spec.sinkhorn_samples > 0 && spec.sinkhorn_samples < values.rows) {
      // A seeded draw without replacement, the same for a task whatever the pair or rank.
      std::vector<std::size_t> order(values.rows);
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      SplitMix rng(seed_for(spec.sinkhorn_seed, name));
      for (std::size_t i = 0; i < spec.sinkhorn_samples; ++i) std::swap(order[i], order[i + rng.below(order.size() - i)]);
      order.resize(spec.sinkhorn_samples);
      std::sort(order.begin(), order.end());
      x = Matrix<double>::uninitialized(order.size(), values.cols);
      for (std::size_t r = 0; r < order.size(); ++r)
        for (std::size_t c = 0; c < values.cols; ++c) x(r, c) = static_cast<double>(values(order[r], c));
    } else {
      x = widened(values);
    }
    // Checked once per task, before any product of it is computed.
    check_cloud(x, name);
    return clouds.emplace(name, std::move(x)).first->second;
  };
  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size(), 0.0);
  // Each task's self-costs are kept for its other pairs while they fit the budget of held cost
  // matrices (SinkhornOptions::hold_bytes: a quarter of the memory; at most 8 GiB); past that
  // they are computed per pair.
  std::map<std::string, CloudSelf> selves;
  long double kept = 0;
  const long double budget = std::min<long double>(8.0L * (1ull << 30), hold_budget(options));
  auto self_of = [&](const std::string& name) -> const CloudSelf* {
    auto it = selves.find(name);
    if (it != selves.end()) return &it->second;
    const auto& x = cloud(name);
    const long double bytes = 8.0L * static_cast<long double>(x.rows) * static_cast<long double>(x.rows + 1);
    if (kept + bytes > budget) return nullptr;
    kept += bytes;
    return &selves.emplace(name, self_costs(x, backend)).first->second;
  };
  std::map<std::pair<std::string, std::string>, double> done_pairs;
  std::size_t done = 0, streamed_pairs = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (sources[s] == targets[t]) continue;
      auto first = sources[s], second = targets[t];
      if (second < first) std::swap(first, second);
      auto [it, fresh] = done_pairs.try_emplace({first, second}, 0.0);
      if (fresh) {
        const auto& x = cloud(first);
        const auto& y = cloud(second);
        require(x.cols == y.cols, "'{}' has {} features per point and '{}' {}: the clouds must have the same "
                "dimension", first, x.cols, second, y.cols);
        bool streamed = false;
        it->second = divergence(x, y, self_of(first), self_of(second), options, backend, first, second, &streamed);
        streamed_pairs += streamed ? 1 : 0;
      }
      out.values(s, t) = it->second;
    }
    if (progress) progress(++done, sources.size());
  }
  if (streamed_pairs > 0)
    out.warnings.push_back(fmt::format(
        "{}: {} of {} pairs had more cost matrices than they may hold ({:.3g} GB; --sinkhorn-memory) and computed "
        "them again on every pass: the same values, several times slower",
        spec.name, streamed_pairs, done_pairs.size(), static_cast<double>(hold_budget(options) / 1e9L)));
  return out;
}

}  // namespace taskfp
