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
/// Backend::Cuda runs the large GEMMs (the cross terms and the zero-bin counts) on the GPU with
/// cuBLAS in float64; preparation and row terms stay on the CPU (the same code either way).
DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, KldPhases* phases = nullptr,
                          Backend backend = Backend::Cpu);

/// JS-* specs: KL(p || m) + KL(q || m) with m = (p + q) / 2, per pair.
DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
