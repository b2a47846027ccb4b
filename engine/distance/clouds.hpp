// Point clouds of raw features for the metrics that compare samples (kernel MMD, the Sinkhorn
// divergence): float32 features widened to float64, and squared norms for |x - y|^2 from GEMMs.
#pragma once

#include <algorithm>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {

/// The same values in float64 (rows = points).
inline Matrix<double> widened(const Matrix<float>& x) {
  auto out = Matrix<double>::uninitialized(x.rows, x.cols);
  std::transform(x.data.begin(), x.data.end(), out.data.begin(), [](float v) { return static_cast<double>(v); });
  return out;
}

/// |x_i|^2 for every row, summed in column order.
inline std::vector<double> squared_norms(const Matrix<double>& x) {
  std::vector<double> n(x.rows);
  for (std::size_t i = 0; i < x.rows; ++i) {
    double s = 0;
    for (double v : x.row(i)) s += v * v;
    n[i] = s;
  }
  return n;
}

}  // namespace taskfp
