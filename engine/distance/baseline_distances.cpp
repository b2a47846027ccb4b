// VDNA, EMD-AVG, COS, FID, CORAL and SEMANTIC on the CPU.
#include "distance/baseline_distances.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <set>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "distance/rows.hpp"

namespace taskfp {
namespace {

DistanceMatrix empty_result(const std::string& metric, const std::vector<std::string>& sources,
                            const std::vector<std::string>& targets) {
  DistanceMatrix out;
  out.metric = metric;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size(), 0.0);
  return out;
}

std::vector<Matrix<double>> prepared(const FingerprintSet& fps, const std::vector<std::string>& names,
                                     int bins, Prep prep, double alpha) {
  std::vector<Matrix<double>> out(names.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < names.size(); ++i) {
    out[i] = task_rows(fps.at(names[i]), bins);
    preprocess_rows(out[i], prep, alpha);
  }
  return out;
}

}  // namespace

DistanceMatrix cdf_l1_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                             const std::vector<std::string>& sources,
                             const std::vector<std::string>& targets) {
  const double alpha = spec.alpha.value_or(0.0);
  auto cdfs = [&](const std::vector<std::string>& names, Prep prep) {
    auto rows = prepared(fps, names, spec.bins, prep, alpha);
    for (auto& m : rows)
      for (std::size_t r = 0; r < m.rows; ++r) {
        auto row = m.row(r);
        for (std::size_t k = 1; k < row.size(); ++k) row[k] += row[k - 1];
      }
    return rows;
  };
  auto cs = cdfs(sources, spec.source_prep);
  auto ct = cdfs(targets, spec.target_prep);
  std::vector<std::vector<double>> ws, wt;
  if (spec.weight_by != WeightBy::None) {
    for (const auto& n : sources) ws.push_back(feature_weights(fps.at(n), spec.weight_prep, alpha));
    for (const auto& n : targets) wt.push_back(feature_weights(fps.at(n), spec.weight_prep, alpha));
  }
  auto out = empty_result(spec.name, sources, targets);
  const std::size_t d = fps.dim();
#pragma omp parallel for collapse(2) schedule(dynamic, 4)
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (sources[s] == targets[t]) continue;
      const auto& a = cs[s];
      const auto& b = ct[t];
      auto weight = [&](std::size_t f) {
        switch (spec.weight_by) {
          case WeightBy::Source: return ws[s][f];
          case WeightBy::Target: return wt[t][f];
          case WeightBy::Both: return 0.5 * (ws[s][f] + wt[t][f]);
          case WeightBy::None: break;
        }
        return 1.0;
      };
      double total = 0.0;
      for (std::size_t r = 0; r < a.rows; ++r) {
        double l1 = 0.0;
        auto ar = a.row(r);
        auto br = b.row(r);
        for (std::size_t k = 0; k < ar.size(); ++k) l1 += std::abs(ar[k] - br[k]);
        total += spec.on_histograms() ? l1 * weight(r) : l1;
      }
      double v = total / static_cast<double>(a.rows);
      if (!spec.on_histograms() && spec.weight_by != WeightBy::None) {
        double wsum = 0.0;
        for (std::size_t f = 0; f < d; ++f) wsum += weight(f);
        v *= wsum / static_cast<double>(d);
      }
      out.values(s, t) = v;
    }
  }
  return out;
}

