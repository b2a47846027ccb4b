// Fingerprint computation: ranges (quantiles over stacked features), histograms, moments.
#include "fingerprint/fingerprint.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "fingerprint/binning.hpp"


namespace taskfp {

std::vector<std::string> FingerprintSet::names() const {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.name);
  return out;
}

const TaskFingerprint& FingerprintSet::at(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.name == name) return t;
  throw InputError(fmt::format("no fingerprint for task '{}'", name));
}

BinRanges compute_ranges(const FeatureSet& features, const std::vector<std::string>& scaling_subset,
                         double lo_quantile, double hi_quantile) {
  require(0.0 <= lo_quantile && lo_quantile <= hi_quantile && hi_quantile <= 1.0,
          "quantiles must satisfy 0 <= lo <= hi <= 1 (got {} and {})", lo_quantile, hi_quantile);
  require_tasks_present(scaling_subset, features.names(), "the features (scaling subset)");
  std::vector<const TaskFeatures*> parts;
  std::size_t total = 0;
  for (const auto& name : scaling_subset) {
    parts.push_back(&features.at(name));
    total += parts.back()->values.rows;
  }
  const std::size_t d = parts.front()->values.cols;
  BinRanges r;
  r.lo.assign(d, 0.0);
  r.hi.assign(d, 0.0);
  r.scaling_subset = scaling_subset;
  r.lo_quantile = lo_quantile;
  r.hi_quantile = hi_quantile;
  r.provenance = features.provenance;
  r.provenance.feature_dim = static_cast<std::int64_t>(d);

  // Columns are gathered 16 features (one cache line of a row) at a time: reading one feature
  // down 280,000 rows 2 KiB apart would fetch a cache line per value.
  constexpr std::size_t kGather = 16;
  const std::size_t blocks = (d + kGather - 1) / kGather;
#pragma omp parallel
  {
    std::vector<float> columns(kGather * total);
#pragma omp for schedule(dynamic, 1)
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      const std::size_t f0 = blk * kGather, nf = std::min(d, f0 + kGather) - f0;
      std::size_t k = 0;
      for (const auto* p : parts)
        for (std::size_t i = 0; i < p->values.rows; ++i, ++k) {
          const float* row = p->values.data.data() + i * d + f0;
          for (std::size_t j = 0; j < nf; ++j) columns[j * total + k] = row[j];
        }
      for (std::size_t j = 0; j < nf; ++j) {
        auto [lo, hi] = numpy_quantile_pair({columns.data() + j * total, total}, lo_quantile,
                                            hi_quantile);
        r.lo[f0 + j] = lo;
        r.hi[f0 + j] = hi;
      }
    }
  }
  return r;
}

Matrix<std::int64_t> histogram_counts(const Matrix<float>& x, const BinRanges& ranges, int bins,
                                      const compute::Backend& backend) {
  require(bins >= 1 && bins <= (1 << 24), "the number of bins must be in 1..2^24 (got {})", bins);
  require(x.cols == ranges.dim(), "features have {} dimensions, the ranges {}", x.cols,
          ranges.dim());
  require(x.rows < (std::size_t{1} << 32), "a task has {} samples; at most 2^32 - 1 are supported",
          x.rows);
  const std::size_t d = x.cols;
  std::vector<float> clip_lo(d), clip_hi(d), left(d), right(d);
  for (std::size_t f = 0; f < d; ++f) {
    const auto e = histc_edges(ranges.lo[f], ranges.hi[f]);
    clip_lo[f] = e.clip_lo, clip_hi[f] = e.clip_hi, left[f] = e.left, right[f] = e.right;
  }
  auto counts = Matrix<std::int64_t>::uninitialized(d, static_cast<std::size_t>(bins));
  backend.histogram_counts(x.data.data(), x.rows, d, clip_lo.data(), clip_hi.data(), left.data(),
                           right.data(), bins, counts.data.data());
  return counts;
}

namespace {

// Histograms from counts: the reference divides integer counts by their float64 sum.
Matrix<double> normalized(const Matrix<std::int64_t>& counts) {
  Matrix<double> h(counts.rows, counts.cols);
  for (std::size_t f = 0; f < counts.rows; ++f) {
    std::int64_t total = 0;
    for (auto c : counts.row(f)) total += c;
    const double denom = static_cast<double>(total);
    for (std::size_t b = 0; b < counts.cols; ++b)
      h(f, b) = static_cast<double>(counts(f, b)) / denom;
  }
  return h;
}

}  // namespace

