// core/blas: tiled products give the same bits for any thread count and for any block of whole
// source tiles (what MPI ranks compute), and agree with a plain triple loop.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>

#include "core/blas.hpp"
#include "core/matrix.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

Matrix<double> random_matrix(std::size_t rows, std::size_t cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Matrix<double> m(rows, cols);
  for (auto& v : m.data) v = u(rng);
  return m;
}

// C = A B^T over the whole shape with the given thread count.
Matrix<double> tiled(const Matrix<double>& a, const Matrix<double>& b, int threads) {
  Matrix<double> c(a.rows, b.rows, 0.0);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  blas::tiled_gemm_abt(a.data.data(), a.cols, b.data.data(), b.cols, a.rows, b.rows, a.cols,
                       c.data.data(), c.cols, 1.0, 0.0, blas::kSourceTile, blas::kTargetTile);
  omp_set_num_threads(before);
  return c;
}

TEST(Blas, TiledProductIsIndependentOfThreadsAndMatchesTripleLoop) {
  // Shapes that leave short edge tiles on both sides; an inner size long enough for the BLAS
  // to block it.
  const auto a = random_matrix(101, 700, 1), b = random_matrix(150, 700, 2);
  const auto one = tiled(a, b, 1);
  for (int threads : {2, 3, 5}) {
    const auto other = tiled(a, b, threads);
    ASSERT_EQ(one.data, other.data) << threads << " threads";
  }
  for (std::size_t i = 0; i < a.rows; ++i)
    for (std::size_t j = 0; j < b.rows; ++j) {
      long double want = 0;
      for (std::size_t k = 0; k < a.cols; ++k) want += static_cast<long double>(a(i, k)) * b(j, k);
      ASSERT_NEAR(one(i, j), static_cast<double>(want), 1e-12) << i << "," << j;
    }
}

TEST(Blas, BlocksOfWholeSourceTilesEqualTheRowsOfTheWholeProduct) {
  // A rank owning source rows [32, 96) computes them on their own: the same bits as those rows of
  // the whole product (rows = sources here, the first operand).
  const auto a = random_matrix(130, 300, 3), b = random_matrix(70, 300, 4);
  const auto whole = tiled(a, b, 2);
  const std::size_t first = blas::kSourceTile, rows = 2 * blas::kSourceTile;
  Matrix<double> part(rows, b.rows, 0.0);
  blas::tiled_gemm_abt(a.data.data() + first * a.cols, a.cols, b.data.data(), b.cols, rows, b.rows,
                       a.cols, part.data.data(), part.cols, 1.0, 0.0, blas::kSourceTile,
                       blas::kTargetTile);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < b.rows; ++j) ASSERT_EQ(part(i, j), whole(first + i, j)) << i << "," << j;
}

TEST(Blas, AccumulatesWithAlphaAndBeta) {
  const auto a = random_matrix(3, 4, 5), b = random_matrix(2, 4, 6);
  Matrix<double> c(3, 2, 1.0);
  blas::tiled_gemm_abt(a.data.data(), 4, b.data.data(), 4, 3, 2, 4, c.data.data(), 2, 0.5, 2.0, 2, 1);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 2; ++j) {
      double dot = 0;
      for (std::size_t k = 0; k < 4; ++k) dot += a(i, k) * b(j, k);
      EXPECT_NEAR(c(i, j), 2.0 + 0.5 * dot, 1e-15);
    }
}

}  // namespace
}  // namespace taskfp
