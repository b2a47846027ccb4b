// The CPU's soft-min pair (cpu_softmin.hpp). Every cost entry comes from the same 128 x 128 tile
// of BLAS calls whether the matrix is held or streamed, so both give the same bits; every
// soft-min is a row-wise log-sum-exp with the row's maximum taken first, each row summed in a
// fixed order, so the thread count never changes the result (the machine's vector unit can
// change the last bits).
#include "compute/cpu_softmin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace taskfp::compute {
namespace {

Matrix<double> transposed(const Matrix<double>& c) {
  auto t = Matrix<double>::uninitialized(c.cols, c.rows);
  constexpr std::size_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (std::size_t j0 = 0; j0 < c.cols; j0 += kBlock)
    for (std::size_t i = 0; i < c.rows; ++i)
      for (std::size_t j = j0; j < std::min(c.cols, j0 + kBlock); ++j) t.data[j * c.rows + i] = c.data[i * c.cols + j];
  return t;
}

// exp of 4 doubles at once: glibc's vector math library (libmvec, the AVX2 variant of exp, within
// 4 ulp of the exact value; glibc's scalar exp is within 1).
extern "C" __m256d _ZGVdN4v_exp(__m256d x);

// One row's log-sum-exp of h_j - row_j / eps, the maximum taken first: scalar, and AVX2 four
// columns at a time (each lane summing its columns in order, the lanes added at the end).
double row_lse_scalar(const double* row, const double* h, std::size_t cols, double eps) {
  double mx = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < cols; ++j) mx = std::max(mx, h[j] - row[j] / eps);
  double sum = 0.0;
  for (std::size_t j = 0; j < cols; ++j) sum += std::exp(h[j] - row[j] / eps - mx);
  return mx + std::log(sum);
}

__attribute__((target("avx2,fma"))) double row_lse_avx2(const double* row, const double* h, std::size_t cols,
                                                        double eps) {
  const __m256d e = _mm256_set1_pd(1.0 / eps);
  __m256d m4 = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
  std::size_t j = 0;
  for (; j + 4 <= cols; j += 4)
    m4 = _mm256_max_pd(m4, _mm256_fnmadd_pd(_mm256_loadu_pd(row + j), e, _mm256_loadu_pd(h + j)));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, m4);
  double mx = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (std::size_t k = j; k < cols; ++k) mx = std::max(mx, h[k] - row[k] / eps);
  const __m256d m = _mm256_set1_pd(mx);
  __m256d s4 = _mm256_setzero_pd();
  for (j = 0; j + 4 <= cols; j += 4) {
    const __m256d v = _mm256_sub_pd(_mm256_fnmadd_pd(_mm256_loadu_pd(row + j), e, _mm256_loadu_pd(h + j)), m);
    s4 = _mm256_add_pd(s4, _ZGVdN4v_exp(v));
  }
  _mm256_store_pd(lanes, s4);
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (std::size_t k = j; k < cols; ++k) sum += std::exp(h[k] - row[k] / eps - mx);
  return mx + std::log(sum);
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");

// GeomLoss's softmin over the rows [r0, r0 + rows) of a cost matrix whose rows x cols entries
// are in `c`: out_{r0 + i} = -eps * LSE_j(h_j - C_ij / eps), h on the columns of C.
void softmin_rows(double eps, const double* c, std::size_t rows, std::size_t cols, std::size_t r0, const double* h,
                  double* out) {
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < rows; ++i) {
    const double* row = c + i * cols;
    out[r0 + i] = -eps * (kHaveAvx2 ? row_lse_avx2(row, h, cols, eps) : row_lse_scalar(row, h, cols, eps));
  }
}
void softmin_rows(double eps, const Matrix<double>& c, std::size_t r0, const double* h, double* out) {
  softmin_rows(eps, c.data.data(), c.rows, c.cols, r0, h, out);
}

// One points array with its norms: `count` rows of d coordinates.
struct Points {
  const double* p = nullptr;
  const double* norms = nullptr;
  std::size_t count = 0;
};

