// An experiment config (configs/experiments/*.yaml): the tasks of a transfer study, the training
// protocol and the scenarios to run. Defaults are the paper's protocol (configs/experiments/
// paper.yaml restates them); a config gives only what differs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "metrics.hpp"

namespace taskfp::experiments {

/// The four transfer scenarios of the paper plus the no-transfer baseline.
enum class StudyKind { Baseline, Architecture, Pretraining, Augmentation, CoTraining };
std::string study_key(StudyKind k);  ///< baseline, architecture, pretraining, augmentation, cotraining

/// Which variants of a target a scenario trains on: the full train split, the shrunk one, or both.
/// The shrunk variant of a task that cannot shrink is the task itself (as the paper's tables
/// have every target in their shrunk files).
struct TargetVariants {
  bool full = false, shrunk = true;
};

struct ShrinkRule {
  std::size_t size = 800;           ///< samples of the training folds together
  std::size_t min_per_class = 5;
  std::size_t max_classes = 39;     ///< shrinkable: at most this many classes ...
  std::size_t min_samples = 1001;   ///< ... and at least this many samples
};

struct EpochRule {
  int max = 40, steps = 4000, shrunk = 40;
  /// Epochs of a task of n train-split samples: full: min(max, steps // ((int(0.8 n) // batch) + 1) + 1)
  /// (mml_tf's rule, 0.8 n being the training folds' share); shrunk: `shrunk`.
  [[nodiscard]] int epochs(std::size_t n, int batch, bool is_shrunk) const;
};

struct ImageProtocol {
  int size = 256, pad = 288, crop = 224;
  bool flip = true;
  std::string normalize = "imagenet";  ///< imagenet or none
};

struct TrainingConfig {
  std::string architecture = "resnet34";
  std::string pretrained = "imagenet";  ///< imagenet or random
  int batch = 300;
  double lr = 5e-4, beta1 = 0.9, beta2 = 0.999, weight_decay = 0;
  int step = 25;
  double gamma = 0.1;
  std::string precision = "auto";  ///< auto (mixed on GPUs, fp32 on CPUs) or fp32
  EpochRule epochs;
  ImageProtocol images;
};

struct AugmentSearch {
  int candidates = 16, epochs = 4;
  double keep = 0.5;
};

struct ScenarioConfig {
  bool enabled = false;
  TargetVariants targets;
  std::vector<std::string> candidates;  ///< architecture: the zoo names to try on every source
  AugmentSearch search;                  ///< augmentation
  /// augmentation: a folder of published policies (AutoAlbument JSON, e.g. the paper's
  /// `AA/<dataset>%<id>_<task>/policy_0001.json`, per seed under a folder ending in `_<seed>`),
  /// used instead of searching (absolute; "" searches).
  std::string policies;
  /// Targets with more classes are left out (0: none; the paper: pretraining and augmentation
  /// only have targets with fewer than 40 classes).
  std::size_t max_target_classes = 0;
};

/// The paper's scenarios, all enabled: baseline, architecture and co-training on full and shrunk
/// targets, pretraining and augmentation on shrunk targets of fewer than 40 classes; the zoo's
/// ImageNet families as architecture candidates. Indexed by StudyKind.
std::array<ScenarioConfig, 5> paper_scenarios();

struct ExperimentConfig {
  std::string name = "study";
  std::string path;         ///< the file read ("" for the defaults)
  std::string images;       ///< image task set (absolute, or "")
  std::string rules;        ///< evaluation rules task set (absolute, or "")
  std::string sizes;        ///< task sizes (YAML task: [samples, classes]), for plans without images (absolute, or "")
  int folds = 5, evaluation_fold = 0;
  std::uint64_t fold_seed = 42;
  ShrinkRule shrink;
  std::vector<int> seeds = {0, 1, 2};
  TrainingConfig training;
  std::vector<OutcomeMetric> metrics = {OutcomeMetric::AUROC, OutcomeMetric::BA};
  /// Indexed by StudyKind.
  std::array<ScenarioConfig, 5> scenarios = paper_scenarios();

  [[nodiscard]] const ScenarioConfig& scenario(StudyKind k) const { return scenarios[static_cast<int>(k)]; }
  /// Every value that decides a training's result (not the name, paths, scenarios or metrics),
  /// as one line; `with_augmentation` adds the policy search's settings (or that published
  /// policies are used), which decide the results of policy searches and augmentation jobs only.
  /// Result files record it, and a rerun redoes the jobs whose protocol differs.
  [[nodiscard]] std::string protocol(bool with_augmentation = false) const;
  /// " --shrink_train <size>": what a shrunk variant's name adds to its task's (the paper's naming).
  [[nodiscard]] std::string shrunk_suffix() const { return " --shrink_train " + std::to_string(shrink.size); }
};

/// The model zoo's names: what `candidates` and `architecture` may hold.
const std::vector<std::string>& zoo_architectures();
/// Whether a zoo architecture is built into the training plugin (else it is a TorchScript module
/// that scripts/export_zoo.py writes into the folder `transfer run --zoo` names).
bool is_native_architecture(const std::string& name);

/// Reads a config. Paths in it are relative to its folder. InputError naming the file and key
/// for: a malformed file, an unknown key (with the keys that exist there), a value of the wrong
/// type or out of range (folds < 2, evaluation fold outside the folds, batch < 1, no seeds,
/// repeated seeds, lr <= 0, an architecture not in the zoo, an unknown metric or target variant).
ExperimentConfig read_experiment_config(const std::string& path);

}  // namespace taskfp::experiments
