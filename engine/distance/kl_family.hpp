// KL-family metrics on fingerprints, on any compute backend. Orientation: rows = sources, cols =
// targets.
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
/// On a device backend, histogram layouts whose q side cannot be zero (ops::kl_terms_supported)
/// run whole on the device (kl_terms: preprocessing, row terms and GEMMs); the others prepare
/// their rows on the CPU and send the GEMMs (cross terms, zero-bin counts) to the device. On the
/// CPU backend the GEMMs run in the fixed tile grid of core/blas.hpp, so results do not depend
/// on the thread or rank counts. InputError for an unknown task.
DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, KldPhases* phases = nullptr,
                          const compute::Backend& backend = compute::cpu());

/// JS-* specs: KL(p || m) + KL(q || m) with m = (p + q) / 2, per pair.
DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
