// Ranges and binning against numpy 1.24 / torch 1.13 bit for bit: the expected values in
// fixtures/binning_fixtures.txt were computed by numpy and torch themselves
// (fixtures/make_binning_fixtures.py), plus hand-checked cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "fingerprint/binning.hpp"
#include "fingerprint/fingerprint.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

using test::from_hex;

std::uint64_t bits(double v) {
  std::uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

// Bitwise equality, except that any NaN matches any NaN (numpy's NaN payload carries no meaning).
::testing::AssertionResult same_double(double got, double want) {
  if (std::isnan(got) && std::isnan(want)) return ::testing::AssertionSuccess();
  if (bits(got) == bits(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << std::hexfloat << got << ", numpy/torch " << want
                                       << std::defaultfloat;
}

std::vector<float> read_floats(std::istringstream& ss, std::size_t n) {
  std::vector<float> v(n);
  std::string h;
  for (auto& x : v) {
    ss >> h;
    x = from_hex<float>(h);
  }
  return v;
}

void expect_token(std::istringstream& ss, const std::string& want) {
  std::string tok;
  ss >> tok;
  if (tok != want) throw std::runtime_error("expected '" + want + "', found '" + tok + "'");
}

// Tasks of a fixture set are named t0, t1, ... (built with append: GCC 12 warns falsely about
// "literal" + std::string).
std::string task_name(const std::string& index) { return std::string("t").append(index); }

struct QuantileCase {
  std::vector<float> values;
  std::vector<std::pair<double, double>> expected;  // (q, np.quantile(values, q))
};

struct HistcCase {
  double lo, hi;
  int bins;
  std::vector<float> values;
  std::vector<std::int64_t> bin_of;  // torch.histc's bin of each value alone
};

struct SetCase {
  std::string name;
  FeatureSet features;
  std::vector<std::string> subset;
  std::vector<double> lo, hi;
  struct Counts {
    std::size_t task;
    int bins;
    std::vector<std::int64_t> counts;  // d x bins, row-major
  };
  std::vector<Counts> counts;
};

struct Fixtures {
  std::vector<QuantileCase> quantiles;
  std::vector<HistcCase> histc;
  std::vector<SetCase> sets;
};

Fixtures parse_fixtures() {
  Fixtures f;
  const std::string path = std::string(TASKFP_FIXTURES) + "/binning_fixtures.txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::size_t d = 0;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string kind;
    ss >> kind;
    if (kind.empty() || kind[0] == '#') continue;
    if (kind == "quantile") {
      QuantileCase c;
      std::size_t n;
      ss >> n;
      c.values = read_floats(ss, n);
      expect_token(ss, "|");
      std::string q, e;
      while (ss >> q >> e) c.expected.emplace_back(from_hex<double>(q), from_hex<double>(e));
      f.quantiles.push_back(std::move(c));
    } else if (kind == "histc") {
      HistcCase c;
      std::string lo, hi;
      std::size_t n;
      ss >> lo >> hi >> c.bins >> n;
      c.lo = from_hex<double>(lo);
      c.hi = from_hex<double>(hi);
      c.values = read_floats(ss, n);
      expect_token(ss, "|");
      c.bin_of.resize(n);
      for (auto& b : c.bin_of) ss >> b;
      f.histc.push_back(std::move(c));
    } else if (kind == "set") {
      SetCase s;
      std::size_t tasks;
      ss >> s.name >> tasks >> d;
      s.features.provenance.feature_dim = static_cast<std::int64_t>(d);
      f.sets.push_back(std::move(s));
    } else if (kind == "task") {
      auto& s = f.sets.back();
      std::size_t n;
      ss >> n;
      TaskFeatures t{task_name(std::to_string(s.features.tasks.size())), Matrix<float>(n, d)};
      { const auto v = read_floats(ss, n * d); t.values.data.assign(v.begin(), v.end()); }
      s.features.tasks.push_back(std::move(t));
    } else if (kind == "ranges") {
      auto& s = f.sets.back();
      std::string tok;
      std::vector<double>* target = nullptr;
      while (ss >> tok) {
        if (tok == "|") continue;
        if (tok == "lo") target = &s.lo;
        else if (tok == "hi") target = &s.hi;
        else if (target) target->push_back(from_hex<double>(tok));
        else s.subset.push_back(task_name(tok));
      }
    } else if (kind == "counts") {
      auto& s = f.sets.back();
      SetCase::Counts c;
      ss >> c.task >> c.bins;
      c.counts.assign(d * static_cast<std::size_t>(c.bins), 0);
      std::string tok;
      while (ss >> tok) {
        const auto colon = tok.find(':');
        c.counts.at(std::stoul(tok.substr(0, colon))) = std::stoll(tok.substr(colon + 1));
      }
      s.counts.push_back(std::move(c));
    } else {
      throw std::runtime_error("unknown fixture record '" + kind + "'");
    }
  }
  return f;
}

const Fixtures& fixtures() {
  static const Fixtures fx = parse_fixtures();
  return fx;
}

TEST(Quantile, EqualsNumpyBitForBit) {
  const auto& fx = fixtures();
  ASSERT_GE(fx.quantiles.size(), 40u);
  std::size_t checked = 0;
  for (std::size_t i = 0; i < fx.quantiles.size(); ++i) {
    const auto& c = fx.quantiles[i];
    for (const auto& [q, want] : c.expected) {
      auto copy = c.values;
      EXPECT_TRUE(same_double(numpy_quantile(copy, q), want))
          << "input " << i << " (n=" << c.values.size() << "), q=" << q;
      ++checked;
    }
  }
  EXPECT_GE(checked, 300u);
}

// The pair shares one partition between both quantiles; it must give numpy's values for any
// q_lo <= q_hi, including the clamped ends (0 and 1) and both in the same gap.
TEST(Quantile, PairEqualsNumpyBitForBit) {
  for (std::size_t i = 0; i < fixtures().quantiles.size(); ++i) {
    const auto& c = fixtures().quantiles[i];
    for (const auto& [qa, wa] : c.expected)
      for (const auto& [qb, wb] : c.expected) {
        if (qa > qb) continue;
        auto copy = c.values;
        const auto [lo, hi] = numpy_quantile_pair(copy, qa, qb);
        EXPECT_TRUE(same_double(lo, wa)) << "input " << i << ", q_lo=" << qa << " q_hi=" << qb;
        EXPECT_TRUE(same_double(hi, wb)) << "input " << i << ", q_lo=" << qa << " q_hi=" << qb;
      }
  }
}

TEST(Histc, SingleFeaturesEqualTorch) {
  const auto& fx = fixtures();
  ASSERT_GE(fx.histc.size(), 100u);
  for (std::size_t i = 0; i < fx.histc.size(); ++i) {
    const auto& c = fx.histc[i];
    const auto where = ::testing::Message() << "histc case " << i << " [" << std::hexfloat << c.lo
                                            << ", " << c.hi << std::defaultfloat
                                            << "], bins " << c.bins;
    // Per value: clip + bin, as histogram_counts does it.
    const auto e = histc_edges(c.lo, c.hi);
    std::vector<std::int64_t> want_counts(static_cast<std::size_t>(c.bins), 0);
    for (std::size_t k = 0; k < c.values.size(); ++k) {
      const float v = c.values[k];
      EXPECT_EQ(histc_bin(torch_clip(v, e.clip_lo, e.clip_hi), e, c.bins), c.bin_of[k])
          << where << ", value " << std::hexfloat << v;
      ++want_counts.at(static_cast<std::size_t>(c.bin_of[k]));
    }
    // All values together through the public entry point.
    Matrix<float> x(c.values.size(), 1);
    x.data.assign(c.values.begin(), c.values.end());
    BinRanges r;
    r.lo = {c.lo};
    r.hi = {c.hi};
    const auto counts = histogram_counts(x, r, c.bins);
    EXPECT_EQ(std::vector<std::int64_t>(counts.data.begin(), counts.data.end()), want_counts) << where;
  }
}

TEST(Binning, ReferenceRecipeRangesAndCountsEqualNumpyAndTorch) {
  const auto& fx = fixtures();
  ASSERT_EQ(fx.sets.size(), 4u);
  std::size_t checked = 0;
  for (const auto& s : fx.sets) {
    const auto ranges = compute_ranges(s.features, s.subset);
    ASSERT_EQ(ranges.dim(), s.lo.size()) << s.name;
    ASSERT_EQ(ranges.dim(), s.hi.size()) << s.name;
    for (std::size_t f = 0; f < ranges.dim(); ++f) {
      EXPECT_TRUE(same_double(ranges.lo[f], s.lo[f])) << s.name << ": lo of feature " << f;
      EXPECT_TRUE(same_double(ranges.hi[f], s.hi[f])) << s.name << ": hi of feature " << f;
    }
    // Count with numpy's limits, so a range mismatch above does not hide a binning mismatch.
    BinRanges numpy_ranges = ranges;
    numpy_ranges.lo = s.lo;
    numpy_ranges.hi = s.hi;
    for (const auto& c : s.counts) {
      const auto& x = s.features.tasks.at(c.task).values;
      const auto counts = histogram_counts(x, numpy_ranges, c.bins);
      ASSERT_EQ(counts.data.size(), c.counts.size());
      const auto b = static_cast<std::size_t>(c.bins);
      for (std::size_t k = 0; k < c.counts.size(); ++k)
        ASSERT_EQ(counts.data[k], c.counts[k]) << s.name << ": task " << c.task << ", bins "
                                               << c.bins << ", feature " << k / b << ", bin "
                                               << k % b;
      // The fingerprint divides the integer counts by their sum; every value is counted.
      const auto h = histogram(x, numpy_ranges, c.bins);
      for (std::size_t f = 0; f < h.rows; ++f)
        for (std::size_t j = 0; j < h.cols; ++j)
          ASSERT_EQ(h(f, j), static_cast<double>(counts(f, j)) / static_cast<double>(x.rows));
      ++checked;
    }
  }
  EXPECT_GE(checked, 50u);
}

TEST(Histc, HandCheckedCases) {
  for (std::int64_t b : {1, 2, 5, 7, 100, 1000}) {
    // A value equal to the upper limit goes into the last bin, the lower limit into the first,
    // and clipping sends values outside there too.
    const auto e = histc_edges(-1.0, 3.0);
    EXPECT_EQ(histc_bin(3.0f, e, b), b - 1);
    EXPECT_EQ(histc_bin(-1.0f, e, b), 0);
    EXPECT_EQ(histc_bin(torch_clip(1e30f, e.clip_lo, e.clip_hi), e, b), b - 1);
    EXPECT_EQ(histc_bin(torch_clip(-1e30f, e.clip_lo, e.clip_hi), e, b), 0);
    // A degenerate range [c, c] becomes [c - 1, c + 1]: everything lands in bin b / 2 (for b = 1
    // that is bin 0).
    for (double c : {0.0, 2.5, -3.0}) {
      const auto d = histc_edges(c, c);
      EXPECT_EQ(d.left, static_cast<float>(c - 1));
      EXPECT_EQ(d.right, static_cast<float>(c + 1));
      for (float v : {-10.0f, 0.0f, 10.0f})
        EXPECT_EQ(histc_bin(torch_clip(v, d.clip_lo, d.clip_hi), d, b), b / 2) << c << " " << v;
    }
  }
  // Unclipped values outside [L, R] are not counted (histc skips them).
  const auto e = histc_edges(0.0, 1.0);
  EXPECT_EQ(histc_bin(1.5f, e, 10), -1);
  EXPECT_EQ(histc_bin(-0.25f, e, 10), -1);
  EXPECT_EQ(histc_bin(0.5f, e, 10), 5);
  // Division first, in float32: 0.3f / 1 * 10 = 3.0000001 -> bin 3.
  EXPECT_EQ(histc_bin(0.3f, e, 10), 3);
  // Division before multiplication (torch 1.13's 1-D histc kernel): with limits [0.1, 0.8] and 7
  // bins, 0.7f gives (0.7f - 0.1f) / (0.8f - 0.1f) * 7 = 5.9999995 -> bin 5 (torch.histc agrees);
  // multiplying first would give exactly 6.
  const auto f = histc_edges(0.1, 0.8);
  EXPECT_EQ(histc_bin(0.7f, f, 7), 5);
  EXPECT_EQ(static_cast<int>((0.7f - f.left) * 7.0f / (f.right - f.left)), 6);
  // Limits that differ in float64 but coincide in float32: torch 1.13 divides 0 by 0 there
  // (undefined behaviour; on x86-64 it happens to count everything in bin 0); taskfp widens them
  // like equal limits.
  const auto tight = histc_edges(1.0, std::nextafter(1.0, 2.0));
  EXPECT_EQ(tight.left, 0.0f);
  EXPECT_EQ(tight.right, 2.0f);
  EXPECT_EQ(histc_bin(1.0f, tight, 100), 50);
}

TEST(Quantile, HandCheckedCases) {
  std::vector<float> one = {-2.5f};
  for (double q : {0.0, 0.05, 0.5, 1.0}) EXPECT_EQ(numpy_quantile(one, q), -2.5);
  std::vector<float> two = {1.0f, 0.0f};
  EXPECT_EQ(numpy_quantile(two, 0.5), 0.5);
  EXPECT_EQ(numpy_quantile(two, 0.25), 0.25);
  EXPECT_EQ(numpy_quantile(two, 1.0), 1.0);
  // 21 values: (n - 1) * 0.05 = 1 and (n - 1) * 0.95 = 19 hit order statistics exactly.
  std::vector<float> v21;
  for (int i = 20; i >= 0; --i) v21.push_back(static_cast<float>(i) * 0.5f);
  EXPECT_EQ(numpy_quantile_pair(v21, 0.05, 0.95), (std::pair<double, double>{0.5, 9.5}));
  // The gap is taken in float32: 1.0f - 1e-7f rounds to 0.99999988f, so the 5% quantile of
  // {1e-7, 1} is 1e-7f + 0.05 * 0.99999988f, not 1e-7f + 0.05 * (1 - 1e-7f).
  std::vector<float> gap = {1.0f, 1e-7f};
  const double want = static_cast<double>(1e-7f) + static_cast<double>(1.0f - 1e-7f) * 0.05;
  EXPECT_EQ(numpy_quantile(gap, 0.05), want);
  EXPECT_NE(want, static_cast<double>(1e-7f) + (1.0 - static_cast<double>(1e-7f)) * 0.05);
}

}  // namespace
}  // namespace taskfp

