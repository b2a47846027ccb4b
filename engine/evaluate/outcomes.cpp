// Outcome tables: reading, checking, aggregating over seeds.
#include "evaluate/outcomes.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"
#include "evaluate/stats.hpp"
#include "io/csv.hpp"

namespace taskfp {

std::string scenario_label(Scenario s) {
  switch (s) {
    case Scenario::Architecture: return "Model Architecture";
    case Scenario::Pretraining: return "Pretraining Data";
    case Scenario::Augmentation: return "Augmentation Policy";
    case Scenario::CoTraining: return "Co-Training Data";
  }
  return "";
}

std::string scenario_key(Scenario s) {
  switch (s) {
    case Scenario::Architecture: return "arch";
    case Scenario::Pretraining: return "pretrain";
    case Scenario::Augmentation: return "augment";
    case Scenario::CoTraining: return "cotrain";
  }
  return "";
}

Scenario parse_scenario(const std::string& text) {
  for (auto s : kAllScenarios)
    if (text == scenario_key(s) || text == scenario_label(s)) return s;
  throw InputError(fmt::format("unknown scenario '{}': use arch, pretrain, augment or cotrain", text));
}

std::string aggregate_name(SeedAggregate a) {
  switch (a) {
    case SeedAggregate::Mean: return "mean";
    case SeedAggregate::Min: return "min";
    case SeedAggregate::Max: return "max";
    case SeedAggregate::Median: return "median";
    case SeedAggregate::First: return "seed1";
    case SeedAggregate::Second: return "seed2";
    case SeedAggregate::Third: return "seed3";
  }
  return "";
}

SeedAggregate parse_aggregate(const std::string& text) {
  for (auto a : {SeedAggregate::Mean, SeedAggregate::Min, SeedAggregate::Max, SeedAggregate::Median,
                 SeedAggregate::First, SeedAggregate::Second, SeedAggregate::Third})
    if (text == aggregate_name(a)) return a;
  throw InputError(fmt::format(
      "unknown seed aggregate '{}': use mean, min, max, median, seed1, seed2 or seed3", text));
}

OutcomeTable read_outcomes(const std::string& path) {
  auto rows = read_csv_file(path);
  require(!rows.empty(), "outcome table '{}' is empty", path);
  const auto& header = rows.front().fields;
  auto col = [&](const char* name) {
    auto it = std::find(header.begin(), header.end(), name);
    require(it != header.end(), "outcome table '{}' has no column '{}' (expected r, s, t, p)", path, name);
    return static_cast<std::size_t>(it - header.begin());
  };
  const auto cr = col("r"), cs = col("s"), ct = col("t"), cp = col("p");
  OutcomeTable t;
  t.path = path;
  std::unordered_map<std::string, std::uint32_t> ids;
  auto intern = [&](const std::string& name) {
    auto [it, fresh] = ids.emplace(name, static_cast<std::uint32_t>(t.names.size()));
    if (fresh) t.names.push_back(name);
    return it->second;
  };
  // (seed, source, target) packed into one key for the duplicate check.
  std::unordered_map<std::uint64_t, std::size_t> seen;
  auto key = [](int r, std::uint32_t s, std::uint32_t tt) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(r)) << 40) ^
           (static_cast<std::uint64_t>(s) << 20) ^ tt;
  };
  // Parsed as the reference's pandas read it (see FloatParser). A missing outcome is refused, not
  // skipped: aggregates over the seeds would silently differ (the mean skips it, min and max
  // would not).
  const CsvNumberRule performance{
      .missing_ok = false,
      .infinite_ok = false,
      .parser = FloatParser::PandasDefault,
      .refusal_hint =
          "a transfer outcome must be a finite number: fill it in, or drop that "
          "source-target pair's rows for every seed"};
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i].fields;
    const std::size_t line = rows[i].line;
    require(row.size() == header.size(), "'{}' line {}: {} fields, the header has {}", path, line,
            row.size(), header.size());
    auto r = parse_number<int>(trim(row[cr]));
    require(r.has_value() && *r >= 0, "{}: seed {} is not a non-negative integer",
            csv_location(path, rows[i], cr, header[cr]), csv_shown(row[cr]));
    const double v = csv_number_field(path, rows[i], cp, header[cp], performance);
    const auto s = intern(row[cs]), tt = intern(row[ct]);
    require(seen.emplace(key(*r, s, tt), i).second,
            "'{}' line {}: duplicate row for seed {}, source '{}', target '{}'", path, line, *r,
            row[cs], row[ct]);
    t.seeds.push_back(*r);
    t.sources.push_back(s);
    t.targets.push_back(tt);
    t.performance.push_back(v);
  }
  require(!t.seeds.empty(), "outcome table '{}' has no rows", path);
  require(t.names.size() < (1u << 20), "outcome table '{}' names too many tasks", path);
  // Every pair must have every seed that occurs in the table.
  std::set<int> all_seeds(t.seeds.begin(), t.seeds.end());
  std::unordered_map<std::uint64_t, std::size_t> pair_count;
  for (std::size_t i = 0; i < t.seeds.size(); ++i) ++pair_count[key(0, t.sources[i], t.targets[i])];
  for (std::size_t i = 0; i < t.seeds.size(); ++i) {
    if (pair_count[key(0, t.sources[i], t.targets[i])] == all_seeds.size()) continue;
    std::string missing;
    for (int r : all_seeds)
      if (!seen.count(key(r, t.sources[i], t.targets[i])))
        missing += fmt::format("{}{}", missing.empty() ? "" : ", ", r);
    throw InputError(fmt::format("outcome table '{}': source '{}' -> target '{}' lacks seed(s) {}",
                                 path, t.names[t.sources[i]], t.names[t.targets[i]], missing));
  }
  return t;
}

