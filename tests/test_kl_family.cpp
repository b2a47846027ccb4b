// KL family: the GEMM path against the per-pair reference for every variant, and hand-computed
// small cases.
#include <gtest/gtest.h>

#include <cmath>

#include "distance/distance.hpp"
#include "distance/kl_family.hpp"
#include "reference/reference_metrics.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

using test::close_rel;

constexpr auto run = test::distance_of;

void expect_matches_reference(const std::string& spec_text, const FingerprintSet& fps,
                              const std::vector<std::string>& sources,
                              const std::vector<std::string>& targets) {
  auto spec = parse_metric(spec_text);
  auto fast = run(spec_text, fps, sources, targets);
  auto pair = spec.family == MetricFamily::JS ? reference::js_pair : reference::kld_pair;
  auto ref = reference::matrix(fps, sources, targets,
                               [&](const auto& s, const auto& t) { return pair(spec, s, t); });
  ASSERT_EQ(fast.values.rows, sources.size());
  ASSERT_EQ(fast.values.cols, targets.size());
  for (std::size_t s = 0; s < sources.size(); ++s)
    for (std::size_t t = 0; t < targets.size(); ++t) {
      double want = ref(s, t);
      // The reference's +inf (turned into the largest double) is reported as NaN.
      if (std::fabs(want) >= 1e300) want = std::nan("");
      EXPECT_TRUE(close_rel(fast.values(s, t), want, 1e-9))
          << spec_text << " source " << sources[s] << " target " << targets[t];
    }
}

std::vector<std::string> names(const FingerprintSet& fps, std::size_t from, std::size_t to) {
  auto all = fps.names();
  return {all.begin() + static_cast<long>(from), all.begin() + static_cast<long>(to)};
}

class KldVariants : public ::testing::TestWithParam<std::string> {};

TEST_P(KldVariants, GemmPathEqualsPerPairReference) {
  // Sources and targets overlap partly (diagonal entries) and differ in number.
  auto fps = test::random_fingerprints(9, 12, {7, 40}, 42);
  expect_matches_reference(GetParam(), fps, names(fps, 0, 6), names(fps, 3, 9));
}

std::vector<std::string> all_kl_variants() {
  std::vector<std::string> out;
  const std::string preps = "NSWU";
  for (char t : preps)
    for (char s : preps)
      for (const std::string bins : {"-7-BINS", "-40-BINS", ""})
        for (const std::string w : {"", "-W:TS", "-W:SN", "-W:BS", "-W:TN", "-W:SW", "-W:BU"})
          for (const std::string head : {"KLD", "KLD-C", "KLD-I", "KLD-C-I"}) {
            std::string pp = (t == 'W' && s == 'W') ? "" : std::string("-PP:") + t + s;
            bool uniform = t == 'U' || s == 'U' || w == "-W:BU";
            out.push_back(head + pp + (uniform ? "-A:0.25" : "") + w + bins);
          }
  for (const std::string bins : {"-7-BINS", "-40-BINS", ""})
    for (const std::string w : {"", "-W:TS", "-W:SN", "-W:BS"})
      for (const std::string head : {"JS", "JS-C"}) out.push_back(head + "-PP:NN" + w + bins);
  return out;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n;
  for (char c : info.param) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllOptions, KldVariants, ::testing::ValuesIn(all_kl_variants()), param_name);

TEST(KldFamily, PaperCandidatesAtPaperLikeShape) {
  // bKLD small/large on a wider shape: many bins, more features, more tasks.
  auto fps = test::random_fingerprints(12, 64, {100, 1000}, 7, 0.5);
  auto all = fps.names();
  expect_matches_reference("KLD-PP:NS-W:TS-100-BINS", fps, all, all);
  expect_matches_reference("KLD-PP:NS-1000-BINS", fps, all, all);
  expect_matches_reference("KLD-PP:NS-W:SN-1000-BINS", fps, all, all);
}

// Two tasks, two features, two bins; every number below is computed by hand.
FingerprintSet tiny() {
  FingerprintSet fps;
  fps.bins = {2};
  fps.ranges.lo = {0, 0};
  fps.ranges.hi = {1, 1};
  auto make = [](std::string name, std::vector<double> h, std::vector<double> mean) {
    TaskFingerprint t;
    t.name = std::move(name);
    t.mean = std::move(mean);
    Matrix<double> m(2, 2);
    m.data.assign(h.begin(), h.end());
    t.histograms.emplace(2, m);
    return t;
  };
  fps.tasks.push_back(make("a", {0.5, 0.5, 1.0, 0.0}, {1.0, 0.0}));
  fps.tasks.push_back(make("b", {0.25, 0.75, 0.5, 0.5}, {0.0, 1.0}));
  return fps;
}

TEST(KldFamily, HandComputedUnweighted) {
  auto fps = tiny();
  // D[a][b]: p = target b (L1), q = source a (L1).
  // feature 0: .25 log(.25/.5) + .75 log(.75/.5); feature 1: .5 log(.5/1) + .5 log(.5/0) = inf.
  auto m = run("KLD-PP:NN-2-BINS", fps, {"a", "b"}, {"a", "b"});
  EXPECT_EQ(m.values(0, 0), 0.0);
  EXPECT_TRUE(std::isnan(m.values(0, 1)));
  EXPECT_FALSE(m.warnings.empty());
  // D[b][a]: p = a, q = b. feature 0: .5 log(.5/.25) + .5 log(.5/.75); feature 1: 1 log(1/.5).
  const double f0 = 0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75);
  const double f1 = std::log(2.0);
  EXPECT_NEAR(m.values(1, 0), (f0 + f1) / 2, 1e-15);
}

