// KL-family metrics on fingerprints (CPU backend). Orientation: rows = sources, cols = targets.
#pragma once

#include <string>
#include <vector>

#include "distance/distance.hpp"

namespace taskfp {

/// Wall-clock seconds of kld_matrix's phases, for benchmarks.
struct KldPhases {
  double prepare = 0;  ///< preprocessing, logs, weights, row terms (both sides)
  double gemm = 0;     ///< the BLAS calls
};

/// Every KLD-* spec, via GEMMs in float64. `phases`, when given, receives the time split.
DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, KldPhases* phases = nullptr);

/// JS-* specs: KL(p || m) + KL(q || m) with m = (p + q) / 2, per pair.
DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
