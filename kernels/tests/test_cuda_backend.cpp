// CUDA backend against simple CPU references (the oracle), fixed seeds, explicit tolerances.
// Without a usable device every test skips and says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kl_terms_cases.hpp"
#include "taskfp_kernels/cuda_backend.hpp"

namespace taskfp::cuda {
namespace {

#define REQUIRE_GPU()                                             \
  do {                                                            \
    auto status = probe();                                        \
    if (!status.usable) GTEST_SKIP() << "no CUDA device: " << status.description; \
  } while (0)

std::vector<double> random_vector(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

void expect_gemm_matches(std::size_t m, std::size_t n, std::size_t k, const GemmOptions& options) {
  auto a = random_vector(m * k, 1), b = random_vector(n * k, 2), c = random_vector(m * n, 3);
  auto expected = c;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::size_t e = 0; e < k; ++e) s += a[i * k + e] * b[j * k + e];
      expected[i * n + j] = 0.5 * s + 2.0 * c[i * n + j];
    }
  gemm_abt(a.data(), m, b.data(), n, k, c.data(), 0.5, 2.0, options);
  for (std::size_t i = 0; i < m * n; ++i)
    EXPECT_NEAR(c[i], expected[i], 1e-12 * (1 + std::fabs(expected[i]))) << "entry " << i;
}

TEST(CudaBackend, ProbeDescribesTheDeviceOrWhyNone) {
  auto status = probe();
  EXPECT_FALSE(status.description.empty());
  if (!status.usable) {
    EXPECT_THROW(gemm_abt(nullptr, 1, nullptr, 1, 1, nullptr, 1, 0), CudaError);
    GTEST_SKIP() << "no CUDA device: " << status.description;
  }
}

TEST(CudaBackend, GemmMatchesCpuInOneTile) {
  REQUIRE_GPU();
  expect_gemm_matches(37, 53, 1000, {});
}

TEST(CudaBackend, GemmTilesPastTheMemoryBudget) {
  REQUIRE_GPU();
  // A budget that fits only a few hundred columns of k at a time: many tiles, both buffers.
  GemmOptions small;
  small.max_device_bytes = 2 * 37 * 53 * sizeof(double) + 2 * (37 + 53) * 300 * sizeof(double);
  expect_gemm_matches(37, 53, 5000, small);
  // Staging pieces of 1,000 bytes: tile rows are packed a few at a time through the ring of
  // staging buffers, which is reused many times over.
  small.chunk_bytes = 10000;
  expect_gemm_matches(37, 53, 5000, small);
}

TEST(CudaBackend, HistogramEqualsCpuHistcBitForBit) {
  REQUIRE_GPU();
  const std::size_t n = 4000, d = 9;
  const int bins = 100;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n * d), lo(d), hi(d), left(d), right(d);
  for (auto& v : x) v = std::max(0.0f, g(rng));
  for (std::size_t f = 0; f < d; ++f) {
    lo[f] = f == 3 ? 0.0f : 0.05f * static_cast<float>(f);
    hi[f] = f == 3 ? 0.0f : 1.0f + 0.1f * static_cast<float>(f);
    // A degenerate range widens to [c - 1, c + 1], as the CPU path does.
    left[f] = lo[f] == hi[f] ? lo[f] - 1.0f : lo[f];
    right[f] = lo[f] == hi[f] ? hi[f] + 1.0f : hi[f];
  }
  std::vector<std::int64_t> expected(d * bins, 0), got(d * bins, -1);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t f = 0; f < d; ++f) {
      volatile float v = std::min(std::max(x[i * d + f], lo[f]), hi[f]);
      volatile float num = v - left[f];
      volatile float den = right[f] - left[f];
      volatile float q = num / den;
      volatile float scaled = q * static_cast<float>(bins);
      auto pos = static_cast<long long>(scaled);
      if (pos == bins) pos -= 1;
      ++expected[f * bins + static_cast<std::size_t>(pos)];
    }
  histogram_counts(x.data(), n, d, lo.data(), hi.data(), left.data(), right.data(), bins, got.data());
  EXPECT_EQ(got, expected);
}

