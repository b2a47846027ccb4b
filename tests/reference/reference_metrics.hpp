// Per-pair reference implementations of the fingerprint metrics: direct transcriptions of the
// reference code's per-pair formulas (method.md section 4), deliberately simple and slow.
// The fast paths in engine/distance are checked against these; bench/ times them as baseline (b).
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "distance/distance.hpp"
#include "distance/rows.hpp"

namespace taskfp::reference {

inline Matrix<double> prep(const TaskFingerprint& fp, int bins, Prep p, double alpha) {
  Matrix<double> m = task_rows(fp, bins);
  for (std::size_t r = 0; r < m.rows; ++r) {
    auto row = m.row(r);
    if (p == Prep::L1) {
      double s = 0;
      for (double v : row) s += std::fabs(v);
      s = std::max(s, 1e-12);
      for (double& v : row) v = v / s;
    } else if (p == Prep::Softmax) {
      double mx = -INFINITY, s = 0;
      for (double v : row) mx = std::max(mx, v);
      for (double v : row) s += std::exp(v - mx);
      for (double& v : row) v = std::exp(v - mx) / s;
    } else if (p == Prep::Uniform) {
      for (double& v : row) v = alpha * (1.0 / static_cast<double>(row.size())) + (1.0 - alpha) * v;
    }
  }
  return m;
}

/// The weight vector of one pair (size d), or all ones.
inline std::vector<double> pair_weights(const MetricSpec& spec, const TaskFingerprint& s,
                                        const TaskFingerprint& t, std::size_t d) {
  const double alpha = spec.alpha.value_or(0.0);
  switch (spec.weight_by) {
    case WeightBy::Source: return feature_weights(s, spec.weight_prep, alpha);
    case WeightBy::Target: return feature_weights(t, spec.weight_prep, alpha);
    case WeightBy::Both: {
      auto a = feature_weights(s, spec.weight_prep, alpha);
      auto b = feature_weights(t, spec.weight_prep, alpha);
      for (std::size_t f = 0; f < d; ++f) a[f] = (a[f] + b[f]) / 2;
      return a;
    }
    case WeightBy::None: break;
  }
  return std::vector<double>(d, 1.0);
}

/// my_kullback_leibler_divergence of the reference: sum over features of w_f * KL_f / sum w,
/// each term p * log(p / q) with nan_to_num (NaN -> 0, +inf -> DBL_MAX).
inline double kl(Matrix<double> p, Matrix<double> q, bool clip, const std::vector<double>& w) {
  if (clip) {
    for (double& v : p.data) v = std::max(v, kClipEpsilon);
    for (double& v : q.data) v = std::max(v, kClipEpsilon);
  }
  const bool binned = p.rows != 1;
  double num = 0, den = 0;
  for (double x : w) den += x;
  for (std::size_t r = 0; r < p.rows; ++r) {
    double row_sum = 0;
    for (std::size_t c = 0; c < p.cols; ++c) {
      double term = std::log(p(r, c) / q(r, c)) * p(r, c);
      if (std::isnan(term)) term = 0;
      if (std::isinf(term)) term = term > 0 ? DBL_MAX : -DBL_MAX;
      if (binned) row_sum += term;
      else num += term * w[c];
    }
    if (binned) num += row_sum * w[r];
  }
  return num / den;
}

inline double kld_pair(const MetricSpec& spec, const TaskFingerprint& s, const TaskFingerprint& t) {
  const double alpha = spec.alpha.value_or(0.0);
  auto p = prep(t, spec.bins, spec.target_prep, alpha);
  auto q = prep(s, spec.bins, spec.source_prep, alpha);
  auto w = pair_weights(spec, s, t, s.mean.size());
  return spec.invert ? kl(q, p, spec.clip, w) : kl(p, q, spec.clip, w);
}

inline double js_pair(const MetricSpec& spec, const TaskFingerprint& s, const TaskFingerprint& t) {
  auto p = prep(t, spec.bins, Prep::L1, 0);
  auto q = prep(s, spec.bins, Prep::L1, 0);
  Matrix<double> m = p;
  for (std::size_t k = 0; k < m.data.size(); ++k) m.data[k] = (p.data[k] + q.data[k]) / 2;
  auto w = pair_weights(spec, s, t, s.mean.size());
  return kl(p, m, spec.clip, w) + kl(q, m, spec.clip, w);
}

inline double cdf_l1_pair(const MetricSpec& spec, const TaskFingerprint& s, const TaskFingerprint& t) {
  auto a = prep(s, spec.bins, spec.source_prep, 0);
  auto b = prep(t, spec.bins, spec.target_prep, 0);
  std::vector<double> per_row(a.rows);
  for (std::size_t r = 0; r < a.rows; ++r) {
    double c = 0, l1 = 0;
    for (std::size_t k = 0; k < a.cols; ++k) {
      c += a(r, k) - b(r, k);
      l1 += std::fabs(c);
    }
    per_row[r] = l1;
  }
  if (spec.weight_by == WeightBy::None) {
    double sum = 0;
    for (double v : per_row) sum += v;
    return sum / static_cast<double>(a.rows);
  }
  auto w = pair_weights(spec, s, t, s.mean.size());
  // torch broadcasting: (rows,) * (d,) -> (d,) when rows == 1, then mean.
  double sum = 0;
  for (std::size_t f = 0; f < w.size(); ++f) sum += per_row[a.rows == 1 ? 0 : f] * w[f];
  return sum / static_cast<double>(w.size());
}

inline double cosine_pair(const MetricSpec& spec, const TaskFingerprint& s, const TaskFingerprint& t) {
  auto a = prep(t, spec.bins, spec.target_prep, 0);
  auto b = prep(s, spec.bins, spec.source_prep, 0);
  double total = 0;
  for (std::size_t r = 0; r < a.rows; ++r) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t k = 0; k < a.cols; ++k) {
      ab += a(r, k) * b(r, k);
      aa += a(r, k) * a(r, k);
      bb += b(r, k) * b(r, k);
    }
    total += 1 - ab / std::sqrt((aa + 1e-12) * (bb + 1e-12));
  }
  return total / static_cast<double>(a.rows);
}

/// Full matrix from a per-pair function; the diagonal (same name) is 0.
template <typename PairFn>
Matrix<double> matrix(const FingerprintSet& fps, const std::vector<std::string>& sources,
                      const std::vector<std::string>& targets, PairFn fn) {
  Matrix<double> out(sources.size(), targets.size());
  for (std::size_t i = 0; i < sources.size(); ++i)
    for (std::size_t j = 0; j < targets.size(); ++j)
      out(i, j) = sources[i] == targets[j] ? 0.0 : fn(fps.at(sources[i]), fps.at(targets[j]));
  return out;
}

}  // namespace taskfp::reference