// The bucket selection used for large inputs returns the order statistics a sort gives, on data
// with duplicates, both signs, infinities, subnormals and values packed into one bucket.
TEST(Quantile, BucketSelectionEqualsSortedOrderStatistics) {
  std::mt19937_64 rng(7);
  taskfp::SelectScratch scratch;
  for (int trial = 0; trial < 24; ++trial) {
    const std::size_t n = 9000 + static_cast<std::size_t>(rng() % 40000);
    std::vector<float> v(n);
    std::normal_distribution<float> normal(0.0f, trial % 3 == 0 ? 1e-3f : 5.0f);
    for (auto& x : v) {
      switch (rng() % 16) {
        case 0: x = 0.0f; break;
        case 1: x = static_cast<float>(rng() % 5); break;  // heavy duplicates
        case 2: x = trial % 2 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity(); break;
        case 3: x = std::numeric_limits<float>::denorm_min() * static_cast<float>(rng() % 7); break;
        case 4: x = 1.0f + static_cast<float>(rng() % 64) * std::numeric_limits<float>::epsilon(); break;
        default: x = normal(rng);
      }
    }
    auto sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double q : {0.0, 0.05, 0.5, 0.95, 1.0}) {
      const auto k = std::min(n - 1, static_cast<std::size_t>(q * static_cast<double>(n - 1)));
      const auto [a, b] = taskfp::order_statistics_select(v, k, scratch);
      const float want_b = sorted[std::min(k + 1, n - 1)];
      EXPECT_EQ(a, sorted[k]) << "trial " << trial << ", k " << k;
      EXPECT_EQ(b, want_b) << "trial " << trial << ", k " << k;
      auto copy = v;
      const auto [pa, pb] = taskfp::order_statistics_partition(copy, k);
      EXPECT_EQ(pa, a);
      EXPECT_EQ(pb, b);
    }
    // Two ranks in one pass, as the quantile pair asks.
    const std::size_t ks[2] = {n / 20, n - n / 20 - 1};
    std::pair<float, float> both[2];
    taskfp::order_statistics_select(v, ks, both, scratch);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(both[i].first, sorted[ks[i]]);
      EXPECT_EQ(both[i].second, sorted[ks[i] + 1]);
    }
  }
}

