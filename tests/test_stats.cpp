// Statistics primitives against scipy/numpy/pandas values (literals printed by
// tests/fixtures/make_correlation_literals.py) and hand-checked cases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "evaluate/stats.hpp"

namespace taskfp::stats {
namespace {

struct CorrCase {
  std::vector<double> x, y;
  double weightedtau, kendall, spearman, pearson;
};

void expect_same(double got, double want, const char* what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
  } else {
    EXPECT_NEAR(got, want, 1e-13) << what;
  }
}

TEST(Stats, CorrelationsMatchScipy) {
  const std::vector<CorrCase> cases = {
    {{1.0, 2.0, 3.0, 4.0, 5.0}, {1.0, 2.0, 3.0, 4.0, 5.0}, 0x1.0000000000000p+0, 0x1.fffffffffffffp-1, 0x1.fffffffffffffp-1, 0x1.fffffffffffffp-1},
    {{1.0, 2.0, 3.0, 4.0, 5.0}, {5.0, 4.0, 3.0, 2.0, 1.0}, -0x1.0000000000000p+0, -0x1.fffffffffffffp-1, -0x1.fffffffffffffp-1, -0x1.fffffffffffffp-1},
    {{0.1, 0.4, 0.35, 0.8, 0.2, 0.9}, {0.6, 0.7, 0.1, 0.9, 0.3, 0.5}, 0x1.fb1fb1fb1fb1ep-3, 0x1.999999999999ap-3, 0x1.41d41d41d41d4p-2, 0x1.9871efc067545p-2},
    {{1.0, 1.0, 2.0, 2.0, 3.0, 3.0}, {3.0, 1.0, 2.0, 2.0, 1.0, 3.0}, 0x1.2492492492490p-3, 0x0.0p+0, 0x0.0p+0, 0x0.0p+0},
    {{1.5, 1.5, 1.5, 2.0}, {0.3, 0.1, 0.2, 0.4}, 0x1.9dd83c7c9e126p-1, 0x1.6a09e667f3bcep-1, 0x1.8c97ef43f7248p-1, 0x1.8c97ef43f7249p-1},
    {{3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0}, {2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0, 2.0, 8.0, 4.0}, 0x1.94f23c0852ffcp-2, 0x1.2e3abb110442fp-3, 0x1.1b8f3871b8fdbp-3, 0x1.81f68750f156cp-4},
    {{-0.3, 2.2, 0.0, 1.1, -1.7, 0.4, 0.9, 2.5}, {0.81, 0.95, 0.77, 0.93, 0.7, 0.85, 0.9, 0.97}, 0x1.ef57186dd3901p-1, 0x1.db6db6db6db6dp-1, 0x1.f3cf3cf3cf3d0p-1, 0x1.ebaa0ef8b459ap-1},
    {{1.0, 2.0, 3.0}, {2.0, 2.0, 2.0}, NAN, NAN, NAN, NAN},
  };
  for (const auto& c : cases) {
    expect_same(weighted_tau(c.x, c.y), c.weightedtau, "weightedtau");
    expect_same(kendall_tau(c.x, c.y), c.kendall, "kendall");
    expect_same(spearman(c.x, c.y), c.spearman, "spearman");
    expect_same(pearson(c.x, c.y), c.pearson, "pearson");
  }
}

TEST(Stats, PandasRanks) {
  // Series([0.5, nan, 0.2, 0.5, 0.9]).rank(pct=True): ties averaged, NaN kept, / 4.
  auto r = rank_pct(std::vector<double>{0.5, NAN, 0.2, 0.5, 0.9});
  EXPECT_DOUBLE_EQ(r[0], 2.5 / 4);
  EXPECT_TRUE(std::isnan(r[1]));
  EXPECT_DOUBLE_EQ(r[2], 1.0 / 4);
  EXPECT_DOUBLE_EQ(r[3], 2.5 / 4);
  EXPECT_DOUBLE_EQ(r[4], 1.0);
  auto m = rank_min_descending(std::vector<double>{0.5, 0.9, 0.5, NAN});
  EXPECT_EQ(m[0], 2.0);
  EXPECT_EQ(m[1], 1.0);
  EXPECT_EQ(m[2], 2.0);
  EXPECT_TRUE(std::isnan(m[3]));
}

TEST(Stats, NumpyPairwiseSummation) {
  // Beyond 8 values numpy sums in 8 interleaved accumulators: for these values the order
  // changes the result, and numpy's is 1.0 + 8 * 2^-53 folded as ((r0 + r1) + ...).
  std::vector<double> v(16, std::ldexp(1.0, -53));
  v[0] = 1.0;
  double sequential = 0;
  for (double x : v) sequential += x;
  EXPECT_EQ(sequential, 1.0);  // each tiny addend is rounded away one at a time
  EXPECT_EQ(numpy_sum(v), 1.0 + 14 * std::ldexp(1.0, -53));
  EXPECT_DOUBLE_EQ(numpy_mean(std::vector<double>{1, 2, 3, 4}), 2.5);
  EXPECT_DOUBLE_EQ(numpy_std(std::vector<double>{1, 2, 3, 4}, 1), std::sqrt(5.0 / 3));
  EXPECT_DOUBLE_EQ(median(std::vector<double>{3, NAN, 1, 2, 10}), 2.5);
  EXPECT_DOUBLE_EQ(pandas_group_mean(std::vector<double>{1, NAN, 2}), 1.5);
}

TEST(Stats, SplitMixIsDeterministicAndInRange) {
  SplitMix a(5), b(5);
  for (int i = 0; i < 100; ++i) {
    auto x = a.below(7);
    EXPECT_EQ(x, b.below(7));
    EXPECT_LT(x, 7u);
  }
}

}  // namespace
}  // namespace taskfp::stats