DistanceMatrix cosine_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                             const std::vector<std::string>& sources,
                             const std::vector<std::string>& targets) {
  const double alpha = spec.alpha.value_or(0.0);
  auto ps = prepared(fps, sources, spec.bins, spec.source_prep, alpha);
  auto pt = prepared(fps, targets, spec.bins, spec.target_prep, alpha);
  const std::size_t rows = ps.front().rows, cols = ps.front().cols;
  const std::size_t ns = sources.size(), nt = targets.size();
  // Stack all tasks: row (task, r) of length cols; one GEMM per feature row r.
  Matrix<double> as(ns * rows, cols), at(nt * rows, cols);
  for (std::size_t s = 0; s < ns; ++s) std::copy(ps[s].data.begin(), ps[s].data.end(), as.row(s * rows).begin());
  for (std::size_t t = 0; t < nt; ++t) std::copy(pt[t].data.begin(), pt[t].data.end(), at.row(t * rows).begin());
  auto sq_norms = [&](const Matrix<double>& m) {
    std::vector<double> n(m.rows);
    for (std::size_t i = 0; i < m.rows; ++i) {
      double acc = 0.0;
      for (double v : m.row(i)) acc += v * v;
      n[i] = acc + 1e-12;
    }
    return n;
  };
  auto ns2 = sq_norms(as), nt2 = sq_norms(at);
  auto out = empty_result(spec.name, sources, targets);
  Matrix<double> dots(ns, nt);
  for (std::size_t r = 0; r < rows; ++r) {
    // Source rows in whole tiles (core/blas.hpp): a rank's block gets the single process's bits.
    blas::tiled_gemm_abt(as.data.data() + r * cols, rows * cols, at.data.data() + r * cols,
                         rows * cols, ns, nt, cols, dots.data.data(), nt, 1.0, 0.0,
                         blas::kSourceTile, blas::kTargetTile);
    for (std::size_t s = 0; s < ns; ++s)
      for (std::size_t t = 0; t < nt; ++t)
        out.values(s, t) +=
            1.0 - dots(s, t) / std::sqrt(ns2[s * rows + r] * nt2[t * rows + r]);
  }
  for (std::size_t s = 0; s < ns; ++s)
    for (std::size_t t = 0; t < nt; ++t)
      out.values(s, t) = sources[s] == targets[t] ? 0.0 : out.values(s, t) / static_cast<double>(rows);
  return out;
}

DistanceMatrix fid_matrix(const FingerprintSet& fps, const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, const ProgressFn& progress) {
  using Mat = Eigen::MatrixXd;
  // Eigen cuts its products into blocks sized by the CPU's caches, which changes their summation
  // order between machines; FID amplifies such last bits where a covariance is nearly singular.
  // Fixed sizes give every machine the same blocking (and so, with the fingerprints' covariances
  // bit-identical everywhere, the same FID).
  static const bool fixed_blocking = [] {
    Eigen::setCpuCacheSizes(32 * 1024, 1024 * 1024, 8 * 1024 * 1024);
    return true;
  }();
  (void)fixed_blocking;
  // Every distinct task once: its covariance square root (eigendecomposition) and trace.
  // In the fingerprint set's order, so that each pair is evaluated in the same orientation
  // (root(A) cov(B) root(A) with A first) whichever sources and targets were asked for: the
  // matrix of a subset of sources (one MPI rank's block) then equals the same rows of the full one.
  std::vector<std::string> names;
  for (const auto& n : fps.names())
    if (std::find(sources.begin(), sources.end(), n) != sources.end() ||
        std::find(targets.begin(), targets.end(), n) != targets.end())
      names.push_back(n);
  const std::size_t d = fps.dim();
  std::vector<Mat> cov(names.size()), root(names.size());
  std::vector<double> trace(names.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& fp = fps.at(names[i]);
    cov[i] = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        fp.covariance.data.data(), static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
    Eigen::SelfAdjointEigenSolver<Mat> eig(cov[i]);
    Eigen::VectorXd lambda = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
    root[i] = eig.eigenvectors() * lambda.asDiagonal() * eig.eigenvectors().transpose();
    trace[i] = cov[i].trace();
  }
  auto index = [&](const std::string& n) {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), n) - names.begin());
  };
  // Symmetric: each unordered pair once.
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  std::set<std::pair<std::size_t, std::size_t>> seen;
  for (const auto& s : sources)
    for (const auto& t : targets) {
      auto a = index(s), b = index(t);
      if (a == b) continue;
      auto key = std::minmax(a, b);
      if (seen.insert({key.first, key.second}).second) pairs.emplace_back(key.first, key.second);
    }
  Matrix<double> value(names.size(), names.size(), 0.0);
  std::size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    auto [a, b] = pairs[k];
    Mat m = root[a] * cov[b] * root[a];
    Eigen::SelfAdjointEigenSolver<Mat> eig(m, Eigen::EigenvaluesOnly);
    double tr_sqrt = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
    const auto& ma = fps.at(names[a]).mean;
    const auto& mb = fps.at(names[b]).mean;
    double diff2 = 0.0;
    for (std::size_t f = 0; f < d; ++f) diff2 += (ma[f] - mb[f]) * (ma[f] - mb[f]);
    double v = diff2 + trace[a] + trace[b] - 2.0 * tr_sqrt;
    value(a, b) = value(b, a) = v;
