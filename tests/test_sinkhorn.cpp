// The debiased Sinkhorn divergence (distance/sinkhorn.hpp) against an independent float64
// reference of GeomLoss's tensorized schedule written with Debian's torch
// (tests/fixtures/make_sinkhorn_literals.py): eps schedules, small clouds, the edge cases
// (identical clouds, duplicate points, very different scales, a diameter below the blur), the
// metric's matrix and name, and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "distance/distance.hpp"
#include "distance/sinkhorn.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

struct Literals {
  struct Schedule {
    double diameter, blur, scaling;
    std::vector<double> eps;
  };
  struct Case {
    std::string name;
    Matrix<double> x, y;
    double blur, scaling, s;
  };
  std::vector<Schedule> schedules;
  std::vector<Case> cases;
};

std::vector<double> hex_list(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> out;
  for (std::string w; in >> w;) out.push_back(test::from_hex<double>(w));
  return out;
}

const Literals& literals() {
  static const Literals lit = [] {
    Literals l;
    std::ifstream in(std::string(TASKFP_FIXTURES) + "/sinkhorn_literals.txt");
    if (!in) throw std::runtime_error("fixtures/sinkhorn_literals.txt is missing");
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> parts;
      for (std::size_t at = 0, bar; at != std::string::npos; at = bar == std::string::npos ? bar : bar + 1) {
        bar = line.find('|', at);
        parts.push_back(line.substr(at, bar == std::string::npos ? std::string::npos : bar - at));
      }
      std::istringstream head(parts[0]);
      std::string kind;
      head >> kind;
      if (kind == "schedule") {
        std::string d, b, s;
        head >> d >> b >> s;
        l.schedules.push_back({test::from_hex<double>(d), test::from_hex<double>(b), test::from_hex<double>(s),
                               hex_list(parts[1])});
      } else {
        Literals::Case c;
        std::size_t n, m, dim;
        std::string b, s;
        head >> c.name >> n >> m >> dim >> b >> s;
        c.blur = test::from_hex<double>(b), c.scaling = test::from_hex<double>(s);
        c.x = Matrix<double>(n, dim), c.y = Matrix<double>(m, dim);
        const auto xs = hex_list(parts[1]), ys = hex_list(parts[2]);
        std::copy(xs.begin(), xs.end(), c.x.data.begin());
        std::copy(ys.begin(), ys.end(), c.y.data.begin());
        c.s = test::from_hex<double>(parts[3].substr(parts[3].find_first_not_of(' ')));
        l.cases.push_back(std::move(c));
      }
    }
    return l;
  }();
  return lit;
}

TEST(Sinkhorn, EpsSchedulesEqualNumpys) {
  ASSERT_EQ(literals().schedules.size(), 6u);
  for (const auto& s : literals().schedules) {
    const auto eps = sinkhorn_eps_schedule(s.diameter, {s.blur, s.scaling});
    ASSERT_EQ(eps.size(), s.eps.size()) << "diameter " << s.diameter;
    for (std::size_t i = 0; i < eps.size(); ++i) EXPECT_NEAR(eps[i], s.eps[i], 1e-14 * s.eps[i]) << i;
  }
}

// Every case, with the cost GEMMs on the CPU backend: 1e-9 relative to the reference (its own
// products and log-sum-exps sum in other orders), exactly 0 for identical clouds.
TEST(Sinkhorn, DivergenceEqualsTheTorchReference) {
  ASSERT_EQ(literals().cases.size(), 9u);
  for (const auto& c : literals().cases) {
    const double s = sinkhorn_divergence(c.x, c.y, {c.blur, c.scaling});
    if (c.s == 0.0) {
      EXPECT_EQ(s, 0.0) << c.name;
      continue;
    }
    EXPECT_NEAR(s, c.s, 1e-9 * std::abs(c.s)) << c.name;
    // Symmetric in its arguments (up to rounding).
    EXPECT_NEAR(sinkhorn_divergence(c.y, c.x, {c.blur, c.scaling}), c.s, 1e-9 * std::abs(c.s)) << c.name;
  }
}

