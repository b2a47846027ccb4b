// `taskfp distance`: fingerprints -> one S x T matrix per metric spec (HDF5 and/or CSV).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/task_list.hpp"
#include "mpi/distance_ranks.hpp"
#include "mpi/world.hpp"
#include "distance/distance.hpp"
#include "io/output_files.hpp"
#include "store/distance_store.hpp"
#include "store/fingerprint_store.hpp"
#include "store/fisher_store.hpp"

namespace taskfp::cli {

void add_distance(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "distance", "Compute full distance matrices (rows = sources, columns = targets)");
  struct Opts {
    std::string fingerprints, out, csv_dir, sources, targets, task_info, features, backend = "auto";
    double hold_gb = 0;
    std::vector<std::string> metrics, fisher;
    bool list = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-f,--fingerprints", o->fingerprints, "Fingerprint store (.h5)")->check(CLI::ExistingFile);
  cmd->add_option("-m,--metric", o->metrics,
                  "Metric spec or alias (repeatable), e.g. bkld-small, KLD-PP:NS-1000-BINS, FID");
  cmd->add_option("-o,--output", o->out, "Distance store to write (.h5)");
  cmd->add_option("--csv-dir", o->csv_dir,
                  "Also write <metric>.csv per metric here, in the paper's cache format");
  cmd->add_option("--sources", o->sources, "Source tasks (rows): 'a,b', '@file', 'set.yaml#key' (default: all)");
  cmd->add_option("--targets", o->targets, "Target tasks (columns), same forms (default: all)");
  cmd->add_option("--task-info", o->task_info, "Task metadata CSV (task_infos.csv), for SEMANTIC")
      ->check(CLI::ExistingFile);
  cmd->add_option("--features", o->features,
                  "Raw features (store or npy folder), for the kernel MMDs (MMD-cauchy/gaussian) and the Sinkhorn "
                  "divergence (MMD-geo-sinkhorn); O(n^2 d) per pair")
      ->check(CLI::ExistingPath);
  cmd->add_option("--sinkhorn-memory", o->hold_gb,
                  "GB of cost matrices one Sinkhorn pair may hold (0, the default: a quarter of the machine's "
                  "memory; under Slurm give the job's share). Larger pairs compute their cost matrices again on "
                  "every pass, in slabs: the same values, several times the GEMM time (a warning says so). On the "
                  "CPU backend; with the CUDA backend a pair holds what fits 80% of the free device memory")
      ->check(number_where([](double gb) { return gb >= 0; }, "GB >= 0", "a number of GB, 0 or more"));
  cmd->add_option("--fisher", o->fisher,
                  "Fisher embedding store (`taskfp fisher` writes it), for FED; repeatable: stores made with the "
                  "same probe, weights and settings are read together")
      ->check(CLI::ExistingFile);
  cmd->add_option("--backend", o->backend,
                  "auto: the GPU when one is usable, else the CPU; cpu; cuda (an error without a GPU). "
                  "The GPU runs the KL family's GEMMs and the Sinkhorn divergence; other metrics run on the CPU")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  cmd->add_flag("--list-metrics", o->list, "Print the metric grammar and aliases, then exit");
  cmd->footer(metric_grammar() +
              "\nUnder mpirun (or srun), the sources (rows) are split into contiguous blocks (whole "
              "multiples of 32 rows), one per rank; each rank computes its block (on GPU local_rank % GPUs with the CUDA "
              "backend) and rank 0 gathers them and writes the outputs. On the CPU the matrices equal "
              "the single-process ones bit for bit; cuBLAS picks kernels by shape, so GPU blocks "
              "agree to 1e-9 relative.\n");
  cmd->callback([o, &g] {
    if (o->list) {
      std::cout << metric_grammar();
      return;
    }
    require(!o->metrics.empty(), "give at least one --metric (see --list-metrics)");
    require(!o->out.empty() || !o->csv_dir.empty(), "give --output (HDF5) and/or --csv-dir (CSV)");
    const auto specs = parse_metrics(o->metrics);
    const auto all = metric_needs(specs);
    const auto& world = mpi::world();
    // The backend first: an unusable --backend cuda is known before any input is read.
    DistanceRequest req;
    std::string backend_note;
    req.backend = &compute::select(o->backend, &backend_note);
    req.hold_bytes = static_cast<std::size_t>(o->hold_gb * 1e9);
    // Outputs are checked before any work and written together at the end.
    if (!o->out.empty()) require_writable_file(o->out, "--output");
    if (!o->csv_dir.empty()) require_writable_folder(o->csv_dir, "--csv-dir");

    // Every rank reads its own copy: all of them must be the same.
    std::vector<std::string> inputs;
    if (all.fingerprints && !o->fingerprints.empty()) inputs.push_back(o->fingerprints);
    if (all.task_info && !o->task_info.empty()) inputs.push_back(o->task_info);
    if (all.features && !o->features.empty()) inputs.push_back(o->features);
    if (all.fisher) inputs.insert(inputs.end(), o->fisher.begin(), o->fisher.end());
    require_same_inputs_on_all_ranks(inputs);

    FingerprintSet fps;
    std::vector<std::string> names;
    std::string names_from;  // the input the task names come from
    if (all.fingerprints) {
      std::vector<std::string> need;
      for (const auto& spec : specs)
        if (metric_needs(spec).fingerprints) need.push_back(spec.name);
      require(!o->fingerprints.empty(), "{} {} --fingerprints (a fingerprint store)", fmt::join(need, ", "),
              need.size() == 1 ? "needs" : "need");
      FingerprintLoadOptions lo;
      lo.bins = all.bins;
      lo.covariance = all.covariance;
      fps = out_of_memory_as_error("reading '" + o->fingerprints + "'",
                                   [&] { return read_fingerprint_store(o->fingerprints, lo); });
      names = fps.names();
      names_from = "'" + o->fingerprints + "'";
    }
    TaskInfoTable task_info;
    if (all.task_info) {
      require(!o->task_info.empty(), "SEMANTIC needs --task-info (a task_infos.csv)");
      task_info = read_task_info(o->task_info);
      if (names.empty()) {
        for (const auto& r : task_info.rows()) names.push_back(r.name);
        names_from = "'" + o->task_info + "'";
      }
    }
    FeatureSet features;
    if (all.features) {
      require(!o->features.empty(), "the kernel MMDs and the Sinkhorn divergence compare raw features: give "
              "--features (a features store or npy folder)");
      FeatureLoadOptions lo;
      std::vector<std::string> wanted;
      if (!o->sources.empty()) wanted = parse_task_list(o->sources);
      if (!o->targets.empty())
        for (const auto& t : parse_task_list(o->targets))
          if (std::find(wanted.begin(), wanted.end(), t) == wanted.end()) wanted.push_back(t);
      if (!o->sources.empty() && !o->targets.empty()) lo.tasks = wanted;
      features = out_of_memory_as_error("reading '" + o->features + "'", [&] { return load_features(o->features, lo); });
      if (all.fingerprints) require_compatible(fps.provenance, "the fingerprints", features.provenance, "the features");
      if (names.empty()) names = features.names(), names_from = "'" + o->features + "'";
    }
    FisherSet fisher;
    if (all.fisher) {
      require(!o->fisher.empty(), "FED needs --fisher (a Fisher embedding store: `taskfp fisher` writes it)");
      fisher = out_of_memory_as_error("reading the Fisher stores", [&] { return read_fisher_stores(o->fisher); });
      if (names.empty()) names = fisher.names(), names_from = "the Fisher stores";
    }
    if (!req.backend->is_host() && world.distributed())
      backend_note += fmt::format("; rank {} uses {}", world.rank, compute::bind_device(world.local_rank));
    if (world.root()) detail(g, backend_note);
    req.sources = o->sources.empty() ? names : parse_task_list(o->sources);
    req.targets = o->targets.empty() ? names : parse_task_list(o->targets);
    require(!req.sources.empty() && !req.targets.empty(), "no tasks to compare: {} names none",
            !o->sources.empty() && req.sources.empty()   ? "--sources"
            : !o->targets.empty() && req.targets.empty() ? "--targets"
                                                         : names_from);
    const bool show = world.root() && !g.quiet;

    const DistanceInputs in{all.fingerprints ? &fps : nullptr, all.task_info ? &task_info : nullptr,
                            all.features ? &features : nullptr, all.fisher ? &fisher : nullptr};
    // Every metric's inputs before the first is computed.
    for (const auto& spec : specs) check_distance_inputs(spec, in, req);

    std::vector<DistanceMatrix> results;
    for (const auto& spec : specs) {
      ProgressMeter meter(spec.name, show);
      req.progress = meter.callback();
      auto start = std::chrono::steady_clock::now();
      // This rank's rows (all of them in one process); rank 0 gathers the whole matrix.
      auto m = mpi::compute_distance_over_ranks(spec, in, req, world);
      if (!world.root()) continue;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      for (const auto& w : m.warnings) warn(w);
      info(g, fmt::format("{}: {} x {} in {:.3f} s{}", spec.name, m.sources.size(), m.targets.size(),
                          secs, world.distributed() ? fmt::format(" ({} ranks)", world.size) : ""));
      results.push_back(std::move(m));
    }
    if (!world.root()) return;
    // Every output complete under a temporary name first; then all of them moved into place.
    namespace fs = std::filesystem;
    std::optional<MadeFolders> csv_dir;  // declared first: removed after the outputs' temporaries
    OutputSet outputs;
    if (!o->csv_dir.empty()) {
      csv_dir.emplace(o->csv_dir);
      for (const auto& m : results)
        write_distance_csv((fs::path(o->csv_dir) / distance_csv_name(m.metric)).string(), m, &outputs);
    }
    // The provenance of what the matrices came from: the fingerprints, else the features, else the
    // Fisher embeddings (their probe and weights).
    const Provenance& made_from = all.fingerprints ? fps.provenance
                                  : all.features   ? features.provenance
                                  : all.fisher     ? fisher.provenance
                                                   : fps.provenance;
    if (!o->out.empty()) write_distance_store(o->out, results, made_from, &outputs);
    outputs.commit();
    if (csv_dir) csv_dir->keep();
    if (!o->csv_dir.empty()) info(g, fmt::format("wrote {} CSV {} to {}", results.size(), results.size() == 1 ? "matrix" : "matrices", o->csv_dir));
    if (!o->out.empty())
      info(g, fmt::format("wrote {} {} to {}", results.size(), results.size() == 1 ? "matrix" : "matrices", o->out));
  });
}

}  // namespace taskfp::cli
