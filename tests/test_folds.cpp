// experiments/folds: stratified folds and shrunk training folds, sizes checked by hand against
// mml's rules (round(n_c / 5) of each class to the evaluation fold, the rest evenly, leftovers
// to the lowest folds; shrunk: 200 per training fold, at least 5 per class, fold 0 whole).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "experiments/folds.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

std::vector<int> labels_with_counts(const std::vector<int>& counts) {
  std::vector<int> labels;
  for (int c = 0; c < static_cast<int>(counts.size()); ++c) labels.insert(labels.end(), counts[c], c);
  // Interleave so that a sample's index says nothing about its class.
  std::vector<int> mixed(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) mixed[(i * 7919) % labels.size()] = labels[i];
  return mixed;
}

std::vector<std::vector<int>> per_fold_class_counts(const std::vector<int>& labels, const std::vector<int>& fold,
                                                    int classes, int folds) {
  std::vector<std::vector<int>> counts(folds, std::vector<int>(classes, 0));
  for (std::size_t i = 0; i < labels.size(); ++i) ++counts[fold[i]][labels[i]];
  return counts;
}

TEST(Folds, ClassesAreDealtAsMmlDealsThem) {
  // 12 -> round(2.4) = 2 to fold 0, 10 -> 3 3 2 2; 7 -> 1, then 2 2 1 1; 13 -> round(2.6) = 3, then
  // 3 3 2 2; 5 -> 1 1 1 1 1 (hand-computed, method.md section 6).
  const auto labels = labels_with_counts({12, 7, 13, 5});
  const auto fold = assign_folds(labels, 4, 5, 42, "t");
  const auto counts = per_fold_class_counts(labels, fold, 4, 5);
  const std::vector<std::vector<int>> expected = {{2, 1, 3, 1}, {3, 2, 3, 1}, {3, 2, 3, 1}, {2, 1, 2, 1}, {2, 1, 2, 1}};
  EXPECT_EQ(counts, expected);
  // Python's round is half to even: 5 samples in 2 folds -> round(2.5) = 2 to fold 0.
  const auto two = labels_with_counts({5, 5});
  const auto c2 = per_fold_class_counts(two, assign_folds(two, 2, 2, 42, "t"), 2, 2);
  EXPECT_EQ(c2[0], (std::vector<int>{2, 2}));
  EXPECT_EQ(c2[1], (std::vector<int>{3, 3}));
}

TEST(Folds, DependOnTheSeedAndTaskNameOnly) {
  const auto labels = labels_with_counts({40, 30, 30});
  const auto a = assign_folds(labels, 3, 5, 42, "task-a");
  EXPECT_EQ(a, assign_folds(labels, 3, 5, 42, "task-a"));
  EXPECT_NE(a, assign_folds(labels, 3, 5, 42, "task-b"));
  EXPECT_NE(a, assign_folds(labels, 3, 5, 7, "task-a"));
}

TEST(Folds, RefuseTasksThatCannotBeFolded) {
  EXPECT_THROW(assign_folds(labels_with_counts({20}), 1, 5, 42, "one"), InputError);
  EXPECT_THROW(assign_folds(labels_with_counts({20, 0}), 2, 5, 42, "one-present"), InputError);
  try {
    assign_folds(labels_with_counts({20, 4}), 2, 5, 42, "few");
    ADD_FAILURE() << "a class of 4 samples in 5 folds was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("task 'few': class 1 has 4 samples"), std::string::npos) << e.what();
  }
}

ExperimentConfig paper_config() { return ExperimentConfig{}; }  // the defaults are the paper's

TEST(Folds, ShrunkTasksKeep200PerTrainingFoldAndTheEvaluationFoldWhole) {
  // 3,000 samples of 30 classes, 8 of them rare (8 samples: fewer than 5 per training fold).
  std::vector<int> counts(30, 0);
  for (int c = 0; c < 30; ++c) counts[c] = c < 8 ? 8 : (3000 - 8 * 8) / 22 + (c - 8 < (3000 - 64) % 22 ? 1 : 0);
  const auto labels = labels_with_counts(counts);
  ASSERT_EQ(labels.size(), 3000u);
  const auto cfg = paper_config();
  const auto full = split_task(labels, 30, cfg, false, "big");
  const auto shrunk = split_task(labels, 30, cfg, true, "big");
  EXPECT_EQ(full.train.size() + full.evaluation.size(), 3000u);
  EXPECT_EQ(shrunk.evaluation, full.evaluation);  // fold 0 untouched, same order
  ASSERT_EQ(shrunk.train.size(), 800u);
  // Every shrunk sample comes from the full training folds, none twice.
  const std::set<std::size_t> full_train(full.train.begin(), full.train.end());
  const std::set<std::size_t> kept(shrunk.train.begin(), shrunk.train.end());
  EXPECT_EQ(kept.size(), 800u);
  for (auto i : kept) EXPECT_TRUE(full_train.count(i));
  // Per training fold: 200 samples, at least 5 of each class where the fold has 5 (a rare class
  // of 8 has 2 or 1 per training fold: all of them are kept).
  const auto fold = assign_folds(labels, 30, 5, cfg.fold_seed, "big");
  std::vector<std::vector<int>> in_fold(5, std::vector<int>(30, 0)), kept_in_fold(5, std::vector<int>(30, 0));
  for (std::size_t i = 0; i < labels.size(); ++i) ++in_fold[fold[i]][labels[i]];
  for (auto i : shrunk.train) ++kept_in_fold[fold[i]][labels[i]];
  for (int f = 1; f < 5; ++f) {
    int total = 0;
    for (int c = 0; c < 30; ++c) {
      total += kept_in_fold[f][c];
      EXPECT_EQ(kept_in_fold[f][c] >= 5 || kept_in_fold[f][c] == in_fold[f][c], true) << "fold " << f << " class " << c;
    }
    EXPECT_EQ(total, 200) << "fold " << f;
  }
  EXPECT_EQ(std::accumulate(shrunk.train_per_class.begin(), shrunk.train_per_class.end(), std::size_t{0}), 800u);
  // The same subset whatever else the config says about training (seeds, epochs, scenarios).
  auto other = cfg;
  other.seeds = {5, 6};
  other.training.epochs.shrunk = 3;
  EXPECT_EQ(split_task(labels, 30, other, true, "big").train, shrunk.train);
}

TEST(Folds, RefuseShrinkingWhereTheRuleSaysNo) {
  const auto cfg = paper_config();
  // 1000 samples: not more than 1000.
  EXPECT_THROW(split_task(labels_with_counts({500, 500}), 2, cfg, true, "small"), InputError);
  // 40 classes: not fewer than 40.
  EXPECT_THROW(split_task(labels_with_counts(std::vector<int>(40, 50)), 40, cfg, true, "many"), InputError);
  // Shrinkable by the rule, but 4 folds x 5 x 39 = 780 <= 800 holds; with min 6 per class, 936 > 800.
  auto strict = cfg;
  strict.shrink.min_per_class = 6;
  try {
    split_task(labels_with_counts(std::vector<int>(39, 40)), 39, strict, true, "strict");
    ADD_FAILURE() << "accepted a shrink below folds x min_per_class x classes";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs between 936"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(split_task(labels_with_counts(std::vector<int>(39, 40)), 39, cfg, true, "ok"));
}

}  // namespace
}  // namespace taskfp::experiments
