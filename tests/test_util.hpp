// Helpers shared by the test suites: temporary folders, random fingerprints, paper cache path.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "core/error.hpp"
#include "fingerprint/fingerprint.hpp"

namespace taskfp::test {

/// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path();
    std::mt19937_64 rng(std::random_device{}());
    path_ = base / ("taskfp-test-" + std::to_string(rng()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string paper_cache() { return TASKFP_PAPER_CACHE; }
inline bool have_paper_cache() { return std::filesystem::exists(paper_cache() + "/distances"); }

#define TASKFP_REQUIRE_PAPER_CACHE()                                                   \
  if (!::taskfp::test::have_paper_cache())                                              \
  GTEST_SKIP() << "the paper cache (" << ::taskfp::test::paper_cache()                  \
               << ") is absent: clone IMSY-DKFZ/task-fingerprinting and place its cache/ " \
                  "folder there to run this test"

/// Random fingerprints: histograms with a share of empty bins (as real fingerprints have),
/// positive means, tiny covariances. Deterministic for a seed.
inline FingerprintSet random_fingerprints(std::size_t tasks, std::size_t d, std::vector<int> bins,
                                          std::uint64_t seed, double empty_share = 0.3) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  FingerprintSet set;
  set.bins = bins;
  set.ranges.lo.assign(d, 0.0);
  set.ranges.hi.assign(d, 1.0);
  set.provenance.feature_dim = static_cast<std::int64_t>(d);
  for (std::size_t i = 0; i < tasks; ++i) {
    TaskFingerprint t;
    t.name = "task" + std::to_string(i);
    t.n_samples = 1000;
    t.mean.resize(d);
    for (auto& m : t.mean) m = 0.05 + u(rng);
    for (int b : bins) {
      Matrix<double> h(d, static_cast<std::size_t>(b));
      for (std::size_t f = 0; f < d; ++f) {
        double sum = 0;
        for (auto& v : h.row(f)) {
          v = u(rng) < empty_share ? 0.0 : u(rng);
          sum += v;
        }
        if (sum == 0) h(f, 0) = sum = 1;
        for (auto& v : h.row(f)) v /= sum;
      }
      t.histograms.emplace(b, std::move(h));
    }
    set.tasks.push_back(std::move(t));
  }
  return set;
}

/// |a - b| <= rel * max(|a|, |b|) (+ a tiny absolute floor for values near zero); NaN == NaN.
inline ::testing::AssertionResult close_rel(double a, double b, double rel) {
  if (std::isnan(a) && std::isnan(b)) return ::testing::AssertionSuccess();
  const double tol = rel * std::max(std::fabs(a), std::fabs(b)) + 1e-300;
  if (std::fabs(a - b) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " vs " << b << " (rel diff "
                                       << std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)) << ")";
}

}  // namespace taskfp::test
