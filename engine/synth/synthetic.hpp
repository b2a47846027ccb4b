// Deterministic synthetic features with controlled similarity, for tests, benchmarks and the demo:
// tasks come in families; siblings share a family's feature distribution up to a small shift.
#pragma once

#include <cstdint>
#include <string>

#include "store/features_store.hpp"

namespace taskfp {

struct SynthOptions {
  int families = 6;             ///< groups of related tasks
  int tasks_per_family = 5;
  int samples = 2000;           ///< samples per task (n)
  int dim = 128;                ///< features per sample (d)
  std::uint64_t seed = 7;
  double family_spread = 1.0;   ///< how far family means lie apart
  double task_spread = 0.15;    ///< how far siblings lie from their family mean
};

/// Task names are "fam<k>_task<j>". Features mimic pooled ReLU activations: non-negative, with
/// features that are zero in most samples (degenerate bin ranges occur as in real data).
/// Identical output on every platform (own RNG and normal sampler).
FeatureSet synthetic_features(const SynthOptions& options);

/// The family index encoded in a synthetic task name.
int synthetic_family(const std::string& task_name);

}  // namespace taskfp
