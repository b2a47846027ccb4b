// `taskfp evaluate`: distance matrices + the paper's transfer outcomes -> meta-metric tables.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/install_paths.hpp"
#include "core/error.hpp"
#include "io/output_files.hpp"
#include "core/text.hpp"
#include "evaluate/distance_inputs.hpp"
#include "evaluate/report.hpp"

namespace taskfp::cli {
namespace {

namespace fs = std::filesystem;

template <typename T, typename Parse>
std::vector<T> parse_list(const std::string& text, Parse parse) {
  std::vector<T> out;
  for (const auto& part : split(text, ',')) {
    auto t = std::string(trim(part));
    if (!t.empty()) out.push_back(parse(t));
  }
  return out;
}

}  // namespace

void add_evaluate(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "evaluate",
      "Evaluate distances as source selectors against transfer outcomes (the paper's four studies)");
  cmd->footer(
      "Inputs are found by the paper's naming in --cache: exp/load_<kind>_experiment%<metric>%...csv\n"
      "(outcomes, columns r,s,t,p), exp/load_baseline_experiment%...csv, distances/<name>.csv and\n"
      "task_infos.csv. Get the paper's: clone IMSY-DKFZ/task-fingerprinting and use its cache/ folder.\n"
      "Outputs in --output: scores.csv (one row per scenario, distance, metric, aggregate, target,\n"
      "meta-metric), summary_<meta>.csv and _std.csv (rows = distances, columns = scenarios),\n"
      "win_rates.csv, stability.csv, rank_distribution.csv, bootstrap_ranks.csv, report.md,\n"
      "ranking.svg and heatmap.svg.");
  struct Opts {
    std::string cache, out, tasks = data_file("configs/tasksets/paper.yaml"), task_info, split = "validation";
    std::vector<std::string> distances;
    std::string scenarios = "arch,pretrain,augment,cotrain", metrics = "AUROC,BA", aggregates = "mean";
    std::string meta = "regret,rank,gain,delta,weightedtau", mode = "avg", zscore = "global";
    int top_k = 3, bootstrap = 1000;
    std::uint64_t seed = 1;
    double min_samples = 1;
    bool exact_parse = false, full_targets = false;
    std::vector<double> p2l_weights = {kP2LWeights.similarity, kP2LWeights.samples};
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-c,--cache", o->cache, "Folder laid out like the paper's cache/ (outcomes, baselines, task info)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("-o,--output", o->out, "Folder for the tables, report and figures")->required();
  cmd->add_option("-d,--distances", o->distances,
                  "Distance matrices: CSV files (paper format), .h5 stores (all matrices, or "
                  "store.h5#METRIC), or names in <cache>/distances/; P2L is KLD-PP:NN scored with the "
                  "source-size meta-feature (--p2l-weights). Default: the paper's 8 candidates");
  cmd->add_option("--p2l-weights", o->p2l_weights,
                  "P2L's affinity = SIM x KLD-PP:NN's affinity + SAM x zscore(boxcox(source sample count)) over "
                  "the task info table's tasks; give SIM,SAM")
      ->delimiter(',')
      ->expected(2)
      ->capture_default_str();
  cmd->add_option("--tasks", o->tasks, "Task set YAML (split, groups, shrinkable tasks)")->capture_default_str();
  cmd->add_option("--task-info", o->task_info, "Task metadata CSV (default: <cache>/task_infos.csv)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--split", o->split, "Targets: validation (the paper's report) or development")
      ->check(CLI::IsMember({"validation", "development"}))->capture_default_str();
  cmd->add_option("--scenarios", o->scenarios, "Comma list of arch, pretrain, augment, cotrain")->capture_default_str();
  cmd->add_option("--metrics", o->metrics, "Outcome metrics, comma list (AUROC, BA)")->capture_default_str();
  cmd->add_option("--aggregates", o->aggregates,
                  "Seed aggregates, comma list of mean, min, max, median, seed1, seed2, seed3")->capture_default_str();
  cmd->add_option("--meta-metrics", o->meta,
                  "Comma list of regret, rank, delta, gain, ratio, weightedtau, pearson, spearman, kendall")->capture_default_str();
  cmd->add_option("-k,--top-k", o->top_k, "Sources chosen per target")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--mode", o->mode, "avg: mean over the k chosen sources; best: the best of them")
      ->check(CLI::IsMember({"avg", "best"}))->capture_default_str();
  cmd->add_option("--zscore", o->zscore, "Affinities z-scored over the whole matrix or per target column")
      ->check(CLI::IsMember({"global", "per-target"}))->capture_default_str();
  cmd->add_option("--min-samples", o->min_samples, "Sources need at least this many samples")->capture_default_str();
  cmd->add_flag("--full-targets", o->full_targets, "Use the full (not shrunk) target columns");
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap samples for the rankings")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "Seed of the bootstrap")->capture_default_str();
  cmd->add_flag("--exact-parse", o->exact_parse,
                "Parse CSV numbers correctly rounded instead of as pandas' default parser did for the "
                "published numbers (see docs/numerics.md)");
  cmd->callback([o, &g] {
    const auto start = std::chrono::steady_clock::now();
    require_writable_folder(o->out, "--output");
    const auto parser = o->exact_parse ? FloatParser::Exact : FloatParser::PandasDefault;
    require(fs::is_directory(fs::path(o->cache) / "exp"),
            "'{}' has no exp/ folder of transfer outcomes. Point --cache at a folder laid out like "
            "the paper's cache/ (clone IMSY-DKFZ/task-fingerprinting and use its cache/ folder)",
            o->cache);
    EvaluationConfig cfg;
    cfg.cache_dir = o->cache;
    cfg.validation = o->split == "validation";
    cfg.scenarios = parse_list<Scenario>(o->scenarios, parse_scenario);
    cfg.metrics = parse_list<std::string>(o->metrics, [](const std::string& s) {
      require(s == "AUROC" || s == "BA", "unknown outcome metric '{}': use AUROC or BA", s);
      return s;
    });
    cfg.aggregates = parse_list<SeedAggregate>(o->aggregates, parse_aggregate);
    cfg.meta_metrics = parse_list<MetaMetric>(o->meta, parse_meta_metric);
    cfg.top_k = o->top_k;
    cfg.mode = o->mode == "best" ? TopMode::Best : TopMode::Avg;
    cfg.zscore = o->zscore == "global" ? ZScoreAxis::Global : ZScoreAxis::PerTarget;
    cfg.min_samples = o->min_samples;
    cfg.shrunk_targets = !o->full_targets;
    cfg.meta_weights["P2L"] = {o->p2l_weights.at(0), o->p2l_weights.at(1)};

    const auto specs = o->distances.empty() ? paper_candidates_in(o->cache) : o->distances;
    require(!specs.empty(), "no distances given and none of the paper's in '{}/distances'", o->cache);
    auto distances = load_distance_matrices(specs, o->cache, parser);
    auto tasks = TaskSet::load(o->tasks);
    auto info = read_task_info(o->task_info.empty() ? (fs::path(o->cache) / "task_infos.csv").string() : o->task_info);
    detail(g, fmt::format("evaluating {} distances on {} targets", distances.size(),
                          evaluation_targets(tasks, info, cfg.validation).size()));

    auto lap = [&, t0 = start]() mutable {
      auto now = std::chrono::steady_clock::now();
      double secs = std::chrono::duration<double>(now - t0).count();
      t0 = now;
      return secs;
    };
    detail(g, fmt::format("inputs read in {:.3f} s", lap()));
    auto ev = evaluate(distances, tasks, info, cfg);
    detail(g, fmt::format("{} scores computed in {:.3f} s", ev.rows.size(), lap()));
    ReportOptions ro;
    ro.bootstrap_samples = o->bootstrap;
    ro.seed = o->seed;
    ro.heatmap = &distances.front();
    ro.tasks = &tasks;
    ro.description = fmt::format(
        "Setup: {} targets, scenarios {}, metrics {}, seed aggregates {}, top-{} ({}), z-score {}, "
        "min samples {}, {} target columns.",
        o->split, o->scenarios, o->metrics, o->aggregates, o->top_k, o->mode, o->zscore,
        o->min_samples, o->full_targets ? "full" : "shrunk");
    auto files = write_evaluation(o->out, ev, ro);
    detail(g, fmt::format("tables, report and figures written in {:.3f} s", lap()));
    for (const auto& n : ev.notes) warn(n);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!g.quiet) {
      std::cout << regret_table_text(ev);
      std::cout << fmt::format("{} scores in {:.3f} s; {} files in {} (report.md)\n", ev.rows.size(), secs,
                               files.size(), o->out);
    }
  });
}

}  // namespace taskfp::cli