Matrix<double> histogram(const Matrix<float>& x, const BinRanges& ranges, int bins) {
  return normalized(histogram_counts(x, ranges, bins));
}


std::vector<double> feature_mean(const Matrix<float>& x) {
  std::vector<double> mean(x.cols, 0.0);
  for (std::size_t i = 0; i < x.rows; ++i)
    for (std::size_t f = 0; f < x.cols; ++f) mean[f] += static_cast<double>(x(i, f));
  for (auto& m : mean) m /= static_cast<double>(x.rows);
  return mean;
}

namespace {

// Covariances are computed here rather than by a BLAS syrk: a BLAS sums each entry in an order
// set by its CPU kernel, and FID amplifies those last bits wherever a covariance is nearly
// singular (4.8e-9 relative between two OpenBLAS kernels, docs/numerics.md). Here every entry
// is sum_i x_i[a] x_i[b] accumulated in sample order, acc = fma(x_i[a], x_i[b], acc): one
// rounding per sample. A fused multiply-add is exact in hardware (AVX-512, AVX2 with FMA) and
// in glibc's fma() on CPUs without it, so the order and the roundings, and with them the bits,
// are the same on every machine, for any tile shape, vector width or thread count.

constexpr std::size_t kCovPanel = 128;  // samples per pass (128 x d doubles stay in L2)

// c[a][b] = fma(x[a], x[b], c[a][b]) over the panel's rows in order, for one tile of rows
// [a0, a0 + R) and columns [b0, b0 + C) of the d x d accumulator c.
using CovarianceTile = void (*)(const double* panel, std::size_t rows, std::size_t d,
                                std::size_t a0, std::size_t b0, double* c);

__attribute__((target("avx512f"))) void covariance_tile_avx512(const double* panel, std::size_t rows,
                                                                std::size_t d, std::size_t a0,
                                                                std::size_t b0, double* c) {
  constexpr std::size_t R = 8;  // 8 x 16: 16 independent accumulators hide the FMA latency
  __m512d acc[R][2];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h) acc[r][h] = _mm512_loadu_pd(c + (a0 + r) * d + b0 + 8 * h);
  for (std::size_t i = 0; i < rows; ++i) {
    const double* x = panel + i * d;
    const __m512d lo = _mm512_loadu_pd(x + b0), hi = _mm512_loadu_pd(x + b0 + 8);
    for (std::size_t r = 0; r < R; ++r) {
      const __m512d xa = _mm512_set1_pd(x[a0 + r]);
      acc[r][0] = _mm512_fmadd_pd(xa, lo, acc[r][0]);
      acc[r][1] = _mm512_fmadd_pd(xa, hi, acc[r][1]);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h) _mm512_storeu_pd(c + (a0 + r) * d + b0 + 8 * h, acc[r][h]);
}

__attribute__((target("avx2,fma"))) void covariance_tile_avx2(const double* panel, std::size_t rows,
                                                               std::size_t d, std::size_t a0,
                                                               std::size_t b0, double* c) {
  constexpr std::size_t R = 4;  // 4 x 8: 8 accumulators of the 16 registers
  __m256d acc[R][2];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h) acc[r][h] = _mm256_loadu_pd(c + (a0 + r) * d + b0 + 4 * h);
  for (std::size_t i = 0; i < rows; ++i) {
    const double* x = panel + i * d;
    const __m256d lo = _mm256_loadu_pd(x + b0), hi = _mm256_loadu_pd(x + b0 + 4);
    for (std::size_t r = 0; r < R; ++r) {
      const __m256d xa = _mm256_broadcast_sd(x + a0 + r);
      acc[r][0] = _mm256_fmadd_pd(xa, lo, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(xa, hi, acc[r][1]);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t h = 0; h < 2; ++h) _mm256_storeu_pd(c + (a0 + r) * d + b0 + 4 * h, acc[r][h]);
}

// One entry: the edges, and every entry on CPUs without FMA (glibc's exact fma()).
void covariance_entry(const double* panel, std::size_t rows, std::size_t d, std::size_t a,
                      std::size_t b, double* c) {
  double acc = c[a * d + b];
  for (std::size_t i = 0; i < rows; ++i) acc = std::fma(panel[i * d + a], panel[i * d + b], acc);
  c[a * d + b] = acc;
}

struct CovarianceKernel {
  CovarianceTile tile = nullptr;  // none: entry by entry
  std::size_t rows = 1, cols = 1;
};

CovarianceKernel covariance_kernel(SimdLevel simd) {
  __builtin_cpu_init();
  if (simd == SimdLevel::Best && __builtin_cpu_supports("avx512f"))
    return CovarianceKernel{covariance_tile_avx512, 8, 16};
  if (simd != SimdLevel::Baseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return CovarianceKernel{covariance_tile_avx2, 4, 8};
  return CovarianceKernel{};
}

}  // namespace

Matrix<double> feature_covariance(const Matrix<float>& x, const std::vector<double>& mean,
                                  SimdLevel simd) {
  const std::size_t n = x.rows, d = x.cols;
  require(n >= 2, "a covariance needs at least 2 samples (got {})", n);
  Matrix<double> sums(d, d, 0.0);
  const auto kernel = covariance_kernel(simd);
  const std::size_t bands = (d + kernel.rows - 1) / kernel.rows;  // bands of features a
  auto panel = Matrix<double>::uninitialized(std::min(n, kCovPanel), d);
  for (std::size_t i0 = 0; i0 < n; i0 += kCovPanel) {
    const std::size_t rows = std::min(kCovPanel, n - i0);
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t f = 0; f < d; ++f)
          panel(i, f) = static_cast<double>(x(i0 + i, f)) - mean[f];
      // The upper triangle (b >= a), one band of features a per work item: whole tiles where
      // they fit (starting left of the diagonal, whose lower half is unused), entries elsewhere.
#pragma omp for schedule(dynamic, 1)
      for (std::size_t t = 0; t < bands; ++t) {
        const std::size_t a0 = t * kernel.rows, a1 = std::min(d, a0 + kernel.rows);
        std::size_t b0 = a0 / kernel.cols * kernel.cols;
        if (kernel.tile && a1 - a0 == kernel.rows)
          for (; b0 + kernel.cols <= d; b0 += kernel.cols)
            kernel.tile(panel.data.data(), rows, d, a0, b0, sums.data.data());
        for (std::size_t a = a0; a < a1; ++a)
          for (std::size_t b = std::max(a, b0); b < d; ++b)
            covariance_entry(panel.data.data(), rows, d, a, b, sums.data.data());
      }
    }
  }
  const double scale = 1.0 / static_cast<double>(n - 1);
  Matrix<double> cov(d, d);
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = a; b < d; ++b) cov(a, b) = cov(b, a) = sums(a, b) * scale;
  return cov;
}

