// The CPU backend: BLAS for the products, OpenMP over features, rows and tasks.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "compute/backend.hpp"
#include "compute/cpu_softmin.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/matrix.hpp"
#include "distance/rows.hpp"

namespace taskfp::compute {
namespace {

constexpr std::size_t kHistBlock = 64;  // features per block: one block's counts stay in L2

// Per-feature constants of histc_bin, in the float32 values torch uses.
struct BlockEdges {
  float clip_lo[kHistBlock], clip_hi[kHistBlock], left[kHistBlock], right[kHistBlock],
      width[kHistBlock];
};

// Counts of features [f0, f0 + nf) of every sample row of x (n x d) into `local` (nf x bins,
// zeroed). The same float32 operations as torch_clip + histc_bin, written branch-free so that
// the compiler vectorises the position computation (the division stays a division, bit-exact);
// built for AVX2 and for the baseline, picked at run time.
__attribute__((target_clones("avx2", "default"))) void count_block(const float* x, std::size_t n,
                                                                  std::size_t d, std::size_t f0,
                                                                  std::size_t nf, const BlockEdges& e,
                                                                  int bins, std::uint32_t* local) {
  const float bins_f = static_cast<float>(bins);
  const int top = bins - 1;
  std::int32_t pos[kHistBlock];
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = x + i * d + f0;
    for (std::size_t j = 0; j < nf; ++j) {
      float v = row[j] < e.clip_lo[j] ? e.clip_lo[j] : row[j];
      v = v > e.clip_hi[j] ? e.clip_hi[j] : v;
      const bool inside = v >= e.left[j] && v <= e.right[j];
      const float scaled = inside ? (v - e.left[j]) / e.width[j] * bins_f : -1.0f;
      const std::int32_t p = static_cast<std::int32_t>(scaled);  // truncation, as histc
      pos[j] = p > top ? top : p;  // a value on the upper edge goes into the last bin
    }
    for (std::size_t j = 0; j < nf; ++j)
      if (pos[j] >= 0) ++local[j * static_cast<std::size_t>(bins) + static_cast<std::size_t>(pos[j])];
  }
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::string description() const override { return fmt::format("CPU, {} threads", omp_get_max_threads()); }
  bool is_host() const override { return true; }
  bool supports(Op) const override { return true; }

  void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
                double alpha, double beta, GemmTiles tiles) const override {
    if (m == 0 || n == 0) return;
    if (k == 0) {  // BLAS wants a leading dimension of at least 1
      for (std::size_t i = 0; i < m * n; ++i) c[i] = beta == 0.0 ? 0.0 : beta * c[i];
      return;
    }
    if (tiles.m == 0 || tiles.n == 0) {
      blas::gemm_abt(a, k, b, k, m, n, k, c, n, alpha, beta);
      return;
    }
    blas::tiled_gemm_abt(a, k, b, k, m, n, k, c, n, alpha, beta, tiles.m, tiles.n);
  }

  void histogram_counts(const float* x, std::size_t n, std::size_t d, const float* clip_lo, const float* clip_hi,
                        const float* left, const float* right, int bins, std::int64_t* counts) const override {
    require(bins >= 1 && bins <= (1 << 24), "the number of bins must be in 1..2^24 (got {})", bins);
    require(n < (std::size_t{1} << 32), "a task has {} samples; at most 2^32 - 1 are supported", n);
    const std::size_t nb = static_cast<std::size_t>(bins);
    // Blocks of features per thread: each thread reads its slice of every sample row.
    const std::size_t blocks = (d + kHistBlock - 1) / kHistBlock;
#pragma omp parallel
    {
      std::vector<std::uint32_t> local(kHistBlock * nb);
      BlockEdges e{};
#pragma omp for schedule(dynamic, 1)
      for (std::size_t blk = 0; blk < blocks; ++blk) {
        const std::size_t f0 = blk * kHistBlock, nf = std::min(d, f0 + kHistBlock) - f0;
        for (std::size_t j = 0; j < nf; ++j) {
          e.clip_lo[j] = clip_lo[f0 + j];
          e.clip_hi[j] = clip_hi[f0 + j];
          e.left[j] = left[f0 + j];
          e.right[j] = right[f0 + j];
          e.width[j] = right[f0 + j] - left[f0 + j];
        }
        std::fill(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(nf * nb), 0u);
        count_block(x, n, d, f0, nf, e, bins, local.data());
        for (std::size_t j = 0; j < nf; ++j)
          for (std::size_t b = 0; b < nb; ++b) counts[(f0 + j) * nb + b] = local[j * nb + b];
      }
    }
  }