OutcomeMatrix::OutcomeMatrix(const OutcomeTable& table, SeedAggregate aggregate) {
  int only_seed = -1;
  if (aggregate == SeedAggregate::First) only_seed = 0;
  if (aggregate == SeedAggregate::Second) only_seed = 1;
  if (aggregate == SeedAggregate::Third) only_seed = 2;
  const std::size_t n = table.names.size();
  for (std::size_t i = 0; i < n; ++i) index_.emplace(table.names[i], i);
  is_target_.assign(n, 0);
  // Seeds of each pair in table order (the order pandas' groupby sees them).
  std::vector<std::vector<double>> groups(n * n);
  std::size_t rows = 0;
  for (std::size_t i = 0; i < table.seeds.size(); ++i) {
    if (only_seed >= 0 && table.seeds[i] != only_seed) continue;
    groups[table.sources[i] * n + table.targets[i]].push_back(table.performance[i]);
    is_target_[table.targets[i]] = 1;
    ++rows;
  }
  require(rows > 0, "outcome table '{}' has no rows for aggregate {}", table.path, aggregate_name(aggregate));
  values_ = Matrix<double>(n, n, std::nan(""));
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& v = groups[g];
    if (v.empty()) continue;
    double value;
    switch (aggregate) {
      case SeedAggregate::Mean: value = stats::pandas_group_mean(v); break;
      case SeedAggregate::Median: value = stats::median(v); break;
      case SeedAggregate::Min: value = *std::min_element(v.begin(), v.end()); break;
      default: value = *std::max_element(v.begin(), v.end()); break;  // max; single seeds
    }
    values_.data[g] = value;
  }
}

bool OutcomeMatrix::has_target(const std::string& target) const {
  auto it = index_.find(target);
  return it != index_.end() && is_target_[it->second];
}

double OutcomeMatrix::at(const std::string& source, const std::string& target) const {
  auto s = index_.find(source);
  auto t = index_.find(target);
  if (s == index_.end() || t == index_.end()) return std::nan("");
  return values_(s->second, t->second);
}

