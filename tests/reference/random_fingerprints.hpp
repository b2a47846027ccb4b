// Random fingerprints for tests and benchmarks (no GoogleTest dependency): histograms with a
// share of empty bins, as real fingerprints have, and positive means. Deterministic for a seed.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "fingerprint/fingerprint.hpp"

namespace taskfp::test {

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

}  // namespace taskfp::test
