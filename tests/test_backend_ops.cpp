// Every operation of the compute backend table (compute/backend.hpp) on every backend this
// machine has, against plain references written here (loops, no BLAS, no vectorisation), with
// explicit tolerances: ggml's test-backend-ops is the model. The CPU backend always runs; the
// CUDA backend's cases skip with the reason when there is no usable device (or no CUDA build).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "compute/backend.hpp"
#include "core/error.hpp"
#include "fingerprint/binning.hpp"
#include "../kernels/tests/kl_terms_cases.hpp"
#include "taskfp_kernels/online_lse.hpp"

namespace taskfp {
namespace {

using compute::Backend;
using compute::KlTerms;
using compute::RowPrep;

const Backend* backend_named(const std::string& name, std::string* why) {
  if (name == "cpu") return &compute::cpu();
  return compute::cuda(why);
}

class BackendOps : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = backend_named(GetParam(), &why);
    if (!backend_) GTEST_SKIP() << "no " << GetParam() << " backend here: " << why;
  }
  const Backend& backend() const { return *backend_; }

 private:
  const Backend* backend_ = nullptr;
};

std::vector<double> uniform(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST_P(BackendOps, NamesItselfAndSupportsEveryOperation) {
  EXPECT_EQ(backend().name(), GetParam());
  EXPECT_FALSE(backend().description().empty());
  EXPECT_EQ(backend().is_host(), GetParam() == "cpu");
  for (const auto op : ops::kAllOps) EXPECT_TRUE(backend().supports(op)) << ops::op_name(op);
}

// gemm_abt: C = alpha A B^T + beta C against the triple loop, 1e-12 relative to the sum of
// |terms| (the bound of any summation order), in one call and in the CPU's tile grid, on shapes
// with edges that are not multiples of any tile, and with k = 0.
TEST_P(BackendOps, GemmAbtEqualsTheTripleLoop) {
  struct Shape {
    std::size_t m, n, k;
    compute::GemmTiles tiles;
  };
  for (const Shape& s : {Shape{37, 53, 1000, {}}, Shape{70, 33, 257, {32, 64}}, Shape{1, 1, 5, {}},
                         Shape{5, 4, 0, {}}, Shape{129, 65, 3000, {64, 32}}}) {
    SCOPED_TRACE(testing::Message() << s.m << " x " << s.n << " x " << s.k);
    const auto a = uniform(s.m * s.k, 1), b = uniform(s.n * s.k, 2);
    auto c = uniform(s.m * s.n, 3);
    std::vector<double> want(s.m * s.n), bound(s.m * s.n);
    for (std::size_t i = 0; i < s.m; ++i)
      for (std::size_t j = 0; j < s.n; ++j) {
        double sum = 0, abs_sum = 0;
        for (std::size_t e = 0; e < s.k; ++e) {
          sum += a[i * s.k + e] * b[j * s.k + e];
          abs_sum += std::abs(a[i * s.k + e] * b[j * s.k + e]);
        }
        want[i * s.n + j] = 0.5 * sum + 2.0 * c[i * s.n + j];
        bound[i * s.n + j] = 0.5 * abs_sum + 2.0 * std::abs(c[i * s.n + j]);
      }
    backend().gemm_abt(a.data(), s.m, b.data(), s.n, s.k, c.data(), 0.5, 2.0, s.tiles);
    for (std::size_t i = 0; i < c.size(); ++i)
      ASSERT_NEAR(c[i], want[i], 1e-12 * (1.0 + bound[i])) << "entry " << i;
  }
}

// histogram_counts: torch.histc's float32 arithmetic (binning.hpp's scalar histc_bin and
// torch_clip) on values at, beside and between bin edges, one feature with lo = hi, values
// below and above the range: equal counts, bit for bit.
TEST_P(BackendOps, HistogramCountsEqualHistcExactly) {
  const std::size_t n = 2500, d = 70;  // d past one block of 64 features
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> clip_lo(d), clip_hi(d), left(d), right(d);
  std::vector<double> lo(d), hi(d);
  for (std::size_t f = 0; f < d; ++f) {
    lo[f] = -1.0 - 0.01 * static_cast<double>(f);
    hi[f] = f == 7 ? lo[f] : 1.5 + 0.1 * static_cast<double>(f);
    const auto e = histc_edges(lo[f], hi[f]);
    clip_lo[f] = e.clip_lo, clip_hi[f] = e.clip_hi, left[f] = e.left, right[f] = e.right;
  }
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t f = 0; f < d; ++f) {
      float v = normal(rng);
      if (i % 5 == 0) {
        const double step = (hi[f] - lo[f]) / 10.0;
        v = static_cast<float>(lo[f] + step * static_cast<double>(rng() % 11));
        if (i % 10 == 0) v = std::nextafter(v, (rng() % 2) ? 1e9f : -1e9f);
      }
      x[i * d + f] = v;
    }
  for (int bins : {1, 10, 100, 1000}) {
    std::vector<std::int64_t> want(d * static_cast<std::size_t>(bins), 0), got(want.size(), -1);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t f = 0; f < d; ++f) {
        const HistcEdges e{clip_lo[f], clip_hi[f], left[f], right[f]};
        const auto bin = histc_bin(torch_clip(x[i * d + f], e.clip_lo, e.clip_hi), e, bins);
        if (bin >= 0) ++want[f * static_cast<std::size_t>(bins) + static_cast<std::size_t>(bin)];
      }
    backend().histogram_counts(x.data(), n, d, clip_lo.data(), clip_hi.data(), left.data(), right.data(), bins,
                               got.data());
    EXPECT_EQ(got, want) << bins << " bins";
  }
  std::vector<std::int64_t> counts(d);
  EXPECT_THROW(backend().histogram_counts(x.data(), n, d, clip_lo.data(), clip_hi.data(), left.data(),
                                          right.data(), 0, counts.data()),
               InputError);
}