FingerprintSet fingerprint(const FeatureSet& features, const BinRanges& ranges,
                           const FingerprintOptions& options) {
  require(!options.bins.empty(), "give at least one bin count");
  require_compatible(ranges.provenance, "the bin ranges", features.provenance, "the features");
  FingerprintSet out;
  out.provenance = features.provenance;
  out.ranges = ranges;
  out.bins = options.bins;
  std::sort(out.bins.begin(), out.bins.end());
  out.bins.erase(std::unique(out.bins.begin(), out.bins.end()), out.bins.end());
  std::size_t done = 0;
  for (const auto& task : features.tasks) {
    require(task.values.cols == ranges.dim(),
            "task '{}' has {} features, the bin ranges have {}", task.name, task.values.cols,
            ranges.dim());
    TaskFingerprint fp;
    fp.name = task.name;
    fp.n_samples = static_cast<std::int64_t>(task.values.rows);
    fp.mean = feature_mean(task.values);
    if (options.covariance) fp.covariance = feature_covariance(task.values, fp.mean);
    for (int b : out.bins)
      fp.histograms.emplace(b, normalized(histogram_counts(task.values, ranges, b, *options.backend)));
    out.tasks.push_back(std::move(fp));
    if (options.progress) options.progress(++done, features.tasks.size());
  }
  return out;
}

}  // namespace taskfp
