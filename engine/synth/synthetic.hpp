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
  double family_spread = 1.0;  ///< how far family means lie apart (0 to kMaxSynthSpread)
  double task_spread =
      0.15;  ///< how far siblings lie from their family mean (0 to kMaxSynthSpread)
};

/// Spreads above this overflow float32 features (they scale exponents).
inline constexpr double kMaxSynthSpread = 20.0;

/// InputError naming the CLI option (--families, --family-spread, ...) of the first field
/// outside its domain: counts below 1 (samples below 2), spreads not finite or outside [0,
/// kMaxSynthSpread].
void validate_synth_options(const SynthOptions& options);

/// Task names are "fam<k>_task<j>". Options are checked first (validate_synth_options). Features
/// mimic pooled ReLU activations: non-negative, with features that are zero in most samples
/// (degenerate bin ranges occur as in real data). Identical output on every platform (own RNG and
/// normal sampler).
FeatureSet synthetic_features(const SynthOptions& options);

/// The family index encoded in a synthetic task name.
int synthetic_family(const std::string& task_name);

}  // namespace taskfp
