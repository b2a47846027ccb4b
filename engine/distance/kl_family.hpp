// KL-family metrics on fingerprints (CPU backend). Orientation: rows = sources, cols = targets.
#pragma once

#include <string>
#include <vector>

#include "distance/distance.hpp"

namespace taskfp {

/// Every KLD-* spec, via GEMMs in float64.
DistanceMatrix kld_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                          const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets);

/// JS-* specs: KL(p || m) + KL(q || m) with m = (p + q) / 2, per pair.
DistanceMatrix js_matrix(const MetricSpec& spec, const FingerprintSet& fps,
                         const std::vector<std::string>& sources,
                         const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
