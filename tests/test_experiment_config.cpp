// experiments/config: the paper's protocol as defaults and in configs/experiments/paper.yaml;
// every key known, every value checked, errors naming file and key.
#include <gtest/gtest.h>

#include <fstream>

#include "experiments/config.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

TEST(ExperimentConfig, PaperFileStatesTheDefaults) {
  const auto c = read_experiment_config(std::string(TASKFP_SOURCE_DIR) + "/configs/experiments/paper.yaml");
  const ExperimentConfig d;
  EXPECT_EQ(c.protocol(), d.protocol());  // the file restates the defaults, nothing else
  EXPECT_EQ(c.folds, 5);
  EXPECT_EQ(c.training.batch, 300);
  EXPECT_EQ(c.training.lr, 5e-4);
  EXPECT_EQ(c.seeds, (std::vector<int>{0, 1, 2}));
  for (const auto& sc : c.scenarios) EXPECT_TRUE(sc.enabled);
  EXPECT_EQ(c.scenario(StudyKind::Pretraining).max_target_classes, 39u);
  EXPECT_TRUE(c.images.ends_with("configs/tasksets/paper-images.yaml")) << c.images;
  const auto paper = paper_scenarios();
  for (int k = 0; k < 5; ++k) {
    SCOPED_TRACE(study_key(static_cast<StudyKind>(k)));
    EXPECT_EQ(c.scenarios[k].targets.full, paper[k].targets.full);
    EXPECT_EQ(c.scenarios[k].targets.shrunk, paper[k].targets.shrunk);
    EXPECT_EQ(c.scenarios[k].max_target_classes, paper[k].max_target_classes);
    EXPECT_EQ(c.scenarios[k].candidates, paper[k].candidates);
  }
}

TEST(ExperimentConfig, EpochsFollowTheReferenceRule) {
  const EpochRule rule;
  // min(40, 4000 // ((int(0.8 N) // 300) + 1) + 1), by hand:
  EXPECT_EQ(rule.epochs(1000, 300, false), 40);    // 800 // 300 = 2 -> 4000 // 3 + 1 = 1334 -> 40
  EXPECT_EQ(rule.epochs(60000, 300, false), 25);   // 48000 // 300 = 160 -> 4000 // 161 + 1 = 25
  EXPECT_EQ(rule.epochs(200000, 300, false), 8);   // 160000 // 300 = 533 -> 4000 // 534 + 1 = 8
  EXPECT_EQ(rule.epochs(60000, 300, true), 40);    // shrunk: 40
}


void expect_refused(const std::string& yaml, const std::string& words) {
  test::TempDir dir;
  const auto path = dir.file("c.yaml");
  std::ofstream(path) << yaml;
  try {
    read_experiment_config(path);
    ADD_FAILURE() << "accepted: " << yaml;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(ExperimentConfig, RefusesUnknownKeysAndBadValues) {
  expect_refused("foldz: 5\n", "unknown key 'foldz'");
  expect_refused("training: {batchsize: 3}\n", "training has an unknown key 'batchsize'");
  expect_refused("training: {architecture: vit_h14}\n", "architecture 'vit_h14', which is not in the model zoo");
  expect_refused("scenarios: {architecture: {candidates: [resnet34, alexnet]}}\n", "'alexnet'");
  expect_refused("folds: 1\n", "'folds' is 1, outside [2, 100]");
  expect_refused("evaluation_fold: 5\n", "'evaluation_fold' is 5");
  expect_refused("seeds: [0, 0]\n", "repeats a seed");
  expect_refused("seeds: []\n", "empty 'seeds'");
  expect_refused("metrics: [AUROC, F1]\n", "unknown outcome metric 'F1'");
  expect_refused("training: {batch: many}\n", "'training.batch' has a value of the wrong type");
  expect_refused("scenarios: {cotraining: {targets: [tiny]}}\n", "target variant 'tiny'");
  expect_refused("shrink: {size: 801}\n", "cannot share equally");
  expect_refused("training: {optimizer: {name: sgd}}\n", "only adam");
  expect_refused("tasks: [a, b]\n", "tasks is not a map");
  expect_refused("training: {images: {size: 64, crop: 65}}\n", "'training.images.crop' is 65");
}

TEST(ExperimentConfig, ListedScenariosOnlyAndPathsRelativeToTheFile) {
  test::TempDir dir;
  const auto path = dir.file("c.yaml");
  std::ofstream(path) << "name: small\ntasks: {images: sets/t.yaml}\nseeds: [3]\n"
                         "scenarios: {pretraining:, architecture: {candidates: [tiny_cnn, resnet18]}}\n";
  const auto c = read_experiment_config(path);
  EXPECT_EQ(c.name, "small");
  EXPECT_EQ(c.images, dir.file("sets/t.yaml"));
  EXPECT_TRUE(c.scenario(StudyKind::Pretraining).enabled);
  EXPECT_TRUE(c.scenario(StudyKind::Architecture).enabled);
  EXPECT_FALSE(c.scenario(StudyKind::CoTraining).enabled);
  EXPECT_FALSE(c.scenario(StudyKind::Baseline).enabled);
  EXPECT_EQ(c.scenario(StudyKind::Architecture).candidates, (std::vector<std::string>{"tiny_cnn", "resnet18"}));
}

}  // namespace
}  // namespace taskfp::experiments
