// Collecting result files into the paper's outcome tables.
#include "collect.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include "core/error.hpp"
#include "io/output_files.hpp"
#include "metrics.hpp"
#include "results.hpp"

namespace taskfp::experiments {

namespace fs = std::filesystem;

namespace {

std::string py_bool(bool b) { return b ? "True" : "False"; }

// The paper's file name of a table (cache/README of IMSY-DKFZ/task-fingerprinting).
std::string table_file(StudyKind kind, const std::string& metric, bool shrunk, bool validation) {
  switch (kind) {
    case StudyKind::Baseline:
      return fmt::format("load_baseline_experiment%{}%{}%{}.csv", metric, py_bool(shrunk), py_bool(validation));
    case StudyKind::Architecture:
      return fmt::format("load_arch_experiment%{}%{}%{}.csv", metric, py_bool(shrunk), py_bool(validation));
    case StudyKind::CoTraining:
      return fmt::format("load_multi_task_experiment%{}%{}%{}.csv", metric, py_bool(shrunk), py_bool(validation));
    case StudyKind::Pretraining: return fmt::format("load_pretrain_experiment%{}%{}.csv", metric, py_bool(validation));
    case StudyKind::Augmentation:
      return fmt::format("load_augmentation_experiment%{}%{}.csv", metric, py_bool(validation));
  }
  return "";
}

// A CSV field as pandas writes it: quoted where it holds a comma, quote or line break.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

CollectReport collect_study(const StudyPlan& plan, const ExperimentConfig& config, const TaskSet& rules,
                            const std::string& study_dir, const std::string& out_dir) {
  // Per job, p for each configured metric, recomputed from the saved scores (the metrics may have
  // changed since the jobs ran); only these numbers are kept, not the scores of every job.
  using Outcomes = std::map<OutcomeMetric, double>;
  std::map<std::string, std::optional<Outcomes>> results;  // by job id
  std::vector<std::string> missing;
  auto result = [&](const Job& job) -> const Outcomes* {
    const auto id = job.id();
    auto it = results.find(id);
    if (it == results.end()) {
      std::string why;
      const auto r = read_result(result_path(study_dir, id), id, protocol_of(config, job.kind), why);
      std::optional<Outcomes> p;
      if (r) {
        p.emplace();
        for (const auto m : config.metrics) (*p)[m] = outcome(m, r->scores, r->labels, r->classes);
      } else {
        missing.push_back(fmt::format("{} ({})", id, why));
      }
      it = results.emplace(id, std::move(p)).first;
    }
    return it->second ? &*it->second : nullptr;
  };
  // Every job a table needs; missing ones listed together below.
  for (const auto& j : plan.jobs)
    if (j.kind != JobKind::PolicySearch) result(j);
  if (!missing.empty())
    throw InputError(fmt::format("{} of the study's jobs have no usable result in {}, e.g. {}: run `taskfp transfer "
                                 "run` (it makes the missing ones and keeps the rest) before collecting",
                                 missing.size(), study_dir, fmt::join(missing.begin(), missing.begin() + std::min<std::ptrdiff_t>(3, missing.size()), "; ")));
  auto train_p = [&](const std::string& arch, const std::string& variant, int seed, OutcomeMetric metric) {
    Job j;
    j.kind = JobKind::Train;
    j.architecture = arch;
    j.task = variant;
    j.seed = seed;
    const auto* r = result(j);
    if (!r) throw InputError(fmt::format("no result of job {}", j.id()));
    return r->at(metric);
  };
  std::map<std::string, const StudyTask*> tasks;
  for (const auto& t : plan.tasks) tasks[t.name] = &t;

  MadeFolders made(out_dir);
  fs::create_directories(fs::path(out_dir) / "exp");
  OutputSet outputs;
  CollectReport report;
  const auto& candidates = config.scenario(StudyKind::Architecture).candidates;
  for (const auto metric_kind : config.metrics) {
    const std::string metric = metric_name(metric_kind);
    for (const auto& table : plan.tables) {
      std::string text;
      if (table.kind == StudyKind::Baseline) {
        // Wide: a column per target, a row per seed (in the config's seed order).
        std::vector<std::string> targets;
        std::map<std::pair<int, std::string>, double> value;
        for (const auto& c : table.cells) {
          if (std::find(targets.begin(), targets.end(), c.target) == targets.end()) targets.push_back(c.target);
          value[{c.seed, c.target}] = result(plan.jobs[c.job])->at(metric_kind);
        }
        text = ",";
        for (std::size_t i = 0; i < targets.size(); ++i) text += (i ? "," : "") + field(targets[i]);
        text += "\n";
        for (std::size_t r = 0; r < config.seeds.size(); ++r) {
          text += std::to_string(r);
          for (const auto& t : targets) text += fmt::format(",{}", value.at({config.seeds[r], t}));
          text += "\n";
        }
        report.rows += table.cells.size();
      } else {
        text = ",r,s,t,p\n";
        std::size_t row = 0;
        for (const auto& c : table.cells) {
          double p = 0;
          if (table.kind == StudyKind::Architecture) {
            // The winner on the source, trained on the target variant of the table.
            std::string winner;
            double best = -1;
            for (const auto& a : candidates) {
              const double score = train_p(a, c.source, c.seed, metric_kind);
              if (score > best) {
                best = score;
                winner = a;
              }
            }
            const bool shrunk = table.shrunk && tasks.at(c.target)->shrinkable;
            p = train_p(winner, shrunk ? plan.shrunk_name(c.target) : c.target, c.seed, metric_kind);
          } else {
            p = result(plan.jobs[c.job])->at(metric_kind);
          }
          text += fmt::format("{},{},{},{},{}\n", row++, c.seed, field(c.source), field(c.target), p);
        }
        report.rows += table.cells.size();
      }
      const auto path = (fs::path(out_dir) / "exp" / table_file(table.kind, metric, table.shrunk, table.validation)).string();
      write_text_file(path, text, &outputs);
      report.files.push_back(path);
    }
  }
  // Task metadata (the columns `taskfp evaluate` reads) and the rules.
  std::string info = ",name,num_classes,num_samples,keywords\n";
  for (std::size_t i = 0; i < plan.tasks.size(); ++i)
    info += fmt::format("{},{},{},{},[]\n", i, field(plan.tasks[i].name), plan.tasks[i].classes, plan.tasks[i].samples);
  const auto info_path = (fs::path(out_dir) / "task_infos.csv").string();
  write_text_file(info_path, info, &outputs);
  report.files.push_back(info_path);
  std::string yaml = fmt::format("# The rules of study '{}' (taskfp transfer collect): for taskfp evaluate --tasks.\n"
                                 "name: {}\nshrunk_suffix: \"{}\"\ndevelopment:\n",
                                 plan.name, plan.name, plan.shrunk_suffix);
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  };
  for (const auto& t : rules.development()) yaml += "  - " + quoted(t) + "\n";
  yaml += rules.development().empty() ? "  []\n" : "";
  yaml += "validation:\n";
  for (const auto& t : rules.validation()) yaml += "  - " + quoted(t) + "\n";
  std::vector<std::string> not_shrinkable;
  for (const auto& t : plan.tasks)
    if (!t.shrinkable) not_shrinkable.push_back(t.name);
  yaml += "not_shrinkable:\n";
  for (const auto& t : not_shrinkable) yaml += "  - " + quoted(t) + "\n";
  if (not_shrinkable.empty()) yaml += "  []\n";
  const auto groups = rules.groups();
  if (!groups.empty()) {
    yaml += "groups:\n";
    for (const auto& [g, members] : groups) {
      yaml += "  " + quoted(g) + ":\n";
      for (const auto& m : members) yaml += "    - " + quoted(m) + "\n";
    }
  }
  const auto rules_path = (fs::path(out_dir) / "tasks.yaml").string();
  write_text_file(rules_path, yaml, &outputs);
  report.files.push_back(rules_path);
  outputs.commit();
  made.keep();
  return report;
}

}  // namespace taskfp::experiments
