// Thread-count-independent BLAS calls (core/blas.hpp).
#include "core/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <mutex>

#include "core/error.hpp"

namespace taskfp::blas {
namespace {

int blas_int(std::size_t v, const char* what) {
  require(v <= static_cast<std::size_t>(INT_MAX),
          "a matrix dimension ({} = {}) exceeds what the BLAS interface takes (2^31 - 1)", what, v);
  return static_cast<int>(v);
}

}  // namespace

void use_calling_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void gemm_abt(const double* a, std::size_t lda, const double* b, std::size_t ldb, std::size_t m,
              std::size_t n, std::size_t k, double* c, std::size_t ldc, double alpha,
              double beta) {
  if (m == 0 || n == 0) return;
  use_calling_thread();
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(m, "rows"), blas_int(n, "columns"),
              blas_int(k, "inner size"), alpha, a, blas_int(lda, "row stride"), b,
              blas_int(ldb, "row stride"), beta, c, blas_int(ldc, "row stride"));
}

void tiled_gemm_abt(const double* a, std::size_t lda, const double* b, std::size_t ldb,
                    std::size_t m, std::size_t n, std::size_t k, double* c, std::size_t ldc,
                    double alpha, double beta, std::size_t m_tile, std::size_t n_tile) {
  if (m == 0 || n == 0) return;
  use_calling_thread();
  m_tile = std::max<std::size_t>(m_tile, 1);
  n_tile = std::max<std::size_t>(n_tile, 1);
  // Checked here: exceptions must not leave the parallel region.
  for (auto [v, what] : {std::pair{k, "inner size"}, std::pair{lda, "row stride"},
                         std::pair{ldb, "row stride"}, std::pair{ldc, "row stride"}})
    blas_int(v, what);
  const std::size_t tiles_m = (m + m_tile - 1) / m_tile, tiles_n = (n + n_tile - 1) / n_tile;
  const std::size_t tiles = tiles_m * tiles_n;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t t = 0; t < tiles; ++t) {
    const std::size_t i0 = t / tiles_n * m_tile, j0 = t % tiles_n * n_tile;
    const std::size_t rows = std::min(m_tile, m - i0), cols = std::min(n_tile, n - j0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                static_cast<int>(cols), static_cast<int>(k), alpha, a + i0 * lda,
                static_cast<int>(lda), b + j0 * ldb, static_cast<int>(ldb), beta, c + i0 * ldc + j0,
                static_cast<int>(ldc));
  }
}

}  // namespace taskfp::blas
