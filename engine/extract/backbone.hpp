// Frozen feature extractors behind one interface, without LibTorch headers: the native ResNet34
// (torchvision layout and parameter names) and any TorchScript module. Built where LibTorch is
// found (TASKFP_HAVE_TORCH); elsewhere the factories throw InputError saying so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace taskfp {

/// Where and in which precision a backbone runs.
struct BackboneOptions {
  std::string device = "auto";     ///< auto (a GPU when LibTorch has CUDA and one is visible), cpu, cuda
  int local_rank = 0;              ///< picks GPU local_rank % GPUs
  std::string precision = "fp32";  ///< fp32, or bf16 / fp16 autocast (fp16 on GPUs only)
};

struct BackboneInfo {
  std::string name;              ///< "resnet34", or the TorchScript file's name
  std::string weights;           ///< weights file, or "random (seed N): NOT PRETRAINED"
  std::string weights_checksum;  ///< fnv1a64 over the tensors in name order (or the file)
  bool pretrained = false;
  int feature_dim = 0;
  std::string device = "cpu";      ///< "cpu" or "cuda:<index>"
  std::string precision = "fp32";  ///< "fp32", or "bf16" / "fp16" autocast
};

class Backbone {
 public:
  virtual ~Backbone() = default;
  [[nodiscard]] virtual const BackboneInfo& info() const = 0;
  /// Features of n images given as n x 3 x size x size float32 (channels first, preprocessed):
  /// n x feature_dim float32, in eval mode without gradients.
  virtual std::vector<float> forward(const float* images, std::size_t n, int size) = 0;
};

/// Whether this taskfp was built with LibTorch.
bool torch_built();

/// ResNet34 up to the global average pool (512 features). `weights_h5`: an HDF5 file with one
/// float32 dataset per torchvision state_dict key (e.g. `layer1.0.conv1.weight`; BatchNorm
/// running statistics included; `fc.*` and `*.num_batches_tracked` are ignored). Empty: seeded
/// random weights, recorded as not pretrained. InputError listing missing, unexpected and
/// misshaped tensors. InputError for a device or precision this LibTorch or machine lacks.
std::unique_ptr<Backbone> make_resnet34(const std::string& weights_h5, std::uint64_t seed = 0,
                                        const BackboneOptions& options = {});

/// A TorchScript module whose forward maps n x 3 x H x W to n x d. It is tried at once on two
/// zero images of `size` x `size` (so feature_dim is known): InputError when it cannot be loaded,
/// fails, or its output is not n x d, before any work starts.
std::unique_ptr<Backbone> load_torchscript(const std::string& path, int size = 224,
                                           const BackboneOptions& options = {});

/// What `taskfp extract` asks for with --backbone, --weights, --random-weights, --weight-seed.
struct BackboneChoice {
  std::string name = "resnet34";  ///< "resnet34", or the path of a TorchScript file
  std::string weights;            ///< ResNet34 weights (HDF5), or empty
  bool random_weights = false;    ///< ResNet34 with seeded random weights (tests, demos)
  std::uint64_t weight_seed = 0;
  int image_size = 224;           ///< the images' side, for trying a TorchScript module
};
/// The backbone a choice names: ResNet34 with the given or random weights, or a TorchScript
/// module. InputError for ResNet34 without weights or with both kinds, for weights given with a
/// TorchScript file (it carries its own), and as make_resnet34 / load_torchscript.
std::unique_ptr<Backbone> choose_backbone(const BackboneChoice& choice, const BackboneOptions& options);

}  // namespace taskfp