  void log_softmax_rows(const double* h, std::size_t rows, std::size_t cols, double* out) const override {
    if (cols == 0) return;
#pragma omp parallel for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      const double* x = h + r * cols;
      const double mx = *std::max_element(x, x + cols);
      double sum = 0.0;
      for (std::size_t c = 0; c < cols; ++c) sum += std::exp(x[c] - mx);
      const double lse = mx + std::log(sum);
      for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = x[c] - lse;
    }
  }

  // The reference implementation of the KL family's terms: each side's rows preprocessed as
  // distance/rows.hpp does (the CPU distance path's own semantics), then plain products.
  void kl_terms(const KlTerms& r, double* cross, double* plogp) const override {
    require(ops::kl_terms_supported(r.b_prep, r.alpha, r.clip),
            "kl_terms: the q side can be zero (no softmax, smoothing or clipping)");
    if (r.na == 0 || r.nb == 0) return;
    const std::size_t ne = r.rows * r.cols;
    auto side = [&](const double* const* tasks, std::size_t count, RowPrep prep, bool q_side) {
      Matrix<double> m = Matrix<double>::uninitialized(count, ne);
#pragma omp parallel for schedule(dynamic, 1)
      for (std::size_t t = 0; t < count; ++t) {
        std::copy(tasks[t], tasks[t] + ne, m.data.data() + t * ne);
        for (std::size_t row = 0; row < r.rows; ++row) {
          std::span<double> x(m.data.data() + t * ne + row * r.cols, r.cols);
          preprocess_row(x, prep, r.alpha);
          if (r.clip)
            for (double& v : x) v = std::max(v, kClipEpsilon);
          if (q_side) {
            for (double& v : x) v = std::log(v);
          } else {
            double s = 0.0;
            for (double v : x)
              if (v > 0.0) s += v * std::log(v);
            plogp[t * r.rows + row] = s;
          }
        }
      }
      return m;
    };
    const auto p = side(r.a, r.na, r.a_prep, false), logq = side(r.b, r.nb, r.b_prep, true);
    auto weighted = [&](const Matrix<double>& m, const double* w) {
      Matrix<double> out = Matrix<double>::uninitialized(m.rows, ne);
      for (std::size_t i = 0; i < m.rows * ne; ++i) out.data[i] = w[i / r.cols] * m.data[i];
      return out;
    };
    const GemmTiles tiles{blas::kSourceTile, blas::kTargetTile};
    double beta = 0.0;
    if (r.wa) {
      gemm_abt(weighted(p, r.wa).data.data(), r.na, logq.data.data(), r.nb, ne, cross, r.half, beta, tiles);
      beta = 1.0;
    }
    if (r.wb) {
      gemm_abt(p.data.data(), r.na, weighted(logq, r.wb).data.data(), r.nb, ne, cross, r.half, beta, tiles);
      beta = 1.0;
    }
    if (!r.wa && !r.wb) gemm_abt(p.data.data(), r.na, logq.data.data(), r.nb, ne, cross, 1.0, 0.0, tiles);
  }

  std::unique_ptr<SoftminPair> softmin_pair(const SoftminPairRequest& request) const override {
    return cpu_softmin_pair(request, *this);
  }
};

}  // namespace

const Backend& cpu() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace taskfp::compute
