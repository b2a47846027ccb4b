// The backbones' front: loads the LibTorch plugin on first use (so that commands without a
// backbone never load LibTorch) and reads weights files for it.
#include "extract/backbone.hpp"

#include "core/error.hpp"

#ifdef TASKFP_HAVE_TORCH
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "extract/backbone_plugin.hpp"
#include "io/hdf5.hpp"
#endif

namespace taskfp {

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

constexpr const char* kPluginFile = "libtaskfp_torch.so";

// Where the plugin may be: TASKFP_TORCH_PLUGIN (a file), beside the executable, in
// <prefix>/lib/taskfp beside <prefix>/bin, and in the build tree it was built in.
std::vector<std::string> plugin_candidates() {
  if (const char* env = std::getenv("TASKFP_TORCH_PLUGIN"); env && *env) return {env};
  std::vector<std::string> out;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / kPluginFile).string());
    out.push_back((exe.parent_path().parent_path() / "lib" / "taskfp" / kPluginFile).string());
  }
  out.push_back(std::string(TASKFP_TORCH_PLUGIN_DIR) + "/" + kPluginFile);
  return out;
}

const BackbonePlugin& plugin() {
  // Loaded once and never unloaded: the backbones it makes live until the process ends.
  static const BackbonePlugin* loaded = [] {
    std::vector<std::string> tried;
    for (const auto& path : plugin_candidates()) {
      if (!std::filesystem::exists(path)) {
        tried.push_back(path + ": absent");
        continue;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        tried.push_back(path + ": " + dlerror());
        continue;
      }
      using Entry = const BackbonePlugin* (*)();
      auto entry = reinterpret_cast<Entry>(dlsym(handle, "taskfp_backbone_plugin"));
      const BackbonePlugin* p = entry ? entry() : nullptr;
      if (!p || p->version != kBackbonePluginVersion) {
        tried.push_back(path + ": not a plugin of this taskfp build (rebuild it)");
        continue;
      }
      return p;
    }
    throw InputError(fmt::format("cannot load the LibTorch plugin {} that runs the backbones ({}); rebuild "
                                 "taskfp, or point TASKFP_TORCH_PLUGIN at the file",
                                 kPluginFile, fmt::join(tried, "; ")));
  }();
  return *loaded;
}

// Every tensor of a weights file but the classifier (fc.*) and BatchNorm's batch counters.
std::vector<NamedArray> read_weights(const std::string& path) {
  auto file = h5::open_read(path);
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

}  // namespace taskfp
