// Evaluation engine: affinities, top-k choices, meta-metrics, summaries.
#include "evaluate/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include "core/error.hpp"
#include "evaluate/stats.hpp"

namespace taskfp {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct IndexedMatrix {
  const DistanceMatrix* m = nullptr;
  std::unordered_map<std::string, std::size_t> row, col;
};

IndexedMatrix index(const DistanceMatrix& m) {
  IndexedMatrix im;
  im.m = &m;
  for (std::size_t i = 0; i < m.sources.size(); ++i) im.row.emplace(m.sources[i], i);
  for (std::size_t j = 0; j < m.targets.size(); ++j) im.col.emplace(m.targets[j], j);
  return im;
}

std::string list_some(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 8; ++i) s += fmt::format("{}'{}'", i ? ", " : "", names[i]);
  if (names.size() > 8) s += fmt::format(" and {} more", names.size() - 8);
  return s;
}

// Checks that a matrix has what the evaluation needs, with errors that name what is missing.
void check_matrix(const IndexedMatrix& im, const std::vector<std::string>& needed_rows,
                  const std::vector<std::string>& needed_cols) {
  const auto& name = im.m->metric;
  std::vector<std::string> miss_rows, miss_cols;
  for (const auto& r : needed_rows)
    if (!im.row.count(r)) miss_rows.push_back(r);
  for (const auto& c : needed_cols)
    if (!im.col.count(c)) miss_cols.push_back(c);
  if (miss_rows.empty() && miss_cols.empty()) return;
  // Transposed? The needed sources are columns and the needed targets rows.
  std::size_t rows_as_cols = 0, cols_as_rows = 0;
  for (const auto& r : miss_rows) rows_as_cols += im.col.count(r);
  for (const auto& c : miss_cols) cols_as_rows += im.row.count(c);
  if (!miss_cols.empty() && cols_as_rows == miss_cols.size() && rows_as_cols == miss_rows.size())
    throw InputError(fmt::format(
        "distance matrix '{}' looks transposed: its rows hold the targets ({}) and its columns "
        "the sources. taskfp expects rows = sources, columns = targets; transpose it (pandas: "
        "df.T.to_csv(...))",
        name, list_some(miss_cols)));
  if (!miss_rows.empty())
    throw InputError(fmt::format("distance matrix '{}' lacks {} source row(s) the evaluation needs: {}",
                                 name, miss_rows.size(), list_some(miss_rows)));
  throw InputError(fmt::format("distance matrix '{}' lacks {} target column(s) the evaluation needs: {}",
                               name, miss_cols.size(), list_some(miss_cols)));
}


}  // namespace

std::string meta_metric_name(MetaMetric m) {
  switch (m) {
    case MetaMetric::Regret: return "regret";
    case MetaMetric::Rank: return "rank";
    case MetaMetric::Delta: return "delta";
    case MetaMetric::Gain: return "gain";
    case MetaMetric::Ratio: return "ratio";
    case MetaMetric::WeightedTau: return "weightedtau";
    case MetaMetric::Pearson: return "pearson";
    case MetaMetric::Spearman: return "spearman";
    case MetaMetric::Kendall: return "kendall";
  }
  return "";
}

MetaMetric parse_meta_metric(const std::string& text) {
  for (auto m : {MetaMetric::Regret, MetaMetric::Rank, MetaMetric::Delta, MetaMetric::Gain,
                 MetaMetric::Ratio, MetaMetric::WeightedTau, MetaMetric::Pearson,
                 MetaMetric::Spearman, MetaMetric::Kendall})
    if (text == meta_metric_name(m)) return m;
  throw InputError(fmt::format("unknown meta-metric '{}': use regret, rank, delta, gain, ratio, "
                               "weightedtau, pearson, spearman or kendall",
                               text));
}

bool is_correlation(MetaMetric m) {
  return m == MetaMetric::WeightedTau || m == MetaMetric::Pearson || m == MetaMetric::Spearman ||
         m == MetaMetric::Kendall;
}

