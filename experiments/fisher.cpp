// FED's Fisher embeddings of image tasks, part by part (fisher.hpp).
#include "fisher.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/random.hpp"
#include "folds.hpp"
#include "images/image_taskset.hpp"
#include "io/file_digest.hpp"
#include "mpi/world.hpp"
#include "store/fisher_store.hpp"
#include "task_data.hpp"

namespace taskfp::experiments {

namespace fs = std::filesystem;

std::string FisherSettings::line() const {
  return fmt::format(
      "fisher probe={} head_samples={} head_batch={} lr={} betas=0.9,0.999 fisher_samples={} keep_fraction={} "
      "labels=monte-carlo size={} pad={} crop={} flip={} normalize={} folds=1-4 seed={}",
      probe, head_samples, head_batch, lr, fisher_samples, keep_fraction, images.size, images.pad, images.crop,
      images.flip, images.normalize, seed);
}

std::string fisher_parts_dir(const std::string& output) { return output + ".parts"; }

namespace {

std::string part_path(const std::string& output, const std::string& task) {
  return (fs::path(fisher_parts_dir(output)) / (task + ".h5")).string();
}

// Whether the part at `path` exists, is readable and was made with `expected`'s settings and
// weights; where not (it is computed again), why in `note`.
bool reusable_part(const std::string& path, const Provenance& expected, std::string& note) {
  if (!fs::exists(path)) return false;
  try {
    const auto part = read_fisher_store(path);
    if (part.provenance.preprocessing == expected.preprocessing && part.provenance.weights == expected.weights &&
        part.provenance.backbone == expected.backbone && part.tasks.size() == 1)
      return true;
    note = "made with other settings or weights";
  } catch (const InputError& e) {
    note = std::string("unreadable (") + e.what() + ")";
  }
  return false;
}

class FisherRun {
 public:
  explicit FisherRun(const FisherOptions& o) : o_(o) {
    require(o.random_weights != !o.weights.empty(),
            "give the probe's weights with --weights (scripts/export_backbone.py writes ResNet34's ImageNet "
            "weights) or --random-weights (not pretrained: tests and demos), not {}",
            o.random_weights ? "both" : "neither");
    require(o.settings.fisher_samples >= 1, "--fisher-samples must be at least 1");
    require(o.settings.head_samples >= 0 && o.settings.head_batch >= 1,
            "--probe-samples must be >= 0 and --probe-batch >= 1");
    require(o.settings.keep_fraction > 0 && o.settings.keep_fraction <= 1, "--keep-fraction must be in (0, 1]");
    expected_.backbone = o.settings.probe;
    expected_.preprocessing = o.settings.line();
    expected_.origin = "taskfp fisher on " + o.taskset;
    if (o.random_weights) {
      expected_.weights = fmt::format("random (seed {}): NOT PRETRAINED, for tests and demos only", o.weight_seed);
    } else {
      weights_ = read_weights(o.weights);
      expected_.weights = fmt::format("{} ({})", fs::path(o.weights).filename().string(), file_digest(o.weights));
    }
    // Shrunk variants ("<task> --shrink_train <n>") too: their embedding is made on their images.
    specs_ = select_image_tasks(read_image_taskset(o.taskset), o.tasks, "the task set " + o.taskset);
    require(!specs_.empty(), "the task set {} has no tasks to embed", o.taskset);
  }

  [[nodiscard]] const std::vector<ImageTaskSpec>& specs() const { return specs_; }

  // The task's part: reused, or computed and written now. True when computed.
  bool ensure(const ImageTaskSpec& spec, const FisherCallbacks& cb) {
    const auto path = part_path(o_.output, spec.name);
    std::string note;
    if (reusable_part(path, expected_, note)) return false;
    try {
      compute(spec, path, cb, note);
    } catch (const InputError& e) {
      throw InputError(fmt::format("task '{}': {}", spec.name, e.what()));
    }
    return true;
  }