// Cost matrices too large to hold are computed again slab by slab on every pass: the same bits as
// held ones (every entry from the same BLAS call), on the reference cases and on clouds of several
// slabs whose sizes are no multiple of the 128-row tile.
TEST(Sinkhorn, StreamedCostMatricesGiveTheHeldBits) {
  SinkhornOptions streamed;
  streamed.hold_bytes = 1;  // nothing held
  streamed.slab_bytes = 1;  // slabs of one 128-row tile
  for (const auto& c : literals().cases) {
    streamed.blur = c.blur;
    streamed.scaling = c.scaling;
    EXPECT_EQ(sinkhorn_divergence(c.x, c.y, streamed), sinkhorn_divergence(c.x, c.y, {c.blur, c.scaling})) << c.name;
  }
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  Matrix<double> x(300, 9), y(270, 9);
  for (auto& v : x.data) v = normal(rng);
  for (auto& v : y.data) v = 0.5 + 1.5 * normal(rng);
  SinkhornOptions held;
  held.blur = streamed.blur = 0.05;
  held.scaling = streamed.scaling = 0.5;
  const double expected = sinkhorn_divergence(x, y, held);
  EXPECT_GT(expected, 0.0);
  EXPECT_EQ(sinkhorn_divergence(x, y, streamed), expected);
  EXPECT_EQ(sinkhorn_divergence(y, x, streamed), sinkhorn_divergence(y, x, held));
}

// The CUDA backend (skipped without a device): the cost matrices and every soft-min pass in device
// memory. The reference cases to 1e-9 as on the CPU, and the CPU's result on clouds of a few
// thousand points to 1e-10 relative (cuBLAS's products and the device's exp round otherwise than
// OpenBLAS and libmvec), held and with a memory budget that streams the matrices in slabs.
TEST(Sinkhorn, DeviceEqualsTheTorchReferenceAndTheCpu) {
  std::string why;
  const compute::Backend* gpu = compute::cuda(&why);
  if (!gpu) GTEST_SKIP() << "no CUDA backend here: " << why;
  for (const auto& c : literals().cases) {
    const double s = sinkhorn_divergence(c.x, c.y, {c.blur, c.scaling}, *gpu);
    if (c.s == 0.0) {
      EXPECT_EQ(s, 0.0) << c.name;
      continue;
    }
    EXPECT_NEAR(s, c.s, 1e-9 * std::abs(c.s)) << c.name;
  }
  std::mt19937_64 rng(8);
  std::normal_distribution<double> normal;
  Matrix<double> x(2500, 64), y(1900, 64);
  for (auto& v : x.data) v = std::max(0.0, normal(rng));  // ReLU-like features
  for (auto& v : y.data) v = std::max(0.0, 0.3 + 1.2 * normal(rng));
  SinkhornOptions o;  // the paper's blur 0.01 and scaling 0.1
  const double cpu = sinkhorn_divergence(x, y, o);
  EXPECT_GT(cpu, 0.0);
  const double held = sinkhorn_divergence(x, y, o, *gpu);
  EXPECT_NEAR(held, cpu, 1e-10 * cpu);
  EXPECT_EQ(sinkhorn_divergence(x, y, o, *gpu), held) << "a device's result changed from run to run";
  o.device_bytes = 8 * (4400 * 64 + 4 * 4400 + 300 * 2500);  // the clouds and about 300 rows of costs
  EXPECT_NEAR(sinkhorn_divergence(x, y, o, *gpu), cpu, 1e-10 * cpu);
}

TEST(Sinkhorn, CoincidingPointsGiveZero) {
  Matrix<double> x(3, 2, 1.5), y(4, 2, 1.5);  // diameter 0: no schedule to run
  EXPECT_EQ(sinkhorn_divergence(x, y, {}), 0.0);
}

TEST(Sinkhorn, BadInputIsRefusedNamingIt) {
  const auto& c = literals().cases.front();
  auto expect_error = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "accepted; expected an error mentioning '" << part << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  Matrix<double> other_dim(4, c.x.cols + 1, 0.5), one_point(1, c.x.cols, 0.5);
  expect_error([&] { sinkhorn_divergence(c.x, other_dim, {}, compute::cpu(), "task a", "task b"); }, "task b");
  expect_error([&] { sinkhorn_divergence(one_point, c.y, {}, compute::cpu(), "task a", "task b"); }, "at least 2");
  auto with_nan = c.y;
  with_nan(2, 1) = std::nan("");
  expect_error([&] { sinkhorn_divergence(c.x, with_nan, {}, compute::cpu(), "task a", "task b"); }, "NaN");
  auto with_inf = c.x;
  with_inf(0, 0) = INFINITY;
  expect_error([&] { sinkhorn_divergence(with_inf, c.y, {}, compute::cpu(), "task a", "task b"); }, "infinite");
  expect_error([&] { sinkhorn_divergence(c.x, c.y, {0.0, 0.1}); }, "blur");
  expect_error([&] { sinkhorn_divergence(c.x, c.y, {0.01, 1.0}); }, "scaling");
  expect_error([&] { sinkhorn_divergence(c.x, c.y, {0.01, 0.0}); }, "scaling");
  EXPECT_THROW(parse_metric("MMD-geo-sinkhorn-0"), InputError);
  EXPECT_THROW(parse_metric("MMD-geo-sinkhorn-0.01-S:1.5"), InputError);
  EXPECT_THROW(parse_metric("MMD-geo-sinkhorn-0.01-100-SAMPLES"), InputError);
  EXPECT_THROW(parse_metric("MMD-geo-sinkhorn"), InputError);
}

