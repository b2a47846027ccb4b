// `taskfp extract`: backbone features of image tasks, in chunks that ranks, shards and reruns
// share (extract/parts.hpp), merged into a features store.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/resources.hpp"
#include "core/shard.hpp"
#include "core/task_list.hpp"
#include "extract/backbone.hpp"
#include "extract/extract.hpp"
#include "extract/parts.hpp"
#include "images/image_taskset.hpp"
#include "io/output_files.hpp"
#include "mpi/world.hpp"
#include "store/features_store.hpp"

namespace taskfp::cli {

void add_extract(CLI::App& app, const GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "extract",
      "Extract backbone features of image tasks into a features store (then `taskfp fingerprint`)");
  struct Opts {
    std::string taskset, out, tasks, backbone = "resnet34", weights;
    bool random_weights = false;
    std::uint64_t weight_seed = 0;
    BackboneOptions run;
    ExtractOptions extract;
    std::string shard, parts;
    std::size_t chunk = 2048;
    bool keep_parts = false;
    std::vector<float> mean, std;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-t,--taskset", o->taskset, "Image task set (YAML; `taskfp synth-images` writes one)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o->out, "Features store to write (.h5)")->required();
  cmd->add_option("--tasks", o->tasks, "Only these tasks: 'a,b', '@file' (default: all in the task set)");
  cmd->add_option("--backbone", o->backbone,
                  "resnet34 (native, torchvision layout), or a TorchScript file (.pt) mapping n x 3 x H x W to n x d")
      ->capture_default_str();
  cmd->add_option("--weights", o->weights,
                  "ResNet34 weights: HDF5 with one float32 dataset per torchvision state_dict key "
                  "(scripts/export_backbone.py writes the ImageNet ones)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--random-weights", o->random_weights,
                "Seeded random ResNet34 weights, recorded as NOT PRETRAINED (tests, offline demos)");
  cmd->add_option("--weight-seed", o->weight_seed, "Seed of --random-weights")->capture_default_str();
  cmd->add_option("--device", o->run.device,
                  "auto: a GPU when LibTorch has CUDA and one is visible (rank r takes GPU local_rank % GPUs), "
                  "else CPU threads; cpu; cuda")
      ->capture_default_str();
  cmd->add_option("--precision", o->run.precision,
                  "fp32, or bf16 / fp16 autocast (fp16 on GPUs only); recorded in the provenance")
      ->capture_default_str();
  cmd->add_option("-n,--samples", o->extract.samples, "Images per task (with replacement when a task has fewer)")
      ->capture_default_str();
  cmd->add_option("--seed", o->extract.seed, "Seed of the image draws and shrunk subsets")->capture_default_str();
  cmd->add_option("--batch", o->extract.batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--size", o->extract.preprocess.size, "Resize to size x size")->capture_default_str();
  cmd->add_option("--mean", o->mean, "Per-channel mean subtracted after scaling to [0, 1] (r,g,b; default ImageNet's)")
      ->delimiter(',')
      ->expected(3);
  cmd->add_option("--std", o->std, "Per-channel standard deviation divided by (r,g,b; default ImageNet's)")
      ->delimiter(',')
      ->expected(3);
  cmd->add_flag("--skip-bad", o->extract.skip_bad,
                "Drop unreadable images (each one recorded in provenance and listed) instead of stopping");
  cmd->add_option(
         "--max-image-pixels", o->extract.max_image_pixels,
         "Images of more pixels (width x height) are unreadable: a guard against decompression "
         "bombs (a few KB claiming billions of pixels), PIL's default; raise it for larger genuine "
         "images (each decoding thread holds one image at 2 bytes per value)")
      ->capture_default_str();
  cmd->add_option("--chunk", o->chunk, "Draws per work unit (rounded up to whole batches): the grain of "
                  "sharing work and of resuming")->capture_default_str();
  cmd->add_option("--shard", o->shard,
                  "i/n: compute only shard i of n (0-based) into the parts folder, without merging "
                  "(default: SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT when set); then `taskfp merge`");
  cmd->add_option("--parts", o->parts, "Parts folder (default: <output>.parts); a rerun reuses finished parts");
  cmd->add_flag("--keep-parts", o->keep_parts, "Keep the parts folder after merging");
  cmd->footer(
      "Work is cut into chunks of draws, each written to the parts folder as soon as it is done: a "
      "stopped run started again with the same options resumes, and under mpirun (or srun) the "
      "ranks take the chunks one at a time as they get free, rank 0 merging them into the output. The features are "
      "the same, bit for bit, for any number of ranks or shards.\n"
      "The backbones run in the plugin libtaskfp_torch.so in lib/taskfp above the taskfp executable's folder "
      "(TASKFP_TORCH_PLUGIN names another file, e.g. one built against a CUDA LibTorch).\n");
  cmd->callback([o, &g] {
    require_writable_file(o->out, "--output");
    for (std::size_t c = 0; c < o->mean.size() && c < 3; ++c) o->extract.preprocess.mean[c] = o->mean[c];
    for (std::size_t c = 0; c < o->std.size() && c < 3; ++c) {
      require(o->std[c] > 0, "--std: the standard deviations must be positive (got {})", o->std[c]);
      o->extract.preprocess.std[c] = o->std[c];
    }
    require(o->extract.preprocess.size > 0, "--size must be positive");
    require(o->extract.samples >= 1, "-n/--samples must be at least 1 (images drawn per task)");
    require(o->extract.batch >= 1, "--batch must be at least 1 (got {})", o->extract.batch);
    require(o->chunk >= 1, "--chunk must be at least 1");
    require(o->extract.max_image_pixels >= 1, "--max-image-pixels must be at least 1");
    const auto specs = select_image_tasks(read_image_taskset(o->taskset),
                                          o->tasks.empty() ? std::vector<std::string>{} : parse_task_list(o->tasks),
                                          "the task set " + o->taskset);
    const auto& world = mpi::world();
    o->run.local_rank = world.local_rank;
    const auto net = choose_backbone(
        {o->backbone, o->weights, o->random_weights, o->weight_seed, o->extract.preprocess.size}, o->run);
    if (!net->info().pretrained && world.root())
      warn("backbone weights: " + net->info().weights);
    // Which shard: the MPI rank, an explicit --shard, a Slurm array task, or all of it.
    require(!world.distributed() || o->shard.empty(),
            "--shard is for separate jobs; under mpirun the ranks share the work");
    const auto [shard, shards] = world.distributed() ? std::pair{world.rank, world.size} : shard_of(o->shard);
    const std::string parts = o->parts.empty() ? o->out + ".parts" : o->parts;
    // The merged store holds every task's features in memory (and the plan one entry per chunk).
    require_memory(static_cast<long double>(specs.size()) * o->extract.samples *
                       (4.0L * net->info().feature_dim + 8.0L + 32.0L / std::max<std::size_t>(o->chunk, 1)),
                   fmt::format("extracting {} tasks x {} images x {} features (lower -n/--samples or "
                               "extract fewer tasks per run with --tasks)",
                               specs.size(), o->extract.samples, net->info().feature_dim));
    const auto plan = plan_extraction(specs, net->info(), o->extract, o->chunk);
    // Ranks of one job must plan the same extraction from the same task set (and weights).
    std::vector<std::string> inputs{o->taskset};
    if (!o->weights.empty()) inputs.push_back(o->weights);
    require_same_inputs_on_all_ranks(inputs, plan.key);
    ProgressMeter meter("extract", !g.quiet && world.root());
    o->extract.progress = meter.callback();
    const auto start = std::chrono::steady_clock::now();
    const bool parts_existed = std::filesystem::exists(parts);
    // Ranks of one job take chunks as they get free (balanced whatever the chunks cost).
    std::unique_ptr<mpi::SharedCounter> shared;
    if (world.distributed()) shared = std::make_unique<mpi::SharedCounter>();
    ShardReport rep;
    try {
      rep = run_shard(plan, specs, *net, o->extract, parts, shard, shards, shared.get());
    } catch (const InputError& e) {
      // A single run that fails before finishing any chunk leaves nothing behind; finished
      // chunks stay for the rerun to resume from, and the message says so.
      if (!parts_existed && !world.distributed()) remove_unfinished_parts(parts);
      // Said only of a folder this run made: one that existed says what it holds by itself.
      if (parts_existed || world.distributed() || !std::filesystem::exists(parts)) throw;
      throw InputError(fmt::format(
          "{}; the chunks finished so far are kept in '{}': a rerun with the same options resumes "
          "from them (remove the folder to start afresh or to change options)",
          e.what(), parts));
    } catch (...) {
      if (!parts_existed && !world.distributed()) remove_unfinished_parts(parts);
      throw;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& line : rep.extract.listed) info(g, line);
    if (!rep.extract.notes.empty()) {  // one note per image, however often it was drawn
      const std::set<std::string> notes(rep.extract.notes.begin(), rep.extract.notes.end());
      if (g.verbose) {
        for (const auto& note : notes) detail(g, "note: " + note);
      } else {
        info(g,
             fmt::format("{} {} decoded with warnings (a damaged JPEG as far as libjpeg goes, as "
                         "PIL does, or the first page of a TIFF); -v names each",
                         notes.size(), notes.size() == 1 ? "image was" : "images were"));
      }
    }
    if (!rep.extract.unreadable_files.empty()) {
      warn(fmt::format("{} unreadable {} left out when listing the tasks (recorded in the store's provenance):",
                       rep.extract.unreadable_files.size(),
                       rep.extract.unreadable_files.size() == 1 ? "file was" : "files were"));
      for (const auto& s : rep.extract.unreadable_files) std::cerr << "  " + s + '\n';
    }
    if (!rep.extract.skipped.empty()) {
      warn(fmt::format("{} unreadable {} skipped (drawn images; recorded in the store's provenance):",
                       rep.extract.skipped.size(), rep.extract.skipped.size() == 1 ? "image was" : "images were"));
      for (const auto& s : rep.extract.skipped) std::cerr << "  " + s + '\n';
    }
    shared.reset();  // collective: every rank is through its chunks
    detail(g, fmt::format("{} {} of {} on {} ({}): {} chunks computed, {} reused from an earlier run, {} images, "
                          "{:.1f} images/s",
                          world.distributed() ? "rank" : "shard", shard, shards, net->info().device,
                          net->info().precision, rep.computed, rep.reused, rep.extract.images,
                          rep.extract.images / std::max(secs, 1e-9)));
    if (shards > 1 && !world.distributed()) {
      info(g, fmt::format("shard {}/{} done in {}; when every shard is done: taskfp merge {} -o {}", shard, shards,
                          parts, parts, o->out));
      return;
    }
    mpi::barrier();
    if (!world.root()) return;
    const auto features = merge_parts_into(parts, o->out, o->keep_parts);
    std::size_t rows = 0;  // every rank's images (and those of an earlier, resumed run)
    for (const auto& t : features.tasks) rows += t.values.rows;
    info(g, fmt::format("wrote features of {} task{} ({} images; this run computed {} in {:.1f} s{}) to {}",
                        features.tasks.size(), features.tasks.size() == 1 ? "" : "s", rows,
                        world.distributed() ? fmt::format("{} on rank 0", rep.extract.images)
                                            : std::to_string(rep.extract.images),
                        secs, world.distributed() ? fmt::format(", {} ranks", world.size) : std::string(), o->out));
  });
}

}  // namespace taskfp::cli
