// CUDA backend against simple CPU references (the oracle), fixed seeds, explicit tolerances.
// Without a usable device every test skips and says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

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

// The KL family's terms on the device against a plain CPU oracle (preprocess each row, then sum
// per pair), for every preprocessing of the p side, each q side kl_terms takes, weights on
// either or both sides, clipping, and a device budget small enough to force blocks on both sides.
struct KlCase {
  RowPrep a_prep, b_prep;
  double alpha;
  bool clip, wa, wb;
  std::size_t budget;
  bool same = false;      // both sides the same histograms (uploaded once, when memory allows)
  std::size_t chunk = 0;  // staging pieces (0: whole staging buffers)
};

std::vector<double> oracle_prep(const double* h, std::size_t rows, std::size_t cols, RowPrep prep,
                                double alpha, bool clip) {
  std::vector<double> out(h, h + rows * cols);
  for (std::size_t r = 0; r < rows; ++r) {
    double* x = out.data() + r * cols;
    if (prep == RowPrep::L1) {
      double norm = 0;
      for (std::size_t c = 0; c < cols; ++c) norm += std::fabs(x[c]);
      norm = std::max(norm, 1e-12);
      for (std::size_t c = 0; c < cols; ++c) x[c] /= norm;
    } else if (prep == RowPrep::Softmax) {
      double mx = x[0], sum = 0;
      for (std::size_t c = 0; c < cols; ++c) mx = std::max(mx, x[c]);
      for (std::size_t c = 0; c < cols; ++c) sum += std::exp(x[c] - mx);
      for (std::size_t c = 0; c < cols; ++c) x[c] = std::exp(x[c] - mx) / sum;
    } else if (prep == RowPrep::Uniform) {
      for (std::size_t c = 0; c < cols; ++c) x[c] = alpha / static_cast<double>(cols) + (1 - alpha) * x[c];
    }
    if (clip)
      for (std::size_t c = 0; c < cols; ++c) x[c] = std::max(x[c], static_cast<double>(1.0f / 10000.0f));
  }
  return out;
}

void expect_kl_terms_match(const KlCase& k) {
  const std::size_t na = 13, nb = k.same ? na : 17, rows = 6, cols = 40, ne = rows * cols;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto histograms = [&](std::size_t n) {
    std::vector<std::vector<double>> out(n, std::vector<double>(ne));
    for (auto& t : out)
      for (std::size_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (std::size_t c = 0; c < cols; ++c) sum += t[r * cols + c] = u(rng) < 0.3 ? 0.0 : u(rng);
        for (std::size_t c = 0; c < cols; ++c) t[r * cols + c] /= sum > 0 ? sum : 1;
      }
    return out;
  };
  const auto a = histograms(na);
  const auto b = k.same ? a : histograms(nb);
  std::vector<double> wa(na * rows), wb(nb * rows);
  for (auto& w : wa) w = u(rng);
  for (auto& w : wb) w = u(rng);
  std::vector<const double*> ap, bp;
  for (const auto& t : a) ap.push_back(t.data());
  for (const auto& t : b) bp.push_back(t.data());
  if (k.same) bp = ap;  // the same pointers, as a full matrix of one task set passes them
  KlTerms req;
  req.na = na, req.nb = nb, req.rows = rows, req.cols = cols, req.a = ap.data(), req.b = bp.data();
  req.a_prep = k.a_prep, req.b_prep = k.b_prep, req.alpha = k.alpha, req.clip = k.clip;
  req.wa = k.wa ? wa.data() : nullptr, req.wb = k.wb ? wb.data() : nullptr;
  req.half = k.wa && k.wb ? 0.5 : 1.0;
  req.max_device_bytes = k.budget;
  req.chunk_bytes = k.chunk;
  std::vector<double> cross(na * nb, -1), plogp(na * rows, -1);
  kl_terms(req, cross.data(), plogp.data());
  for (std::size_t i = 0; i < na; ++i) {
    const auto p = oracle_prep(a[i].data(), rows, cols, k.a_prep, k.alpha, k.clip);
    for (std::size_t r = 0; r < rows; ++r) {
      double t = 0;
      for (std::size_t c = 0; c < cols; ++c)
        if (p[r * cols + c] > 0) t += p[r * cols + c] * std::log(p[r * cols + c]);
      EXPECT_NEAR(plogp[i * rows + r], t, 1e-12 * (1 + std::fabs(t))) << "task " << i << " row " << r;
    }
    for (std::size_t j = 0; j < nb; ++j) {
      const auto q = oracle_prep(b[j].data(), rows, cols, k.b_prep, k.alpha, k.clip);
      double want = 0;
      for (std::size_t e = 0; e < ne; ++e) {
        const double w = (k.wa ? req.half * wa[i * rows + e / cols] : 0) + (k.wb ? req.half * wb[j * rows + e / cols] : 0);
        want += (k.wa || k.wb ? w : 1.0) * p[e] * std::log(q[e]);
      }
      EXPECT_NEAR(cross[i * nb + j], want, 1e-9 * (1 + std::fabs(want))) << "pair " << i << "," << j;
    }
  }
}

TEST(CudaBackend, KlTermsMatchCpuOracle) {
  EXPECT_TRUE(kl_terms_supported(RowPrep::Softmax, 0, false));
  EXPECT_TRUE(kl_terms_supported(RowPrep::L1, 0, true));
  EXPECT_FALSE(kl_terms_supported(RowPrep::L1, 0, false));
  EXPECT_FALSE(kl_terms_supported(RowPrep::Uniform, 0, false));
  REQUIRE_GPU();
  const std::size_t tight = 60000;  // blocks of 8 p-side and 7 q-side tasks
  for (const KlCase& k : {KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, false, false, 0},
                          KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, true, false, 0},
                          KlCase{RowPrep::Softmax, RowPrep::Uniform, 0.25, false, false, true, 0},
                          KlCase{RowPrep::None, RowPrep::L1, 0, true, true, true, 0},
                          KlCase{RowPrep::Uniform, RowPrep::Softmax, 0.25, true, false, false, 0},
                          KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, true, true, tight},
                          KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, false, false, 0, true},
                          KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, true, true, 0, true, 1000},
                          KlCase{RowPrep::Softmax, RowPrep::Softmax, 0, true, false, true, tight, true},
                          KlCase{RowPrep::L1, RowPrep::Softmax, 0, false, true, false, tight, false, 1000},
                          KlCase{RowPrep::Softmax, RowPrep::Softmax, 0, false, false, true, 0, false, 5000}}) {
    SCOPED_TRACE(testing::Message() << "a_prep " << static_cast<int>(k.a_prep) << " b_prep "
                                    << static_cast<int>(k.b_prep) << " clip " << k.clip << " wa "
                                    << k.wa << " wb " << k.wb << " budget " << k.budget << " same "
                                    << k.same << " chunk " << k.chunk);
    expect_kl_terms_match(k);
  }
}

}  // namespace
}  // namespace taskfp::cuda