TEST(Sinkhorn, NamesParseWithScalingAndSamples) {
  const auto paper = parse_metric("MMD-geo-sinkhorn-0.01");
  EXPECT_EQ(paper.family, MetricFamily::SINKHORN);
  EXPECT_EQ(paper.mmd_blur, 0.01);
  EXPECT_EQ(paper.sinkhorn_scaling, 0.1);
  EXPECT_EQ(paper.sinkhorn_samples, 0u);
  const auto full = parse_metric("MMD-geo-sinkhorn-0.05-S:0.5-1000-SAMPLES-3-SEED");
  EXPECT_EQ(full.name, "MMD-geo-sinkhorn-0.05-S:0.5-1000-SAMPLES-3-SEED");
  EXPECT_EQ(full.sinkhorn_scaling, 0.5);
  EXPECT_EQ(full.sinkhorn_samples, 1000u);
  EXPECT_EQ(full.sinkhorn_seed, 3u);
  EXPECT_TRUE(metric_needs(full).features);
  EXPECT_FALSE(metric_needs(full).fingerprints);
}

// The matrix over tasks' features: each entry the pair's divergence (float32 features widened),
// mirrored, 0 on the diagonal; subsampling draws the same points of a task for every pair.
TEST(Sinkhorn, MatrixOverTasksMirrorsPairs) {
  FeatureSet features;
  std::mt19937_64 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const char* name : {"t0", "t1", "t2"}) {
    TaskFeatures t;
    t.name = name;
    t.values = Matrix<float>(12, 3);
    for (auto& v : t.values.data) v = normal(rng) + (name[1] - '0');
    features.tasks.push_back(std::move(t));
  }
  DistanceInputs in;
  in.features = &features;
  const auto spec = parse_metric("MMD-geo-sinkhorn-0.01");
  const auto m = compute_distance(spec, in, {{"t0", "t1", "t2"}, {"t2", "t0"}, {}});
  auto widen = [&](const char* name) {
    const auto& v = features.at(name).values;
    Matrix<double> x(v.rows, v.cols);
    for (std::size_t i = 0; i < v.data.size(); ++i) x.data[i] = v.data[i];
    return x;
  };
  EXPECT_EQ(m.values(0, 1), 0.0);
  EXPECT_EQ(m.values(2, 0), 0.0);
  EXPECT_EQ(m.values(0, 0), sinkhorn_divergence(widen("t0"), widen("t2"), {}));
  EXPECT_EQ(m.values(2, 1), m.values(0, 0));
  EXPECT_EQ(m.values(1, 0), sinkhorn_divergence(widen("t1"), widen("t2"), {}));
  EXPECT_EQ(m.values(1, 1), sinkhorn_divergence(widen("t0"), widen("t1"), {}));
  const auto sub = compute_distance(parse_metric("MMD-geo-sinkhorn-0.01-5-SAMPLES-1-SEED"), in,
                                    {{"t0", "t1"}, {"t0", "t1"}, {}});
  EXPECT_GT(sub.values(0, 1), 0.0);
  EXPECT_EQ(sub.values(0, 1), sub.values(1, 0));
  const auto again = compute_distance(parse_metric("MMD-geo-sinkhorn-0.01-5-SAMPLES-1-SEED"), in, {{"t0"}, {"t1"}, {}});
  EXPECT_EQ(again.values(0, 0), sub.values(0, 1));
  EXPECT_TRUE(sub.warnings.empty());
  // Asking for at least a task's 12 points uses it whole, and says so.
  const auto whole = compute_distance(parse_metric("MMD-geo-sinkhorn-0.01-12-SAMPLES-1-SEED"), in, {{"t0"}, {"t1"}, {}});
  EXPECT_EQ(whole.values(0, 0), m.values(1, 1));
  ASSERT_EQ(whole.warnings.size(), 1u);
  EXPECT_NE(whole.warnings[0].find("2 of 2 tasks have no more than 12 points"), std::string::npos) << whole.warnings[0];
}

}  // namespace
}  // namespace taskfp
