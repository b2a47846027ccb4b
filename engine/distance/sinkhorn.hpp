// The debiased Sinkhorn divergence between raw feature clouds (MMD-geo-sinkhorn-<blur>), with the
// semantics of GeomLoss v0.2.6 SamplesLoss("sinkhorn", p=2, blur, scaling, backend="tensorized"),
// as the paper called it (facts of GeomLoss's public code):
//   - cost C(x, y) = |x - y|^2 / 2, uniform weights a = 1/n, b = 1/m;
//   - diameter = |max - min| (Euclidean norm over dimensions of the per-dimension range over
//     both clouds); eps schedule [diameter^2] + [exp(e) for e in arange(2 ln diameter,
//     2 ln blur, 2 ln scaling)] + [blur^2] (numpy's arange: ceil((stop - start) / step) values);
//   - initial potentials by one soft-min at eps_0; then per eps of the schedule the four
//     soft-min updates f_i = -eps LSE_j(log b_j + g_j / eps - C_ij / eps) (a<->b both ways,
//     a<->a, b<->b), each averaged with its previous value; then one last plain update of all
//     four at the final eps (the cross pair from the same previous values);
//   - S = <a, f_ba - f_aa> + <b, g_ab - g_bb>.
// The schedule is short and not converged: the result is the schedule's, not a converged
// Sinkhorn's. Float64 throughout (float32 features are widened), as the paper's reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compute/backend.hpp"
#include "core/matrix.hpp"
#include "distance/distance.hpp"
#include "store/features_store.hpp"

namespace taskfp {

struct SinkhornOptions {
  double blur = 0.01;    ///< target blur; the last eps is blur^2. Positive and finite.
  double scaling = 0.1;  ///< ratio of successive blurs, in (0, 1)
  /// Bytes of cost matrices a pair may hold (0: a quarter of the physical memory). A pair whose
  /// matrices do not fit computes them again on every soft-min pass in slabs of 64 MiB: the same
  /// bits, about (2 + the schedule's length) times the GEMM time, memory O((n + m) d).
  std::size_t hold_bytes = 0;
  std::size_t slab_bytes = std::size_t{64} << 20;  ///< a streamed slab's size (whole 128-row tiles; tests shrink it)
  /// Device backends: the device memory a pair may use (0: 80% of the free memory); past it the
  /// matrices are computed again on every pass in slabs of rows (tests shrink it).
  std::size_t device_bytes = 0;
};

/// The eps schedule for two clouds of this diameter (GeomLoss's epsilon_schedule with p = 2).
/// InputError for a diameter that is not positive and finite, or options out of their domain.
std::vector<double> sinkhorn_eps_schedule(double diameter, const SinkhornOptions& options);

/// The Euclidean norm of the per-dimension range (max - min) over both clouds (rows = points).
double cloud_diameter(const Matrix<double>& x, const Matrix<double>& y);

/// S(x, y) for clouds of n x d and m x d points (float64, rows = points). Identical clouds give
/// exactly 0, as do clouds whose points all coincide (diameter 0), without running the schedule.
/// InputError for clouds with different dimensions, fewer than 2 points, NaN or infinite
/// coordinates (naming `x_name` / `y_name`), or options out of their domain. The cost matrices
/// and the soft-min passes run on `backend` (compute::SoftminPair). On the CPU: OpenMP over rows,
/// (2 n m + n^2 + m^2) doubles of memory where they fit options.hold_bytes, else slabs of 64 MiB,
/// the same bits either way. On a device: the clouds and, where they fit 80% of its free memory,
/// the four matrices in device memory (else slabs of rows computed again per pass); the result
/// agrees with the CPU's to about 1e-12 relative (cuBLAS and the device's exp round otherwise).
/// Error for a device failure.
double sinkhorn_divergence(const Matrix<double>& x, const Matrix<double>& y, const SinkhornOptions& options,
                           const compute::Backend& backend = compute::cpu(), const std::string& x_name = "x",
                           const std::string& y_name = "y");

/// The metric's matrix over tasks' raw features: rows = sources, columns = targets, each
/// unordered pair computed once (the task whose name sorts first as x) and mirrored, the
/// diagonal 0. With spec.sinkhorn_samples > 0, each cloud is first subsampled without
/// replacement to that many points (seeded by spec.sinkhorn_seed and the task's name), as the
/// name's -<n>-SAMPLES-<seed>-SEED suffix says.
/// `hold_bytes`: SinkhornOptions::hold_bytes.
DistanceMatrix sinkhorn_matrix(const MetricSpec& spec, const FeatureSet& features,
                               const std::vector<std::string>& sources, const std::vector<std::string>& targets,
                               const ProgressFn& progress, const compute::Backend& backend, std::size_t hold_bytes = 0);

}  // namespace taskfp
