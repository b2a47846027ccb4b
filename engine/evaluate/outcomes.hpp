// Transfer outcomes in the paper's (r, s, t, p) CSV format, baselines, seed aggregates, and the
// paper's cache file naming.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {

enum class Scenario { Architecture, Pretraining, Augmentation, CoTraining };
inline constexpr Scenario kAllScenarios[] = {Scenario::Architecture, Scenario::Pretraining,
                                             Scenario::Augmentation, Scenario::CoTraining};
/// "Model Architecture", "Pretraining Data", "Augmentation Policy", "Co-Training Data".
std::string scenario_label(Scenario s);
/// Short names for the CLI: arch, pretrain, augment, cotrain (labels are accepted too).
std::string scenario_key(Scenario s);
Scenario parse_scenario(const std::string& text);

/// How the seeds of one (source, target) pair are combined.
enum class SeedAggregate { Mean, Min, Max, Median, First, Second, Third };
std::string aggregate_name(SeedAggregate a);  ///< mean, min, max, median, seed1, seed2, seed3
SeedAggregate parse_aggregate(const std::string& text);

/// All rows (r, s, t, p) of one outcome file.
struct OutcomeTable {
  std::string path;
  std::vector<std::string> names;  ///< task names; rows refer to them by index
  std::vector<int> seeds;          ///< r per row
  std::vector<std::uint32_t> sources, targets;  ///< indices into names, per row
  std::vector<double> performance;
};

/// Reads and checks an outcome CSV (unnamed index column; columns r, s, t, p). InputError for
/// duplicate (r, s, t) rows, pairs missing a seed that other pairs have, and missing or infinite
/// performances (a pair that was not run has no rows; io/csv.hpp lists the spellings).
OutcomeTable read_outcomes(const std::string& path);

/// Aggregated outcomes O[s][t] (NaN where a pair was not run), as the reference's
/// aggregate_observations (groupby mean uses Kahan summation, as pandas does).
class OutcomeMatrix {
 public:
  OutcomeMatrix() = default;
  OutcomeMatrix(const OutcomeTable& table, SeedAggregate aggregate);
  [[nodiscard]] double at(const std::string& source, const std::string& target) const;
  [[nodiscard]] bool has_target(const std::string& target) const;

 private:
  std::unordered_map<std::string, std::size_t> index_;  // task name -> row/column
  std::vector<char> is_target_;
  Matrix<double> values_;  // names x names, NaN where not run
};

/// Baseline (no-transfer) outcomes: the paper's baseline file has one column per task and one
/// row per seed.
struct BaselineTable {
  std::string path;
  std::vector<std::string> tasks;
  std::vector<std::vector<double>> seeds;  ///< per task (as `tasks`), the value of each seed
};
/// Reads a baseline file. Missing or infinite values are refused, naming line and column.
BaselineTable read_baseline_table(const std::string& path);
/// Per task, its seeds combined (mean as DataFrame.mean; the n-th seed: InputError if absent).
std::unordered_map<std::string, double> aggregate_baselines(const BaselineTable& table, SeedAggregate aggregate);
/// read_baseline_table, then aggregate_baselines.
std::unordered_map<std::string, double> read_baselines(const std::string& path, SeedAggregate aggregate);

/// The outcomes an evaluation compares against, held in memory: per (scenario, metric) the
/// (r, s, t, p) table, per metric the baselines of shrunk and of full-size targets. Read from
/// the paper's cache layout (load_outcome_data), or built from other sources (transfer results,
/// a knowledge base) without files.
struct OutcomeData {
  std::map<std::pair<Scenario, std::string>, OutcomeTable> transfer;
  std::map<std::string, BaselineTable> baseline_shrunk, baseline_full;  ///< by metric
};
/// The tables of these scenarios and metrics from a folder laid out like the paper's cache/
/// (outcome_file, baseline_file). InputError as read_outcomes and read_baseline_table.
OutcomeData load_outcome_data(const std::string& cache_dir, const std::vector<Scenario>& scenarios,
                              const std::vector<std::string>& metrics, bool validation);

/// File names in a folder laid out like the paper's cache/:
///   exp/load_<kind>_experiment%<metric>%[True%]<validation>.csv and
///   exp/load_baseline_experiment%<metric>%<shrunk>%<validation>.csv.
std::string outcome_file(const std::string& cache_dir, Scenario s, const std::string& metric, bool validation);
std::string baseline_file(const std::string& cache_dir, const std::string& metric, bool shrunk, bool validation);

}  // namespace taskfp
