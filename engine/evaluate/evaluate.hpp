// The evaluation engine (method.md sections 5-7): distance matrices -> affinities -> top-k
// source choices per target -> meta-metrics against the transfer outcomes -> summaries.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "distance/distance.hpp"
#include "evaluate/meta_features.hpp"
#include "evaluate/outcomes.hpp"
#include "evaluate/task_set.hpp"

namespace taskfp {

enum class MetaMetric { Regret, Rank, Delta, Gain, Ratio, WeightedTau, Pearson, Spearman, Kendall };
std::string meta_metric_name(MetaMetric m);  ///< regret, rank, delta, gain, ratio, weightedtau, ...
MetaMetric parse_meta_metric(const std::string& text);
bool is_correlation(MetaMetric m);

enum class ZScoreAxis { Global, PerTarget };
enum class TopMode { Avg, Best };

/// Distances turned into affinities (higher = closer): +-inf and exact zeros (self-distances)
/// become NaN, the rest is z-scored (over the whole matrix, or per column) and negated, as the
/// reference's _transform_distance. Same orientation as the input: rows = sources.
DistanceMatrix affinities(const DistanceMatrix& distances, ZScoreAxis axis = ZScoreAxis::Global);

struct EvaluationConfig {
  std::string cache_dir;  ///< where evaluate() without OutcomeData reads them (the paper's cache/ layout)
  std::vector<Scenario> scenarios = {std::begin(kAllScenarios), std::end(kAllScenarios)};
  std::vector<std::string> metrics = {"AUROC", "BA"};
  std::vector<SeedAggregate> aggregates = {SeedAggregate::Mean};
  bool validation = true;  ///< validation targets (the paper's report) or development targets
  int top_k = 3;
  TopMode mode = TopMode::Avg;
  std::vector<MetaMetric> meta_metrics = {MetaMetric::Regret, MetaMetric::Rank, MetaMetric::Gain,
                                          MetaMetric::Delta, MetaMetric::WeightedTau};
  ZScoreAxis zscore = ZScoreAxis::Global;
  double min_samples = 1;  ///< sources need at least this many samples (task info)
  bool shrunk_targets = true;  ///< the paper's scenarios all use shrunk targets where possible
  /// Per distance name, meta-feature weights for its affinities (P2L: kP2LWeights); a distance
  /// not named here uses its affinities alone (similarity 1, samples 0).
  std::map<std::string, MetaFeatureWeights> meta_weights;
};

struct ScoreRow {
  Scenario scenario;
  std::string distance;
  std::string metric;
  SeedAggregate aggregate;
  std::string target;
  MetaMetric meta_metric;
  double score;  ///< higher is better for every meta-metric (regret is inverted, as the reference)
};

struct Evaluation {
  std::vector<std::string> distances;  ///< in the order given
  std::vector<ScoreRow> rows;
  std::vector<std::string> notes;      ///< e.g. targets without outcomes in a scenario
};

/// Runs every (scenario, metric, aggregate, distance, target, meta-metric) combination against
/// the outcomes given (one table per configured scenario and metric, baselines per metric).
/// InputError for matrices lacking needed sources or targets (named), transposed matrices,
/// NaN among the valid sources of a target, unresolved top-k ties, outcome data lacking a
/// configured table or a target's baseline.
Evaluation evaluate(const std::vector<DistanceMatrix>& distances, const TaskSet& tasks,
                    const TaskInfoTable& info, const OutcomeData& outcomes, const EvaluationConfig& config);
/// The same with the outcomes read from config.cache_dir (load_outcome_data); InputError also for
/// bad outcome tables.
Evaluation evaluate(const std::vector<DistanceMatrix>& distances, const TaskSet& tasks,
                    const TaskInfoTable& info, const EvaluationConfig& config);

/// The top-k source choice for one target: indices into `affinity` (one per valid source, as
/// `sources` names them) of the k highest affinities, in decreasing order; ties keep the given
/// order (pandas' stable nlargest). InputError, naming `distance`, `target` and the sources,
/// for a NaN affinity, fewer than k sources, or a tie at place k that k cannot resolve.
std::vector<std::size_t> top_k_sources(const std::vector<double>& affinity, std::size_t k,
                                       const std::vector<std::string>& sources, const std::string& distance,
                                       const std::string& target);

/// The targets a split evaluates: the validation tasks, or the development tasks with fewer
/// than 40 classes.
std::vector<std::string> evaluation_targets(const TaskSet& tasks, const TaskInfoTable& info, bool validation);

// ---- summaries (rows = distances) ----

/// Mean and std over targets (and metrics, aggregates) per distance and scenario, one meta-metric.
struct SummaryTable {
  std::string title;
  std::vector<std::string> rows;     ///< distances
  std::vector<std::string> columns;  ///< scenarios, then "all"
  Matrix<double> mean, std;
};
/// Regret is reported reversed (1 - value: lower is better), as the paper's tables do.
SummaryTable summarize(const Evaluation& e, MetaMetric meta);

/// Share of setups (scenario, metric, aggregate, target, meta-metric) in which a distance has the
/// best score; ties all win. Per meta-metric and over all.
SummaryTable win_rates(const Evaluation& e);

/// Mean Kendall tau between the distances' score vectors of setups that differ only in one
/// component (target, metric, aggregate or scenario); one value per varied component.
std::vector<std::pair<std::string, double>> setup_stability(const Evaluation& e);

/// Fraction of setups in which each distance takes each rank (1 = best, ties share the best).
SummaryTable rank_distribution(const Evaluation& e);

/// Bootstrap rankings per scenario and meta-metric: targets resampled with replacement
/// (seeded), distances ranked by mean score; mean rank and the share of bootstraps at rank 1.
struct BootstrapRanking {
  Scenario scenario;
  MetaMetric meta_metric;
  std::vector<std::string> distances;
  std::vector<double> mean_rank, share_first;
};
std::vector<BootstrapRanking> bootstrap_rankings(const Evaluation& e, int samples = 1000,
                                                 std::uint64_t seed = 1);

}  // namespace taskfp
