// The baseline distances (distance/baseline_distances.hpp): VDNA, EMD-AVG, COS, FID, MMD-coral
// fast paths against per-pair references and hand cases; SEMANTIC against the paper's matrix.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "distance/distance.hpp"
#include "reference/reference_metrics.hpp"
#include "store/distance_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

using test::close_rel;

constexpr auto run = test::distance_of;

template <typename PairFn>
void expect_reference(const std::string& spec_text, const FingerprintSet& fps, PairFn pair) {
  auto spec = parse_metric(spec_text);
  auto all = fps.names();
  std::vector<std::string> sources(all.begin(), all.begin() + 4), targets(all.begin() + 2, all.end());
  auto fast = run(spec_text, fps, sources, targets);
  auto ref = reference::matrix(fps, sources, targets,
                               [&](const auto& s, const auto& t) { return pair(spec, s, t); });
  for (std::size_t s = 0; s < sources.size(); ++s)
    for (std::size_t t = 0; t < targets.size(); ++t)
      EXPECT_TRUE(close_rel(fast.values(s, t), ref(s, t), 1e-12))
          << spec_text << " " << sources[s] << " -> " << targets[t];
}

TEST(Vdna, MatchesPerPairReference) {
  auto fps = test::random_fingerprints(7, 6, {10, 33}, 5);
  for (auto spec : {"VDNA-PP:NN-10-BINS", "VDNA-PP:SS-33-BINS", "VDNA-PP:NN-W:TS-10-BINS",
                    "VDNA-PP:NN-W:BN-33-BINS", "EMD-AVG-PP:NN", "EMD-AVG-PP:SS",
                    "EMD-AVG-PP:NN-W:SN", "EMD-AVG-PP:SS-W:BS"})
    expect_reference(spec, fps, reference::cdf_l1_pair);
}

TEST(Vdna, HandComputed) {
  FingerprintSet fps = test::random_fingerprints(2, 1, {3}, 1);
  fps.tasks[0].histograms.at(3).data = {0.5, 0.5, 0.0};
  fps.tasks[1].histograms.at(3).data = {0.0, 0.5, 0.5};
  // CDFs (0.5, 1, 1) and (0, 0.5, 1): L1 = 0.5 + 0.5 + 0 = 1.
  auto m = run("VDNA-PP:NN-3-BINS", fps, {"task0"}, {"task1"});
  EXPECT_DOUBLE_EQ(m.values(0, 0), 1.0);
}

TEST(Cosine, MatchesPerPairReference) {
  auto fps = test::random_fingerprints(7, 6, {10}, 9);
  for (auto spec : {"COS-PP:NN-10-BINS", "COS-PP:SS-10-BINS", "COS-PP:NN", "COS-PP:SS"})
    expect_reference(spec, fps, reference::cosine_pair);
}

TEST(Cosine, HandComputed) {
  FingerprintSet fps = test::random_fingerprints(2, 1, {2}, 1);
  fps.tasks[0].histograms.at(2).data = {1.0, 0.0};
  fps.tasks[1].histograms.at(2).data = {0.5, 0.5};
  auto m = run("COS-PP:NN-2-BINS", fps, {"task0"}, {"task1"});
  EXPECT_NEAR(m.values(0, 0), 1 - 0.5 / std::sqrt(0.5), 1e-11);
}

FingerprintSet with_covariances(std::size_t tasks, std::size_t d, std::uint64_t seed) {
  auto fps = test::random_fingerprints(tasks, d, {4}, seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0, 1);
  for (auto& t : fps.tasks) {
    Eigen::MatrixXd a(d, d + 3);
    for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = n(rng);
    Eigen::MatrixXd c = a * a.transpose() / static_cast<double>(d);
    t.covariance = Matrix<double>(d, d);
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) t.covariance(i, j) = c(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
  }
  return fps;
}

