// The boundary between taskfp and its LibTorch plugin (libtaskfp_torch.so): LibTorch and its
// dependencies (about 0.7 s to load) are loaded only when a command needs a backbone, and the
// other commands start at once. The plugin is built with taskfp (same compiler, same C++
// library); the version below rejects a plugin left over from another build.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "extract/backbone.hpp"

namespace taskfp {

/// One tensor of a weights file: its torchvision state_dict key, shape and float32 values.
struct NamedArray {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

/// Every tensor of a weights file (HDF5, one dataset per torchvision state_dict key:
/// scripts/export_backbone.py) but the classifier (fc.*) and BatchNorm's batch counters.
/// InputError naming the file when it cannot be read.
std::vector<NamedArray> read_weights(const std::string& path);

inline constexpr int kBackbonePluginVersion = 1;

struct BackbonePlugin {
  int version = kBackbonePluginVersion;
  /// ResNet34 from `weights` (null: seeded random weights); `source` names the weights file.
  std::unique_ptr<Backbone> (*make_resnet34)(const std::vector<NamedArray>* weights, const std::string& source,
                                             std::uint64_t seed, const BackboneOptions& options) = nullptr;
  std::unique_ptr<Backbone> (*load_torchscript)(const std::string& path, int size,
                                                const BackboneOptions& options) = nullptr;
};

}  // namespace taskfp

/// The plugin's one exported symbol.
extern "C" const taskfp::BackbonePlugin* taskfp_backbone_plugin();
