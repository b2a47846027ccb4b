// Stores of every kind written by h5py (tests/fixtures/make_h5py_stores.py: gzip, LZF,
// Fletcher32 with shuffle; fixed-length and variable-length strings) with the values the script
// wrote into them, and an h5py process that holds a store open for writing. For test_hdf5.cpp
// (the readers) and test_cli.cpp (the commands).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "distance/distance.hpp"
#include "fingerprint/fingerprint.hpp"
#include "store/features_store.hpp"
#include "test_util.hpp"

namespace taskfp::test {

/// How the script stores the data: see its header.
inline const std::vector<std::string> kH5pyVariants = {"gzip", "lzf", "fletcher32"};

struct H5pyStores {
  std::string dir;
  // The values as the script wrote them (values.txt), tasks in the script's order.
  FeatureSet features;
  FingerprintSet fingerprints;
  std::vector<DistanceMatrix> matrices;

  /// kind: features, fingerprints or distances.
  [[nodiscard]] std::string store(const std::string& kind, const std::string& variant) const {
    return dir + "/" + kind + "-" + variant + ".h5";
  }
};

inline std::string h5py_script() {
  return std::string(TASKFP_SOURCE_DIR) + "/tests/fixtures/make_h5py_stores.py";
}

inline std::vector<double> hex_values(std::istringstream& in) {
  std::vector<double> out;
  for (std::string word; in >> word;)
    out.push_back(std::strtod(word.c_str(), nullptr));  // C99 hex floats
  return out;
}

inline std::vector<std::string> words(std::istringstream& in) {
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

inline Matrix<double> as_matrix(const std::vector<double>& v, std::size_t rows) {
  Matrix<double> m(rows, v.size() / rows);
  std::copy(v.begin(), v.end(), m.data.begin());
  return m;
}

// values.txt, as the script's header describes it.
inline void parse_h5py_values(const std::string& path, H5pyStores& s) {
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  Provenance provenance;
  TaskFingerprint* fp = nullptr;
  DistanceMatrix* matrix = nullptr;
  for (std::string line; std::getline(file, line);) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "provenance") {
      std::string key, value;
      in >> key;
      std::getline(in >> std::ws, value);
      if (key == "backbone")
        provenance.backbone = value;
      else if (key == "weights")
        provenance.weights = value;
      else if (key == "weights_checksum")
        provenance.weights_checksum = value;
      else if (key == "preprocessing")
        provenance.preprocessing = value;
      else if (key == "origin")
        provenance.origin = value;
    } else if (kind == "features") {
      TaskFeatures t;
      std::size_t rows = 0, cols = 0;
      in >> t.name >> rows >> cols;
      t.values = Matrix<float>(rows, cols);
      const auto v = hex_values(in);
      ASSERT_EQ(v.size(), rows * cols) << line.substr(0, 40);
      for (std::size_t k = 0; k < v.size(); ++k) t.values.data[k] = static_cast<float>(v[k]);
      provenance.feature_dim = static_cast<std::int64_t>(cols);
      s.features.tasks.push_back(std::move(t));
    } else if (kind == "fingerprint") {
      s.fingerprints.tasks.emplace_back();
      fp = &s.fingerprints.tasks.back();
      in >> fp->name >> fp->n_samples;
    } else if (kind == "mean") {
      fp->mean = hex_values(in);
    } else if (kind == "covariance") {
      fp->covariance = as_matrix(hex_values(in), fp->mean.size());
    } else if (kind == "hist") {
      int bins = 0;
      in >> bins;
      fp->histograms[bins] = as_matrix(hex_values(in), fp->mean.size());
    } else if (kind == "ranges") {
      std::string which;
      in >> which;
      (which == "lo" ? s.fingerprints.ranges.lo : s.fingerprints.ranges.hi) = hex_values(in);
    } else if (kind == "quantiles") {
      const auto q = hex_values(in);
      ASSERT_EQ(q.size(), 2u);
      s.fingerprints.ranges.lo_quantile = q[0];
      s.fingerprints.ranges.hi_quantile = q[1];
    } else if (kind == "scaling_subset") {
      s.fingerprints.ranges.scaling_subset = words(in);
    } else if (kind == "matrix") {
      s.matrices.emplace_back();
      matrix = &s.matrices.back();
      in >> matrix->metric;
    } else if (kind == "sources") {
      matrix->sources = words(in);
    } else if (kind == "targets") {
      matrix->targets = words(in);
    } else if (kind == "values") {
      matrix->values = as_matrix(hex_values(in), matrix->sources.size());
    } else {
      FAIL() << "unknown record in " << path << ": " << line.substr(0, 40);
    }
  }
  s.features.provenance = provenance;
  s.fingerprints.provenance = provenance;
  s.fingerprints.ranges.provenance = provenance;
  for (const auto& [b, h] : s.fingerprints.tasks.front().histograms)
    s.fingerprints.bins.push_back(b);
}

/// Runs the script into `dir`; false (with the reason) where Debian's Python lacks h5py.
inline bool make_h5py_stores(const TempDir& dir, H5pyStores& out, std::string& why) {
  const std::string cmd =
      "/usr/bin/python3 '" + h5py_script() + "' '" + dir.path().string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    why = "/usr/bin/python3 with h5py and numpy is needed (apt-get install python3-h5py)";
    return false;
  }
  out.dir = dir.path().string();
  parse_h5py_values(out.dir + "/values.txt", out);
  return !::testing::Test::HasFatalFailure();
}

/// An h5py process that writes a fingerprint store to `path` and holds it open for writing
/// (HDF5's lock taken; with `latest`, the file marked open for writing) until destroyed.
class H5pyWriter {
 public:
  H5pyWriter(const std::string& path, bool latest = false) : ready_file_(path + ".ready") {
    const std::string cmd = "/usr/bin/python3 '" + h5py_script() + "' --hold '" + path + "'" +
                            (latest ? " --latest" : "");
    // Its standard input: closed by the destructor, which ends the writer. Close-on-exec, so that
    // no other child keeps the writer alive.
    pipe_ = popen(cmd.c_str(), "we");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (pipe_ && !std::filesystem::exists(ready_file_) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~H5pyWriter() {
    if (pipe_) pclose(pipe_);
  }
  H5pyWriter(const H5pyWriter&) = delete;
  H5pyWriter& operator=(const H5pyWriter&) = delete;
  /// Whether the store is written and held (false where Debian's Python lacks h5py).
  [[nodiscard]] bool holding() const { return pipe_ && std::filesystem::exists(ready_file_); }

 private:
  std::string ready_file_;
  FILE* pipe_ = nullptr;
};

}  // namespace taskfp::test