// log_softmax_rows against the max-shifted formula, 1e-13 absolute (the values are O(10)),
// including rows of very different scales and a row of equal values.
TEST_P(BackendOps, LogSoftmaxRowsEqualTheFormula) {
  const std::size_t rows = 19, cols = 1000;
  auto h = uniform(rows * cols, 9, -5.0, 5.0);
  for (std::size_t c = 0; c < cols; ++c) h[3 * cols + c] *= 100.0, h[4 * cols + c] = 0.25;
  std::vector<double> out(rows * cols, 0.0);
  backend().log_softmax_rows(h.data(), rows, cols, out.data());
  for (std::size_t r = 0; r < rows; ++r) {
    const double* x = h.data() + r * cols;
    const double mx = *std::max_element(x, x + cols);
    double s = 0;
    for (std::size_t c = 0; c < cols; ++c) s += std::exp(x[c] - mx);
    for (std::size_t c = 0; c < cols; ++c)
      ASSERT_NEAR(out[r * cols + c], x[c] - (mx + std::log(s)), 1e-13 * (1.0 + std::abs(x[c]))) << r << "," << c;
  }
}

// kl_terms against preprocessing each row by hand and summing per pair (kl_terms_cases.hpp, shared
// with the kernel tests): every preprocessing, weights, clipping, both sides the same task set
// (uploaded once on a device), small device budgets and small staging pieces.
TEST_P(BackendOps, KlTermsEqualPerPairSums) {
  for (const auto& k : kl_terms_cases::all_cases())
    kl_terms_cases::check(k, [&](const KlTerms& r, double* cross, double* plogp) { backend().kl_terms(r, cross, plogp); });
}

// A q side that can be zero (no softmax, smoothing or clipping) is refused by every backend.
TEST_P(BackendOps, KlTermsRefuseAQSideThatCanBeZero) {
  EXPECT_FALSE(ops::kl_terms_supported(RowPrep::L1, 0, false));
  EXPECT_FALSE(ops::kl_terms_supported(RowPrep::Uniform, 0, false));
  EXPECT_TRUE(ops::kl_terms_supported(RowPrep::Uniform, 0.1, false));
  EXPECT_TRUE(ops::kl_terms_supported(RowPrep::L1, 0, true));
  const std::vector<double> h(12, 0.25);
  const double* t = h.data();
  KlTerms req;
  req.na = req.nb = 1, req.rows = 3, req.cols = 4, req.a = &t, req.b = &t;
  req.a_prep = RowPrep::L1, req.b_prep = RowPrep::L1;
  double cross = 0, plogp[3];
  EXPECT_THROW(backend().kl_terms(req, &cross, plogp), InputError);
}

