// Row preprocessing and feature weights.
#include "distance/rows.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace taskfp {

Matrix<double> task_rows(const TaskFingerprint& fp, int bins) {
  if (bins == 0) {
    Matrix<double> m(1, fp.mean.size());
    std::copy(fp.mean.begin(), fp.mean.end(), m.data.begin());
    return m;
  }
  auto it = fp.histograms.find(bins);
  require(it != fp.histograms.end(), "task '{}' has no {}-bin histogram", fp.name, bins);
  return it->second;
}

RowsView task_rows_view(const TaskFingerprint& fp, int bins) {
  if (bins == 0) return {fp.mean.data(), 1, fp.mean.size()};
  auto it = fp.histograms.find(bins);
  require(it != fp.histograms.end(), "task '{}' has no {}-bin histogram", fp.name, bins);
  return {it->second.data.data(), it->second.rows, it->second.cols};
}

void preprocess_row(std::span<double> row, Prep prep, double alpha) {
  switch (prep) {
    case Prep::None: break;
    case Prep::L1: {
      double norm = 0.0;
      for (double v : row) norm += std::abs(v);
      norm = std::max(norm, 1e-12);
      for (double& v : row) v /= norm;
      break;
    }
    case Prep::Softmax: {
      double mx = *std::max_element(row.begin(), row.end());
      double sum = 0.0;
      for (double& v : row) {
        v = std::exp(v - mx);
        sum += v;
      }
      for (double& v : row) v /= sum;
      break;
    }
    case Prep::Uniform: {
      // Same evaluation order as the reference: (alpha * (1 / cols)) + ((1 - alpha) * x).
      const double base = alpha * (1.0 / static_cast<double>(row.size()));
      const double keep = 1.0 - alpha;
      for (double& v : row) v = base + keep * v;
      break;
    }
  }
}

void preprocess_rows(Matrix<double>& m, Prep prep, double alpha) {
  for (std::size_t r = 0; r < m.rows; ++r) preprocess_row(m.row(r), prep, alpha);
}

std::vector<double> feature_weights(const TaskFingerprint& fp, Prep prep, double alpha) {
  std::vector<double> w(fp.mean.size());
  // The reference's means are float32; weights are computed from them.
  for (std::size_t f = 0; f < fp.mean.size(); ++f)
    w[f] = static_cast<double>(static_cast<float>(fp.mean[f]));
  preprocess_row(w, prep, alpha);
  for (double& v : w) v = static_cast<double>(static_cast<float>(v));
  return w;
}

double weight_sum(std::span<const double> w) { return std::accumulate(w.begin(), w.end(), 0.0); }

}  // namespace taskfp