// One of a pair's cost matrices: C(p, q) (or its transpose C(q, p) = C(p, q)^T), held whole, or
// computed slab by slab on every pass. A slab is whole 128-row (or, transposed, 128-column)
// tiles of C(p, q), so its entries come from the same BLAS calls as the held matrix's.
class Cost {
 public:
  static constexpr std::size_t kTile = 128;
  Cost() = default;
  // Held: rows x cols entries at `held`.
  Cost(const double* held, std::size_t rows, std::size_t cols) : held_(held), held_rows_(rows), held_cols_(cols) {}
  explicit Cost(const Matrix<double>& held) : Cost(held.data.data(), held.rows, held.cols) {}
  // Streamed: C(p, q), or C(p, q)^T with `transpose`, in slabs of at most `slab_bytes`.
  Cost(Points p, Points q, std::size_t d, bool transpose, std::size_t slab_bytes, const Backend& gemm)
      : p_(p), q_(q), d_(d), transpose_(transpose), gemm_(&gemm) {
    const std::size_t cols = transpose ? p.count : q.count;
    slab_ = std::max<std::size_t>(1, slab_bytes / (8 * cols * kTile)) * kTile;
  }
  [[nodiscard]] std::size_t rows() const { return held_ ? held_rows_ : transpose_ ? q_.count : p_.count; }

  // out_i = -eps * LSE_j(h_j - C_ij / eps) for every row i.
  void softmin(double eps, const double* h, double* out) const {
    if (held_) return softmin_rows(eps, held_, held_rows_, held_cols_, 0, h, out);
    for (std::size_t r0 = 0; r0 < rows(); r0 += slab_) {
      const std::size_t r = std::min(slab_, rows() - r0);
      if (!transpose_) {
        softmin_rows(eps, half_squared_distances(p_.p + r0 * d_, p_.norms + r0, r, q_.p, q_.norms, q_.count, d_, *gemm_),
                     r0, h, out);
      } else {
        softmin_rows(eps,
                     transposed(half_squared_distances(p_.p, p_.norms, p_.count, q_.p + r0 * d_, q_.norms + r0, r, d_,
                                                       *gemm_)),
                     r0, h, out);
      }
    }
  }

 private:
  const double* held_ = nullptr;
  std::size_t held_rows_ = 0, held_cols_ = 0;
  Points p_, q_;
  std::size_t d_ = 0;
  bool transpose_ = false;
  std::size_t slab_ = kTile;
  const Backend* gemm_ = nullptr;
};

class CpuSoftminPair final : public SoftminPair {
 public:
  CpuSoftminPair(const SoftminPairRequest& r, const Backend& gemm) : streamed_(!r.hold) {
    const Points x{r.x, r.x_norms, r.n}, y{r.y, r.y_norms, r.m};
    if (r.hold) {
      xy_ = half_squared_distances(r.x, r.x_norms, r.n, r.y, r.y_norms, r.m, r.d, gemm);
      yx_ = transposed(xy_);
      if (!r.x_self) xx_ = half_squared_distances(r.x, r.x_norms, r.n, r.x, r.x_norms, r.n, r.d, gemm);
      if (!r.y_self) yy_ = half_squared_distances(r.y, r.y_norms, r.m, r.y, r.y_norms, r.m, r.d, gemm);
      costs_[0] = Cost(xy_);
      costs_[1] = Cost(yx_);
      // Given self-costs are read in place.
      costs_[2] = r.x_self ? Cost(r.x_self, r.n, r.n) : Cost(xx_);
      costs_[3] = r.y_self ? Cost(r.y_self, r.m, r.m) : Cost(yy_);
    } else {
      costs_[0] = Cost(x, y, r.d, false, r.slab_bytes, gemm);
      costs_[1] = Cost(x, y, r.d, true, r.slab_bytes, gemm);
      costs_[2] = Cost(x, x, r.d, false, r.slab_bytes, gemm);
      costs_[3] = Cost(y, y, r.d, false, r.slab_bytes, gemm);
    }
  }
  void softmin(CostMatrix which, double eps, const double* h, double* out) const override {
    costs_[static_cast<int>(which)].softmin(eps, h, out);
  }
  bool streamed() const override { return streamed_; }

 private:
  bool streamed_;
  Matrix<double> xy_, yx_, xx_, yy_;
  Cost costs_[4];
};

}  // namespace

Matrix<double> half_squared_distances(const double* p, const double* np, std::size_t rows, const double* q,
                                      const double* nq, std::size_t cols, std::size_t d, const Backend& gemm) {
  auto c = Matrix<double>::uninitialized(rows, cols);
  // Tiles of 128 x 128 entries, computed in parallel on the CPU (a device ignores them).
  gemm.gemm_abt(p, rows, q, cols, d, c.data.data(), 1.0, 0.0, {128, 128});
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      double& v = c.data[i * cols + j];
      v = (np[i] - 2.0 * v + nq[j]) / 2.0;
    }
  return c;
}

std::unique_ptr<SoftminPair> cpu_softmin_pair(const SoftminPairRequest& request, const Backend& gemm) {
  return std::make_unique<CpuSoftminPair>(request, gemm);
}

}  // namespace taskfp::compute
