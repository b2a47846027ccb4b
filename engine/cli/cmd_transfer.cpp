// `taskfp transfer plan|run|collect`: the paper's transfer studies from an experiment config
// (experiments/). `plan` lists the jobs of a study with their counts and cost and writes the job
// graph that `run` executes.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <tuple>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "experiments/config.hpp"
#include "experiments/collect.hpp"
#include "experiments/plan.hpp"
#include "experiments/run.hpp"
#include "core/progress.hpp"
#include "core/shard.hpp"
#include "mpi/world.hpp"
#include "io/output_files.hpp"

namespace taskfp::cli {
namespace {

struct TransferOptions {
  std::string config, images, rules, sizes, output, study, zoo, weights, device = "auto", shard;
  double rate = 0, memory_gb = 8;
  int job_threads = 1, stage = 0;
  std::size_t max_jobs = 0;
};

experiments::ExperimentConfig load_config(const TransferOptions& o) {
  auto c = o.config.empty() ? experiments::ExperimentConfig{} : experiments::read_experiment_config(o.config);
  // The command line names files relative to the working folder, and takes precedence.
  if (!o.images.empty()) c.images = std::filesystem::absolute(o.images).string();
  if (!o.rules.empty()) c.rules = std::filesystem::absolute(o.rules).string();
  if (!o.sizes.empty()) {
    c.sizes = std::filesystem::absolute(o.sizes).string();
    if (o.images.empty()) c.images.clear();  // sizes given: plan without reading images
  }
  return c;
}

// The study's plan, made afresh from the config and the tasks (cheap next to any training).
struct Study {
  experiments::ExperimentConfig config;
  TaskSet rules;
  experiments::StudyPlan plan;
};

Study make_study(const GlobalOptions& g, const TransferOptions& o) {
  Study s;
  s.config = load_config(o);
  std::optional<TaskSet> rules;
  if (!s.config.rules.empty()) rules = TaskSet::load(s.config.rules);
  detail(g, s.config.images.empty()
                ? fmt::format("study '{}': tasks from the sizes in {}", s.config.name, s.config.sizes)
                : fmt::format("study '{}': listing the images of {}", s.config.name, s.config.images));
  std::vector<std::string> notes;
  const auto tasks = experiments::read_study_tasks(s.config, rules ? &*rules : nullptr, &notes);
  for (const auto& n : notes) warn(n);
  std::vector<std::string> names;
  for (const auto& t : tasks) names.push_back(t.name);
  s.rules = rules ? *rules : TaskSet::of_tasks(names);
  s.plan = experiments::plan_study(s.config, tasks, s.rules);
  return s;
}

void run_plan(const GlobalOptions& g, const TransferOptions& o) {
  if (!o.output.empty()) require_writable_file(o.output, "--output");
  const auto study = make_study(g, o);
  const auto& config = study.config;
  const auto& plan = study.plan;
  std::cout << experiments::describe_plan(plan, config, o.rate);
  if (!o.output.empty()) {
    write_text_file(o.output, experiments::plan_json(plan, config));
    info(g, fmt::format("wrote the job graph ({} jobs) to {}", plan.jobs.size(), o.output));
  }
}

void run_jobs(const GlobalOptions& g, const TransferOptions& o) {
  const auto study = make_study(g, o);
  experiments::RunOptions r;
  r.study_dir = o.study;
  r.zoo_dir = o.zoo;
  r.imagenet = o.weights;
  r.device = o.device;
  r.threads = o.job_threads;
  r.stage = o.stage;
  r.memory = static_cast<std::size_t>(o.memory_gb * 1e9);
  r.max_jobs = o.max_jobs;
  const auto& world = mpi::world();
  require(!world.distributed() || o.shard.empty(), "--shard is for separate jobs; under mpirun the ranks share the work");
  std::tie(r.shard, r.shards) = world.distributed() ? std::pair{0, 1} : shard_of(o.shard);
  require_same_inputs_on_all_ranks({}, experiments::plan_json(study.plan, study.config));
  const auto start = std::chrono::steady_clock::now();
  // Under MPI a rank sees only the jobs it took: each prints its summary at the end instead.
  ProgressMeter progress("jobs", !g.quiet && !world.distributed());
  const auto report = experiments::run_study(study.plan, study.config, r,
                                             [&](std::size_t finished, std::size_t total, const std::string& line) {
                                               detail(g, line);
                                               progress.update(finished, total);
                                             });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  info(g, fmt::format("{}{} jobs of this {}: {} trained ({} of them redone), {} finished before, {} waiting for "
                      "jobs they need; {:.1f} s",
                      world.distributed() ? fmt::format("rank {}: ", world.rank) : std::string(), report.planned,
                      world.distributed() ? "rank's stage(s)" : r.shards > 1 ? "shard" : "run", report.done,
                      report.redone, report.skipped, report.waiting, secs));
  if (report.waiting > 0 && !world.distributed())
    info(g, fmt::format("run again when the jobs they need are finished (stage 2 after stage 1; --max-jobs stops "
                        "early); e.g. {}",
                        report.first_waiting.empty() ? std::string("--max-jobs was reached") : report.first_waiting));
}

void run_collect(const GlobalOptions& g, const TransferOptions& o) {
  require_writable_folder(o.output, "--output");
  const auto study = make_study(g, o);
  const auto report = experiments::collect_study(study.plan, study.config, study.rules, o.study, o.output);
  const auto rules = (std::filesystem::path(o.output) / "tasks.yaml").string();
  info(g, fmt::format("wrote {} files ({} outcome rows) to {}: `taskfp evaluate --cache {} --tasks {} -d "
                      "<distances>` scores distances on them",
                      report.files.size(), report.rows, o.output, o.output, rules));
}

void add_common(CLI::App* cmd, TransferOptions& o, bool sizes = true) {
  cmd->add_option("-c,--config", o.config,
                  "Experiment config (YAML; configs/experiments/paper.yaml states the paper's protocol and "
                  "every key). Default: the paper's protocol, tasks from -t or --sizes")
      ->check(CLI::ExistingFile);
  cmd->add_option("-t,--taskset", o.images, "Image task set (as for `taskfp extract`); overrides the config's")
      ->check(CLI::ExistingFile);
  cmd->add_option("--rules", o.rules,
                  "Evaluation rules (development/validation tasks, groups; configs/tasksets/paper.yaml); "
                  "default: the config's, else every task a validation task without groups")
      ->check(CLI::ExistingFile);
  if (sizes)
    cmd->add_option("--sizes", o.sizes,
                    "Task sizes (YAML task: [samples, classes]) instead of the images' "
                    "(configs/tasksets/paper-sizes.yaml: the paper's 71 tasks)")
        ->check(CLI::ExistingFile);
}

}  // namespace

void add_transfer(CLI::App& app, const GlobalOptions& g) {
  auto* transfer = app.add_subcommand(
      "transfer",
      "The paper's transfer studies (Model Architecture, Pretraining Data, Augmentation Policy, Co-Training "
      "Data, and the no-transfer baselines) from an experiment config");
  transfer->require_subcommand(1);
  auto o = std::make_shared<TransferOptions>();
  auto* plan = transfer->add_subcommand(
      "plan", "List the jobs of a study (counts by kind and stage, images to train) and write its job graph");
  add_common(plan, *o);
  plan->add_option("-o,--output", o->output, "Write the job graph (JSON) here");
  plan->add_option("--rate", o->rate, "Images per second one device trains, to estimate device-hours")
      ->check(CLI::PositiveNumber);
  plan->callback([&g, o] { run_plan(g, *o); });

  auto* run = transfer->add_subcommand(
      "run",
      "Train the study's jobs (all, one stage, one shard of a Slurm array, or shared by MPI ranks); finished "
      "jobs are kept, so a rerun continues where a run stopped");
  add_common(run, *o, /*sizes=*/false);
  run->add_option("-s,--study", o->study, "Study folder: result files (jobs/) and source models (models/)")->required();
  run->add_option("--zoo", o->zoo, "Folder of TorchScript zoo models (scripts/export_zoo.py)");
  run->add_option("--weights", o->weights,
                  "ResNet34 ImageNet weights (HDF5, scripts/export_backbone.py), for training: pretrained: imagenet")
      ->check(CLI::ExistingFile);
  run->add_option("--device", o->device, "auto (a GPU where LibTorch sees one), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  run->add_option("--job-threads", o->job_threads,
                  "CPU threads per job: fixed, so that a job's result does not depend on the machine; run "
                  "more processes (ranks, shards) to use more cores")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  run->add_option("--stage", o->stage, "1: jobs that need nothing; 2: jobs that need stage 1 (pretraining, "
                                       "augmentation); 0: both, in order")
      ->check(CLI::Range(0, 2))->capture_default_str();
  run->add_option("--shard", o->shard,
                  "i/n: run only shard i of n (0-based) of the stage's jobs (default: SLURM_ARRAY_TASK_ID / "
                  "SLURM_ARRAY_TASK_COUNT when set)");
  run->add_option("--memory", o->memory_gb, "GB of task images held in memory at once")
      ->check(CLI::PositiveNumber)->capture_default_str();
  run->add_option("--max-jobs", o->max_jobs, "Stop after training this many jobs (0: no limit)");
  run->callback([&g, o] { run_jobs(g, *o); });

  auto* collect = transfer->add_subcommand(
      "collect",
      "Write the study's outcome tables in the paper's cache/ layout (exp/*.csv, task_infos.csv, tasks.yaml) "
      "for `taskfp evaluate --cache`");
  add_common(collect, *o);
  collect->add_option("-s,--study", o->study, "Study folder of `taskfp transfer run`")
      ->required()
      ->check(CLI::ExistingDirectory);
  collect->add_option("-o,--output", o->output, "Folder to write the tables into")->required();
  collect->callback([&g, o] { run_collect(g, *o); });
}

}  // namespace taskfp::cli
