// Kernel MMD between raw feature clouds (Cauchy and Gaussian kernels), as the reference computes
// them in float64: mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y). Squared distances come from
// GEMMs (|x|^2 + |y|^2 - 2 x.y) in row blocks, so memory stays bounded for 10,000 samples.
// Cost: O(n^2 d) per pair; at the paper's scale this is a GPU job (a CUDA backend is planned).
#include <algorithm>
#include <cmath>
#include <map>

#include "core/blas.hpp"
#include "distance/clouds.hpp"
#include "distance/mmd.hpp"

namespace taskfp {
namespace {

struct Kernel {
  bool cauchy;
  double blur;
  double operator()(double sq_dist) const {
    if (cauchy) return blur * (1.0 / (blur + sq_dist));
    // DomainBed's multi-bandwidth Gaussian kernel, distances clamped at 1e-30.
    const double d = std::max(sq_dist, 1e-30);
    double k = 0;
    for (double g : {0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0}) k += std::exp(-d * g);
    return k;
  }
};

// Mean of k(|x_i - y_j|^2) over all i, j, in an order fixed by the data alone: tiles of
// kTileRows rows of x against all of y (one single-threaded BLAS call each, computed by
// whichever thread is free), each row's kernel values summed in column order, the row sums
// added in row order. The thread count never changes the result.
double mean_kernel(const Matrix<double>& x, const std::vector<double>& nx, const Matrix<double>& y,
                   const std::vector<double>& ny, const Kernel& kernel) {
  constexpr std::size_t kTileRows = 64;
  const std::size_t tiles = (x.rows + kTileRows - 1) / kTileRows;
  std::vector<double> row_sums(x.rows);
#pragma omp parallel
  {
    std::vector<double> dots(std::min(kTileRows, x.rows) * y.rows);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t tile = 0; tile < tiles; ++tile) {
      const std::size_t i0 = tile * kTileRows, rows = std::min(kTileRows, x.rows - i0);
      blas::gemm_abt(x.data.data() + i0 * x.cols, x.cols, y.data.data(), y.cols, rows, y.rows,
                     x.cols, dots.data(), y.rows, 1.0, 0.0);
      for (std::size_t i = 0; i < rows; ++i) {
        double sum = 0;
        for (std::size_t j = 0; j < y.rows; ++j)
          sum += kernel(nx[i0 + i] + ny[j] - 2.0 * dots[i * y.rows + j]);
        row_sums[i0 + i] = sum;
      }
    }
  }
  double total = 0;
  for (double s : row_sums) total += s;
  return total / (static_cast<double>(x.rows) * static_cast<double>(y.rows));
}

}  // namespace

DistanceMatrix mmd_kernel_matrix(const MetricSpec& spec, const FeatureSet& features,
                                 const std::vector<std::string>& sources,
                                 const std::vector<std::string>& targets, const ProgressFn& progress) {
  const Kernel kernel{spec.mmd_kernel == "cauchy", spec.mmd_blur};
  std::vector<std::string> names = sources;
  for (const auto& t : targets)
    if (std::find(names.begin(), names.end(), t) == names.end()) names.push_back(t);
  std::vector<Matrix<double>> x(names.size());
  std::vector<std::vector<double>> norms(names.size());
  std::vector<double> self(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    x[i] = widened(features.at(names[i]).values);
    norms[i] = squared_norms(x[i]);
    self[i] = mean_kernel(x[i], norms[i], x[i], norms[i], kernel);
  }
  auto index = [&](const std::string& n) {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), n) - names.begin());
  };
  DistanceMatrix out;
  out.metric = spec.name;
  out.sources = sources;
  out.targets = targets;
  out.values = Matrix<double>(sources.size(), targets.size(), 0.0);
  // Symmetric: each unordered pair once, its cross term always taken with the task whose name
  // sorts first as x, so that a rank holding only some of the sources gets the same bits.
  std::map<std::pair<std::size_t, std::size_t>, double> cross;
  std::size_t done = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (sources[s] == targets[t]) continue;
      auto a = index(sources[s]), b = index(targets[t]);
      if (names[b] < names[a]) std::swap(a, b);
      auto [it, fresh] = cross.try_emplace({a, b}, 0.0);
      if (fresh) it->second = mean_kernel(x[a], norms[a], x[b], norms[b], kernel);
      out.values(s, t) = self[a] + self[b] - 2.0 * it->second;
    }
    if (progress) progress(++done, sources.size());
  }
  return out;
}

}  // namespace taskfp