namespace taskfp {
namespace {

// GPU histograms (taskfp fingerprint --backend cuda) equal the CPU counts exactly, on values at
// and next to bin edges of random ranges. Skipped without a device.
TEST(Histc, GpuCountsEqualCpuCounts) {
  std::mt19937_64 rng(3);
  const std::size_t n = 3000, d = 37;
  Matrix<float> x(n, d);
  BinRanges ranges;
  ranges.lo.resize(d);
  ranges.hi.resize(d);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (std::size_t f = 0; f < d; ++f) {
    ranges.lo[f] = -1.0 - 0.01 * static_cast<double>(f);
    ranges.hi[f] = f == 5 ? ranges.lo[f] : 1.5 + 0.1 * static_cast<double>(f);  // one degenerate
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t f = 0; f < d; ++f) {
      float v = normal(rng);
      if (i % 7 == 0) {  // on an edge, or one float step beside it
        const double step = (ranges.hi[f] - ranges.lo[f]) / 10.0;
        v = static_cast<float>(ranges.lo[f] + step * static_cast<double>(rng() % 11));
        if (i % 14 == 0) v = std::nextafter(v, (rng() % 2) ? 1e9f : -1e9f);
      }
      x(i, f) = v;
    }
  for (int bins : {10, 100, 1000}) {
    const auto cpu = histogram_counts(x, ranges, bins);
    std::string why;
    const compute::Backend* device = compute::cuda(&why);
    if (!device) {
      EXPECT_THROW(compute::select("cuda"), InputError);
      GTEST_SKIP() << "no CUDA backend: " << why;
    }
    const auto gpu = histogram_counts(x, ranges, bins, *device);
    ASSERT_EQ(gpu.data.size(), cpu.data.size());
    std::size_t differ = 0;
    for (std::size_t k = 0; k < cpu.data.size(); ++k) differ += gpu.data[k] != cpu.data[k];
    EXPECT_EQ(differ, 0u) << bins << " bins";
  }
}

}  // namespace
}  // namespace taskfp