 private:
  void compute(const ImageTaskSpec& spec, const std::string& path, const FisherCallbacks& cb, const std::string& note) {
    const auto& s = o_.settings;
    const TaskData data = load_task_data(spec, s.images, o_.memory);
    ExperimentConfig folds;  // the protocol's folds: the training folds 1-4, as mml's TRAIN phase
    const auto split = split_task(data.labels, static_cast<int>(data.classes.size()), folds, false, spec.name);
    std::vector<std::uint8_t> pixels;
    std::vector<int> labels;
    FisherRequest r;
    r.architecture = s.probe;
    r.weights = o_.random_weights ? nullptr : &weights_;
    r.images = task_view(data, split.train, pixels, labels);
    r.head_samples = s.head_samples;
    r.head_batch = s.head_batch;
    r.lr = s.lr;
    // Fisher images uniformly with replacement (torch's RandomSampler(replacement=True)) and
    // their label draws, from taskfp's generator.
    SplitMix rng(seed_for(s.seed, "fisher draws/" + spec.name));
    for (int i = 0; i < s.fisher_samples; ++i) {
      r.fisher_indices.push_back(static_cast<long>(rng.below(r.images.n)));
      r.label_uniforms.push_back(rng.uniform());
    }
    r.keep_fraction = s.keep_fraction;
    r.crop = s.images.crop;
    r.flip = s.images.flip;
    r.normalize_imagenet = s.images.normalize == "imagenet";
    r.weight_seed = o_.weight_seed;
    r.seed = seed_for(s.seed, spec.name);
    r.device = o_.device;
    r.local_rank = mpi::world().local_rank;
    r.threads = o_.threads;
    r.mode = o_.mode;
    const auto out = trainer_plugin().fisher(r, cb.progress);

    FisherSet part;
    part.provenance = expected_;
    part.provenance.weights_checksum = out.weights_checksum;
    part.provenance.feature_dim = static_cast<std::int64_t>(out.embedding.size());
    part.parameter_names = out.names;
    for (const auto& shape : out.shapes) part.parameter_shapes.push_back(fmt::format("{}", fmt::join(shape, "x")));
    FisherEmbedding e;
    e.task = spec.name;
    e.values = out.embedding;
    e.head_loss = out.head_loss;
    e.fisher_images = static_cast<std::int64_t>(r.fisher_indices.size());
    e.device = out.device;
    e.probe_seconds = out.probe_seconds;
    e.seconds = out.seconds;
    part.tasks.push_back(std::move(e));
    fs::create_directories(fs::path(path).parent_path());
    write_fisher_store(path, part);
    if (cb.on_task)
      cb.on_task(fmt::format("{}: {} training images, {} classes; {}; {} values in {:.1f} s on {} ({}){}",
                             spec.name, r.images.n, r.images.classes,
                             s.head_samples > 0 ? fmt::format("probe loss {:.4f}", out.head_loss)
                                                : std::string("no probe training"),
                             out.embedding.size(),
                             out.seconds, out.device, out.mode, note.empty() ? "" : " (its old part was " + note + ")"));
  }

  const FisherOptions& o_;
  Provenance expected_;
  std::vector<NamedArray> weights_;
  std::vector<ImageTaskSpec> specs_;
};

}  // namespace

FisherReport compute_fisher(const FisherOptions& o, const FisherCallbacks& cb) {
  FisherRun run(o);
  const auto& specs = run.specs();
  const auto& world = mpi::world();
  FisherReport report;
  auto one = [&](const ImageTaskSpec& spec) {
    ++report.tasks;
    if (run.ensure(spec, cb)) ++report.done;
    else ++report.reused;
  };
  if (world.distributed()) {
    // A rank takes the next task when it is free.
    mpi::SharedCounter counter;
    for (std::size_t i = counter.next(); i < specs.size(); i = counter.next()) one(specs[i]);
    mpi::barrier();
  } else {
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (static_cast<int>(i % static_cast<std::size_t>(o.shards)) == o.shard) one(specs[i]);
  }
  if (!world.root()) return report;
  // The store, once every task has its part (the last shard to finish writes it).
  std::vector<std::string> parts;
  for (const auto& spec : specs) {
    const auto path = part_path(o.output, spec.name);
    if (fs::exists(path)) parts.push_back(path);
    else ++report.missing;
  }
  if (report.missing > 0) return report;
  write_fisher_store(o.output, read_fisher_stores(parts));
  report.assembled = true;
  return report;
}

}  // namespace taskfp::experiments
