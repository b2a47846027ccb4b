// Outcome tables from a study's result files, laid out like the paper's cache/ folder so that
// `taskfp evaluate --cache` reads them unchanged: exp/ with the (r, s, t, p) tables and the
// baseline tables under the paper's file names, task_infos.csv, and tasks.yaml (the rules).
#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "evaluate/task_set.hpp"
#include "plan.hpp"

namespace taskfp::experiments {

struct CollectReport {
  std::vector<std::string> files;  ///< written, in order
  std::size_t rows = 0;            ///< outcome rows in all
};

/// Writes the tables of every planned table and metric into `out_dir` (all files or none).
/// Model Architecture: per (seed, source) the candidate with the best evaluation-fold score on
/// the source (the table's metric; ties: the earlier candidate in the config) and p its training
/// on the target. InputError when results are missing or outdated (how many, the first few
/// jobs, and that `taskfp transfer run` makes them).
CollectReport collect_study(const StudyPlan& plan, const ExperimentConfig& config, const TaskSet& rules,
                            const std::string& study_dir, const std::string& out_dir);

}  // namespace taskfp::experiments
