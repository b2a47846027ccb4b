// The boundary between taskfp and its training plugin (libtaskfp_train.so, experiments/
// train_plugin/): LibTorch is loaded only by `taskfp transfer run`. Everything the plugin needs
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

/// Called after each epoch (epoch from 1, its mean loss); may throw to stop.
using EpochCallback = std::function<void(int epoch, double loss)>;

/// The error for a TorchScript zoo model that is not at `<zoo_dir>/<name>.pt` (`run` checks before
/// training, the plugin when it loads one).
inline std::string missing_zoo_model(const std::string& name, const std::string& zoo_dir) {
  return "architecture '" + name + "' is a TorchScript model of the zoo: " +
         (zoo_dir.empty() ? std::string("no zoo folder was given") : zoo_dir + "/" + name + ".pt does not exist") +
         "; export it with scripts/export_zoo.py <folder> " + name + " and give the folder with --zoo";
}

inline constexpr int kTrainerPluginVersion = 2;

struct TrainerPlugin {
  int version = kTrainerPluginVersion;
  TrainOutcome (*train)(const TrainRequest& request, const EpochCallback& on_epoch) = nullptr;
  /// Applies `op` with the draws `draws[i]` to image i of n x 3 x size x size uint8 images, in
  /// place, on the CPU, with the code the training runs on its device: for the tests of every
  /// operation.
  void (*apply_op)(const AugmentOp& op, const OpDraw* draws, std::uint8_t* images, std::size_t n, int size) = nullptr;
};

/// The plugin, loaded on first use. InputError saying why when it cannot be (built without
/// LibTorch, file missing, another build's plugin).
const TrainerPlugin& trainer_plugin();
/// Whether this taskfp was built with the training plugin.
bool trainer_built();

}  // namespace taskfp::experiments

/// The plugin's one exported symbol.
extern "C" const taskfp::experiments::TrainerPlugin* taskfp_trainer_plugin();
