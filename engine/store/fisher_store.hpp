// Fisher embeddings (FED): per task the diagonal Fisher information of a probe network's kept
// parameters, one float32 vector (no raw data: shareable like fingerprints). `taskfp fisher`
// writes them (experiments/fisher.hpp); `taskfp distance -m FED --fisher` reads them.
//
// Layout (HDF5, docs/stores.md): the common header (taskfp_kind "fisher"; backbone = the probe,
// weights and weights_checksum of its backbone, preprocessing = the probe and Fisher settings,
// feature_dim = the embedding's length); /parameters/names and /parameters/shapes (one string per
// kept parameter, in the embedding's order, shapes as "512x256"); /tasks/<task>/embedding
// (1 x feature_dim float32) with attributes head_loss, fisher_images, device, probe_seconds,
// seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/provenance.hpp"

namespace taskfp {

class OutputSet;

inline constexpr std::int64_t kFisherSchemaVersion = 1;

struct FisherEmbedding {
  std::string task;
  std::vector<float> values;  ///< feature_dim values: the kept parameters' Fisher diagonal
  double head_loss = 0;       ///< mean cross-entropy of the probe's head training
  std::int64_t fisher_images = 0;
  std::string device;
  double probe_seconds = 0;   ///< the probe's training (of `seconds`)
  double seconds = 0;         ///< the probe and the Fisher diagonal
};

struct FisherSet {
  Provenance provenance;
  std::vector<std::string> parameter_names, parameter_shapes;
  std::vector<FisherEmbedding> tasks;

  [[nodiscard]] std::vector<std::string> names() const;
  /// The task named `name`; InputError when absent.
  [[nodiscard]] const FisherEmbedding& at(const std::string& name) const;
};

/// Writes the store whole (under a temporary name; with `set`, committed with the run's other
/// outputs). InputError for an empty set, a task twice, embeddings of different lengths or with
/// non-finite values, parameter lists that do not add up to the length.
void write_fisher_store(const std::string& path, const FisherSet& set, OutputSet* outputs = nullptr);

/// Reads a store (all tasks, or those of `tasks`: InputError naming the first one absent).
FisherSet read_fisher_store(const std::string& path, const std::vector<std::string>& tasks = {});

/// The stores together, for stores made with the same probe, weights and settings: InputError
/// naming the two files and what differs (probe, weights, settings, parameters) otherwise, and
/// for a task in two stores.
FisherSet read_fisher_stores(const std::vector<std::string>& paths);

}  // namespace taskfp