DistanceMatrix affinities(const DistanceMatrix& d, ZScoreAxis axis) {
  DistanceMatrix a = d;
  auto& v = a.values;
  for (double& x : v.data)
    if (std::isinf(x) || x == 0.0) x = kNaN;
  auto zscore = [](std::vector<double*> cells) {
    std::vector<double> finite;
    for (double* c : cells)
      if (!std::isnan(*c)) finite.push_back(*c);
    const double mean = stats::numpy_mean(finite);
    const double sd = stats::numpy_std(finite, 0);
    for (double* c : cells) *c = -((*c - mean) / sd);
  };
  if (axis == ZScoreAxis::Global) {
    std::vector<double*> all;
    for (double& x : v.data) all.push_back(&x);
    zscore(all);
  } else {
    for (std::size_t c = 0; c < v.cols; ++c) {
      std::vector<double*> col;
      for (std::size_t r = 0; r < v.rows; ++r) col.push_back(&v(r, c));
      zscore(col);
    }
  }
  return a;
}

std::vector<std::string> evaluation_targets(const TaskSet& tasks, const TaskInfoTable& info, bool validation) {
  if (validation) return tasks.validation();
  std::vector<std::string> out;
  for (const auto& t : tasks.development())
    if (info.at(t).num_classes < 40) out.push_back(t);
  return out;
}

std::vector<std::size_t> top_k_sources(const std::vector<double>& affinity, std::size_t k,
                                       const std::vector<std::string>& sources, const std::string& distance,
                                       const std::string& target) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < affinity.size(); ++i) {
    if (std::isnan(affinity[i]))
      throw InputError(fmt::format(
          "distance '{}': the entry source '{}' -> target '{}' is missing (NaN), infinite or "
          "an exact zero, so no choice among the valid sources can be made",
          distance, sources[i], target));
    order.push_back(i);
  }
  require(order.size() >= k, "target '{}' has {} valid sources, fewer than top-k = {}", target, order.size(), k);
  // The k largest affinities, in decreasing order (ties keep task-set order, as pandas'
  // stable nlargest); an unresolved tie at the k-th place is an error.
  std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) { return affinity[x] > affinity[y]; });
  if (order.size() > k && affinity[order[k]] == affinity[order[k - 1]]) {
    std::vector<std::string> tied;
    for (auto i : order)
      if (affinity[i] == affinity[order[k - 1]]) tied.push_back(sources[i]);
    throw InputError(fmt::format("distance '{}', target '{}': top-{} is not unique, sources {} tie at place {}",
                                 distance, target, k, list_some(tied), k));
  }
  order.resize(k);
  return order;
}