// A soft-min pair (the Sinkhorn divergence's passes): out_i = -eps LSE_j(h_j - C_ij / eps) for each
// of the four cost matrices, against costs summed coordinate by coordinate and a two-pass
// log-sum-exp in long double. Held and streamed (the CPU in slabs of one 128-row tile; a device
// with a memory budget that fits a few dozen rows of costs), at a large and a small eps, on
// clouds whose sizes are no multiple of a tile or a thread block.
TEST_P(BackendOps, SoftminPairEqualsAPlainLogSumExp) {
  const std::size_t n = 150, m = 131, d = 7;
  const auto x = uniform(n * d, 11), y = uniform(m * d, 12, -0.5, 2.0);
  auto norms = [d](const std::vector<double>& p) {
    std::vector<double> out(p.size() / d);
    for (std::size_t i = 0; i < out.size(); ++i)
      for (std::size_t k = 0; k < d; ++k) out[i] += p[i * d + k] * p[i * d + k];
    return out;
  };
  const auto nx = norms(x), ny = norms(y);
  compute::SoftminPairRequest request;
  request.x = x.data(), request.y = y.data(), request.n = n, request.m = m, request.d = d;
  request.x_norms = nx.data(), request.y_norms = ny.data();
  const std::size_t big = std::max(n, m);
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "held");
    request.hold = !stream;
    request.slab_bytes = stream ? 1 : std::size_t{64} << 20;
    // Device: the clouds, norms and potentials, and 40 rows of costs.
    request.max_device_bytes = stream ? 8 * ((n + m) * d + 2 * (n + m) + 2 * big + 40 * big) : 0;
    const auto pair = backend().softmin_pair(request);
    EXPECT_EQ(pair->streamed(), stream);
    for (const auto which : {compute::CostMatrix::XY, compute::CostMatrix::YX, compute::CostMatrix::XX,
                             compute::CostMatrix::YY}) {
      const bool x_rows = which == compute::CostMatrix::XY || which == compute::CostMatrix::XX;
      const bool x_cols = which == compute::CostMatrix::YX || which == compute::CostMatrix::XX;
      const auto& p = x_rows ? x : y;
      const auto& q = x_cols ? x : y;
      const std::size_t rows = x_rows ? n : m, cols = x_cols ? n : m;
      const auto h = uniform(cols, 13 + static_cast<int>(which), -6.0, -3.0);
      for (const double eps : {0.7, 0.004}) {
        SCOPED_TRACE(testing::Message() << "matrix " << static_cast<int>(which) << ", eps " << eps);
        std::vector<double> out(rows, std::nan(""));
        pair->softmin(which, eps, h.data(), out.data());
        for (std::size_t i = 0; i < rows; ++i) {
          std::vector<long double> v(cols);
          for (std::size_t j = 0; j < cols; ++j) {
            long double c = 0;
            for (std::size_t k = 0; k < d; ++k) {
              const long double diff = static_cast<long double>(p[i * d + k]) - q[j * d + k];
              c += diff * diff;
            }
            v[j] = h[j] - c / 2 / eps;
          }
          const long double mx = *std::max_element(v.begin(), v.end());
          long double sum = 0;
          for (const long double e : v) sum += std::exp(e - mx);
          const double want = static_cast<double>(-eps * (mx + std::log(sum)));
          ASSERT_NEAR(out[i], want, 1e-12 * (1 + std::abs(want))) << "row " << i;
        }
      }
    }
  }
}

// The device soft-min's one-pass log-sum-exp (taskfp_kernels/online_lse.hpp), run here as the
// kernel runs it: 256 threads striding over the columns, the block's maximum, then the rescaled
// sums added in the kernel's tree (halves folded onto the first half). Against a two-pass
// log-sum-exp in long double: rows shorter than the block (threads without values), rising rows
// (the sum rescaled at every value), falling rows, and exponents spread over 1e5 (underflowing
// terms).
TEST(OnlineLse, TheKernelsBlockEqualsATwoPassLogSumExp) {
  constexpr std::size_t kThreads = 256;
  auto block_lse = [](const std::vector<double>& v) {
    std::vector<ops::OnlineLse> thread(kThreads);
    for (std::size_t t = 0; t < kThreads; ++t)
      for (std::size_t j = t; j < v.size(); j += kThreads) ops::lse_add(thread[t], v[j]);
    double m = -INFINITY;
    for (const auto& t : thread) m = std::max(m, t.max);
    std::vector<double> sums(kThreads);
    for (std::size_t t = 0; t < kThreads; ++t) sums[t] = ops::lse_rescaled(thread[t], m);
    for (std::size_t half = kThreads / 2; half > 0; half /= 2)
      for (std::size_t t = 0; t < half; ++t) sums[t] += sums[t + half];
    return m + std::log(sums[0]);
  };
  auto two_pass = [](const std::vector<double>& v) {
    const long double m = *std::max_element(v.begin(), v.end());
    long double s = 0;
    for (const double x : v) s += std::exp(static_cast<long double>(x) - m);
    return static_cast<double>(m + std::log(s));
  };
  std::vector<std::vector<double>> rows = {{-3.5}, {1.0, 2.0}, uniform(100, 21, -5, 5), uniform(1000, 22, -40, 3),
                                           uniform(10007, 23, -1e5, 10)};
  std::vector<double> rising(3000), falling(3000);
  for (std::size_t j = 0; j < rising.size(); ++j) rising[j] = 0.01 * static_cast<double>(j), falling[j] = -rising[j];
  rows.push_back(rising);
  rows.push_back(falling);
  for (const auto& v : rows) {
    const double want = two_pass(v);
    EXPECT_NEAR(block_lse(v), want, 1e-13 * (1 + std::abs(want))) << v.size() << " values";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, BackendOps, testing::Values("cpu", "cuda"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

// Choosing a backend: cpu always works, auto falls back to the CPU with a note, an unknown name
// and an unavailable cuda are InputErrors naming the reason.
TEST(BackendSelect, ChoosesOnceFromTheOptionValue) {
  std::string note;
  EXPECT_STREQ(compute::select("cpu", &note).name(), "cpu");
  const auto& chosen = compute::select("auto", &note);
  EXPECT_FALSE(note.empty());
  std::string why;
  if (compute::cuda(&why)) {
    EXPECT_STREQ(chosen.name(), "cuda");
    EXPECT_STREQ(compute::select("cuda").name(), "cuda");
  } else {
    EXPECT_STREQ(chosen.name(), "cpu");
    EXPECT_NE(note.find("running on the CPU"), std::string::npos) << note;
    try {
      compute::select("cuda");
      ADD_FAILURE() << "--backend cuda without a device was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(compute::select("opencl"), InputError);
}

}  // namespace
}  // namespace taskfp