#pragma omp critical
    if (progress) progress(++done, pairs.size());
  }
  auto out = empty_result("FID", sources, targets);
  for (std::size_t s = 0; s < sources.size(); ++s)
    for (std::size_t t = 0; t < targets.size(); ++t)
      out.values(s, t) = value(index(sources[s]), index(targets[t]));
  return out;
}

DistanceMatrix coral_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                            const std::vector<std::string>& sources,
                            const std::vector<std::string>& targets) {
  auto out = empty_result(spec.name, sources, targets);
  const std::size_t d = fps.dim();
#pragma omp parallel for collapse(2) schedule(dynamic, 4)
  for (std::size_t s = 0; s < sources.size(); ++s)
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (sources[s] == targets[t]) continue;
      const auto& a = fps.at(sources[s]);
      const auto& b = fps.at(targets[t]);
      double mean_diff = 0.0, cov_diff = 0.0;
      for (std::size_t f = 0; f < d; ++f) mean_diff += (a.mean[f] - b.mean[f]) * (a.mean[f] - b.mean[f]);
      for (std::size_t k = 0; k < d * d; ++k) {
        double x = a.covariance.data[k] - b.covariance.data[k];
        cov_diff += x * x;
      }
      out.values(s, t) = mean_diff / static_cast<double>(d) + cov_diff / static_cast<double>(d * d);
    }
  return out;
}

DistanceMatrix semantic_matrix(const TaskInfoTable& info, const std::vector<std::string>& sources,
                               const std::vector<std::string>& targets) {
  auto out = empty_result("SEMANTIC", sources, targets);
  auto size_rank = info.ranks(&TaskInfo::num_samples);
  auto dim_rank = info.ranks(&TaskInfo::dimensions);
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const auto& src = info.at(base_task_name(sources[s]));
    std::set<std::string> ks(src.keywords.begin(), src.keywords.end());
    for (std::size_t t = 0; t < targets.size(); ++t) {
      double v = 0.0;
      if (sources[s] != targets[t]) {
        const auto& tgt = info.at(base_task_name(targets[t]));
        std::set<std::string> kt(tgt.keywords.begin(), tgt.keywords.end());
        std::size_t inter = 0;
        for (const auto& k : ks) inter += kt.count(k);
        const std::size_t uni = ks.size() + kt.size() - inter;
        v = 1.0 - static_cast<double>(inter) / static_cast<double>(uni);
      }
      out.values(s, t) = v;
    }
    // The reference applies the tie-breakers to whole source rows, its diagonal included,
    // one subtraction after the other.
    const std::size_t row_index = info.index_of(src.name);
    for (std::size_t t = 0; t < targets.size(); ++t) {
      double& v = out.values(s, t);
      v -= 0.001 * size_rank[row_index];
      v -= 0.00001 * dim_rank[row_index];
      v -= 0.0000001 * static_cast<double>(s);
    }
  }
  return out;
}

}  // namespace taskfp