TEST(Fid, DiagonalCovariancesHaveClosedForm) {
  auto fps = test::random_fingerprints(2, 3, {4}, 2);
  const std::vector<double> va = {1.0, 4.0, 9.0}, vb = {4.0, 1.0, 0.25};
  for (int k = 0; k < 2; ++k) {
    fps.tasks[k].covariance = Matrix<double>(3, 3, 0.0);
    for (int i = 0; i < 3; ++i) fps.tasks[k].covariance(i, i) = (k == 0 ? va : vb)[i];
  }
  fps.tasks[0].mean = {0, 0, 0};
  fps.tasks[1].mean = {1, 2, 2};
  // |mu|^2 + sum (sqrt(a) - sqrt(b))^2 = 9 + (1 + 1 + 2.5^2) = 9 + 8.25
  auto m = run("FID", fps, {"task0", "task1"}, {"task0", "task1"});
  EXPECT_NEAR(m.values(0, 1), 17.25, 1e-12);
  EXPECT_NEAR(m.values(1, 0), 17.25, 1e-12);
  EXPECT_EQ(m.values(0, 0), 0.0);
}

TEST(Fid, MatchesTraceOfMatrixSquareRoot) {
  auto fps = with_covariances(4, 8, 3);
  auto all = fps.names();
  auto m = run("FID", fps, all, all);
  for (std::size_t s = 0; s < all.size(); ++s)
    for (std::size_t t = 0; t < all.size(); ++t) {
      if (s == t) continue;
      const auto& a = fps.tasks[s];
      const auto& b = fps.tasks[t];
      Eigen::Map<const Eigen::MatrixXd> ca(a.covariance.data.data(), 8, 8), cb(b.covariance.data.data(), 8, 8);
      // tr sqrt(A B) through the eigenvalues of the (non-symmetric) product, as scipy's sqrtm trace.
      Eigen::EigenSolver<Eigen::MatrixXd> es(ca * cb);
      double tr = 0;
      for (Eigen::Index i = 0; i < 8; ++i) tr += std::sqrt(std::max(0.0, es.eigenvalues()[i].real()));
      double diff = 0;
      for (std::size_t f = 0; f < 8; ++f) diff += (a.mean[f] - b.mean[f]) * (a.mean[f] - b.mean[f]);
      EXPECT_TRUE(close_rel(m.values(s, t), diff + ca.trace() + cb.trace() - 2 * tr, 1e-9));
    }
}

TEST(Fid, NeedsCovariances) {
  auto fps = test::random_fingerprints(2, 3, {4}, 2);
  EXPECT_THROW(run("FID", fps, {"task0"}, {"task1"}), InputError);
}

TEST(Coral, HandComputed) {
  auto fps = with_covariances(2, 2, 4);
  fps.tasks[0].mean = {0, 0};
  fps.tasks[1].mean = {1, 3};
  fps.tasks[0].covariance.data = {1, 0, 0, 1};
  fps.tasks[1].covariance.data = {2, 1, 1, 1};
  // mean((0-1)^2, (0-3)^2) = 5; mean of squared cov diffs (1, 1, 1, 0) = 0.75
  auto m = run("MMD-coral-0.05", fps, {"task0"}, {"task1"});
  EXPECT_DOUBLE_EQ(m.values(0, 0), 5.75);
}

// Direct double loops over all sample pairs, as the reference's kernels define them.
double mmd_direct(const Matrix<float>& x, const Matrix<float>& y, bool cauchy, double blur) {
  auto k = [&](const Matrix<float>& a, std::size_t i, const Matrix<float>& b, std::size_t j) {
    double d2 = 0;
    for (std::size_t f = 0; f < a.cols; ++f) {
      double diff = static_cast<double>(a(i, f)) - static_cast<double>(b(j, f));
      d2 += diff * diff;
    }
    if (cauchy) return blur / (blur + d2);
    double sum = 0;
    for (double g : {0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0}) sum += std::exp(-g * std::max(d2, 1e-30));
    return sum;
  };
  auto mean = [&](const Matrix<float>& a, const Matrix<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.rows; ++i)
      for (std::size_t j = 0; j < b.rows; ++j) s += k(a, i, b, j);
    return s / static_cast<double>(a.rows * b.rows);
  };
  return mean(x, x) + mean(y, y) - 2 * mean(x, y);
}

