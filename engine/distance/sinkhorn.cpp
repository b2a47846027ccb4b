// The debiased Sinkhorn divergence (sinkhorn.hpp). The cost matrices come from GEMMs
// (|x|^2 + |y|^2 - 2 x.y, halved) and are held for the pair; every soft-min is a row-wise
// log-sum-exp with the row's maximum taken first, parallel over rows (each row's sum in column
// order, so the thread count never changes the result).
#include "distance/sinkhorn.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/resources.hpp"

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

std::vector<double> squared_norms(const Matrix<double>& x) {
  std::vector<double> n(x.rows);
  for (std::size_t i = 0; i < x.rows; ++i) {
    double s = 0;
    for (double v : x.row(i)) s += v * v;
    n[i] = s;
  }
  return n;
}

// C = |x_i - y_j|^2 / 2 for all i, j (n x m), as GeomLoss's squared_distances(x, y) / 2:
// |x_i|^2 - 2 x_i.y_j + |y_j|^2.
Matrix<double> half_squared_distances(const Matrix<double>& x, const std::vector<double>& nx, const Matrix<double>& y,
                                      const std::vector<double>& ny, const compute::Backend& backend) {
  auto c = Matrix<double>::uninitialized(x.rows, y.rows);
  backend.gemm_abt(x.data.data(), x.rows, y.data.data(), y.rows, x.cols, c.data.data(), 1.0, 0.0);
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

// GeomLoss's softmin: out_i = -eps * LSE_j(h_j - C_ij / eps), h on the columns of C.
void softmin(double eps, const Matrix<double>& c, const std::vector<double>& h, std::vector<double>& out) {
  out.resize(c.rows);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < c.rows; ++i) {
    const double* row = c.data.data() + i * c.cols;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < c.cols; ++j) mx = std::max(mx, h[j] - row[j] / eps);
    double sum = 0.0;
    for (std::size_t j = 0; j < c.cols; ++j) sum += std::exp(h[j] - row[j] / eps - mx);
    out[i] = -eps * (mx + std::log(sum));
  }
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

Matrix<double> to_double(const Matrix<float>& x) {
  Matrix<double> out = Matrix<double>::uninitialized(x.rows, x.cols);
  std::transform(x.data.begin(), x.data.end(), out.data.begin(), [](float v) { return static_cast<double>(v); });
  return out;
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

double sinkhorn_divergence(const Matrix<double>& x, const Matrix<double>& y, const SinkhornOptions& o,
                           const compute::Backend& backend, const std::string& x_name, const std::string& y_name) {
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
  require_memory(8.0L * static_cast<long double>(2 * n * m + n * n + m * m),
                 fmt::format("the Sinkhorn divergence of '{}' ({} points) and '{}' ({} points); use --samples to "
                             "subsample the clouds", x_name, n, y_name, m));
  const auto nx = squared_norms(x), ny = squared_norms(y);
  const auto c_xy = half_squared_distances(x, nx, y, ny, backend);
  const auto c_yx = transposed(c_xy);
  const auto c_xx = half_squared_distances(x, nx, x, nx, backend);
  const auto c_yy = half_squared_distances(y, ny, y, ny, backend);
  const double a = 1.0 / static_cast<double>(n), b = 1.0 / static_cast<double>(m);
  const double a_log = std::log(a), b_log = std::log(b);
  const std::vector<double> a_logs(n, a_log), b_logs(m, b_log);

  std::vector<double> f_ba, g_ab, f_aa, g_bb, ft_ba, gt_ab, ft_aa, gt_bb;
  double eps = eps_list.front();
  softmin(eps, c_yx, a_logs, g_ab);  // a -> b
  softmin(eps, c_xy, b_logs, f_ba);  // b -> a
  softmin(eps, c_xx, a_logs, f_aa);  // a -> a
  softmin(eps, c_yy, b_logs, g_bb);  // b -> b
  for (double e : eps_list) {
    eps = e;
    softmin(eps, c_xy, shifted(b_log, g_ab, eps), ft_ba);
    softmin(eps, c_yx, shifted(a_log, f_ba, eps), gt_ab);
    softmin(eps, c_xx, shifted(a_log, f_aa, eps), ft_aa);
    softmin(eps, c_yy, shifted(b_log, g_bb, eps), gt_bb);
    for (std::size_t i = 0; i < n; ++i) f_ba[i] = 0.5 * (f_ba[i] + ft_ba[i]), f_aa[i] = 0.5 * (f_aa[i] + ft_aa[i]);
    for (std::size_t j = 0; j < m; ++j) g_ab[j] = 0.5 * (g_ab[j] + gt_ab[j]), g_bb[j] = 0.5 * (g_bb[j] + gt_bb[j]);
  }
  // The last, plain update at the final eps; the cross pair from the same previous values.
  softmin(eps, c_xy, shifted(b_log, g_ab, eps), ft_ba);
  softmin(eps, c_yx, shifted(a_log, f_ba, eps), gt_ab);
  softmin(eps, c_xx, shifted(a_log, f_aa, eps), ft_aa);
  softmin(eps, c_yy, shifted(b_log, g_bb, eps), gt_bb);
  // S = <a, f_ba - f_aa> + <b, g_ab - g_bb>
  std::vector<double> df(n), dg(m);
  for (std::size_t i = 0; i < n; ++i) df[i] = ft_ba[i] - ft_aa[i];
  for (std::size_t j = 0; j < m; ++j) dg[j] = gt_ab[j] - gt_bb[j];
  return dot_weight(a, df) + dot_weight(b, dg);
}

DistanceMatrix sinkhorn_matrix(const MetricSpec& spec, const FeatureSet& features,
                               const std::vector<std::string>& sources, const std::vector<std::string>& targets,
                               const ProgressFn& progress, const compute::Backend& backend) {
  const SinkhornOptions options{spec.mmd_blur, spec.sinkhorn_scaling};
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
      x = to_double(values);
    }
    return clouds.emplace(name, std::move(x)).first->second;
  };
  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size(), 0.0);
  std::map<std::pair<std::string, std::string>, double> done_pairs;
  std::size_t done = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (sources[s] == targets[t]) continue;
      auto first = sources[s], second = targets[t];
      if (second < first) std::swap(first, second);
      auto [it, fresh] = done_pairs.try_emplace({first, second}, 0.0);
      if (fresh) it->second = sinkhorn_divergence(cloud(first), cloud(second), options, backend, first, second);
      out.values(s, t) = it->second;
    }
    if (progress) progress(++done, sources.size());
  }
  return out;
}

}  // namespace taskfp
