// Metric specs: the paper's distance names (e.g. "KLD-PP:NS-W:TS-100-BINS") parsed into options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "taskfp_kernels/ops.hpp"

namespace taskfp {

enum class MetricFamily { KLD, JS, VDNA, EMD_AVG, COS, FID, MMD, SINKHORN, SEMANTIC, FED };

/// Row preprocessing (applied over the bins of each feature, or over the features of a mean):
/// the compute backends' own type (taskfp_kernels/ops.hpp), whose values are the letters of the
/// names' PP: part (N, S, W, U).
using Prep = ops::RowPrep;

/// Whose mean features give the per-feature weights.
enum class WeightBy : char { None = 0, Source = 'S', Target = 'T', Both = 'B' };

struct MetricSpec {
  std::string name;  ///< canonical name, as the paper's cache names the matrix
  MetricFamily family = MetricFamily::KLD;
  bool clip = false;    ///< KLD-C / JS-C: clip p and q from below at 1/10,000
  bool invert = false;  ///< KLD-I: KL(q || p)
  Prep target_prep = Prep::L1;
  Prep source_prep = Prep::L1;
  std::optional<double> alpha;  ///< uniform smoothing strength (0 < alpha < 1)
  std::string alpha_text;       ///< alpha as written in the name
  WeightBy weight_by = WeightBy::None;
  Prep weight_prep = Prep::None;
  int bins = 0;  ///< histogram bins; 0 = computed on the mean features
  std::optional<std::string> samples_suffix;  ///< "-<n>-SAMPLES-<seed>-SEED" (name only)
  std::string mmd_kernel;                     ///< MMD: cauchy, gaussian or coral
  double mmd_blur = 0.0;                      ///< MMD and SINKHORN: the blur
  std::string mmd_blur_text;
  double sinkhorn_scaling = 0.1;              ///< SINKHORN: ratio of successive blurs (S:<scaling>)
  std::size_t sinkhorn_samples = 0;           ///< SINKHORN: points drawn per cloud (0: all)
  std::uint64_t sinkhorn_seed = 0;            ///< SINKHORN: the draws' seed

  [[nodiscard]] bool on_histograms() const { return bins > 0; }
};

/// Parses a metric name or alias (bkld-small, bkld-large, p2l). Throws InputError that says what
/// is wrong and lists the grammar for unknown or malformed specs.
MetricSpec parse_metric(std::string_view text);

/// The name grammar and aliases, for --help and error messages.
std::string metric_grammar();

/// Aliases and their canonical names.
const std::vector<std::pair<std::string, std::string>>& metric_aliases();

}  // namespace taskfp
