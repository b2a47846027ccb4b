// The backbones' front: loads the LibTorch plugin on first use (so that commands without a
// backbone never load LibTorch) and reads weights files for it.
#include "extract/backbone.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

#include "extract/backbone_plugin.hpp"
#include "io/hdf5.hpp"
#ifdef TASKFP_HAVE_TORCH
#include "core/plugin.hpp"
#endif

namespace taskfp {

std::vector<NamedArray> read_weights(const std::string& path) {
  auto file = h5::open_read(path);
  {
    h5::Handle root = h5::group(file.get(), "/");
    if (h5::has_attr(root.get(), "taskfp_kind"))
      throw InputError(fmt::format("'{}' is a taskfp {} store, not a weights file (one dataset per state_dict key: "
                                   "scripts/export_backbone.py writes one)",
                                   path, h5::attr_string(root.get(), "taskfp_kind")));
  }
  std::vector<NamedArray> out;
  for (const auto& key : h5::children(file.get(), "/")) {
    if (key.rfind("fc.", 0) == 0 || key.find("num_batches_tracked") != std::string::npos) continue;
    NamedArray a;
    a.name = key;
    for (const auto d : h5::shape(file.get(), key)) a.shape.push_back(static_cast<std::int64_t>(d));
    a.values = h5::read_f32_flat(file.get(), key);
    out.push_back(std::move(a));
  }
  return out;
}

#ifndef TASKFP_HAVE_TORCH

bool torch_built() { return false; }
std::unique_ptr<Backbone> make_resnet34(const std::string&, std::uint64_t, const BackboneOptions&) {
  throw InputError("this taskfp was built without LibTorch (install libtorch-dev and rebuild)");
}
std::unique_ptr<Backbone> load_torchscript(const std::string&, int, const BackboneOptions&) {
  throw InputError("this taskfp was built without LibTorch (install libtorch-dev and rebuild)");
}

#else

namespace {

const BackbonePlugin& plugin() {
  static const BackbonePlugin* loaded = [] {
    std::string why;
    const auto* p = load_plugin<BackbonePlugin>("libtaskfp_torch.so", "TASKFP_TORCH_PLUGIN",
                                                "taskfp_backbone_plugin", kBackbonePluginVersion, why);
    if (!p)
      throw InputError(fmt::format("cannot load the LibTorch plugin libtaskfp_torch.so that runs the backbones "
                                   "({}); rebuild taskfp, or point TASKFP_TORCH_PLUGIN at the file",
                                   why));
    return p;
  }();
  return *loaded;
}


}  // namespace

bool torch_built() { return true; }

std::unique_ptr<Backbone> make_resnet34(const std::string& weights_h5, std::uint64_t seed,
                                        const BackboneOptions& options) {
  const auto& p = plugin();
  if (weights_h5.empty()) return p.make_resnet34(nullptr, "", seed, options);
  const auto weights = read_weights(weights_h5);
  return p.make_resnet34(&weights, weights_h5, seed, options);
}

std::unique_ptr<Backbone> load_torchscript(const std::string& path, int size, const BackboneOptions& options) {
  return plugin().load_torchscript(path, size, options);
}

#endif

std::unique_ptr<Backbone> choose_backbone(const BackboneChoice& c, const BackboneOptions& options) {
  if (c.name == "resnet34") {
    require(!c.weights.empty() || c.random_weights,
            "give --weights (a ResNet34 weights file; scripts/export_backbone.py writes the ImageNet "
            "ones) or --random-weights (not pretrained: tests and offline demos only)");
    require(c.weights.empty() || !c.random_weights, "give --weights or --random-weights, not both");
    return make_resnet34(c.weights, c.weight_seed, options);
  }
  require(c.weights.empty() && !c.random_weights,
          "--weights and --random-weights are for resnet34; a TorchScript file carries its own");
  return load_torchscript(c.name, c.image_size, options);
}

}  // namespace taskfp
