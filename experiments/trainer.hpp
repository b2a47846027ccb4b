// The boundary between taskfp and its training plugin (libtaskfp_train.so, experiments/
// train_plugin/): LibTorch is loaded only by `taskfp transfer run` and `taskfp fisher`. Everything the plugin needs
// comes in plain structs: images as uint8 tensors in memory, the protocol's numbers, the seeds.
// Sampling (balanced, with replacement), crops, flips and policy choices are drawn here with
// taskfp's own generator, so a job's draws do not depend on the device or LibTorch's generators.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "extract/backbone_plugin.hpp"  // NamedArray
#include "augment_draw.hpp"
#include "policy.hpp"

namespace taskfp::experiments {

/// Images of one task split, as the protocol preprocessed them: n x 3 x size x size uint8,
/// channels first, and a label in [0, classes) per image.
struct TaskTensor {
  const std::uint8_t* pixels = nullptr;
  std::size_t n = 0;
  int size = 0;
  const int* labels = nullptr;
  int classes = 0;
};

/// One training of the protocol (experiments/config.hpp TrainingConfig holds the numbers).
struct TrainRequest {
  std::string architecture;           ///< a zoo name
  std::string zoo_dir;                ///< where TorchScript zoo models are (scripts/export_zoo.py)
  const std::vector<NamedArray>* imagenet = nullptr;  ///< ImageNet weights (resnet34), or null: random
  std::string init_model;             ///< a saved model whose backbone starts this training ("": none)
  std::string save_model;             ///< save the trained model here ("": do not)
  TaskTensor train, evaluation;       ///< the target's training folds and evaluation fold
  TaskTensor source;                  ///< co-training: the source's training folds (n = 0: none)
  const AugmentPolicy* policy = nullptr;  ///< applied alone instead of crop and flip (null: crop, flip)
  int epochs = 1, batch = 300;
  double lr = 5e-4, beta1 = 0.9, beta2 = 0.999, weight_decay = 0;
  int step = 25;
  double gamma = 0.1;
  int crop = 224;
  bool flip = true;
  bool normalize_imagenet = true;
  std::uint64_t seed = 0;   ///< model initialisation and every draw
  std::string device = "auto";     ///< auto, cpu, cuda
  int local_rank = 0;              ///< picks GPU local_rank % GPUs
  std::string precision = "auto";  ///< auto (bf16 autocast on GPUs, fp32 on CPUs) or fp32
  int threads = 1;                 ///< CPU threads of this job (fixed: results do not depend on the machine's cores)
};

struct TrainOutcome {
  std::vector<float> scores;        ///< evaluation n x classes softmax probabilities, row-major
  std::vector<double> epoch_loss;   ///< mean training loss per epoch
  std::string device, precision;    ///< what ran
  std::uint64_t images = 0;         ///< images through the network (training and evaluation)
  double seconds = 0;
};

/// The probe of the Fisher embedding distance (FED) on one task, as mml's FEDScheduler and
/// fisher.py compute it with the paper's settings (experiments/fisher.hpp states them):
///  1. probe training: the backbone's parameters frozen, the module in training mode as
///     Lightning runs it (BatchNorm normalises with batch statistics and updates its running
///     ones), a new head (xavier-uniform, zero bias) trained with Adam on `head_samples` balanced
///     draws in batches of `head_batch`, crop and flip;
///  2. the diagonal of the Fisher information in eval mode, Monte Carlo (nngeometry's
///     FIM_MonteCarlo, variant classif_logits, one trial): per image of `fisher_indices` (crop and
///     flip), a label drawn from the model's own softmax, the squared gradient of its log-softmax,
///     averaged over the images (float32 sums over blocks of 64 images, float64 over the blocks);
///  3. kept: the backbone's parameters without "bias" or "downsample" in their names (BatchNorm
///     weights kept), in the model's order, from index floor(count x (1 - keep_fraction)) on
///     (the paper's keys[int(0.4 len):]); 4-D (convolution) weights averaged over their kernel
///     dimensions.
struct FisherRequest {
  std::string architecture = "resnet34";  ///< a native zoo name (resnet18, resnet34, tiny_cnn, small_cnn)
  const std::vector<NamedArray>* weights = nullptr;  ///< the backbone's weights (e.g. ImageNet), or null: random (seed)
  TaskTensor images;                      ///< the task's training images
  int head_samples = 8000, head_batch = 100;
  double lr = 5e-4, beta1 = 0.9, beta2 = 0.999;
  /// The head to start from instead of xavier-uniform and zero: classes x features and classes
  /// values (both empty: none). With head_samples = 0 the Fisher runs on this head as given.
  std::vector<float> head_weight, head_bias;
  std::vector<long> fisher_indices;      ///< images of the Fisher average (drawn by the caller, with replacement)
  std::vector<double> label_uniforms;    ///< per index, in [0, 1): the label is the first class whose cumulative softmax exceeds it
  double keep_fraction = 0.6;
  /// How each image's gradient is had (the same values up to float32 rounding):
  ///  - "per-image": the plain definition, one backward pass per image (the reference the tests
  ///    compare the other with);
  ///  - "batched": 16 images per pass, each image's weight gradients recovered from its layers'
  ///    inputs and output gradients (a convolution: output gradient times unfolded input);
  ///  - "auto": per-image on a CPU at crops of 128 pixels or more, batched otherwise (on this
  ///    project's 2-core CPU batched is 6x faster at 56 px and 1.7x slower at 216 px,
  ///    bench/RESULTS.md).
  std::string mode = "auto";
  int crop = 224;
  bool flip = true;
  bool normalize_imagenet = true;
  std::uint64_t weight_seed = 0;    ///< random backbone weights (where `weights` is null): the same for every task
  std::uint64_t seed = 0;           ///< head initialisation, probe sampling, crops and flips
  std::string device = "auto";      ///< auto, cpu, cuda
  int local_rank = 0;
  int threads = 1;
};

struct FisherOutcome {
  std::vector<std::string> names;                 ///< kept parameters, in the model's order
  std::vector<std::vector<std::int64_t>> shapes;  ///< their shapes after averaging
  std::vector<float> embedding;                   ///< the kept values concatenated (C order)
  std::vector<int> labels;                        ///< the Monte Carlo label of each Fisher image
  double head_loss = 0;                           ///< mean cross-entropy of the probe training
  std::string weights_checksum;                   ///< of the backbone as loaded (extract's checksum)
  std::string device;
  std::string mode;  ///< per-image or batched, as run
  std::uint64_t images = 0;
  double probe_seconds = 0;  ///< of `seconds`, the probe's training
  double seconds = 0;
};

/// Called during a Fisher computation with images done and images in all (probe and Fisher).
using FisherProgress = std::function<void(std::size_t done, std::size_t total)>;

/// Called after each epoch (epoch from 1, its mean loss); may throw to stop.
using EpochCallback = std::function<void(int epoch, double loss)>;

/// The error for a TorchScript zoo model that is not at `<zoo_dir>/<name>.pt` (`run` checks before
/// training, the plugin when it loads one).
inline std::string missing_zoo_model(const std::string& name, const std::string& zoo_dir) {
  return "architecture '" + name + "' is a TorchScript model of the zoo: " +
         (zoo_dir.empty() ? std::string("no zoo folder was given") : zoo_dir + "/" + name + ".pt does not exist") +
         "; export it with scripts/export_zoo.py <folder> " + name + " and give the folder with --zoo";
}

inline constexpr int kTrainerPluginVersion = 3;

struct TrainerPlugin {
  int version = kTrainerPluginVersion;
  TrainOutcome (*train)(const TrainRequest& request, const EpochCallback& on_epoch) = nullptr;
  /// Applies `op` with the draws `draws[i]` to image i of n x 3 x size x size uint8 images, in
  /// place, on the CPU, with the code the training runs on its device: for the tests of every
  /// operation.
  void (*apply_op)(const AugmentOp& op, const OpDraw* draws, std::uint8_t* images, std::size_t n, int size) = nullptr;
  /// FED's probe and Fisher embedding of one task (FisherRequest). InputError for a request that
  /// does not fit (indices out of range, a head of another shape, an architecture outside the
  /// native zoo).
  FisherOutcome (*fisher)(const FisherRequest& request, const FisherProgress& progress) = nullptr;
};

/// The plugin, loaded on first use. InputError saying why when it cannot be (built without
/// LibTorch, file missing, another build's plugin).
const TrainerPlugin& trainer_plugin();
/// Whether this taskfp was built with the training plugin.
bool trainer_built();

}  // namespace taskfp::experiments

/// The plugin's one exported symbol.
extern "C" const taskfp::experiments::TrainerPlugin* taskfp_trainer_plugin();