TEST(KernelMmd, MatchesDirectDoubleLoops) {
  FeatureSet fs;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> n(0, 1);
  for (int t = 0; t < 3; ++t) {
    // Different sample counts exercise the row blocking and unequal means.
    Matrix<float> m(static_cast<std::size_t>(600 + 37 * t), 5);
    for (auto& v : m.data) v = n(rng) * 0.3f + static_cast<float>(t) * 0.2f;
    fs.tasks.push_back({"t" + std::to_string(t), m});
  }
  for (auto spec_text : {"MMD-cauchy-0.05", "MMD-gaussian-0.05"}) {
    auto spec = parse_metric(spec_text);
    DistanceInputs in{nullptr, nullptr, &fs};
    auto m = compute_distance(spec, in, {{"t0", "t1", "t2"}, {"t1", "t2"}, {}});
    for (std::size_t s = 0; s < 3; ++s)
      for (std::size_t t = 0; t < 2; ++t) {
        const auto& a = fs.tasks[s];
        const auto& b = fs.tasks[t + 1];
        double want = a.name == b.name ? 0.0 : mmd_direct(a.values, b.values, spec.mmd_kernel == "cauchy", 0.05);
        EXPECT_TRUE(close_rel(m.values(s, t), want, 1e-10)) << spec_text << " " << a.name << " " << b.name;
      }
  }
  DistanceInputs none{nullptr, nullptr, nullptr};
  EXPECT_THROW(compute_distance(parse_metric("MMD-cauchy-0.05"), none, {{"t0"}, {"t1"}, {}}), InputError);
}

// SEMANTIC: keyword Jaccard with the reference's tie-breakers, checked against the paper's matrix.
TEST(Semantic, ReproducesThePapersMatrix) {
  TASKFP_REQUIRE_PAPER_CACHE();
  auto paper = read_distance_csv(test::paper_cache() + "/distances/SEMANTIC.csv");
  auto info = read_task_info(test::paper_cache() + "/task_infos.csv");
  DistanceInputs in{nullptr, &info};
  auto ours = compute_distance(parse_metric("SEMANTIC"), in, {paper.sources, paper.targets, {}});
  std::size_t exact = 0;
  for (std::size_t s = 0; s < paper.sources.size(); ++s)
    for (std::size_t t = 0; t < paper.targets.size(); ++t) {
      EXPECT_NEAR(ours.values(s, t), paper.values(s, t), 1e-15)
          << paper.sources[s] << " -> " << paper.targets[t];
      exact += ours.values(s, t) == paper.values(s, t);
    }
  EXPECT_EQ(exact, paper.values.size());
}

TEST(Semantic, HandComputed) {
  TaskInfoTable info({{"a", 2, 100, 1, 5, {"x", "y"}}, {"b", 2, 50, 1, 9, {"y", "z", "w"}}});
  DistanceInputs in{nullptr, &info};
  auto m = compute_distance(parse_metric("SEMANTIC"), in, {{"a", "b"}, {"a", "b", "b --shrink_train 800"}, {}});
  // Jaccard(a, b) = 1/4; a ranks 2nd by size, 1st by dimension; b 1st and 2nd; row index 0/1.
  EXPECT_DOUBLE_EQ(m.values(0, 1), ((0.75 - 0.001 * 2) - 0.00001 * 1) - 0.0);
  EXPECT_DOUBLE_EQ(m.values(1, 0), ((0.75 - 0.001 * 1) - 0.00001 * 2) - 0.0000001);
  EXPECT_DOUBLE_EQ(m.values(0, 2), m.values(0, 1));  // a shrunk variant has its base's keywords
  EXPECT_DOUBLE_EQ(m.values(0, 0), (0.0 - 0.002) - 0.00001);
}

TEST(Semantic, NeedsTaskInfoForEveryTask) {
  TaskInfoTable info({{"a", 2, 100, 1, 5, {"x"}}});
  DistanceInputs in{nullptr, &info};
  EXPECT_THROW(compute_distance(parse_metric("SEMANTIC"), in, {{"a"}, {"ghost"}, {}}), InputError);
  DistanceInputs none{nullptr, nullptr};
  EXPECT_THROW(compute_distance(parse_metric("SEMANTIC"), none, {{"a"}, {"a"}, {}}), InputError);
}

}  // namespace
}  // namespace taskfp
