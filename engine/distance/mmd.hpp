// Kernel MMD metrics on raw features (MMD-cauchy-<blur>, MMD-gaussian-<blur>).
#pragma once

#include "distance/distance.hpp"
#include "store/features_store.hpp"

namespace taskfp {

/// rows = sources, columns = targets; needs every task's raw features.
DistanceMatrix mmd_kernel_matrix(const MetricSpec& spec, const FeatureSet& features,
                                 const std::vector<std::string>& sources,
                                 const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