TEST(CudaBackend, LogSoftmaxMatchesCpu) {
  REQUIRE_GPU();
  const std::size_t rows = 17, cols = 1000;
  auto h = random_vector(rows * cols, 9);
  std::vector<double> out(rows * cols);
  log_softmax_rows(h.data(), rows, cols, out.data());
  for (std::size_t r = 0; r < rows; ++r) {
    double mx = -INFINITY, s = 0;
    for (std::size_t c = 0; c < cols; ++c) mx = std::max(mx, h[r * cols + c]);
    for (std::size_t c = 0; c < cols; ++c) s += std::exp(h[r * cols + c] - mx);
    for (std::size_t c = 0; c < cols; ++c)
      EXPECT_NEAR(out[r * cols + c], h[r * cols + c] - (mx + std::log(s)), 1e-13);
  }
}

}  // namespace
}  // namespace taskfp::cuda

namespace taskfp::cuda {
namespace {

// The KL family's terms on the device against the plain oracle of kl_terms_cases.hpp.
TEST(CudaBackend, KlTermsMatchCpuOracle) {
  EXPECT_TRUE(kl_terms_supported(RowPrep::Softmax, 0, false));
  EXPECT_TRUE(kl_terms_supported(RowPrep::L1, 0, true));
  EXPECT_FALSE(kl_terms_supported(RowPrep::L1, 0, false));
  EXPECT_FALSE(kl_terms_supported(RowPrep::Uniform, 0, false));
  REQUIRE_GPU();
  for (const auto& k : kl_terms_cases::all_cases())
    kl_terms_cases::check(k, [](const KlTerms& r, double* cross, double* plogp) { kl_terms(r, cross, plogp); });
}


// The Sinkhorn divergence's soft-min passes on the device against costs summed coordinate by
// coordinate and a two-pass log-sum-exp: all four matrices, held and streamed in slabs of 17
// rows, rows shorter and longer than the kernel's 256 threads.
TEST(CudaBackend, SoftminPairMatchesTwoPassLogSumExp) {
  REQUIRE_GPU();
  const std::size_t n = 300, m = 90, d = 5;
  const auto x = random_vector(n * d, 31), y = random_vector(m * d, 32);
  std::vector<double> nx(n), ny(m);
  for (std::size_t i = 0; i < n * d; ++i) nx[i / d] += x[i] * x[i];
  for (std::size_t i = 0; i < m * d; ++i) ny[i / d] += y[i] * y[i];
  SoftminPairRequest r;
  r.x = x.data(), r.y = y.data(), r.n = n, r.m = m, r.d = d, r.x_norms = nx.data(), r.y_norms = ny.data();
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "held");
    r.max_device_bytes = stream ? 8 * ((n + m) * d + 2 * (n + m) + 2 * n + 17 * n) : 0;
    SoftminPair* pair = open_softmin_pair(r);
    EXPECT_EQ(softmin_pair_streamed(pair), stream);
    for (int w = 0; w < 4; ++w) {
      const bool x_rows = w == 0 || w == 2, x_cols = w == 1 || w == 2;
      const auto& p = x_rows ? x : y;
      const auto& q = x_cols ? x : y;
      const std::size_t rows = x_rows ? n : m, cols = x_cols ? n : m;
      const auto h = random_vector(cols, 40 + w);
      const double eps = 0.01;
      std::vector<double> out(rows);
      softmin(pair, static_cast<CostMatrix>(w), eps, h.data(), out.data());
      for (std::size_t i = 0; i < rows; ++i) {
        std::vector<double> v(cols);
        for (std::size_t j = 0; j < cols; ++j) {
          double c = 0;
          for (std::size_t k = 0; k < d; ++k) c += (p[i * d + k] - q[j * d + k]) * (p[i * d + k] - q[j * d + k]);
          v[j] = h[j] - c / 2 / eps;
        }
        const double mx = *std::max_element(v.begin(), v.end());
        double s = 0;
        for (const double e : v) s += std::exp(e - mx);
        const double want = -eps * (mx + std::log(s));
        ASSERT_NEAR(out[i], want, 1e-12 * (1 + std::fabs(want))) << "matrix " << w << ", row " << i;
      }
    }
    close_softmin_pair(pair);
  }
}

}  // namespace
}  // namespace taskfp::cuda
