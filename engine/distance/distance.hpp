// Distance matrices between tasks (method.md section 4). Orientation everywhere:
// rows = sources, columns = targets; D[s][t] is the distance from s to t (lower = closer),
// 0 on the diagonal (same task name).
#pragma once

#include <string>
#include <vector>

#include "compute/backend.hpp"
#include "core/matrix.hpp"
#include "core/progress.hpp"
#include "distance/metric_spec.hpp"
#include "fingerprint/fingerprint.hpp"
#include "io/task_info.hpp"
#include "store/features_store.hpp"
#include "store/fisher_store.hpp"

namespace taskfp {

struct DistanceMatrix {
  std::string metric;
  std::vector<std::string> sources;  ///< row names
  std::vector<std::string> targets;  ///< column names
  Matrix<double> values;             ///< sources x targets
  std::vector<std::string> warnings;  ///< e.g. entries reported as NaN, and why
};

/// What a metric needs from its inputs.
struct MetricNeeds {
  int bins = 0;             ///< histogram bins to load (0: none)
  bool covariance = false;  ///< per-task covariances
  bool fingerprints = true;
  bool task_info = false;   ///< keywords, sizes (SEMANTIC)
  bool features = false;    ///< raw features (kernel MMD, Sinkhorn)
  bool fisher = false;      ///< Fisher embeddings (FED)
};
MetricNeeds metric_needs(const MetricSpec& spec);

/// What a set of metrics needs together: the union of their needs, with every bin count.
struct MetricSetNeeds {
  std::vector<int> bins;  ///< ascending, without repeats
  bool covariance = false, fingerprints = false, task_info = false, features = false, fisher = false;
};
MetricSetNeeds metric_needs(const std::vector<MetricSpec>& specs);

/// Parses metric specs and aliases (parse_metric), keeping the first of specs that name the same
/// metric. InputError for an unknown one.
std::vector<MetricSpec> parse_metrics(const std::vector<std::string>& texts);

struct DistanceInputs {
  const FingerprintSet* fingerprints = nullptr;
  const TaskInfoTable* task_info = nullptr;
  const FeatureSet* features = nullptr;  ///< raw features, for kernel MMD and the Sinkhorn divergence
  const FisherSet* fisher = nullptr;     ///< Fisher embeddings, for FED
};

struct DistanceRequest {
  std::vector<std::string> sources;
  std::vector<std::string> targets;
  ProgressFn progress;
  /// Where the KL family's heavy part and the Sinkhorn divergence run (compute::select); the
  /// other metrics run on the CPU and say so in the matrix's warnings when a device backend is
  /// given.
  const compute::Backend* backend = &compute::cpu();
  /// Bytes of per-pair matrices a metric may hold (the Sinkhorn divergence's cost matrices; 0: a
  /// quarter of the physical memory); larger ones are computed again in slabs (same values).
  std::size_t hold_bytes = 0;
};

/// The checks compute_distance makes before computing: every input the metric needs is there and
/// holds every source and target (bins, covariances). A command computing several metrics calls
/// it for all of them first, so that a missing input fails before hours of another metric.
/// InputError naming what is missing.
void check_distance_inputs(const MetricSpec& spec, const DistanceInputs& inputs, const DistanceRequest& request);

/// Computes one full matrix (OpenMP threads, BLAS for the GEMM forms; the KL family and the
/// Sinkhorn divergence on request.backend).
/// InputError when an input the metric needs is missing or a task is unknown.
DistanceMatrix compute_distance(const MetricSpec& spec, const DistanceInputs& inputs,
                                const DistanceRequest& request);

}  // namespace taskfp
