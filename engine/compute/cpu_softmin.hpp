// The CPU backend's part of the Sinkhorn divergence (compute/backend.hpp, SoftminPair): cost
// matrices from GEMMs in a fixed grid of 128 x 128 tiles, held for the pair or computed again
// slab by slab (whole tiles, the same BLAS calls, so the same bits) on every soft-min pass, and
// row-wise log-sum-exps in a fixed order.
#pragma once

#include <cstddef>
#include <memory>

#include "compute/backend.hpp"
#include "core/matrix.hpp"

namespace taskfp::compute {

/// C(p, q)_ij = |p_i - q_j|^2 / 2 (rows x cols, row-major) for p (rows x d) and q (cols x d),
/// from their squared norms np and nq and the GEMM p q^T on `gemm` in 128 x 128 tiles:
/// (np_i - 2 p_i.q_j + nq_j) / 2, as GeomLoss's squared_distances(p, q) / 2.
Matrix<double> half_squared_distances(const double* p, const double* np, std::size_t rows, const double* q,
                                      const double* nq, std::size_t cols, std::size_t d, const Backend& gemm);

/// The CPU's soft-min pair: its cost matrices held (request.hold; C(x, x) and C(y, y) taken from
/// request.x_self / y_self where given) or streamed in slabs of request.slab_bytes. Every
/// soft-min runs over rows in parallel (OpenMP), each row in one fixed order (four AVX2 lanes
/// where the processor has them, glibc's libmvec exp), so the thread count never changes a bit.
std::unique_ptr<SoftminPair> cpu_softmin_pair(const SoftminPairRequest& request, const Backend& gemm);

}  // namespace taskfp::compute
