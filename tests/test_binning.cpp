// Ranges and binning against numpy 1.24 / torch 1.13 bit for bit: the expected values in
// fixtures/binning_fixtures.txt were computed by numpy and torch themselves
// (fixtures/make_binning_fixtures.py), plus hand-checked cases.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "fingerprint/binning.hpp"
#include "fingerprint/fingerprint.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

template <typename T>
T from_hex(const std::string& hex) {
  unsigned char bytes[sizeof(T)];
  EXPECT_EQ(hex.size(), 2 * sizeof(T)) << hex;
  for (std::size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<unsigned char>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  T v;
  std::memcpy(&v, bytes, sizeof(T));
  return v;
}

std::uint64_t bits(double v) {
  std::uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

struct FixtureSet {
  std::string name;
  FeatureSet features;
  std::vector<std::string> subset;
  std::vector<double> lo, hi;
  std::vector<std::tuple<std::size_t, int, std::vector<std::int64_t>>> counts;
};

struct Fixtures {
  std::vector<std::tuple<double, double, std::vector<float>>> quantiles;
  std::vector<FixtureSet> sets;
};

const Fixtures& fixtures() {
  static const Fixtures fx = [] {
    Fixtures f;
    std::ifstream in(std::string(TASKFP_FIXTURES) + "/binning_fixtures.txt");
    EXPECT_TRUE(in.good()) << "missing fixtures/binning_fixtures.txt";
    std::string line;
    std::size_t d = 0;
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string kind;
      ss >> kind;
      if (kind == "quantile") {
        std::string q, e;
        std::size_t n;
        ss >> q >> e >> n;
        std::vector<float> v(n);
        for (auto& x : v) {
          std::string h;
          ss >> h;
          x = from_hex<float>(h);
        }
        f.quantiles.emplace_back(from_hex<double>(q), from_hex<double>(e), v);
      } else if (kind == "set") {
        FixtureSet s;
        std::size_t tasks;
        ss >> s.name >> tasks >> d;
        s.features.provenance.feature_dim = static_cast<std::int64_t>(d);
        f.sets.push_back(s);
      } else if (kind == "task") {
        std::size_t n;
        ss >> n;
        TaskFeatures t{"t" + std::to_string(f.sets.back().features.tasks.size()), Matrix<float>(n, d)};
        for (auto& x : t.values.data) {
          std::string h;
          ss >> h;
          x = from_hex<float>(h);
        }
        f.sets.back().features.tasks.push_back(std::move(t));
      } else if (kind == "ranges") {
        std::string tok;
        auto* target = &f.sets.back().lo;
        while (ss >> tok) {
          if (tok == "|") continue;
          if (tok == "lo") target = &f.sets.back().lo;
          else if (tok == "hi") target = &f.sets.back().hi;
          else if (tok.size() == 16) target->push_back(from_hex<double>(tok));
          else f.sets.back().subset.push_back("t" + tok);
        }
      } else if (kind == "counts") {
        std::size_t task;
        int b;
        ss >> task >> b;
        std::vector<std::int64_t> c(d * static_cast<std::size_t>(b));
        for (auto& x : c) ss >> x;
        f.sets.back().counts.emplace_back(task, b, c);
      }
    }
    return f;
  }();
  return fx;
}

TEST(Quantile, EqualsNumpyBitForBit) {
  const auto& fx = fixtures();
  ASSERT_GT(fx.quantiles.size(), 50u);
  for (const auto& [q, expected, values] : fx.quantiles) {
    auto copy = values;
    EXPECT_EQ(bits(numpy_quantile(copy, q)), bits(expected))
        << "q=" << q << " n=" << values.size() << " got " << numpy_quantile(copy, q) << " want " << expected;
  }
}

TEST(Quantile, PairEqualsSingleQuantiles) {
  for (const auto& [q, expected, values] : fixtures().quantiles) {
    if (q > 0.5) continue;
    auto a = values, b = values, c = values;
    auto [lo, hi] = numpy_quantile_pair(a, q, 1.0 - q);
    EXPECT_EQ(bits(lo), bits(numpy_quantile(b, q)));
    EXPECT_EQ(bits(hi), bits(numpy_quantile(c, 1.0 - q)));
  }
}

TEST(Histc, RangesAndCountsEqualNumpyAndTorch) {
  const auto& fx = fixtures();
  ASSERT_EQ(fx.sets.size(), 3u);
  std::size_t checked = 0;
  for (const auto& s : fx.sets) {
    auto ranges = compute_ranges(s.features, s.subset);
    ASSERT_EQ(ranges.dim(), s.lo.size()) << s.name;
    for (std::size_t f = 0; f < ranges.dim(); ++f) {
      EXPECT_EQ(bits(ranges.lo[f]), bits(s.lo[f])) << s.name << " lo of feature " << f;
      EXPECT_EQ(bits(ranges.hi[f]), bits(s.hi[f])) << s.name << " hi of feature " << f;
    }
    for (const auto& [task, b, expected] : s.counts) {
      auto counts = histogram_counts(s.features.tasks[task].values, ranges, b);
      ASSERT_EQ(counts.data.size(), expected.size());
      for (std::size_t k = 0; k < expected.size(); ++k)
        ASSERT_EQ(counts.data[k], expected[k]) << s.name << " task " << task << " bins " << b
                                              << " feature " << k / static_cast<std::size_t>(b)
                                              << " bin " << k % static_cast<std::size_t>(b);
      ++checked;
    }
  }
  EXPECT_GE(checked, 30u);
}

TEST(Histc, HandCheckedCases) {
  // A value equal to the upper limit goes into the last bin, the lower limit into the first.
  auto e = histc_edges(0.0, 1.0);
  EXPECT_EQ(histc_bin(1.0f, e, 10), 9);
  EXPECT_EQ(histc_bin(0.0f, e, 10), 0);
  EXPECT_EQ(histc_bin(0.5f, e, 10), 5);
  EXPECT_EQ(histc_bin(1.5f, e, 10), -1);
  // (x - L) / (R - L) * b in float32: 0.3 / 1 * 10 = 3.0000001 -> 3.
  EXPECT_EQ(histc_bin(0.3f, e, 10), 3);
  // A degenerate range [c, c] becomes [c - 1, c + 1]: everything lands in bin b / 2.
  auto d = histc_edges(2.5, 2.5);
  EXPECT_EQ(d.left, 1.5f);
  EXPECT_EQ(d.right, 3.5f);
  EXPECT_EQ(histc_bin(torch_clip(10.0f, d.clip_lo, d.clip_hi), d, 100), 50);
  EXPECT_EQ(histc_bin(torch_clip(-3.0f, d.clip_lo, d.clip_hi), d, 7), 3);
  // Limits that differ in float64 but coincide in float32 take the same rule.
  auto tight = histc_edges(1.0, std::nextafter(1.0, 2.0));
  EXPECT_EQ(tight.left, 0.0f);
  EXPECT_EQ(tight.right, 2.0f);
}

}  // namespace
}  // namespace taskfp