namespace {

// The evaluation; `outcomes` is asked for the outcome data only after the distances, tasks and
// top-k choices have been checked, so those errors come first whatever the outcomes' source.
Evaluation evaluate_with(const std::vector<DistanceMatrix>& distances, const TaskSet& tasks,
                         const TaskInfoTable& info, const std::function<const OutcomeData&()>& outcomes,
                         const EvaluationConfig& cfg) {
  require(!distances.empty(), "no distance matrices to evaluate");
  require(cfg.top_k >= 1, "top-k must be at least 1 (got {})", cfg.top_k);
  require(!cfg.scenarios.empty() && !cfg.metrics.empty() && !cfg.aggregates.empty() &&
              !cfg.meta_metrics.empty(),
          "give at least one scenario, metric, aggregate and meta-metric");
  Evaluation ev;
  for (const auto& d : distances) {
    require(std::find(ev.distances.begin(), ev.distances.end(), d.metric) == ev.distances.end(),
            "distance '{}' is given twice", d.metric);
    ev.distances.push_back(d.metric);
  }
  const auto targets = evaluation_targets(tasks, info, cfg.validation);

  // Affinities once per distance, checked against everything any target needs.
  std::vector<DistanceMatrix> aff;
  std::vector<IndexedMatrix> idx;
  {
    std::vector<std::string> rows, cols;
    std::set<std::string> seen_rows;
    for (const auto& t : targets) {
      cols.push_back(cfg.shrunk_targets ? tasks.shrunk_name(t) : t);
      for (const auto& s : tasks.valid_sources(t, info, cfg.min_samples))
        if (seen_rows.insert(s).second) rows.push_back(s);
    }
    std::unordered_map<std::string, double> sizes;  // transformed source sample counts, when needed
    for (const auto& d : distances) {
      auto im = index(d);
      check_matrix(im, rows, cols);
      aff.push_back(affinities(d, cfg.zscore));
      const auto w = cfg.meta_weights.find(d.metric);
      if (w == cfg.meta_weights.end()) continue;
      // affinity = similarity * A[s][t] + samples * T(num_samples)[s], as mml_tf's get_affinity_df.
      if (w->second.samples != 0.0 && sizes.empty()) sizes = transformed_sample_counts(info);
      auto& a = aff.back();
      for (std::size_t r = 0; r < a.sources.size(); ++r) {
        double size_term = 0.0;
        if (w->second.samples != 0.0) {
          auto it = sizes.find(a.sources[r]);
          if (it == sizes.end()) it = sizes.find(base_task_name(a.sources[r]));
          require(it != sizes.end(), "distance '{}': source '{}' has no sample count in the task info table",
                  d.metric, a.sources[r]);
          size_term = w->second.samples * it->second;
        }
        for (std::size_t c = 0; c < a.targets.size(); ++c)
          a.values(r, c) = w->second.similarity * a.values(r, c) + size_term;
      }
    }
    for (const auto& a : aff) idx.push_back(index(a));
  }

  // Per distance and target: the affinities of the valid sources and the top-k choice. These do
  // not depend on scenario, metric or seed aggregate, so they are computed once.
  struct Choice {
    std::vector<double> affinity;    // per valid source
    std::vector<std::size_t> order;  // chosen sources, decreasing affinity
  };
  std::vector<std::string> base_targets;
  std::vector<std::vector<std::string>> sources_of;
  for (const auto& t : targets) {
    base_targets.push_back(t);
    sources_of.push_back(tasks.valid_sources(t, info, cfg.min_samples));
  }
  const auto k = static_cast<std::size_t>(cfg.top_k);
  {
    std::size_t all_chosen = 0;
    for (const auto& sources : sources_of) all_chosen += sources.size() == k;
    if (all_chosen > 0)
      ev.notes.push_back(fmt::format("top-k = {} chooses every valid source of {} of the {} targets: there, every "
                                     "distance picks the same sources and scores the same (choose a smaller -k)",
                                     k, all_chosen, targets.size()));
  }
  std::vector<std::vector<Choice>> choice(distances.size(), std::vector<Choice>(targets.size()));
  for (std::size_t di = 0; di < distances.size(); ++di) {
    const auto& a = aff[di];
    const auto& im = idx[di];
    for (std::size_t ti = 0; ti < targets.size(); ++ti) {
      const auto column = cfg.shrunk_targets ? tasks.shrunk_name(targets[ti]) : targets[ti];
      const std::size_t col = im.col.at(column);
      const auto& sources = sources_of[ti];
      auto& c = choice[di][ti];
      c.affinity.resize(sources.size());
      for (std::size_t i = 0; i < sources.size(); ++i) c.affinity[i] = a.values(im.row.at(sources[i]), col);
      c.order = top_k_sources(c.affinity, k, sources, a.metric, column);
    }
  }

  const OutcomeData& data = outcomes();
  for (auto scenario : cfg.scenarios) {
    for (const auto& metric : cfg.metrics) {
      const auto table = data.transfer.find({scenario, metric});
      require(table != data.transfer.end(), "no {} outcomes for {}", metric, scenario_label(scenario));
      const auto shrunk_table = data.baseline_shrunk.find(metric), full_table = data.baseline_full.find(metric);
      require(shrunk_table != data.baseline_shrunk.end() && full_table != data.baseline_full.end(),
              "no {} baselines (shrunk and full targets)", metric);
      for (auto aggregate : cfg.aggregates) {
        const OutcomeMatrix outcomes(table->second, aggregate);
        const auto base_shrunk = aggregate_baselines(shrunk_table->second, aggregate);
        const auto base_full = aggregate_baselines(full_table->second, aggregate);
        std::vector<std::string> absent;
        std::vector<std::size_t> present;
        std::vector<double> baselines(targets.size(), kNaN);
        for (std::size_t ti = 0; ti < targets.size(); ++ti) {
          const auto& t = targets[ti];
          if (!outcomes.has_target(t)) {
            absent.push_back(t);
            continue;
          }
          const bool shrunk = cfg.shrunk_targets && tasks.is_shrinkable(t);
          const auto& bl = shrunk ? base_shrunk : base_full;
          auto it = bl.find(t);
          require(it != bl.end(), "the {} baseline table ({}) has no column for target '{}'",
                  shrunk ? "shrunk" : "full", metric, t);
          baselines[ti] = it->second;
          present.push_back(ti);
        }
        // Targets in parallel; rows are gathered per target and appended in target order, so
        // the output does not depend on the number of threads.
        std::vector<std::vector<ScoreRow>> per_target(present.size());
#pragma omp parallel for schedule(dynamic, 1)
        for (std::size_t pi = 0; pi < present.size(); ++pi) {
          const std::size_t ti = present[pi];
          const auto& t = targets[ti];
          const double baseline = baselines[ti];
          auto& out_rows = per_target[pi];
          // Everything about the outcomes of this target, shared by all distances.
          const auto& sources = sources_of[ti];
          const std::size_t n = sources.size();
          std::vector<double> outcome(n);
          for (std::size_t i = 0; i < n; ++i) outcome[i] = outcomes.at(sources[i], t);
          const auto pct = stats::rank_pct(outcome, true);
          double oracle = kNaN;
          for (double o : outcome)
            if (!std::isnan(o) && (std::isnan(oracle) || o > oracle)) oracle = o;

          for (std::size_t di = 0; di < distances.size(); ++di) {
            const auto& c = choice[di][ti];
            std::vector<double> chosen;
            for (auto i : c.order) chosen.push_back(outcome[i]);
            for (auto mm : cfg.meta_metrics) {
              double score = kNaN;
              if (is_correlation(mm)) {
                std::vector<double> x, y;
                for (std::size_t i = 0; i < n; ++i)
                  if (!std::isnan(c.affinity[i]) && !std::isnan(outcome[i])) {
                    x.push_back(c.affinity[i]);
                    y.push_back(outcome[i]);
                  }
                switch (mm) {
                  case MetaMetric::WeightedTau: score = stats::weighted_tau(x, y); break;
                  case MetaMetric::Pearson: score = stats::pearson(x, y); break;
                  case MetaMetric::Spearman: score = stats::spearman(x, y); break;
                  default: score = stats::kendall_tau(x, y); break;
                }
              } else if (mm == MetaMetric::Rank) {
                if (cfg.mode == TopMode::Best) {
                  score = -INFINITY;
                  for (auto i : c.order) score = std::max(score, pct[i]);
                } else {
                  // Summed in order of decreasing affinity, as the reference's mean.
                  double sum = 0;
                  for (auto i : c.order) sum += pct[i];
                  score = sum / static_cast<double>(k);
                }
              } else {
                std::vector<double> perf = chosen;
                if (cfg.mode == TopMode::Best) perf = {*std::max_element(chosen.begin(), chosen.end())};
                std::vector<double> values;
                for (double p : perf) {
                  switch (mm) {
                    case MetaMetric::Regret: {
                      const double gap = std::fabs(oracle - p);
                      const double room = 1 - std::min(oracle, p);
                      values.push_back(room == 0.0 && gap == 0.0 ? 0.0 : 1 - gap / room);
                      break;
                    }
                    case MetaMetric::Gain: values.push_back(p > baseline ? 1.0 : 0.0); break;
                    case MetaMetric::Ratio: values.push_back(p / oracle); break;
                    default: values.push_back(p - baseline); break;  // delta
                  }
                }
                score = stats::numpy_mean(values);
              }
              out_rows.push_back({scenario, distances[di].metric, metric, aggregate, t, mm, score});
            }
          }
        }
        for (auto& rows : per_target) ev.rows.insert(ev.rows.end(), rows.begin(), rows.end());
        if (!absent.empty())
          ev.notes.push_back(fmt::format("{} / {} / {}: {} target(s) have no outcomes and are not "
                                         "evaluated: {}",
                                         scenario_label(scenario), metric, aggregate_name(aggregate),
                                         absent.size(), list_some(absent)));
      }
    }
  }
  return ev;
}

}  // namespace

