// Distance matrices between tasks (method.md section 4). Orientation everywhere:
// rows = sources, columns = targets; D[s][t] is the distance from s to t (lower = closer),
// 0 on the diagonal (same task name).
#pragma once

#include <string>
#include <vector>

#include "core/matrix.hpp"
#include "core/progress.hpp"
#include "distance/metric_spec.hpp"
#include "fingerprint/fingerprint.hpp"
#include "io/task_info.hpp"
#include "store/features_store.hpp"

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
  bool features = false;    ///< raw features (kernel MMD)
};
MetricNeeds metric_needs(const MetricSpec& spec);

struct DistanceInputs {
  const FingerprintSet* fingerprints = nullptr;
  const TaskInfoTable* task_info = nullptr;
  const FeatureSet* features = nullptr;  ///< raw features, for kernel MMD only
};

/// Where the heavy part of a metric runs. Cuda: the KL family's GEMMs on the GPU (cuBLAS,
/// float64, tiled past GPU memory); other metrics run on the CPU and say so in the warnings.
enum class Backend { Cpu, Cuda };

/// auto|cpu|cuda -> a backend. auto picks CUDA when taskfp was built with it and a device is
/// usable. InputError when cuda is asked for and none is usable (the message says why).
/// `note` receives a line to show the user (e.g. why auto chose the CPU).
Backend resolve_backend(const std::string& choice, std::string* note = nullptr);
std::string backend_name(Backend b);
/// Makes GPU local_rank % (visible GPUs) the CUDA backend's device for this process and names
/// it ("GPU 1"). InputError without CUDA or without a device.
std::string bind_gpu(int local_rank);

struct DistanceRequest {
  std::vector<std::string> sources;
  std::vector<std::string> targets;
  ProgressFn progress;
  Backend backend = Backend::Cpu;
};

/// Computes one full matrix on the CPU backend (OpenMP threads, BLAS for the GEMM forms).
/// InputError when an input the metric needs is missing or a task is unknown.
DistanceMatrix compute_distance(const MetricSpec& spec, const DistanceInputs& inputs,
                                const DistanceRequest& request);

}  // namespace taskfp
