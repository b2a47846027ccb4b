// The debiased Sinkhorn divergence (sinkhorn.hpp): the checks, the eps schedule and the
// potentials' updates here; the cost matrices and their soft-min passes in the backend
// (compute::SoftminPair: on the CPU held where they fit the memory budget, else computed again
// slab by slab with the same bits, compute/cpu_softmin.cpp; on a device in its memory).
#include "distance/sinkhorn.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "compute/cpu_softmin.hpp"
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

void check_dimensions(const Matrix<double>& x, const Matrix<double>& y, const std::string& x_name,
                      const std::string& y_name) {
  require(x.cols == y.cols, "'{}' has {} features per point and '{}' {}: the clouds must have the same dimension",
          x_name, x.cols, y_name, y.cols);
}

void check_cloud(const Matrix<double>& x, const std::string& name) {
  require(x.rows >= 2, "'{}' has {} point(s); the Sinkhorn divergence needs at least 2 per cloud", name, x.rows);
  for (std::size_t i = 0; i < x.data.size(); ++i)
    require(std::isfinite(x.data[i]), "'{}' has a {} coordinate (point {}, dimension {}): the Sinkhorn divergence "
            "needs finite features", name, std::isnan(x.data[i]) ? "NaN" : "infinite", i / x.cols, i % x.cols);
}

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

// What a cloud contributes alone: its points' squared norms and (on the CPU, while the memory
// budget allows) its self-cost matrix C(x, x), the same for every pair the cloud is in.
struct CloudSelf {
  std::vector<double> norms;
  Matrix<double> cost;
};

CloudSelf self_costs(const Matrix<double>& x, const compute::Backend& backend) {
  CloudSelf c;
  c.norms = squared_norms(x);
  c.cost = compute::half_squared_distances(x.data.data(), c.norms.data(), x.rows, x.data.data(), c.norms.data(),
                                           x.rows, x.cols, backend);
  return c;
}

// The bytes of cost matrices a pair may hold (SinkhornOptions::hold_bytes, 0: a quarter of the
// physical memory).
long double hold_budget(const SinkhornOptions& o) {
  return o.hold_bytes > 0 ? static_cast<long double>(o.hold_bytes) : physical_memory() / 4.0L;
}

// The early zeros, then the schedule, for clouds already checked (check_cloud) and options in
// their domain; `sx` and `sy` give the clouds' norms and, on the CPU, their self-costs (computed
// here when null or empty).
double divergence(const Matrix<double>& x, const Matrix<double>& y, const CloudSelf* sx, const CloudSelf* sy,
                  const SinkhornOptions& o, const compute::Backend& backend, const std::string& x_name,
                  const std::string& y_name, bool* streamed = nullptr) {
  check_dimensions(x, y, x_name, y_name);
  // Identical clouds: every update of the a<->b problem is that of a<->a, and S is exactly 0 (as
  // in GeomLoss, whose four cost matrices are then the same products).
  if (x.rows == y.rows && x.data == y.data) return 0.0;
  const double diameter = cloud_diameter(x, y);
  if (diameter == 0.0) return 0.0;  // every point of both clouds is the same point
  const auto eps_list = sinkhorn_eps_schedule(diameter, o);
  const std::size_t n = x.rows, m = y.rows;
  const bool x_self = sx && sx->cost.rows > 0, y_self = sy && sy->cost.rows > 0;
  compute::SoftminPairRequest request;
  request.x = x.data.data(), request.y = y.data.data();
  request.n = n, request.m = m, request.d = x.cols;
  request.slab_bytes = o.slab_bytes;
  request.max_device_bytes = o.device_bytes;
  if (backend.is_host()) {
    // The pair's cost matrices held while they fit the budget; otherwise computed again on every
    // pass, slab by slab (about 2 + the schedule's length GEMMs per matrix instead of one).
    const long double held_bytes =
        8.0L * static_cast<long double>(2 * n * m + (x_self ? 0 : n * n) + (y_self ? 0 : m * m));
    request.hold = held_bytes <= hold_budget(o);
    if (request.hold)
      require_memory(held_bytes, fmt::format("the Sinkhorn divergence of '{}' ({} points) and '{}' ({} points)",
                                             x_name, n, y_name, m));
  }
  std::vector<double> own_nx, own_ny;
  request.x_norms = sx ? sx->norms.data() : (own_nx = squared_norms(x)).data();
  request.y_norms = sy ? sy->norms.data() : (own_ny = squared_norms(y)).data();
  if (request.hold) {
    request.x_self = x_self ? sx->cost.data.data() : nullptr;
    request.y_self = y_self ? sy->cost.data.data() : nullptr;
  }
  const auto pair = backend.softmin_pair(request);
  if (streamed) *streamed = pair->streamed();
  using compute::CostMatrix;
  // out_i = -eps LSE_j(h_j - C_ij / eps) over cost matrix `which`.
  auto softmin = [&](CostMatrix which, double eps, const std::vector<double>& h, std::vector<double>& out) {
    out.resize(which == CostMatrix::XY || which == CostMatrix::XX ? n : m);
    pair->softmin(which, eps, h.data(), out.data());
  };
  const double a = 1.0 / static_cast<double>(n), b = 1.0 / static_cast<double>(m);
  const double a_log = std::log(a), b_log = std::log(b);
  const std::vector<double> a_logs(n, a_log), b_logs(m, b_log);

  std::vector<double> f_ba, g_ab, f_aa, g_bb, ft_ba, gt_ab, ft_aa, gt_bb;
  double eps = eps_list.front();
  softmin(CostMatrix::YX, eps, a_logs, g_ab);  // a -> b
  softmin(CostMatrix::XY, eps, b_logs, f_ba);  // b -> a
  softmin(CostMatrix::XX, eps, a_logs, f_aa);  // a -> a
  softmin(CostMatrix::YY, eps, b_logs, g_bb);  // b -> b
  for (double e : eps_list) {
    eps = e;
    softmin(CostMatrix::XY, eps, shifted(b_log, g_ab, eps), ft_ba);
    softmin(CostMatrix::YX, eps, shifted(a_log, f_ba, eps), gt_ab);
    softmin(CostMatrix::XX, eps, shifted(a_log, f_aa, eps), ft_aa);
    softmin(CostMatrix::YY, eps, shifted(b_log, g_bb, eps), gt_bb);
    for (std::size_t i = 0; i < n; ++i) f_ba[i] = 0.5 * (f_ba[i] + ft_ba[i]), f_aa[i] = 0.5 * (f_aa[i] + ft_aa[i]);
    for (std::size_t j = 0; j < m; ++j) g_ab[j] = 0.5 * (g_ab[j] + gt_ab[j]), g_bb[j] = 0.5 * (g_bb[j] + gt_bb[j]);
  }
  // The last, plain update at the final eps; the cross pair from the same previous values.
  softmin(CostMatrix::XY, eps, shifted(b_log, g_ab, eps), ft_ba);
  softmin(CostMatrix::YX, eps, shifted(a_log, f_ba, eps), gt_ab);
  softmin(CostMatrix::XX, eps, shifted(a_log, f_aa, eps), ft_aa);
  softmin(CostMatrix::YY, eps, shifted(b_log, g_bb, eps), gt_bb);
  // S = <a, f_ba - f_aa> + <b, g_ab - g_bb>
  std::vector<double> df(n), dg(m);
  for (std::size_t i = 0; i < n; ++i) df[i] = ft_ba[i] - ft_aa[i];
  for (std::size_t j = 0; j < m; ++j) dg[j] = gt_ab[j] - gt_bb[j];
  return dot_weight(a, df) + dot_weight(b, dg);
}

}  // namespace

