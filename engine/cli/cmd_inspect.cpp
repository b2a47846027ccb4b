// `taskfp inspect`: what is in a store (kind, provenance, tasks, shapes), or a distance CSV;
// with --top K, each target's closest sources.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "store/distance_store.hpp"
#include "store/features_store.hpp"
#include "store/fingerprint_store.hpp"
#include "store/fisher_store.hpp"

namespace taskfp::cli {
namespace {

void print_nearest(const DistanceMatrix& m, int k) {
  std::cout << fmt::format("closest sources per target ({}):\n", m.metric);
  for (std::size_t t = 0; t < m.targets.size(); ++t) {
    std::vector<std::size_t> order;
    for (std::size_t s = 0; s < m.sources.size(); ++s)
      if (m.sources[s] != m.targets[t] && !std::isnan(m.values(s, t))) order.push_back(s);
    std::stable_sort(order.begin(), order.end(),
                     [&](auto a, auto b) { return m.values(a, t) < m.values(b, t); });
    std::string line;
    for (std::size_t i = 0; i < order.size() && i < static_cast<std::size_t>(k); ++i)
      line += fmt::format("{}{} ({:.4g})", i ? ", " : "", m.sources[order[i]], m.values(order[i], t));
    std::cout << fmt::format("  {:<28} <- {}\n", m.targets[t], line);
  }
}

// Through the stores' own readers, so that inspect accepts and refuses the stores the other
// commands accept and refuse (features and fingerprints one task at a time: a store may exceed
// memory).
// Everything is read before anything is printed.
void inspect_h5(const std::string& path, int top) {
  std::string kind;
  std::string out = path + "\n";
  {
    h5::Handle file = h5::open_read(path);
    h5::Handle root = h5::group(file.get(), "/");
    for (const auto& [k, v] : h5::attrs_as_text(root.get()))
      out += fmt::format("  {:<18} {}\n", k, v);
    require(h5::has_attr(root.get(), "taskfp_kind"), "'{}' is an HDF5 file but not a taskfp store",
            path);
    kind = h5::attr_string(root.get(), "taskfp_kind");
  }
  if (kind == "features") {
    std::string lines;
    std::size_t tasks = 0;
    visit_features_store(path, {.tasks = std::nullopt, .min_samples = 1},
                         [&](const Provenance&, TaskFeatures&& t) {
                           ++tasks;
                           lines += fmt::format("    {:<40} n={} features[{}x{}]\n", t.name,
                                                t.values.rows, t.values.rows, t.values.cols);
                         });
    out += fmt::format("  {} tasks:\n{}", tasks, lines);
  } else if (kind == "fingerprints") {
    // One task at a time too, each read as `distance` reads it; first the header and ranges.
    std::vector<std::string> names;
    {
      h5::Handle file = h5::open_read(path);
      names = h5::children(file.get(), "tasks");
    }
    FingerprintLoadOptions options;
    options.tasks = std::vector<std::string>{};
    const BinRanges ranges = read_fingerprint_store(path, options).ranges;
    out += fmt::format("  {} tasks:\n", names.size());
    for (const auto& name : names) {
      options.tasks = {name};
      const auto set = read_fingerprint_store(path, options);
      const TaskFingerprint& t = set.tasks.front();
      std::string parts = fmt::format(" mean[{}]", set.dim());
      if (!t.covariance.empty()) parts += fmt::format(" covariance[{}x{}]", set.dim(), set.dim());
      for (const auto& [b, h] : t.histograms)
        parts += fmt::format(" hist_{}[{}x{}]", b, h.rows, h.cols);
      out += fmt::format("    {:<40} n={}{}\n", t.name, t.n_samples, parts);
    }
    out += fmt::format("  ranges: quantiles {}..{} over {} scaling tasks\n", ranges.lo_quantile,
                       ranges.hi_quantile, ranges.scaling_subset.size());
  } else if (kind == "fisher") {
    const auto set = read_fisher_store(path);
    out += fmt::format("  {} kept parameter{} ({} values): {} .. {}\n", set.parameter_names.size(),
                       set.parameter_names.size() == 1 ? "" : "s",
                       set.provenance.feature_dim, set.parameter_names.front(), set.parameter_names.back());
    out += fmt::format("  {} task{}:\n", set.tasks.size(), set.tasks.size() == 1 ? "" : "s");
    for (const auto& t : set.tasks)
      out += fmt::format("    {:<40} embedding[{}] fisher_images={} probe_loss={:.4f} {} {:.1f} s\n", t.task,
                         t.values.size(), t.fisher_images, t.head_loss, t.device, t.seconds);
  } else if (kind == "distances") {
    std::vector<DistanceMatrix> matrices;
    for (const auto& metric : distance_store_metrics(path))
      matrices.push_back(read_distance_matrix(path, metric));
    std::cout << out;
    for (const auto& m : matrices) {
      std::cout << fmt::format("  matrix {}: {} sources x {} targets\n", m.metric, m.sources.size(),
                               m.targets.size());
      if (top > 0) print_nearest(m, top);
    }
    return;
  } else {
    throw InputError(fmt::format("'{}' is a '{}' store, which taskfp does not read", path, kind));
  }
  std::cout << out;
}

}  // namespace

void add_inspect(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand("inspect", "Show what a store (or a distance CSV) holds and its provenance");
  struct Opts {
    std::string path;
    int top = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("file", o->path, "Features, fingerprint or distance store (.h5), or a distance CSV")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--top", o->top, "For distances: list each target's K closest sources")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o] {
    if (std::filesystem::path(o->path).extension() == ".csv") {
      auto m = read_distance_csv(o->path);
      std::cout << fmt::format("{}: distance matrix {} sources x {} targets\n", o->path,
                               m.sources.size(), m.targets.size());
      if (o->top > 0) print_nearest(m, o->top);
      return;
    }
    inspect_h5(o->path, o->top);
  });
}

}  // namespace taskfp::cli
