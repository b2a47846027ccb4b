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

void inspect_h5(const std::string& path, int top) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  std::cout << path << '\n';
  for (const auto& [k, v] : h5::attrs_as_text(root.get())) std::cout << fmt::format("  {:<18} {}\n", k, v);
  const std::string kind = h5::has_attr(root.get(), "taskfp_kind") ? h5::attr_string(root.get(), "taskfp_kind") : "";
  if (kind == "features" || kind == "fingerprints") {
    auto tasks = h5::children(file.get(), "tasks");
    std::cout << fmt::format("  {} tasks:\n", tasks.size());
    for (const auto& t : tasks) {
      h5::Handle g = h5::group(file.get(), "tasks/" + t);
      std::string parts;
      for (const auto& c : h5::children(file.get(), "tasks/" + t)) {
        const auto dims = h5::shape(g.get(), c);
        // The schema's ranks: features and histograms are matrices, means lists.
        const std::size_t rank = c == "mean" ? 1 : 2;
        require(dims.size() == rank, "'{}': task '{}' has {} of rank {}, expected {}", path, t, c, dims.size(), rank);
        parts += fmt::format(" {}[{}]", c, fmt::join(dims, "x"));
      }
      std::cout << fmt::format("    {:<40} n={}{}\n", t, h5::attr_int(g.get(), "n_samples"), parts);
    }
    if (kind == "fingerprints") {
      h5::Handle g = h5::group(file.get(), "ranges");
      auto subset = h5::read_strings(g.get(), "scaling_subset");
      std::cout << fmt::format("  ranges: quantiles {}..{} over {} scaling tasks\n",
                               h5::attr_double(g.get(), "lo_quantile"),
                               h5::attr_double(g.get(), "hi_quantile"), subset.size());
    }
  } else if (kind == "distances") {
    for (const auto& metric : distance_store_metrics(path)) {
      auto m = read_distance_matrix(path, metric);
      std::cout << fmt::format("  matrix {}: {} sources x {} targets\n", metric, m.sources.size(),
                               m.targets.size());
      if (top > 0) print_nearest(m, top);
    }
  } else {
    throw InputError(fmt::format("'{}' is not a taskfp store", path));
  }
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