double sinkhorn_divergence(const Matrix<double>& x, const Matrix<double>& y, const SinkhornOptions& o,
                           const compute::Backend& backend, const std::string& x_name, const std::string& y_name) {
  check_options(o);
  check_dimensions(x, y, x_name, y_name);
  check_cloud(x, x_name);
  check_cloud(y, y_name);
  return divergence(x, y, nullptr, nullptr, o, backend, x_name, y_name);
}

DistanceMatrix sinkhorn_matrix(const MetricSpec& spec, const FeatureSet& features,
                               const std::vector<std::string>& sources, const std::vector<std::string>& targets,
                               const ProgressFn& progress, const compute::Backend& backend, std::size_t hold_bytes) {
  SinkhornOptions options{spec.mmd_blur, spec.sinkhorn_scaling};
  options.hold_bytes = hold_bytes;
  check_options(options);
  std::map<std::string, Matrix<double>> clouds;
  std::vector<std::string> whole;  // tasks with no more points than the samples asked for
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
      if (spec.sinkhorn_samples > 0) whole.push_back(fmt::format("'{}' ({})", name, values.rows));
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
  // On the CPU each task's self-costs are kept for its other pairs while they fit the budget of
  // held cost matrices (SinkhornOptions::hold_bytes: a quarter of the memory; at most 8 GiB);
  // past that they are computed per pair. A device computes them in its memory per pair (a GEMM
  // of milliseconds); the host keeps only the norms.
  std::map<std::string, CloudSelf> selves;
  long double kept = 0;
  const long double budget = std::min<long double>(8.0L * (1ull << 30), hold_budget(options));
  auto self_of = [&](const std::string& name) -> const CloudSelf* {
    auto it = selves.find(name);
    if (it != selves.end()) return &it->second;
    const auto& x = cloud(name);
    if (!backend.is_host()) return &selves.emplace(name, CloudSelf{squared_norms(x), {}}).first->second;
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
        bool streamed = false;
        it->second = divergence(x, y, self_of(first), self_of(second), options, backend, first, second, &streamed);
        streamed_pairs += streamed ? 1 : 0;
      }
      out.values(s, t) = it->second;
    }
    if (progress) progress(++done, sources.size());
  }
  if (!whole.empty())
    out.warnings.push_back(fmt::format("{}: {} of {} tasks have no more than {} points and are used whole: {}",
                                       spec.name, whole.size(), clouds.size(), spec.sinkhorn_samples,
                                       fmt::join(whole, ", ")));
  if (streamed_pairs > 0 && !backend.is_host())
    out.warnings.push_back(fmt::format(
        "{}: {} of {} pairs had more cost matrices than the device's memory holds and computed them again on "
        "every pass, in slabs of rows: the same values, several times slower",
        spec.name, streamed_pairs, done_pairs.size()));
  else if (streamed_pairs > 0)
    out.warnings.push_back(fmt::format(
        "{}: {} of {} pairs had more cost matrices than they may hold ({:.3g} GB; --sinkhorn-memory) and computed "
        "them again on every pass: the same values, several times slower",
        spec.name, streamed_pairs, done_pairs.size(), static_cast<double>(hold_budget(options) / 1e9L)));
  return out;
}

}  // namespace taskfp
