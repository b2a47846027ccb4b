// `taskfp fisher`: FED's Fisher embeddings of image tasks (experiments/fisher.hpp) into a store
// that `taskfp distance -m FED --fisher` reads.
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/shard.hpp"
#include "core/task_list.hpp"
#include "experiments/config.hpp"
#include "experiments/fisher.hpp"
#include "io/output_files.hpp"
#include "mpi/world.hpp"

namespace taskfp::cli {

void add_fisher(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "fisher",
      "Fisher embeddings of image tasks for FED: per task a probe's head is trained with the backbone frozen, "
      "and the diagonal Fisher information of the backbone's later weights is the task's embedding (no raw "
      "data: shareable like fingerprints)");
  struct Opts {
    std::string taskset, tasks, output, config, weights, device = "auto", shard;
    bool random_weights = false;
    std::string mode = "auto";
    std::uint64_t weight_seed = 0;
    experiments::FisherSettings settings;
    double memory_gb = 8;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-t,--taskset", o->taskset, "Image task set (as for `taskfp extract`)")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o->output,
                  "Fisher store to write (.h5); each task's embedding is kept in <output>.parts/ as soon as it is "
                  "done, so a rerun continues")
      ->required();
  cmd->add_option("--tasks", o->tasks, "Only these tasks: 'a,b', '@file', 'set.yaml#key' (default: all)");
  cmd->add_option("-c,--config", o->config,
                  "Experiment config whose training protocol gives the images' size, padding, crop, flip, "
                  "normalisation and the learning rate (default: the paper's protocol)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--weights", o->weights,
                  "The probe's ImageNet weights (HDF5, scripts/export_backbone.py; the paper's probe)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--random-weights", o->random_weights,
                "Seeded random probe weights instead: NOT PRETRAINED, for tests and demos");
  cmd->add_option("--weight-seed", o->weight_seed, "Seed of --random-weights")->capture_default_str();
  cmd->add_option("--probe", o->settings.probe, "Probe network: resnet34 (the paper's), resnet18, tiny_cnn, small_cnn")
      ->check(CLI::IsMember({"resnet34", "resnet18", "tiny_cnn", "small_cnn"}))->capture_default_str();
  cmd->add_option("--probe-samples", o->settings.head_samples,
                  "Balanced samples the probe's head is trained on (one epoch; 0: the head stays as initialised)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--probe-batch", o->settings.head_batch, "Batch size of the head's training")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--fisher-samples", o->settings.fisher_samples,
                  "Images (drawn with replacement) the Fisher diagonal averages over")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--keep-fraction", o->settings.keep_fraction,
                  "Share of the kept parameters (the last ones) that form the embedding")
      ->check(number_where([](double f) { return f > 0 && f <= 1; }, "in (0, 1]", "in (0, 1]"))
      ->capture_default_str();
  cmd->add_option("--seed", o->settings.seed, "Seed of the head, the samples, crops, flips and labels")
      ->capture_default_str();
  cmd->add_option("--fisher-mode", o->mode,
                  "per-image: one backward pass per Fisher image (the plain definition); batched: 16 images per "
                  "pass, each image's gradients recovered from its layers' inputs; auto: per-image on a CPU at "
                  "crops of 128 px or more, batched otherwise. The same values up to float32 rounding")
      ->check(CLI::IsMember({"auto", "batched", "per-image"}))->capture_default_str();
  cmd->add_option("--device", o->device, "auto (a GPU where LibTorch sees one), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--shard", o->shard,
                  "i/n: compute only shard i of n (0-based) of the tasks (default: SLURM_ARRAY_TASK_ID / "
                  "SLURM_ARRAY_TASK_COUNT when set); the last shard to finish writes the store");
  cmd->add_option("--memory", o->memory_gb, "GB one task's images may take in memory")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->footer(
      "The paper's settings are the defaults: a ResNet34 probe with ImageNet weights, its head trained for one "
      "epoch of 8,000 balanced samples in batches of 100 (Adam, lr 5e-4) with the backbone frozen, the Fisher "
      "diagonal over 2,000 images in eval mode with labels drawn from the probe's softmax, backbone weights "
      "without biases and downsample layers, convolutions averaged over their kernels, the last 60%.\n"
      "Under mpirun (or srun) the ranks take the next task when free (a GPU each: local_rank % GPUs).\n");
  cmd->callback([o, &g] {
    const auto& world = mpi::world();
    require(!world.distributed() || o->shard.empty(), "--shard is for separate jobs; under mpirun the ranks share the work");
    require_writable_file(o->output, "--output");
    experiments::FisherOptions f;
    f.taskset = o->taskset;
    if (!o->tasks.empty()) f.tasks = parse_task_list(o->tasks);
    f.output = o->output;
    f.weights = o->weights;
    f.random_weights = o->random_weights;
    f.weight_seed = o->weight_seed;
    f.settings = o->settings;
    if (!o->config.empty()) {
      const auto c = experiments::read_experiment_config(o->config);
      f.settings.images = c.training.images;
      f.settings.lr = c.training.lr;
    }
    f.device = o->device;
    f.mode = o->mode;
    f.threads = g.threads > 0 ? g.threads : omp_get_max_threads();
    std::tie(f.shard, f.shards) = world.distributed() ? std::pair{0, 1} : shard_of(o->shard);
    f.memory = static_cast<std::size_t>(o->memory_gb * 1e9);
    require_same_inputs_on_all_ranks({o->taskset}, f.settings.line());
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<ProgressMeter> meter;
    experiments::FisherCallbacks cb;
    cb.on_task = [&](const std::string& line) {
      meter.reset();
      info(g, world.distributed() ? fmt::format("rank {}: {}", world.rank, line) : line);
    };
    cb.progress = [&](std::size_t done, std::size_t total) {
      if (g.quiet || world.distributed()) return;
      if (!meter) meter = std::make_unique<ProgressMeter>("images", true);
      meter->update(done, total);
    };
    const auto report = experiments::compute_fisher(f, cb);
    meter.reset();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    info(g, fmt::format("{}{} {} of this {}: {} computed, {} finished before; {:.1f} s",
                        world.distributed() ? fmt::format("rank {}: ", world.rank) : std::string(), report.tasks,
                        report.tasks == 1 ? "task" : "tasks",
                        world.distributed() ? "rank" : f.shards > 1 ? "shard" : "run", report.done, report.reused,
                        secs));
    if (!world.root()) return;
    if (report.assembled)
      info(g, fmt::format("wrote the Fisher embeddings to {}: `taskfp distance -m FED --fisher {}` compares them",
                          o->output, o->output));
    else
      info(g, fmt::format("{} {} no embedding yet (other shards): the last shard to finish writes {}",
                          report.missing, report.missing == 1 ? "task has" : "tasks have", o->output));
  });
}

}  // namespace taskfp::cli
