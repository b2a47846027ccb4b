// The job graph of a transfer study: which trainings the scenarios need, in which order, and
// what they cost. `taskfp transfer plan` prints and writes it; `run` executes it; `collect`
// turns the finished jobs into the paper's outcome tables.
//
// Jobs are deduplicated by what they compute: a training of architecture a on task variant v
// with seed r is one Train job, whichever scenario needs it. The baseline of v is Train(the
// protocol's architecture, v, r); the Model Architecture scenario trains every candidate on every
// full task (sources) and every target variant, and `collect` takes, per (seed, source), the
// candidate that scored best on the source and reads its training on the target (the same
// outcome as training only the winners, at most |candidates| trainings per target and seed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "evaluate/task_set.hpp"

namespace taskfp::experiments {

/// A task of the study, by its full train split.
struct StudyTask {
  std::string name;
  std::size_t samples = 0, classes = 0;
  bool shrinkable = false;
  std::vector<int> labels;  ///< per image (TaskImages order); empty when planned from sizes only
};

enum class JobKind {
  Train,         ///< an architecture trained on a task variant (baselines, architecture candidates)
  PolicySearch,  ///< an augmentation policy searched on a full source
  Augment,       ///< a target trained with a source's policy alone
  Pretrain,      ///< a source's full baseline model fine-tuned on a target
  CoTrain,       ///< one backbone, heads for target and source, batches half each
};
std::string job_kind_key(JobKind k);  ///< train, policy-search, augment, pretrain, cotrain

struct Job {
  JobKind kind = JobKind::Train;
  std::string task;          ///< the task variant trained and evaluated (the target; the source for searches)
  std::string source;        ///< Augment, Pretrain, CoTrain: the full source task
  std::string architecture;  ///< the model trained
  int seed = 0;
  int epochs = 0;
  std::size_t train_samples = 0;       ///< images per training epoch (both tasks for CoTrain)
  std::size_t evaluation_samples = 0;  ///< images scored once at the end
  std::uint64_t images = 0;            ///< images through the network in all (training + evaluation)
  std::vector<std::size_t> needs;      ///< jobs (indices into the plan) that must finish first
  /// "train/resnet34/svhn --shrink_train 800/r0", "pretrain/<source>/<target>/r0", ...: unique
  /// in a plan, stable across plans of the same config.
  [[nodiscard]] std::string id() const;
  /// 1: needs nothing (sources, baselines, candidates, co-training); 2: needs stage-1 results.
  [[nodiscard]] int stage() const { return needs.empty() ? 1 : 2; }
};

/// One row (r, s, t, p) of an outcome table to be: `job` gives p (for the Model Architecture
/// scenario, resolved by `collect`: the winner's training on the target), or the baseline of t.
struct OutcomeCell {
  int seed = 0;
  std::string source;      ///< empty in baseline tables
  std::string target;      ///< the task's name (the paper's tables name shrunk targets without suffix)
  std::size_t job = 0;     ///< the job whose result gives p (architecture: the source's baseline job, unused)
};

/// An outcome table of the paper's cache: a scenario (or the baseline), one target variant
/// (full or shrunk), development or validation targets.
struct PlannedTable {
  StudyKind kind = StudyKind::Baseline;
  bool shrunk = false;
  bool validation = false;
  std::vector<OutcomeCell> cells;
};

struct StudyPlan {
  std::string name;
  std::vector<StudyTask> tasks;
  std::vector<Job> jobs;
  std::vector<PlannedTable> tables;
  std::string shrunk_suffix = " --shrink_train 800";
  /// "<task> --shrink_train <size>" (ExperimentConfig::shrunk_suffix).
  [[nodiscard]] std::string shrunk_name(const std::string& task) const { return task + shrunk_suffix; }
  /// Whether a task variant's name is a shrunk one.
  [[nodiscard]] bool is_shrunk(const std::string& variant) const {
    return variant.size() > shrunk_suffix.size() && variant.ends_with(shrunk_suffix);
  }
  /// The task a variant belongs to.
  [[nodiscard]] std::string base_task(const std::string& variant) const {
    return is_shrunk(variant) ? variant.substr(0, variant.size() - shrunk_suffix.size()) : variant;
  }
};

/// The protocol line a job of kind `k` records and is checked against (ExperimentConfig::protocol
/// with the augmentation settings for policy searches and augmentation jobs).
std::string protocol_of(const ExperimentConfig& config, JobKind k);

/// The study's tasks: from the image task set (every task listed, its labels read; the task
/// set's own shrink variants are left out: the study shrinks by its folds) when `images` is
/// given, else from the sizes file. InputError for neither, an unreadable task, a task the rules
/// do not list or a rules task without images or size.
/// `notes` (when given) gets warnings that do not stop a study: shrinkable tasks whose image task
/// set lists no "<task> --shrink_train <size>" variant of the config's size (their shrunk targets
/// get no fingerprints, which `taskfp evaluate` will need).
std::vector<StudyTask> read_study_tasks(const ExperimentConfig& config, const TaskSet* rules,
                                        std::vector<std::string>* notes = nullptr);

/// The job graph. Checks before any training what can fail later: each task folds (no single
/// class, enough samples of every class for the folds) and shrinks where it is shrinkable (sizes
/// and per-class minimum), every target has at least one valid source. InputError naming the
/// task otherwise.
StudyPlan plan_study(const ExperimentConfig& config, const std::vector<StudyTask>& tasks, const TaskSet& rules);

/// Counts by kind and stage, outcome rows per scenario and metric, images in all; with
/// `images_per_second` > 0 also device-hours at that rate. Several lines, for the terminal.
std::string describe_plan(const StudyPlan& plan, const ExperimentConfig& config, double images_per_second = 0);

/// The plan as JSON (config, protocol line, tasks, jobs with ids, needs as ids), for `run`.
std::string plan_json(const StudyPlan& plan, const ExperimentConfig& config);

}  // namespace taskfp::experiments