TEST(KldFamily, HandComputedSoftmaxSourceAndTargetWeights) {
  auto fps = tiny();
  auto m = run("KLD-PP:NS-W:TN-2-BINS", fps, {"a", "b"}, {"a", "b"});
  // D[b][a]: p = L1(a) rows, q = softmax(b) rows; weights = L1 of a's mean = (1, 0):
  // only feature 0 counts. softmax(.25, .75) = (1/(1+e^.5), e^.5/(1+e^.5)).
  const double q0 = 1 / (1 + std::exp(0.5)), q1 = 1 - q0;
  const double f0 = 0.5 * std::log(0.5 / q0) + 0.5 * std::log(0.5 / q1);
  EXPECT_NEAR(m.values(1, 0), f0, 1e-15);
}

TEST(KldFamily, ClipMakesZeroBinsFinite) {
  auto fps = tiny();
  auto m = run("KLD-C-PP:NN-2-BINS", fps, {"a"}, {"b"});
  const double eps = static_cast<double>(1.0f / 10000.0f);
  const double f0 = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  const double f1 = 0.5 * std::log(0.5 / 1.0) + 0.5 * std::log(0.5 / eps);
  EXPECT_NEAR(m.values(0, 0), (f0 + f1) / 2, 1e-14);
  EXPECT_TRUE(m.warnings.empty());
}

TEST(KldFamily, InvertSwapsRoles) {
  auto fps = test::random_fingerprints(4, 5, {9}, 3, 0.0);
  auto all = fps.names();
  auto plain = run("KLD-PP:NN-9-BINS", fps, all, all);
  auto inverted = run("KLD-I-PP:NN-9-BINS", fps, all, all);
  // With the same preprocessing on both sides, KL-I(s -> t) = KL(t -> s).
  for (std::size_t s = 0; s < all.size(); ++s)
    for (std::size_t t = 0; t < all.size(); ++t)
      EXPECT_TRUE(close_rel(inverted.values(s, t), plain.values(t, s), 1e-12));
}

TEST(KldFamily, SelfDistanceIsZeroByName) {
  auto fps = test::random_fingerprints(3, 4, {5}, 11);
  auto all = fps.names();
  auto m = run("KLD-PP:NS-5-BINS", fps, all, all);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(m.values(i, i), 0.0);
  // KL(p || softmax(p)) itself is not zero: only the name decides.
  auto fps2 = fps;
  fps2.tasks[1].name = "copy";
  fps2.tasks[1].histograms = fps.tasks[0].histograms;
  fps2.tasks[1].mean = fps.tasks[0].mean;
  auto m2 = run("KLD-PP:NS-5-BINS", fps2, {"task0"}, {"copy"});
  EXPECT_GT(m2.values(0, 0), 0.0);
}

TEST(KldFamily, UnknownTaskIsAnError) {
  auto fps = test::random_fingerprints(3, 4, {5}, 11);
  EXPECT_THROW(run("KLD-PP:NS-5-BINS", fps, {"task0", "nope"}, {"task1"}), InputError);
  EXPECT_THROW(run("KLD-PP:NS-6-BINS", fps, {"task0"}, {"task1"}), InputError);
}

}  // namespace
}  // namespace taskfp

namespace taskfp {
namespace {

// The CUDA backend (kl_terms, or cuBLAS DGEMM for the cross terms and zero-bin counts) gives the
// CPU path's matrices: 1e-9 relative, NaN where the CPU has NaN. Skipped without a device.
TEST(KldCudaBackend, MatchesCpuOnRandomFingerprints) {
  auto fps = test::random_fingerprints(40, 64, {100, 1000}, 5, 0.4);
  const auto all = fps.names();
  const std::vector<std::string> sources(all.begin(), all.begin() + 31);
  const std::vector<std::string> targets(all.begin() + 9, all.end());
  // The CPU side runs everywhere, so that the specs are known to parse and compute.
  std::vector<std::pair<MetricSpec, DistanceMatrix>> cases;
  for (const std::string text : {"bkld-small", "bkld-large", "KLD-PP:NN-1000-BINS",
                                 "KLD-C-I-PP:WS-W:BS-100-BINS", "KLD-PP:UW-A:0.25-W:SN-1000-BINS"}) {
    const auto spec = parse_metric(text);
    cases.emplace_back(spec, kld_matrix(spec, fps, sources, targets, nullptr, compute::cpu()));
  }
  std::string why;
  const compute::Backend* device = compute::cuda(&why);
  if (!device) GTEST_SKIP() << "no CUDA backend: " << why;
  for (const auto& [spec, cpu] : cases) {
    const auto gpu = kld_matrix(spec, fps, sources, targets, nullptr, *device);
    ASSERT_EQ(gpu.values.data.size(), cpu.values.data.size());
    for (std::size_t k = 0; k < cpu.values.data.size(); ++k) {
      const double c = cpu.values.data[k], g = gpu.values.data[k];
      if (std::isnan(c)) {
        EXPECT_TRUE(std::isnan(g)) << spec.name << " entry " << k;
        continue;
      }
      EXPECT_LE(std::abs(g - c), 1e-9 * std::max(1.0, std::abs(c))) << spec.name << " entry " << k;
    }
  }
  // One task set against itself: the device uploads the histograms once for both sides.
  const auto spec = parse_metric("bkld-small");
  const auto cpu = kld_matrix(spec, fps, all, all, nullptr, compute::cpu());
  const auto gpu = kld_matrix(spec, fps, all, all, nullptr, *device);
  for (std::size_t k = 0; k < cpu.values.data.size(); ++k)
    EXPECT_LE(std::abs(gpu.values.data[k] - cpu.values.data[k]), 1e-9 * std::max(1.0, std::abs(cpu.values.data[k])))
        << "all x all, entry " << k;
}

}  // namespace
}  // namespace taskfp
