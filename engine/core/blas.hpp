// BLAS calls whose results do not depend on the number of threads, ranks or the sizes of the
// blocks a caller asked for.
//
// Why: a BLAS sums each dot product in an order set by its kernel (register tiles, edge code,
// small-matrix paths chosen by shape, the split of C between its threads). The same element of
// C computed in a call of another shape, or with another thread count, can differ in its last
// bits. OpenBLAS picks its kernel by CPU (or OPENBLAS_CORETYPE) and its threads by
// OPENBLAS_NUM_THREADS, so a plain GEMM over "this rank's rows" made a matrix depend on the rank
// count and on the machine's environment. Here every product is cut into a fixed grid of tiles
// that depends only on the whole problem (never on threads or on which rows a rank owns), each
// tile is one single-threaded BLAS call, and taskfp's own threads (-j) run the tiles. Every
// element is then computed by the same call, with the same shape, wherever and however it runs:
// the bits depend only on the inputs and the BLAS kernel (docs/numerics.md).
#pragma once

#include <cstddef>

namespace taskfp::blas {

/// Rows of C per tile along the source axis of a distance matrix, and the granule in which MPI
/// ranks own source rows (mpi::share): ranks own whole tiles, so a rank computes exactly the
/// tiles a single process computes for those rows. 32 keeps single-threaded tiles about as fast
/// as one multi-threaded GEMM of the whole shape (bench/RESULTS.md) while sharing 127 sources
/// over up to 4 ranks.
inline constexpr std::size_t kSourceTile = 32;
/// Rows of C per tile along the target axis (every rank holds all targets).
inline constexpr std::size_t kTargetTile = 64;

/// Makes every BLAS call run on its calling thread only (OpenBLAS keeps no threads of its own);
/// the environment's OPENBLAS_NUM_THREADS / OMP_NUM_THREADS then no longer change results.
/// Idempotent and thread-safe; the functions below call it themselves.
void use_calling_thread();

/// C (m x n, row stride ldc) = alpha * A (m x k, row stride lda) * B^T (n x k, row stride ldb)
/// + beta * C; row-major float64; one BLAS call on the calling thread.
void gemm_abt(const double* a, std::size_t lda, const double* b, std::size_t ldb, std::size_t m,
              std::size_t n, std::size_t k, double* c, std::size_t ldc, double alpha, double beta);

/// The same product cut into tiles of `m_tile` rows x `n_tile` columns of C (the last ones may
/// be short), computed in parallel by the OpenMP threads, each tile one gemm_abt. The result
/// depends on the tile sizes, never on the thread count. A caller that computes part of a
/// larger C (a rank's rows) passes row offsets that are multiples of the tile size to get the
/// bits of the whole.
void tiled_gemm_abt(const double* a, std::size_t lda, const double* b, std::size_t ldb,
                    std::size_t m, std::size_t n, std::size_t k, double* c, std::size_t ldc,
                    double alpha, double beta, std::size_t m_tile, std::size_t n_tile);

}  // namespace taskfp::blas
