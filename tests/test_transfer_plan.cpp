// experiments/plan: the paper's study planned from its task sizes has exactly the outcome tables
// the paper released (row counts of its cache files, restated here and checked against the files
// where the cache is present); jobs are shared between scenarios and depend on what they need.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "experiments/config.hpp"
#include "experiments/plan.hpp"
#include "test_util.hpp"

namespace taskfp::experiments {
namespace {

std::string source_file(const std::string& rel) { return std::string(TASKFP_SOURCE_DIR) + "/" + rel; }

struct PaperPlan {
  ExperimentConfig config;
  TaskSet rules;
  StudyPlan plan;
};

PaperPlan paper_plan() {
  PaperPlan p;
  p.config = read_experiment_config(source_file("configs/experiments/paper.yaml"));
  p.config.images.clear();  // plan from the sizes: the paper's images are not here
  p.rules = TaskSet::load(p.config.rules);
  p.plan = plan_study(p.config, read_study_tasks(p.config, &p.rules), p.rules);
  return p;
}

const PlannedTable* table(const StudyPlan& plan, StudyKind kind, bool shrunk, bool validation) {
  for (const auto& t : plan.tables)
    if (t.kind == kind && t.shrunk == shrunk && t.validation == validation) return &t;
  return nullptr;
}

TEST(TransferPlan, ThePapersStudyHasThePapersOutcomeTables) {
  const auto p = paper_plan();
  EXPECT_EQ(p.plan.tasks.size(), 71u);
  // Rows (r, s, t) of the paper's released outcome files (cache/exp/, per metric): validation
  // targets 43 with 2832 valid pairs, development targets 28 with 700; pretraining and
  // augmentation only targets of fewer than 40 classes (565 development pairs); 3 seeds.
  struct Expect {
    StudyKind kind;
    bool shrunk, validation;
    std::size_t rows;
    const char* file;  // in the paper's cache/exp/, for the AUROC metric
  };
  const std::vector<Expect> expected = {
      {StudyKind::Architecture, false, false, 2100, "load_arch_experiment%AUROC%False%False.csv"},
      {StudyKind::Architecture, true, false, 2100, "load_arch_experiment%AUROC%True%False.csv"},
      {StudyKind::Architecture, false, true, 8496, "load_arch_experiment%AUROC%False%True.csv"},
      {StudyKind::Architecture, true, true, 8496, "load_arch_experiment%AUROC%True%True.csv"},
      {StudyKind::CoTraining, false, false, 2100, "load_multi_task_experiment%AUROC%False%False.csv"},
      {StudyKind::CoTraining, true, true, 8496, "load_multi_task_experiment%AUROC%True%True.csv"},
      {StudyKind::Pretraining, true, false, 1695, "load_pretrain_experiment%AUROC%False.csv"},
      {StudyKind::Pretraining, true, true, 8496, "load_pretrain_experiment%AUROC%True.csv"},
      {StudyKind::Augmentation, true, false, 1695, "load_augmentation_experiment%AUROC%False.csv"},
      {StudyKind::Augmentation, true, true, 8496, "load_augmentation_experiment%AUROC%True.csv"},
      // Baselines: one column per target (28 / 43 tasks, 20 / 36 shrinkable), a row per seed.
      {StudyKind::Baseline, false, false, 28 * 3, "load_baseline_experiment%AUROC%False%False.csv"},
      {StudyKind::Baseline, true, false, 20 * 3, "load_baseline_experiment%AUROC%True%False.csv"},
      {StudyKind::Baseline, false, true, 43 * 3, "load_baseline_experiment%AUROC%False%True.csv"},
      {StudyKind::Baseline, true, true, 36 * 3, "load_baseline_experiment%AUROC%True%True.csv"},
  };
  const bool cache = test::have_paper_cache();
  for (const auto& e : expected) {
    SCOPED_TRACE(e.file);
    const auto* t = table(p.plan, e.kind, e.shrunk, e.validation);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->cells.size(), e.rows);
    if (!cache) continue;
    std::ifstream in(test::paper_cache() + "/exp/" + e.file);
    ASSERT_TRUE(in) << "missing in the paper cache";
    std::string header, line;
    std::getline(in, header);
    std::size_t lines = 0;
    while (std::getline(in, line)) lines += !line.empty();
    const auto columns = static_cast<std::size_t>(std::count(header.begin(), header.end(), ','));
    EXPECT_EQ(e.kind == StudyKind::Baseline ? lines * columns : lines, e.rows);
  }
  // Each (seed, source, target) once per table, as the paper's files have them.
  for (const auto& t : p.plan.tables) {
    std::set<std::tuple<int, std::string, std::string>> seen;
    for (const auto& c : t.cells) EXPECT_TRUE(seen.emplace(c.seed, c.source, c.target).second);
  }
}

TEST(TransferPlan, JobsAreSharedAndDependOnWhatTheyNeed) {
  const auto p = paper_plan();
  std::map<std::string, std::size_t> by_id;
  for (std::size_t i = 0; i < p.plan.jobs.size(); ++i)
    EXPECT_TRUE(by_id.emplace(p.plan.jobs[i].id(), i).second) << "job twice: " << p.plan.jobs[i].id();
  std::size_t pretrain = 0, augment = 0;
  for (const auto& j : p.plan.jobs) {
    if (j.kind == JobKind::Pretrain) {
      ++pretrain;
      ASSERT_EQ(j.needs.size(), 1u);
      const auto& need = p.plan.jobs[j.needs[0]];
      EXPECT_EQ(need.kind, JobKind::Train);
      EXPECT_EQ(need.task, j.source);  // the source's full model
      EXPECT_EQ(need.architecture, "resnet34");
      EXPECT_EQ(need.seed, j.seed);
    }
    if (j.kind == JobKind::Augment) {
      ++augment;
      ASSERT_EQ(j.needs.size(), 1u);
      const auto& need = p.plan.jobs[j.needs[0]];
      EXPECT_EQ(need.kind, JobKind::PolicySearch);
      EXPECT_EQ(need.task, j.source);
      EXPECT_EQ(need.seed, j.seed);
    }
    if (j.kind == JobKind::Train || j.kind == JobKind::PolicySearch || j.kind == JobKind::CoTrain) {
      EXPECT_TRUE(j.needs.empty()) << j.id();
    }
  }
  EXPECT_EQ(pretrain, 1695u + 8496u);
  EXPECT_EQ(augment, 1695u + 8496u);
  // Trainings: every task full (71) and every shrinkable task shrunk (56), for the 7 candidates
  // (the protocol's resnet34 is one of them: the baselines are its trainings), 3 seeds.
  std::size_t train = 0;
  for (const auto& j : p.plan.jobs) train += j.kind == JobKind::Train;
  EXPECT_EQ(train, (71u + 56u) * 7u * 3u);
  // A shrunk table's target that cannot shrink (caltech101, 102 classes) is trained full: its
  // co-training job is the full table's job.
  const auto* full = table(p.plan, StudyKind::CoTraining, false, false);
  const auto* shrunk = table(p.plan, StudyKind::CoTraining, true, false);
  ASSERT_TRUE(full && shrunk);
  std::size_t shared = 0;
  for (std::size_t i = 0; i < full->cells.size(); ++i) {
    ASSERT_EQ(full->cells[i].target, shrunk->cells[i].target);
    const bool same = full->cells[i].job == shrunk->cells[i].job;
    EXPECT_EQ(same, full->cells[i].target == "caltech101_object_classification" ||
                        full->cells[i].target == "caltech256_object_classification" ||
                        full->cells[i].target == "cifar100_object_classification" ||
                        full->cells[i].target == "stanford_dogs_image_categorization" ||
                        full->cells[i].target == "sklin2_skin_lesions" ||
                        full->cells[i].target == "identify_nbi_infframes" ||
                        full->cells[i].target == "emnist_digit_classification" ||
                        full->cells[i].target == "derm7pt_skin_lesions")
        << full->cells[i].target;
    shared += same;
  }
  EXPECT_GT(shared, 0u);
}

TEST(TransferPlan, SmallStudyCountedByHand) {
  // Three tasks without rules (every other task a valid source), one seed, pretraining only on
  // shrunk targets: 6 (source, target) pairs. Task c (900 samples) cannot shrink.
  ExperimentConfig c;
  c.seeds = {0};
  for (auto& sc : c.scenarios) sc.enabled = false;
  c.scenarios[static_cast<int>(StudyKind::Pretraining)].enabled = true;
  std::vector<StudyTask> tasks = {{"a", 2000, 2, true, {}}, {"b", 1500, 3, true, {}}, {"c", 900, 2, false, {}}};
  const auto plan = plan_study(c, tasks, TaskSet::of_tasks({"a", "b", "c"}));
  std::map<JobKind, int> count;
  for (const auto& j : plan.jobs) ++count[j.kind];
  EXPECT_EQ(count[JobKind::Pretrain], 6);
  // Trainings: the full models of a, b, c (sources) and the shrunk targets a, b (c's is its full).
  EXPECT_EQ(count[JobKind::Train], 5);
  for (const auto& j : plan.jobs)
    if (j.kind == JobKind::Train && j.task == "a --shrink_train 800") {
      EXPECT_EQ(j.epochs, 40);
      EXPECT_EQ(j.train_samples, 800u);
      EXPECT_EQ(j.evaluation_samples, 400u);  // round(2000 / 5)
      EXPECT_EQ(j.images, 40u * 800u + 400u);
    } else if (j.kind == JobKind::Train && j.task == "b") {
      EXPECT_EQ(j.epochs, 40);  // min(40, 4000 // (1200 // 300 + 1) + 1) = min(40, 801)
      EXPECT_EQ(j.train_samples, 1200u);
    }
}

TEST(TransferPlan, RefusesStudiesThatCannotRun) {
  ExperimentConfig c;
  c.seeds = {0};
  // One class: AUROC undefined.
  EXPECT_THROW(plan_study(c, {{"a", 2000, 1, true, {}}, {"b", 2000, 2, true, {}}}, TaskSet::of_tasks({"a", "b"})),
               InputError);
  // Labels known: a class of 3 samples cannot fill 5 folds; the message names the task.
  std::vector<int> labels(100, 0);
  labels[0] = labels[1] = labels[2] = 1;
  try {
    plan_study(c, {{"x", 100, 2, false, labels}, {"b", 2000, 2, true, {}}}, TaskSet::of_tasks({"x", "b"}));
    ADD_FAILURE() << "planned a task whose class cannot fill the folds";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("task 'x'"), std::string::npos) << e.what();
  }
  // A single task has no valid source.
  EXPECT_THROW(plan_study(c, {{"a", 2000, 2, true, {}}}, TaskSet::of_tasks({"a"})), InputError);
}

}  // namespace
}  // namespace taskfp::experiments
