// `taskfp fingerprint`: features -> bin ranges -> histograms, means, covariances.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "distance/distance.hpp"
#include "core/error.hpp"
#include "core/task_list.hpp"
#include "core/text.hpp"
#include "fingerprint/fingerprint.hpp"
#include "io/output_files.hpp"
#include "store/fingerprint_store.hpp"

namespace taskfp::cli {

void add_fingerprint(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "fingerprint",
      "Compute task fingerprints (per-feature histograms, means, covariances) from features");
  struct Opts {
    std::vector<std::string> features;
    std::string out, scaling, ranges, tasks, bins = "100,1000", quantiles = "0.05,0.95";
    bool no_cov = false;
    std::size_t min_samples = 2;
    std::string backend = "auto";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-f,--features", o->features,
                  "Features: a store (.h5) or a folder <dir>/<task>/features_0001.npy; repeat to "
                  "combine several")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("-o,--output", o->out, "Fingerprint store to write (.h5)")->required();
  auto* scaling = cmd->add_option(
      "--scaling-subset", o->scaling,
      "Tasks whose stacked features give the bin ranges: 'a,b', '@file', 'set.yaml#key' or 'all' "
      "(the paper: configs/tasksets/paper.yaml#development)");
  auto* ranges = cmd->add_option("--ranges", o->ranges,
                                 "Reuse the bin ranges of this fingerprint store (the published "
                                 "protocol) instead of computing them")
                    ->check(CLI::ExistingFile);
  scaling->excludes(ranges);
  cmd->add_option("--tasks", o->tasks, "Fingerprint only these tasks (default: all)");
  cmd->add_option("--bins", o->bins, "Bin counts, comma-separated")->capture_default_str();
  cmd->add_option("--quantiles", o->quantiles, "Lower,upper quantile of the ranges")->capture_default_str();
  cmd->add_flag("--no-covariance", o->no_cov, "Skip covariances (FID and MMD-coral need them)");
  cmd->add_option("--min-samples", o->min_samples, "Refuse tasks with fewer samples")->capture_default_str();
  cmd->add_option("--backend", o->backend,
                  "Where the histograms are counted: auto (the GPU when one is usable), cpu, cuda. "
                  "Counts are identical either way")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  cmd->callback([o, &g] {
    require_writable_file(o->out, "--output");
    require(!o->scaling.empty() || !o->ranges.empty(),
            "give --scaling-subset (tasks to compute the bin ranges from) or --ranges (a "
            "fingerprint store whose ranges to reuse)");
    std::vector<int> bins;
    for (const auto& part : split(o->bins, ',')) {
      auto b = parse_number<int>(trim(part));
      require(b.has_value() && *b >= 1, "--bins: '{}' is not a positive integer", part);
      bins.push_back(*b);
    }
    // The backend first: an unusable --backend cuda is known before any feature is read.
    std::string backend_note;
    const auto& backend = compute::select(o->backend, &backend_note);
    detail(g, backend_note);
    FeatureLoadOptions lo;
    lo.min_samples = o->min_samples;
    FeatureSet features;
    for (const auto& path : o->features) {
      detail(g, "reading features from " + path);
      auto part = out_of_memory_as_error("reading '" + path + "'", [&] { return load_features(path, lo); });
      if (features.tasks.empty()) {
        features = std::move(part);
        continue;
      }
      require_compatible(features.provenance, "'" + o->features.front() + "'", part.provenance,
                         "'" + path + "'");
      for (auto& t : part.tasks) features.tasks.push_back(std::move(t));
    }
    validate_features(features, o->min_samples, "the combined features");

    BinRanges ranges;
    if (!o->ranges.empty()) {
      ranges = read_ranges(o->ranges);
      require_compatible(ranges.provenance, "the bin ranges of '" + o->ranges + "'", features.provenance,
                         fmt::format("the features '{}'", fmt::join(o->features, "', '")));
      info(g, fmt::format("reusing bin ranges of {} ({} features, from {} scaling tasks)",
                          o->ranges, ranges.dim(), ranges.scaling_subset.size()));
    } else {
      auto q = split(o->quantiles, ',');
      require(q.size() == 2, "--quantiles takes two numbers, e.g. 0.05,0.95");
      auto qlo = parse_number<double>(trim(q[0])), qhi = parse_number<double>(trim(q[1]));
      require(qlo && qhi, "--quantiles: '{}' are not numbers", o->quantiles);
      auto subset = o->scaling == "all" ? features.names() : parse_task_list(o->scaling);
      ranges = compute_ranges(features, subset, *qlo, *qhi);
      info(g, fmt::format("bin ranges from {} scaling tasks ({} features)", subset.size(),
                          ranges.dim()));
    }
    if (!o->tasks.empty()) {
      auto wanted = parse_task_list(o->tasks);
      require_tasks_present(wanted, features.names(), "the features");
      FeatureSet subset;
      subset.provenance = features.provenance;
      for (const auto& n : wanted) subset.tasks.push_back(features.at(n));
      features = std::move(subset);
    }
    ProgressMeter meter("fingerprint", !g.quiet);
    FingerprintOptions fo;
    fo.bins = bins;
    fo.covariance = !o->no_cov;
    fo.progress = meter.callback();
    fo.backend = &backend;
    auto fps = out_of_memory_as_error(fmt::format("fingerprinting {} tasks", features.tasks.size()),
                                      [&] { return fingerprint(features, ranges, fo); });
    write_fingerprint_store(o->out, fps);
    info(g, fmt::format("wrote fingerprints of {} tasks (bins {}) to {}", fps.tasks.size(),
                        o->bins, o->out));
  });
}

}  // namespace taskfp::cli
