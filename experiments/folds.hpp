// Folds of a task's train split and shrunk training sets, with the structure of mml's
// TaskCreator.split_folds and its shrink_train tag (the paper's protocol, method.md section 6):
//   - folds are stratified: each class's samples are shuffled (seeded per class pool) and dealt
//     out, round(n_c / folds) to the evaluation fold, the rest evenly over the training folds,
//     leftovers to the lowest-numbered training folds first; each fold is then shuffled;
//   - a shrunk task keeps the evaluation fold whole and cuts the training folds to `size`
//     samples in all (size / (folds - 1) each), each fold from its own seed: first
//     `min_per_class` of every class (all of a class that has fewer), then the rest at random.
// mml shuffles with torch's and numpy's generators; taskfp uses its own (core/random.hpp), so the
// sizes and per-class counts equal mml's, the chosen samples do not (the paper's sample order is
// not published either). Everything here is seeded by the fold seed and the task's name only:
// the same folds for every training seed, rank and process.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config.hpp"

namespace taskfp::experiments {

/// The samples of a task's train split that a job uses, as indices into the task's image list
/// (TaskImages order).
struct TaskSplit {
  std::vector<std::size_t> train;       ///< the training folds (after shrinking), fold by fold
  std::vector<std::size_t> evaluation;  ///< the evaluation fold, where p is measured
  std::vector<std::size_t> train_per_class, evaluation_per_class;  ///< counts by class
};

/// Fold of every sample (0 .. folds - 1), for `labels` in [0, classes). `task` seeds the draw
/// together with `seed`. InputError naming the task when a class has fewer samples than folds
/// (a fold would lack it), or when the task has one class only (AUROC is undefined).
std::vector<int> assign_folds(std::span<const int> labels, int classes, int folds, std::uint64_t seed,
                              const std::string& task);

/// Whether a task of `samples` images and `classes` classes has a shrunk variant.
bool is_shrinkable(std::size_t samples, std::size_t classes, const ShrinkRule& rule);

/// The split a job trains and evaluates on: the full task, or its shrunk variant (`shrunk`).
/// InputError naming the task for a task that is not shrinkable (with the rule it misses) or whose
/// training folds hold fewer than (folds - 1) x min_per_class x classes or fewer than `size`
/// samples.
TaskSplit split_task(std::span<const int> labels, int classes, const ExperimentConfig& config, bool shrunk,
                     const std::string& task);

}  // namespace taskfp::experiments
