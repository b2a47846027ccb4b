// The KL family as GEMMs (method.md "Algebra"), and Jensen-Shannon per pair.
//
// For a pair with p-side task A and q-side task B (A = target, B = source; swapped by -I):
//   sum_e w_e p_e log(p_e / q_e) = sum_e w_e p_e log p_e  -  sum_e w_e p_e log q_e
// The first term is a row term of A (or a small d-length GEMM when the weights follow B), the
// second one GEMM over all pairs: (w ⊙ P_A) · (log Q_B)^T, or P_A · (w ⊙ log Q_B)^T. "Both"
// weights are the average of the two and split into one GEMM per side. Everything runs in
// float64. Terms with p = 0 count 0 (the reference's nan_to_num); p > 0 = q gives +inf in the
// reference (then NaN after loading): a 0/1 GEMM counts such entries and they are reported NaN.
#include <cblas.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "distance/kl_family.hpp"
#include "distance/rows.hpp"

namespace taskfp {
namespace {

struct SideData {
  Matrix<double> values;   // n x E preprocessed (and clipped) rows, flattened per task
  std::size_t rows = 0;    // rows per task (d for histograms, 1 for means)
  std::size_t cols = 0;    // values per row
};

SideData prepare_side(const FingerprintSet& fps, const std::vector<std::string>& names, int bins,
                      Prep prep, double alpha, bool clip) {
  SideData side;
  const auto& first = task_rows(fps.at(names.front()), bins);
  side.rows = first.rows;
  side.cols = first.cols;
  const std::size_t e = side.rows * side.cols;
  side.values = Matrix<double>(names.size(), e);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto m = task_rows(fps.at(names[i]), bins);
    preprocess_rows(m, prep, alpha);
    if (clip) clip_rows(m);
    std::copy(m.data.begin(), m.data.end(), side.values.row(i).begin());
  }
  return side;
}

// Index of the weight that applies to flattened element e.
inline std::size_t feature_of(std::size_t e, const SideData& s) {
  return s.rows == 1 ? e : e / s.cols;
}

Matrix<double> weights_for(const FingerprintSet& fps, const std::vector<std::string>& names,
                           const MetricSpec& spec) {
  const double alpha = spec.alpha.value_or(0.0);
  Matrix<double> w(names.size(), fps.dim());
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto v = feature_weights(fps.at(names[i]), spec.weight_prep, alpha);
    std::copy(v.begin(), v.end(), w.row(i).begin());
  }
  return w;
}

// C (m x n) = alpha * A (m x k) * B^T (n x k) + beta * C; row-major.
void gemm_abt(const Matrix<double>& a, const Matrix<double>& b, Matrix<double>& c, double alpha,
              double beta) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(a.rows),
              static_cast<int>(b.rows), static_cast<int>(a.cols), alpha, a.data.data(),
              static_cast<int>(a.cols), b.data.data(), static_cast<int>(b.cols), beta,
              c.data.data(), static_cast<int>(c.cols));
}

// Scales each task's elements by its feature weights.
Matrix<double> scaled_by_weights(const SideData& side, const Matrix<double>& w) {
  Matrix<double> out = side.values;
#pragma omp parallel for
  for (std::size_t i = 0; i < out.rows; ++i) {
    auto row = out.row(i);
    for (std::size_t e = 0; e < row.size(); ++e) row[e] *= w(i, feature_of(e, side));
  }
  return out;
}

}  // namespace

DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets) {
  const double alpha = spec.alpha.value_or(0.0);
  // A: the tasks on the p side of KL(p || q); B: the q side.
  const auto& a_names = spec.invert ? sources : targets;
  const auto& b_names = spec.invert ? targets : sources;
  const Prep a_prep = spec.invert ? spec.source_prep : spec.target_prep;
  const Prep b_prep = spec.invert ? spec.target_prep : spec.source_prep;
  SideData pa = prepare_side(fps, a_names, spec.bins, a_prep, alpha, spec.clip);
  SideData qb = prepare_side(fps, b_names, spec.bins, b_prep, alpha, spec.clip);
  const std::size_t na = a_names.size(), nb = b_names.size(), ne = pa.values.cols;
  const std::size_t d = fps.dim();

  // p log p summed per feature (n_a x d); log q with zeros masked, and where q is zero.
  Matrix<double> plogp(na, d, 0.0);
#pragma omp parallel for
  for (std::size_t i = 0; i < na; ++i) {
    auto row = pa.values.row(i);
    for (std::size_t e = 0; e < ne; ++e)
      if (row[e] > 0.0) plogp(i, feature_of(e, pa)) += row[e] * std::log(row[e]);
  }
  Matrix<double> logq(nb, ne);
  std::vector<char> has_zero(nb, 0);
#pragma omp parallel for
  for (std::size_t j = 0; j < nb; ++j) {
    auto src = qb.values.row(j);
    auto dst = logq.row(j);
    for (std::size_t e = 0; e < ne; ++e) {
      if (src[e] > 0.0) {
        dst[e] = std::log(src[e]);
      } else {
        dst[e] = 0.0;
        has_zero[j] = 1;
      }
    }
  }

  const bool a_weighted = spec.weight_by == WeightBy::Both ||
                          (spec.weight_by == WeightBy::Target && !spec.invert) ||
                          (spec.weight_by == WeightBy::Source && spec.invert);
  const bool b_weighted = spec.weight_by == WeightBy::Both ||
                          (spec.weight_by == WeightBy::Source && !spec.invert) ||
                          (spec.weight_by == WeightBy::Target && spec.invert);
  const double half = spec.weight_by == WeightBy::Both ? 0.5 : 1.0;

  Matrix<double> cross(na, nb, 0.0);  // sum_e w_e p_e log q_e
  Matrix<double> self(na, nb, 0.0);   // sum_e w_e p_e log p_e
  Matrix<double> denom(na, nb, static_cast<double>(d));
  if (!a_weighted && !b_weighted) {
    gemm_abt(pa.values, logq, cross, 1.0, 0.0);
    for (std::size_t i = 0; i < na; ++i) {
      double s = 0.0;
      for (double v : plogp.row(i)) s += v;
      for (std::size_t j = 0; j < nb; ++j) self(i, j) = s;
    }
  } else {
    std::fill(denom.data.begin(), denom.data.end(), 0.0);
  }
  if (a_weighted) {
    Matrix<double> wa = weights_for(fps, a_names, spec);
    gemm_abt(scaled_by_weights(pa, wa), logq, cross, half, 1.0);
    for (std::size_t i = 0; i < na; ++i) {
      double s = 0.0;
      for (std::size_t f = 0; f < d; ++f) s += wa(i, f) * plogp(i, f);
      const double ws = weight_sum(wa.row(i));
      for (std::size_t j = 0; j < nb; ++j) {
        self(i, j) += half * s;
        denom(i, j) += half * ws;
      }
    }
  }
  if (b_weighted) {
    Matrix<double> wb = weights_for(fps, b_names, spec);
    SideData lq{logq, qb.rows, qb.cols};
    gemm_abt(pa.values, scaled_by_weights(lq, wb), cross, half, 1.0);
    gemm_abt(plogp, wb, self, half, 1.0);
    for (std::size_t j = 0; j < nb; ++j) {
      const double ws = weight_sum(wb.row(j));
      for (std::size_t i = 0; i < na; ++i) denom(i, j) += half * ws;
    }
  }

  // Pairs where p > 0 meets q == 0 (only possible without softmax/smoothing/clipping on q).
  Matrix<double> bad;
  bool any_zero = false;
  for (char z : has_zero) any_zero |= z != 0;
  if (any_zero) {
    Matrix<double> pos(na, ne), zero(nb, ne);
    for (std::size_t k = 0; k < pa.values.data.size(); ++k) pos.data[k] = pa.values.data[k] > 0.0;
    for (std::size_t k = 0; k < qb.values.data.size(); ++k) zero.data[k] = qb.values.data[k] <= 0.0;
    bad = Matrix<double>(na, nb, 0.0);
    gemm_abt(pos, zero, bad, 1.0, 0.0);
  }

  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size());
  std::size_t infinite = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      const std::size_t i = spec.invert ? s : t, j = spec.invert ? t : s;
      double v = (self(i, j) - cross(i, j)) / denom(i, j);
      if (!bad.empty() && bad(i, j) > 0.0) {
        v = std::numeric_limits<double>::quiet_NaN();
        if (sources[s] != targets[t]) ++infinite;
      }
      out.values(s, t) = sources[s] == targets[t] ? 0.0 : v;
    }
  }
  if (infinite > 0)
    out.warnings.push_back(fmt::format(
        "{}: {} entries are infinite (a bin with p > 0 has q = 0: the source is neither softmaxed, "
        "smoothed nor clipped) and are reported as NaN",
        spec.name, infinite));
  return out;
}

DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress) {
  const double alpha = spec.alpha.value_or(0.0);
  SideData tp = prepare_side(fps, targets, spec.bins, spec.target_prep, alpha, false);
  SideData sq = prepare_side(fps, sources, spec.bins, spec.source_prep, alpha, false);
  Matrix<double> ws, wt;
  if (spec.weight_by == WeightBy::Source || spec.weight_by == WeightBy::Both)
    ws = weights_for(fps, sources, spec);
  if (spec.weight_by == WeightBy::Target || spec.weight_by == WeightBy::Both)
    wt = weights_for(fps, targets, spec);
  const std::size_t ne = tp.values.cols, d = fps.dim();

  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size());
  std::size_t done = 0;
#pragma omp parallel
  {
    std::vector<double> kl_feature(d);
    std::vector<double> w(d, 1.0);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t s = 0; s < sources.size(); ++s) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        if (sources[s] == targets[t]) {
          out.values(s, t) = 0.0;
          continue;
        }
        for (std::size_t f = 0; f < d; ++f) {
          switch (spec.weight_by) {
            case WeightBy::Source: w[f] = ws(s, f); break;
            case WeightBy::Target: w[f] = wt(t, f); break;
            case WeightBy::Both: w[f] = 0.5 * (ws(s, f) + wt(t, f)); break;
            case WeightBy::None: break;
          }
        }
        auto p = tp.values.row(t);
        auto q = sq.values.row(s);
        std::fill(kl_feature.begin(), kl_feature.end(), 0.0);
        for (std::size_t e = 0; e < ne; ++e) {
          double pe = p[e], qe = q[e];
          double m = (pe + qe) / 2;
          if (spec.clip) {
            pe = std::max(pe, kClipEpsilon);
            qe = std::max(qe, kClipEpsilon);
            m = std::max(m, kClipEpsilon);
          }
          double term = 0.0;
          if (pe > 0.0) term += pe * std::log(pe / m);
          if (qe > 0.0) term += qe * std::log(qe / m);
          kl_feature[feature_of(e, tp)] += term;
        }
        double num = 0.0, den = 0.0;
        for (std::size_t f = 0; f < d; ++f) {
          num += w[f] * kl_feature[f];
          den += w[f];
        }
        out.values(s, t) = num / den;
      }
#pragma omp critical
      if (progress) progress(++done, sources.size());
    }
  }
  return out;
}

}  // namespace taskfp
