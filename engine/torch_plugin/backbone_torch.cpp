// The LibTorch backbones, built as the plugin libtaskfp_torch.so (extract/backbone_plugin.hpp):
// the only translation unit that includes LibTorch headers, loaded only when a command needs a
// backbone.
#include <omp.h>
#include <ATen/autocast_mode.h>
#include <c10/core/CPUAllocator.h>
#include <fmt/ranges.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <unordered_map>

#include "core/error.hpp"
#include "extract/backbone_plugin.hpp"
#include "torch_plugin/autocast.hpp"
#include "torch_plugin/checksum.hpp"
#include "torch_plugin/cpu_allocator.hpp"
#include "torch_plugin/resnet.hpp"

namespace taskfp {

namespace {

namespace nn = torch::nn;


// LibTorch's own thread pool: as many threads as taskfp's (-j, default all cores). Left alone it
// may run single-threaded here (half the images per second on 2 cores, bench/RESULTS.md). And
// its CPU tensors come from the reusing pool above.
void configure_torch() {
  torch::set_num_threads(std::max(1, omp_get_max_threads()));
  install_reusing_cpu_allocator();
}

// The random initial weights come from torch's generator, seeded first.
ResNet seeded(std::uint64_t seed) {
  configure_torch();
  torch::manual_seed(seed);
  return ResNet(kResNet34Blocks);
}

torch::Device pick_device(const BackboneOptions& o) {
  require(o.device == "auto" || o.device == "cpu" || o.device == "cuda", "unknown device '{}' (auto, cpu, cuda)",
          o.device);
  if (o.device == "cpu") return torch::kCPU;
  const bool gpu = torch::cuda::is_available();
  require(gpu || o.device == "auto",
          "--device cuda: LibTorch sees no GPU (Debian's libtorch is CPU-only: build the LibTorch plugin alone "
          "against a CUDA LibTorch, cmake -S engine/torch_plugin -B build-torch-plugin "
          "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'), and name "
          "build-torch-plugin/libtaskfp_torch.so in TASKFP_TORCH_PLUGIN)");
  if (!gpu) return torch::kCPU;
  // Deterministic convolution algorithms: the same batch gives the same features on every rank.
  // fp32 means float32 arithmetic: no TF32 tensor-core rounding (bf16/fp16 autocast are the fast
  // options).
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setAllowTF32CuDNN(o.precision != "fp32");
  at::globalContext().setAllowTF32CuBLAS(o.precision != "fp32");
  const auto count = static_cast<int>(torch::cuda::device_count());
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank % count)};
}

// What both backbones share: the device, the precision, and the way a batch goes through.
class TorchBackbone : public Backbone {
 public:
  explicit TorchBackbone(const BackboneOptions& o) : device_(pick_device(o)) {
    require(o.precision == "fp32" || o.precision == "bf16" || o.precision == "fp16",
            "unknown precision '{}' (fp32, bf16, fp16)", o.precision);
    require(o.precision != "fp16" || device_.is_cuda(),
            "fp16 autocast runs on GPUs only; on CPU use bf16 (or fp32)");
    info_.device = device_.str();
    info_.precision = o.precision;
  }
  const BackboneInfo& info() const override { return info_; }

 protected:
  // The model's output for n preprocessed images (n x 3 x size x size float32), as float32 on
  // the CPU; `model` maps the input tensor to the output, checked by `check`.
  template <class Model>
  std::vector<float> run(const float* images, std::size_t n, int size, Model&& model) {
    torch::NoGradGuard no_grad;
    auto x = torch::from_blob(const_cast<float*>(images), {static_cast<long>(n), 3, size, size}, torch::kFloat32);
    if (device_.is_cuda()) x = x.to(device_);
    torch::Tensor y;
    {
      AutocastScope autocast(device_, info_.precision);
      y = model(x);
    }
    y = y.to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
  }

  torch::Device device_;
  BackboneInfo info_;
};

class ResNetBackbone : public TorchBackbone {
 public:
  ResNetBackbone(const std::vector<NamedArray>* weights, const std::string& source, std::uint64_t seed,
                 const BackboneOptions& options)
      : TorchBackbone(options), net_(seeded(seed)) {
    std::map<std::string, torch::Tensor> state;  // parameters and buffers by torchvision name
    for (auto& p : net_->named_parameters()) state[p.key()] = p.value();
    for (auto& b : net_->named_buffers())
      if (b.key().find("num_batches_tracked") == std::string::npos) state[b.key()] = b.value();
    info_.name = "resnet34";
    info_.feature_dim = 512;
    if (!weights) {
      info_.weights = "random (seed " + std::to_string(seed) + "): NOT PRETRAINED, for tests and demos only";
      info_.pretrained = false;
    } else {
      load(*weights, source, state);
      info_.weights = std::filesystem::path(source).filename().string();
      info_.pretrained = true;
    }
    info_.weights_checksum = weights_checksum(state);
    net_->eval();
    net_->to(device_);
  }
  std::vector<float> forward(const float* images, std::size_t n, int size) override {
    return run(images, n, size, [&](const torch::Tensor& x) { return net_->forward(x); });
  }

