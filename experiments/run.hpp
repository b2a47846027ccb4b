// Running a study's jobs: in one process, as one shard of a Slurm job array, or over MPI ranks
// that take the next job when free. Each finished job leaves its result file; a rerun skips the
// jobs whose result file is complete and made with the same protocol, and redoes the others.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "plan.hpp"

namespace taskfp::experiments {

struct RunOptions {
  std::string study_dir;       ///< results (jobs/), models (models/) go here
  std::string zoo_dir;         ///< TorchScript zoo models (scripts/export_zoo.py)
  std::string imagenet;        ///< ResNet34 ImageNet weights (scripts/export_backbone.py), for pretrained: imagenet
  std::string device = "auto";
  int threads = 1;             ///< CPU threads per job (fixed, so results do not depend on the machine)
  int stage = 0;               ///< 0: every job; 1 or 2: that stage only
  int shard = 0, shards = 1;   ///< this process runs jobs k with k mod shards == shard (of the stage's list)
  std::size_t memory = std::size_t{8} << 30;  ///< bytes of task images held in memory at once
  std::size_t max_jobs = 0;    ///< stop after this many trainings (0: no limit), e.g. to test resuming
};

struct RunReport {
  std::size_t planned = 0;   ///< jobs of this process (its stage and shard)
  std::size_t skipped = 0;   ///< finished before, result kept
  std::size_t redone = 0;    ///< had a damaged or outdated result file
  std::size_t done = 0;      ///< trained now
  std::size_t waiting = 0;   ///< not run: a job they need has no result yet (another shard or stage)
  std::string first_waiting;  ///< the first of them and what it waits for
};

/// Progress after each job: jobs finished of this process's, and a line about the job.
using RunProgress = std::function<void(std::size_t finished, std::size_t total, const std::string& line)>;

/// Runs the jobs of `plan` assigned to this process. Under MPI (more than one rank), rank 0 hands
/// out jobs in plan order, a job once the jobs it needs are finished, to the next rank that
/// asks; otherwise this process takes its shard's jobs in plan order. InputError naming the job
/// when its inputs are missing (a task set entry, a source model) or training fails; results of
/// jobs finished before the error are kept.
RunReport run_study(const StudyPlan& plan, const ExperimentConfig& config, const RunOptions& options,
                    const RunProgress& progress = {});

}  // namespace taskfp::experiments
