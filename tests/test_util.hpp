// Helpers shared by the test suites: temporary folders, random fingerprints, paper cache path.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "core/error.hpp"
#include "fingerprint/fingerprint.hpp"
#include "reference/random_fingerprints.hpp"

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

/// |a - b| <= rel * max(|a|, |b|) (+ a tiny absolute floor for values near zero); NaN == NaN.
inline ::testing::AssertionResult close_rel(double a, double b, double rel) {
  if (std::isnan(a) && std::isnan(b)) return ::testing::AssertionSuccess();
  const double tol = rel * std::max(std::fabs(a), std::fabs(b)) + 1e-300;
  if (std::fabs(a - b) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " vs " << b << " (rel diff "
                                       << std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)) << ")";
}

}  // namespace taskfp::test
