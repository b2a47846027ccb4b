// FED's Fisher embeddings of image tasks (`taskfp fisher`): per task, a probe network's head is
// trained on the task with the backbone frozen, and the diagonal of the Fisher information of the
// backbone's later parameters is the task's embedding (experiments/trainer.hpp FisherRequest
// states the steps). The settings are the paper's (facts of IMSY-DKFZ/mml's FEDScheduler and
// fisher.py with mml_tf's FED): a ResNet34 probe with ImageNet weights, its head trained for one
// epoch of 8,000 balanced samples in batches of 100, the Fisher over 2,000 images drawn with
// replacement, the last 60% of the kept parameters.
//
// Each task's embedding is written as its own part (`<output>.parts/<task>.h5`) as soon as it is
// done, so a stopped run continues where it stopped, MPI ranks take the next task when free, and
// Slurm array shards (--shard) share the tasks; the store is assembled from the parts once every
// task has one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "trainer.hpp"

namespace taskfp::experiments {

struct FisherSettings {
  std::string probe = "resnet34";   ///< a native zoo network
  int head_samples = 8000, head_batch = 100;
  double lr = 5e-4;                 ///< Adam, betas (0.9, 0.999), the protocol's
  int fisher_samples = 2000;
  double keep_fraction = 0.6;
  ImageProtocol images;             ///< the training protocol's preprocessing, crop and flip
  std::uint64_t seed = 0;
  /// Every value that decides an embedding, as one line (the store's provenance).
  [[nodiscard]] std::string line() const;
};

struct FisherOptions {
  std::string taskset;               ///< image task set (as for `taskfp extract`)
  std::vector<std::string> tasks;    ///< these tasks only (empty: all of the task set)
  std::string output;                ///< the Fisher store
  std::string weights;               ///< the probe backbone's weights (HDF5, scripts/export_backbone.py), or ""
  bool random_weights = false;       ///< seeded random weights instead (tests, demos): NOT PRETRAINED
  std::uint64_t weight_seed = 0;
  FisherSettings settings;
  std::string device = "auto";
  int threads = 1;                   ///< CPU threads of one task's computation
  std::string mode = "auto";         ///< FisherRequest::mode
  int shard = 0, shards = 1;
  std::size_t memory = std::size_t{8} << 30;  ///< bytes of one task's images at most
};

struct FisherReport {
  std::size_t tasks = 0;       ///< of this process (its shard, or its rank's share)
  std::size_t done = 0;        ///< computed now
  std::size_t reused = 0;      ///< parts finished before, with the same settings and weights
  std::size_t missing = 0;     ///< tasks of the whole run without a part (other shards)
  bool assembled = false;      ///< the store was written
};

/// Called with a line per finished task, and with progress within a task.
struct FisherCallbacks {
  std::function<void(const std::string& line)> on_task;
  FisherProgress progress;
};

/// Computes the missing parts of this process's tasks, then (on rank 0) writes the store when
/// every task has its part. InputError naming the task for unreadable images or a failing
/// computation (parts finished before are kept), for weights that do not fit the probe, and for
/// neither or both of weights and random_weights.
FisherReport compute_fisher(const FisherOptions& options, const FisherCallbacks& callbacks = {});

/// Where the parts of `output` go.
std::string fisher_parts_dir(const std::string& output);

}  // namespace taskfp::experiments