BaselineTable read_baseline_table(const std::string& path) {
  auto rows = read_csv_file(path);
  require(rows.size() >= 2, "baseline table '{}' has no rows", path);
  const auto& header = rows.front().fields;
  // As the outcomes: min, max and median over seeds with a missing one would be order-dependent.
  const CsvNumberRule baseline{
      .missing_ok = false,
      .infinite_ok = false,
      .parser = FloatParser::PandasDefault,
      .refusal_hint = "a baseline outcome must be a finite number: fill it in"};
  for (std::size_t r = 1; r < rows.size(); ++r)
    require(rows[r].fields.size() == header.size(), "'{}' line {}: {} fields, the header has {}",
            path, rows[r].line, rows[r].fields.size(), header.size());
  BaselineTable t;
  t.path = path;
  for (std::size_t c = 1; c < header.size(); ++c) {
    std::vector<double> v;
    for (std::size_t r = 1; r < rows.size(); ++r)
      v.push_back(csv_number_field(path, rows[r], c, header[c], baseline));
    t.tasks.push_back(header[c]);
    t.seeds.push_back(std::move(v));
  }
  return t;
}

std::unordered_map<std::string, double> aggregate_baselines(const BaselineTable& table, SeedAggregate aggregate) {
  std::unordered_map<std::string, double> out;
  for (std::size_t c = 0; c < table.tasks.size(); ++c) {
    const auto& v = table.seeds[c];
    double value = std::nan("");
    switch (aggregate) {
      case SeedAggregate::Mean: {
        // DataFrame.mean(): the plain sum of the seeds divided by their count.
        double sum = 0;
        std::size_t n = 0;
        for (double x : v)
          if (!std::isnan(x)) sum += x, ++n;
        value = n ? sum / static_cast<double>(n) : std::nan("");
        break;
      }
      case SeedAggregate::Median: value = stats::median(v); break;
      case SeedAggregate::Min: value = *std::min_element(v.begin(), v.end()); break;
      case SeedAggregate::Max: value = *std::max_element(v.begin(), v.end()); break;
      case SeedAggregate::First: value = v.at(0); break;
      case SeedAggregate::Second:
        require(v.size() >= 2, "baseline table '{}' has no second seed", table.path);
        value = v[1];
        break;
      case SeedAggregate::Third:
        require(v.size() >= 3, "baseline table '{}' has no third seed", table.path);
        value = v[2];
        break;
    }
    out[table.tasks[c]] = value;
  }
  return out;
}

std::unordered_map<std::string, double> read_baselines(const std::string& path, SeedAggregate aggregate) {
  return aggregate_baselines(read_baseline_table(path), aggregate);
}

OutcomeData load_outcome_data(const std::string& cache_dir, const std::vector<Scenario>& scenarios,
                              const std::vector<std::string>& metrics, bool validation) {
  OutcomeData d;
  // In the order an evaluation uses them, so a bad file is reported as it would be met.
  for (auto s : scenarios)
    for (const auto& metric : metrics) {
      d.transfer[{s, metric}] = read_outcomes(outcome_file(cache_dir, s, metric, validation));
      if (d.baseline_shrunk.count(metric)) continue;
      d.baseline_shrunk[metric] = read_baseline_table(baseline_file(cache_dir, metric, true, validation));
      d.baseline_full[metric] = read_baseline_table(baseline_file(cache_dir, metric, false, validation));
    }
  return d;
}

namespace {
std::string py_bool(bool b) { return b ? "True" : "False"; }
}  // namespace

std::string outcome_file(const std::string& cache_dir, Scenario s, const std::string& metric, bool validation) {
  std::string name;
  switch (s) {
    case Scenario::Architecture: name = "load_arch_experiment%" + metric + "%True%"; break;
    case Scenario::Pretraining: name = "load_pretrain_experiment%" + metric + "%"; break;
    case Scenario::Augmentation: name = "load_augmentation_experiment%" + metric + "%"; break;
    case Scenario::CoTraining: name = "load_multi_task_experiment%" + metric + "%True%"; break;
  }
  return (std::filesystem::path(cache_dir) / "exp" / (name + py_bool(validation) + ".csv")).string();
}

std::string baseline_file(const std::string& cache_dir, const std::string& metric, bool shrunk, bool validation) {
  return (std::filesystem::path(cache_dir) / "exp" /
          ("load_baseline_experiment%" + metric + "%" + py_bool(shrunk) + "%" + py_bool(validation) + ".csv"))
      .string();
}

}  // namespace taskfp
