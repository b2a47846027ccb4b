// `taskfp transfer plan|run|collect`: the paper's transfer studies from an experiment config
// (experiments/). `plan` lists the jobs of a study with their counts and cost and writes the job
// graph that `run` executes.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "experiments/config.hpp"
#include "experiments/plan.hpp"
#include "io/output_files.hpp"

namespace taskfp::cli {
namespace {

struct TransferOptions {
  std::string config, images, rules, sizes, output;
  double rate = 0;
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

void run_plan(const GlobalOptions& g, const TransferOptions& o) {
  const auto config = load_config(o);
  if (!o.output.empty()) require_writable_file(o.output, "--output");
  std::optional<TaskSet> rules;
  if (!config.rules.empty()) rules = TaskSet::load(config.rules);
  info(g, config.images.empty() ? fmt::format("planning study '{}' from the task sizes in {}", config.name, config.sizes)
                                : fmt::format("planning study '{}': listing the images of {}", config.name, config.images));
  const auto tasks = experiments::read_study_tasks(config, rules ? &*rules : nullptr);
  std::vector<std::string> names;
  for (const auto& t : tasks) names.push_back(t.name);
  const TaskSet all = rules ? *rules : TaskSet::of_tasks(names);
  const auto plan = experiments::plan_study(config, tasks, all);
  std::cout << experiments::describe_plan(plan, config, o.rate);
  if (!o.output.empty()) {
    write_text_file(o.output, experiments::plan_json(plan, config));
    info(g, fmt::format("wrote the job graph ({} jobs) to {}", plan.jobs.size(), o.output));
  }
}

void add_common(CLI::App* cmd, TransferOptions& o) {
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
  cmd->add_option("--sizes", o.sizes,
                  "Task sizes (YAML task: [samples, classes]) to plan without images "
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
}

}  // namespace taskfp::cli