 private:
  // The weights file's tensors into the model (fc.* and batch counters already left out).
  static void load(const std::vector<NamedArray>& weights, const std::string& source,
                   std::map<std::string, torch::Tensor>& state) {
    std::vector<std::string> missing, unexpected, misshaped;
    std::set<std::string> found;
    for (const auto& w : weights) {
      auto it = state.find(w.name);
      if (it == state.end()) {
        unexpected.push_back(w.name);
        continue;
      }
      found.insert(w.name);
      const std::vector<std::int64_t> want = it->second.sizes().vec();
      if (w.shape != want) {
        misshaped.push_back(
            fmt::format("{} (file {}, expected {})", w.name, fmt::join(w.shape, "x"), fmt::join(want, "x")));
        continue;
      }
      torch::NoGradGuard no_grad;
      it->second.copy_(torch::from_blob(const_cast<float*>(w.values.data()), it->second.sizes(), torch::kFloat32));
    }
    for (const auto& [key, t] : state)
      if (!found.count(key)) missing.push_back(key);
    if (!missing.empty() || !unexpected.empty() || !misshaped.empty())
      throw InputError(fmt::format(
          "weights file '{}' does not fit ResNet34: {} missing [{}], {} unexpected [{}], {} misshaped [{}]", source,
          missing.size(), fmt::join(missing, ", "), unexpected.size(), fmt::join(unexpected, ", "),
          misshaped.size(), fmt::join(misshaped, ", ")));
  }

  ResNet net_;
};

class ScriptBackbone : public TorchBackbone {
 public:
  ScriptBackbone(const std::string& path, int size, const BackboneOptions& options) : TorchBackbone(options) {
    configure_torch();
    try {
      module_ = torch::jit::load(path);
    } catch (const c10::Error& e) {
      throw InputError(fmt::format("cannot load TorchScript module '{}': {}", path, e.what_without_backtrace()));
    }
    module_.eval();
    info_.name = std::filesystem::path(path).filename().string();
    info_.weights = path;
    info_.pretrained = true;
    std::map<std::string, torch::Tensor> state;
    for (const auto& p : module_.named_parameters()) state[p.name] = p.value;
    for (const auto& b : module_.named_buffers()) state[b.name] = b.value;
    info_.weights_checksum = weights_checksum(state);
    module_.to(device_);
    require(size > 0, "the image size must be positive");
    const std::vector<float> probe(2 * 3 * static_cast<std::size_t>(size) * static_cast<std::size_t>(size), 0.0f);
    forward(probe.data(), 2, size);  // refuses a module that does not give n x d, before any work
  }
  std::vector<float> forward(const float* images, std::size_t n, int size) override {
    return run(images, n, size, [&](const torch::Tensor& x) {
      c10::IValue out;
      try {
        out = module_.forward({x});
      } catch (const c10::Error& e) {
        throw InputError(fmt::format("TorchScript module '{}' failed: {}", info_.name, e.what_without_backtrace()));
      }
      require(out.isTensor(), "TorchScript module '{}' returned a {}; features must be an n x d tensor",
              info_.name, out.tagKind());
      torch::Tensor y = out.toTensor();
      require(y.dim() == 2 && y.size(0) == static_cast<long>(n),
              "TorchScript module '{}' returned shape [{}] for {} images; features must be n x d", info_.name,
              fmt::join(y.sizes().vec(), ", "), n);
      require(info_.feature_dim == 0 || y.size(1) == info_.feature_dim,
              "TorchScript module '{}' returned {} features per image, earlier {}", info_.name, y.size(1),
              info_.feature_dim);
      if (info_.feature_dim == 0) info_.feature_dim = static_cast<int>(y.size(1));
      return y;
    });
  }

 private:
  torch::jit::Module module_;
};

}  // namespace
}  // namespace taskfp

extern "C" __attribute__((visibility("default"))) const taskfp::BackbonePlugin* taskfp_backbone_plugin() {
  static const taskfp::BackbonePlugin plugin = [] {
    taskfp::BackbonePlugin p;
    p.make_resnet34 = [](const std::vector<taskfp::NamedArray>* weights, const std::string& source,
                         std::uint64_t seed, const taskfp::BackboneOptions& options) -> std::unique_ptr<taskfp::Backbone> {
      return std::make_unique<taskfp::ResNetBackbone>(weights, source, seed, options);
    };
    p.load_torchscript = [](const std::string& path, int size,
                            const taskfp::BackboneOptions& options) -> std::unique_ptr<taskfp::Backbone> {
      return std::make_unique<taskfp::ScriptBackbone>(path, size, options);
    };
    return p;
  }();
  return &plugin;
}