Evaluation evaluate(const std::vector<DistanceMatrix>& distances, const TaskSet& tasks,
                    const TaskInfoTable& info, const OutcomeData& outcomes, const EvaluationConfig& cfg) {
  return evaluate_with(distances, tasks, info, [&]() -> const OutcomeData& { return outcomes; }, cfg);
}

Evaluation evaluate(const std::vector<DistanceMatrix>& distances, const TaskSet& tasks,
                    const TaskInfoTable& info, const EvaluationConfig& cfg) {
  OutcomeData loaded;
  return evaluate_with(
      distances, tasks, info,
      [&]() -> const OutcomeData& {
        loaded = load_outcome_data(cfg.cache_dir, cfg.scenarios, cfg.metrics, cfg.validation);
        return loaded;
      },
      cfg);
}

// ---------------------------------------------------------------- summaries

namespace {

std::size_t position(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), x) - v.begin());
}

std::vector<Scenario> scenarios_in(const Evaluation& e) {
  std::vector<Scenario> out;
  for (const auto& r : e.rows)
    if (std::find(out.begin(), out.end(), r.scenario) == out.end()) out.push_back(r.scenario);
  return out;
}

std::vector<MetaMetric> metas_in(const Evaluation& e) {
  std::vector<MetaMetric> out;
  for (const auto& r : e.rows)
    if (std::find(out.begin(), out.end(), r.meta_metric) == out.end()) out.push_back(r.meta_metric);
  return out;
}

