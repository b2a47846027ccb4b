// Helpers shared by the test suites: temporary folders, random fingerprints, paper cache path.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "core/error.hpp"
#include "distance/distance.hpp"
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

/// Writes a .npy file (format 1.0) with the given header dict (e.g. "{'descr': '<f4',
/// 'fortran_order': False, 'shape': (2, 3), }") padded as numpy pads it, then `payload` as is:
/// for files numpy would not write (bad headers, short payloads).
inline void write_npy_raw(const std::string& path, const std::string& header, const std::string& payload) {
  std::string dict = header;
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(dict.size() & 0xff),
                                static_cast<unsigned char>(dict.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out << dict << payload;
}

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

/// A number from the fixtures' hex form: its little-endian IEEE bytes (Python's struct.pack("<f"/"<d")).
template <typename T>
T from_hex(const std::string& hex) {
  if (hex.size() != 2 * sizeof(T)) throw std::runtime_error("bad hex number '" + hex + "'");
  unsigned char bytes[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i)
    bytes[i] = static_cast<unsigned char>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  static_assert(std::endian::native == std::endian::little);
  T v;
  std::memcpy(&v, bytes, sizeof(T));
  return v;
}

/// One matrix of `spec` from fingerprints alone, on the CPU backend (the distance tests' call).
inline DistanceMatrix distance_of(const std::string& spec, const FingerprintSet& fps,
                                  const std::vector<std::string>& sources, const std::vector<std::string>& targets) {
  DistanceInputs in{&fps, nullptr};
  return compute_distance(parse_metric(spec), in, {sources, targets, {}});
}

}  // namespace taskfp::test
