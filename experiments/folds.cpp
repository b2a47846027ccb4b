// Stratified folds and shrunk training folds (see folds.hpp for the protocol and its source).
#include "folds.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"

namespace taskfp::experiments {

namespace {

template <class T>
void shuffle(std::vector<T>& v, SplitMix& rng) {  // Fisher-Yates, platform-independent
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

std::vector<std::vector<std::size_t>> class_pools(std::span<const int> labels, int classes, const std::string& task) {
  std::vector<std::vector<std::size_t>> pools(classes);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes)
      throw InputError(fmt::format("task '{}': sample {} has label {}, outside [0, {})", task, i, labels[i], classes));
    pools[labels[i]].push_back(i);
  }
  return pools;
}

}  // namespace

std::vector<int> assign_folds(std::span<const int> labels, int classes, int folds, std::uint64_t seed,
                              const std::string& task) {
  if (folds < 2) throw InputError(fmt::format("task '{}': {} folds (at least 2)", task, folds));
  const auto pools = class_pools(labels, classes, task);
  int present = 0;
  for (const auto& p : pools) present += !p.empty();
  if (present < 2)
    throw InputError(fmt::format("task '{}' has samples of {} class{} only: its AUROC is undefined, and it cannot be "
                                 "a transfer task",
                                 task, present, present == 1 ? "" : "es"));
  for (int c = 0; c < classes; ++c)
    if (pools[c].size() < static_cast<std::size_t>(folds))
      throw InputError(fmt::format("task '{}': class {} has {} sample{}, fewer than the {} folds (each fold needs "
                                   "one of every class)",
                                   task, c, pools[c].size(), pools[c].size() == 1 ? "" : "s", folds));
  std::vector<int> fold_of(labels.size(), -1);
  for (int c = 0; c < classes; ++c) {
    auto pool = pools[c];
    SplitMix rng(seed_for(seed, fmt::format("{}\x1f{}", task, c)));
    shuffle(pool, rng);
    const std::size_t n = pool.size();
    // round(n / folds), Python's round (half to even): std::nearbyint in the default mode.
    const auto first = static_cast<std::size_t>(std::nearbyint(static_cast<double>(n) / folds));
    const std::size_t rest = n - first, each = rest / (folds - 1), extra = rest % (folds - 1);
    std::size_t at = 0;
    for (int f = 0; f < folds; ++f) {
      const std::size_t size = f == 0 ? first : each + (static_cast<std::size_t>(f - 1) < extra ? 1 : 0);
      for (std::size_t k = 0; k < size; ++k) fold_of[pool[at++]] = f;
    }
  }
  return fold_of;
}

bool is_shrinkable(std::size_t samples, std::size_t classes, const ShrinkRule& rule) {
  return classes <= rule.max_classes && samples >= rule.min_samples;
}

TaskSplit split_task(std::span<const int> labels, int classes, const ExperimentConfig& config, bool shrunk,
                     const std::string& task) {
  const int folds = config.folds;
  const auto fold_of = assign_folds(labels, classes, folds, config.fold_seed, task);
  // Each fold's samples in a seeded order (mml shuffles every fold after joining its classes).
  std::vector<std::vector<std::size_t>> members(folds);
  for (std::size_t i = 0; i < fold_of.size(); ++i) members[fold_of[i]].push_back(i);
  for (int f = 0; f < folds; ++f) {
    SplitMix rng(seed_for(config.fold_seed, fmt::format("{}\x1f" "fold {}", task, f)));
    shuffle(members[f], rng);
  }
  const int eval = config.evaluation_fold;
  TaskSplit split;
  split.evaluation = members[eval];
  if (shrunk) {
    const auto& rule = config.shrink;
    if (!is_shrinkable(labels.size(), static_cast<std::size_t>(classes), rule))
      throw InputError(fmt::format("task '{}' has no shrunk variant: {} samples of {} classes (shrinkable: at most "
                                   "{} classes and at least {} samples)",
                                   task, labels.size(), classes, rule.max_classes, rule.min_samples));
    std::size_t available = 0;
    for (int f = 0; f < folds; ++f)
      if (f != eval) available += members[f].size();
    const std::size_t least = static_cast<std::size_t>(folds - 1) * rule.min_per_class * classes;
    if (rule.size < least || rule.size > available)
      throw InputError(fmt::format("task '{}' cannot be shrunk to {} training samples: that needs between {} ({} "
                                   "folds x {} per class x {} classes) and the {} its training folds hold",
                                   task, rule.size, least, folds - 1, rule.min_per_class, classes, available));
    const std::size_t per_fold = rule.size / (folds - 1);
    for (int f = 0; f < folds; ++f) {
      if (f == eval) continue;
      auto& fold = members[f];
      if (fold.size() < per_fold)
        throw InputError(fmt::format("task '{}' cannot be shrunk to {} training samples: training fold {} holds {}, "
                                     "fewer than the {} it should keep",
                                     task, rule.size, f, fold.size(), per_fold));
      SplitMix rng(seed_for(config.fold_seed, fmt::format("{}\x1fshrink fold {}", task, f)));
      std::vector<char> chosen(fold.size(), 0);
      std::vector<std::size_t> kept;
      // At least min_per_class of every class (all of them where the fold has fewer).
      for (int c = 0; c < classes; ++c) {
        std::vector<std::size_t> of_class;
        for (std::size_t k = 0; k < fold.size(); ++k)
          if (labels[fold[k]] == c) of_class.push_back(k);
        shuffle(of_class, rng);
        const std::size_t take = std::min(of_class.size(), rule.min_per_class);
        for (std::size_t k = 0; k < take; ++k) {
          chosen[of_class[k]] = 1;
          kept.push_back(fold[of_class[k]]);
        }
      }
      std::vector<std::size_t> others;
      for (std::size_t k = 0; k < fold.size(); ++k)
        if (!chosen[k]) others.push_back(fold[k]);
      shuffle(others, rng);
      const std::size_t fill = per_fold > kept.size() ? std::min(per_fold - kept.size(), others.size()) : 0;
      kept.insert(kept.end(), others.begin(), others.begin() + static_cast<std::ptrdiff_t>(fill));
      shuffle(kept, rng);
      fold = std::move(kept);
    }
  }
  for (int f = 0; f < folds; ++f)
    if (f != eval) split.train.insert(split.train.end(), members[f].begin(), members[f].end());
  split.train_per_class.assign(classes, 0);
  split.evaluation_per_class.assign(classes, 0);
  for (auto i : split.train) ++split.train_per_class[labels[i]];
  for (auto i : split.evaluation) ++split.evaluation_per_class[labels[i]];
  return split;
}

}  // namespace taskfp::experiments