// A setup: everything but the distance. Scores of all distances per setup, in distance order.
using SetupKey = std::tuple<int, std::string, int, std::string, int>;
std::map<SetupKey, std::vector<double>> by_setup(const Evaluation& e) {
  std::map<SetupKey, std::vector<double>> setups;
  for (const auto& r : e.rows) {
    SetupKey key{static_cast<int>(r.scenario), r.metric, static_cast<int>(r.aggregate), r.target,
                 static_cast<int>(r.meta_metric)};
    auto& v = setups[key];
    if (v.empty()) v.assign(e.distances.size(), kNaN);
    v[position(e.distances, r.distance)] = r.score;
  }
  return setups;
}

}  // namespace

SummaryTable summarize(const Evaluation& e, MetaMetric meta) {
  SummaryTable t;
  t.title = meta == MetaMetric::Regret ? "regret (reversed: 1 - value, lower is better)" : meta_metric_name(meta);
  t.rows = e.distances;
  auto scen = scenarios_in(e);
  for (auto s : scen) t.columns.push_back(scenario_label(s));
  t.columns.push_back("all");
  t.mean = Matrix<double>(t.rows.size(), t.columns.size(), kNaN);
  t.std = t.mean;
  std::vector<std::vector<std::vector<double>>> cells(t.rows.size(), std::vector<std::vector<double>>(t.columns.size()));
  for (const auto& r : e.rows) {
    if (r.meta_metric != meta) continue;
    const double v = meta == MetaMetric::Regret ? 1 - r.score : r.score;
    const auto d = position(e.distances, r.distance);
    cells[d][static_cast<std::size_t>(std::find(scen.begin(), scen.end(), r.scenario) - scen.begin())].push_back(v);
    cells[d].back().push_back(v);
  }
  for (std::size_t i = 0; i < t.rows.size(); ++i)
    for (std::size_t j = 0; j < t.columns.size(); ++j) {
      if (cells[i][j].empty()) continue;
      t.mean(i, j) = stats::numpy_mean(cells[i][j]);
      t.std(i, j) = cells[i][j].size() > 1 ? stats::numpy_std(cells[i][j], 1) : kNaN;
    }
  return t;
}

SummaryTable win_rates(const Evaluation& e) {
  SummaryTable t;
  t.title = "win rate (share of setups with the best score; ties all win)";
  t.rows = e.distances;
  auto metas = metas_in(e);
  for (auto m : metas) t.columns.push_back(meta_metric_name(m));
  t.columns.push_back("all");
  Matrix<double> wins(t.rows.size(), t.columns.size(), 0.0);
  std::vector<double> setups(t.columns.size(), 0.0);
  for (const auto& [key, scores] : by_setup(e)) {
    const auto m = static_cast<std::size_t>(std::find(metas.begin(), metas.end(), static_cast<MetaMetric>(std::get<4>(key))) - metas.begin());
    setups[m] += 1;
    setups.back() += 1;
    double best = -INFINITY;
    for (double s : scores)
      if (!std::isnan(s)) best = std::max(best, s);
    for (std::size_t d = 0; d < scores.size(); ++d)
      if (!std::isnan(scores[d]) && scores[d] == best) {
        wins(d, m) += 1;
        wins(d, t.columns.size() - 1) += 1;
      }
  }
  t.mean = wins;
  for (std::size_t i = 0; i < wins.rows; ++i)
    for (std::size_t j = 0; j < wins.cols; ++j) t.mean(i, j) = setups[j] > 0 ? wins(i, j) / setups[j] : kNaN;
  t.std = Matrix<double>(wins.rows, wins.cols, kNaN);
  return t;
}

