// Result files: one JSON file per finished job, written whole (temporary name, then rename), with
// what any metric needs to be recomputed later (the evaluation fold's class scores and labels),
// the outcome p per metric, the per-epoch training loss and provenance. A checksum over the
// content tells a damaged file from a finished one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskfp::experiments {

struct JobResult {
  std::string job;  ///< Job::id()
  std::string kind, task, source, architecture;
  int seed = 0;
  std::string protocol;       ///< ExperimentConfig::protocol() of the run
  std::string version;        ///< taskfp's version
  std::string device, precision;
  int threads = 0;            ///< CPU threads of the job
  std::string data;           ///< the data drawn: sizes and a digest of the training and evaluation indices
  int epochs = 0;
  std::vector<double> epoch_loss;
  int classes = 0;
  std::vector<int> labels;    ///< evaluation fold, per image
  std::vector<float> scores;  ///< evaluation fold, n x classes softmax probabilities
  std::map<std::string, double> p;  ///< outcome per metric name (AUROC, BA)
  std::string policy;         ///< policy searches: the chosen policy (AutoAlbument JSON)
  double seconds = 0;
  std::uint64_t images = 0;
};

/// `<study>/jobs/<job id with '/' kept as folders, other unsafe bytes %-escaped>.json`.
std::string result_path(const std::string& study_dir, const std::string& job_id);

/// Writes the result whole; InputError naming the path when it cannot.
void write_result(const std::string& path, const JobResult& result);

/// The result at `path`, or nothing with `why` ("missing", "damaged: ...", "made with another
/// protocol", ...): a rerun redoes the job. `protocol` and `job` are what the file must record.
std::optional<JobResult> read_result(const std::string& path, const std::string& job, const std::string& protocol,
                                     std::string& why);

}  // namespace taskfp::experiments