std::vector<std::pair<std::string, double>> setup_stability(const Evaluation& e) {
  std::vector<std::pair<std::string, double>> out;
  if (e.distances.size() < 2) return out;
  auto setups = by_setup(e);
  const char* names[] = {"scenario", "metric", "aggregate", "target"};
  for (int vary = 0; vary < 4; ++vary) {
    // Group setups that agree on everything but the varied component (meta-metric always fixed).
    std::map<std::vector<std::string>, std::vector<const std::vector<double>*>> groups;
    for (const auto& [key, scores] : setups) {
      std::vector<std::string> fixed = {std::to_string(std::get<0>(key)), std::get<1>(key),
                                        std::to_string(std::get<2>(key)), std::get<3>(key),
                                        std::to_string(std::get<4>(key))};
      fixed[static_cast<std::size_t>(vary)] = "*";
      groups[fixed].push_back(&scores);
    }
    std::vector<double> per_group;
    for (const auto& [fixed, vectors] : groups) {
      std::vector<double> taus;
      for (std::size_t i = 0; i < vectors.size(); ++i)
        for (std::size_t j = i + 1; j < vectors.size(); ++j) {
          double tau = stats::kendall_tau(*vectors[i], *vectors[j]);
          if (!std::isnan(tau)) taus.push_back(tau);
        }
      if (!taus.empty()) per_group.push_back(stats::numpy_mean(taus));
    }
    if (!per_group.empty()) out.emplace_back(names[vary], stats::numpy_mean(per_group));
  }
  return out;
}

SummaryTable rank_distribution(const Evaluation& e) {
  SummaryTable t;
  t.title = "rank distribution (share of setups at each rank; 1 = best, ties share the best)";
  t.rows = e.distances;
  for (std::size_t r = 1; r <= e.distances.size(); ++r) t.columns.push_back("rank " + std::to_string(r));
  t.mean = Matrix<double>(t.rows.size(), t.columns.size(), 0.0);
  double total = 0;
  for (const auto& [key, scores] : by_setup(e)) {
    auto ranks = stats::rank_min_descending(scores);
    total += 1;
    for (std::size_t d = 0; d < ranks.size(); ++d)
      if (!std::isnan(ranks[d])) t.mean(d, static_cast<std::size_t>(ranks[d]) - 1) += 1;
  }
  for (double& v : t.mean.data) v = total > 0 ? v / total : kNaN;
  t.std = Matrix<double>(t.mean.rows, t.mean.cols, kNaN);
  return t;
}

std::vector<BootstrapRanking> bootstrap_rankings(const Evaluation& e, int samples, std::uint64_t seed) {
  std::vector<BootstrapRanking> out;
  for (auto scenario : scenarios_in(e)) {
    for (auto meta : metas_in(e)) {
      // Per target: each distance's mean score over metrics and aggregates.
      std::vector<std::string> targets;
      std::map<std::string, std::vector<std::vector<double>>> per_target;
      for (const auto& r : e.rows) {
        if (r.scenario != scenario || r.meta_metric != meta) continue;
        auto& v = per_target[r.target];
        if (v.empty()) {
          v.resize(e.distances.size());
          targets.push_back(r.target);
        }
        v[position(e.distances, r.distance)].push_back(r.score);
      }
      if (targets.empty()) continue;
      Matrix<double> case_score(targets.size(), e.distances.size(), kNaN);
      for (std::size_t i = 0; i < targets.size(); ++i)
        for (std::size_t d = 0; d < e.distances.size(); ++d)
          case_score(i, d) = stats::numpy_mean(per_target[targets[i]][d]);
      BootstrapRanking br{scenario, meta, e.distances,
                          std::vector<double>(e.distances.size(), 0.0),
                          std::vector<double>(e.distances.size(), 0.0)};
      stats::SplitMix rng(seed + 7919u * static_cast<std::uint64_t>(scenario) + static_cast<std::uint64_t>(meta));
      std::vector<double> sums(e.distances.size());
      std::vector<std::size_t> counts(e.distances.size());
      for (int b = 0; b < samples; ++b) {
        std::fill(sums.begin(), sums.end(), 0.0);
        std::fill(counts.begin(), counts.end(), 0);
        for (std::size_t i = 0; i < targets.size(); ++i) {
          const auto c = rng.below(targets.size());
          for (std::size_t d = 0; d < sums.size(); ++d)
            if (!std::isnan(case_score(c, d))) sums[d] += case_score(c, d), ++counts[d];
        }
        std::vector<double> means(sums.size());
        for (std::size_t d = 0; d < sums.size(); ++d) {
          means[d] = counts[d] ? sums[d] / static_cast<double>(counts[d]) : kNaN;
          // Regret scores are "higher is better" as stored; all meta-metrics rank descending.
        }
        auto ranks = stats::rank_min_descending(means);
        for (std::size_t d = 0; d < ranks.size(); ++d) {
          br.mean_rank[d] += ranks[d] / samples;
          br.share_first[d] += ranks[d] == 1.0 ? 1.0 / samples : 0.0;
        }
      }
      out.push_back(std::move(br));
    }
  }
  return out;
}

}  // namespace taskfp
