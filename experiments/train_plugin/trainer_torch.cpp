// The training plugin, libtaskfp_train.so (experiments/trainer.hpp): the model zoo, the
// protocol's training loop (balanced sampling, crop and flip or a policy, Adam, StepLR,
// cross-entropy, mixed precision on GPUs), co-training with two heads, the augmentation
// operations on batched uint8 tensors, and FED's probe with its Fisher diagonal. The only place
// of experiments/ that includes LibTorch.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <type_traits>

#include "core/error.hpp"
#include "core/random.hpp"
#include "experiments/trainer.hpp"
#include "torch_plugin/autocast.hpp"
#include "torch_plugin/checksum.hpp"
#include "torch_plugin/cpu_allocator.hpp"
#include "torch_plugin/resnet.hpp"

namespace taskfp::experiments {
namespace {

namespace nn = torch::nn;

// ---------------------------------------------------------------------------------------------
// The model zoo: a backbone maps n x 3 x h x w images to n x features; heads are linear layers.

using resnet_detail::conv;  // a bias-free convolution


// The inputs and outputs of chosen convolutions and BatchNorms in a forward pass, from which
// each image's own weight gradients follow (fisher_job's batched mode).
struct Tap {
  struct Site {
    std::size_t kept = 0;  // the weight's index in `wanted`
    nn::Conv2d conv{nullptr};
    nn::BatchNorm2d bn{nullptr};
    torch::Tensor in, out;
  };
  std::map<std::string, std::size_t> wanted;  // weight name -> its index among the kept weights
  std::vector<Site> sites;

  torch::Tensor conv(const std::string& name, nn::Conv2d& m, torch::Tensor x) {
    const auto kept = start(name, x);
    auto y = m->forward(x);
    if (kept) sites.push_back({*kept, m, nullptr, x, y});
    return y;
  }
  torch::Tensor bn(const std::string& name, nn::BatchNorm2d& m, torch::Tensor x) {
    const auto kept = start(name, x);
    auto y = m->forward(x);
    if (kept) sites.push_back({*kept, nullptr, m, x, y});
    return y;
  }

 private:
  // The wanted weight's index, or nothing; the graph starts at the first wanted site's input (no
  // parameter requires a gradient: only the activations' gradients are computed, none of the
  // weights').
  std::optional<std::size_t> start(const std::string& name, torch::Tensor& x) {
    const auto it = wanted.find(name + ".weight");
    if (it == wanted.end()) return std::nullopt;
    if (sites.empty()) x = x.detach().requires_grad_(true);
    return it->second;
  }
};

// ResNet's forward with its convolutions and BatchNorms recorded (torchvision's names).
torch::Tensor tapped_forward(resnet_detail::ResNetImpl& r, torch::Tensor x, Tap& tap) {
  x = torch::max_pool2d(torch::relu(tap.bn("bn1", r.bn1, tap.conv("conv1", r.conv1, x))), 3, 2, 1);
  const std::array<nn::Sequential*, 4> layers = {&r.layer1, &r.layer2, &r.layer3, &r.layer4};
  for (std::size_t l = 0; l < layers.size(); ++l)
    for (std::size_t b = 0; b < (*layers[l])->size(); ++b) {
      auto& block = *(*layers[l])->ptr<resnet_detail::BasicBlockImpl>(b);
      const auto name = fmt::format("layer{}.{}", l + 1, b);
      auto y = torch::relu(tap.bn(name + ".bn1", block.bn1, tap.conv(name + ".conv1", block.conv1, x)));
      y = tap.bn(name + ".bn2", block.bn2, tap.conv(name + ".conv2", block.conv2, y));
      x = torch::relu(y + (block.downsample ? block.downsample->forward(x) : x));
    }
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

// The demo profile's networks (tiny_cnn: width 16, small_cnn: width 32): three strided
// conv-BN-ReLU stages and global average pooling (4 x width features); they train at small
// image sizes on a CPU in seconds.
struct TinyCnnImpl : nn::Module {
  nn::Sequential body{nullptr};
  explicit TinyCnnImpl(int width) {
    body = register_module("body", nn::Sequential(conv(3, width, 3, 2, 1), nn::BatchNorm2d(width), nn::ReLU(),
                                                  conv(width, 2 * width, 3, 2, 1), nn::BatchNorm2d(2 * width),
                                                  nn::ReLU(), conv(2 * width, 4 * width, 3, 2, 1),
                                                  nn::BatchNorm2d(4 * width), nn::ReLU()));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::adaptive_avg_pool2d(body->forward(x), {1, 1}).flatten(1);
  }
  // The forward with its convolutions and BatchNorms recorded (names body.<i>).
  torch::Tensor tapped_forward(torch::Tensor x, Tap& tap) {
    for (std::size_t i = 0; i < body->size(); ++i) {
      const auto name = "body." + std::to_string(i);
      if (auto c = std::dynamic_pointer_cast<nn::Conv2dImpl>(body->ptr(i))) {
        nn::Conv2d m(c);
        x = tap.conv(name, m, x);
      } else if (auto n = std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(body->ptr(i))) {
        nn::BatchNorm2d m(n);
        x = tap.bn(name, m, x);
      } else {
        x = torch::relu(x);
      }
    }
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }
};
TORCH_MODULE(TinyCnn);

// A backbone of the zoo behind one face: native modules or a TorchScript module exported by
// scripts/export_zoo.py (torchvision's model with its classifier replaced by the identity).
class Backbone {
 public:
  Backbone(const std::string& name, const std::string& zoo_dir, const torch::Device& device) {
    if (name == "resnet18" || name == "resnet34") {
      set_native(ResNet(name == "resnet18" ? kResNet18Blocks : kResNet34Blocks));
      features_ = 512;
    } else if (name == "tiny_cnn" || name == "small_cnn") {
      const int width = name == "tiny_cnn" ? 16 : 32;
      set_native(TinyCnn(width));
      features_ = 4 * width;
    } else {
      const auto path = std::filesystem::path(zoo_dir) / (name + ".pt");
      if (zoo_dir.empty() || !std::filesystem::exists(path))
        throw InputError(missing_zoo_model(name, zoo_dir));
      try {
        script_ = torch::jit::load(path.string());
      } catch (const c10::Error& e) {
        throw InputError(fmt::format("cannot load zoo model {}: {}", path.string(), e.what_without_backtrace()));
      }
      script_->to(device);
      script_->train(false);
      auto probe = script_->forward({torch::zeros({2, 3, 64, 64}, device)}).toTensor();
      if (probe.dim() != 2 || probe.size(0) != 2)
        throw InputError(fmt::format("zoo model {} gives shape [{}] for 2 images, not 2 x features", path.string(),
                                     fmt::join(probe.sizes().vec(), ", ")));
      features_ = static_cast<int>(probe.size(1));
    }
    if (native_) native_->to(device);
  }
  [[nodiscard]] int features() const { return features_; }
  torch::Tensor forward(const torch::Tensor& x) {
    if (native_) return native_forward_(x);
    return script_->forward({x}).toTensor();
  }
  void train(bool on) {
    if (native_) native_->train(on);
    else script_->train(on);
  }
  std::vector<torch::Tensor> parameters() {
    if (native_) return native_->parameters();
    std::vector<torch::Tensor> out;
    for (const auto& p : script_->parameters()) out.push_back(p);
    return out;
  }
  // Parameters by name, in the model's order (torchvision's named_parameters order).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    if (native_) {
      for (auto& p : native_->named_parameters()) out.emplace_back(p.key(), p.value());
    } else {
      for (const auto& p : script_->named_parameters()) out.emplace_back(p.name, p.value);
    }
    return out;
  }
  [[nodiscard]] bool native() const { return native_ != nullptr; }
  // The forward of a native network with the sites `tap` wants recorded.
  torch::Tensor forward(const torch::Tensor& x, Tap& tap) { return tapped_forward_(x, tap); }
  // Parameters and buffers by name (BatchNorm's batch counters left out).
  std::map<std::string, torch::Tensor> state() {
    std::map<std::string, torch::Tensor> s;
    if (native_) {
      for (auto& p : native_->named_parameters()) s[p.key()] = p.value();
      for (auto& b : native_->named_buffers())
        if (b.key().find("num_batches_tracked") == std::string::npos) s[b.key()] = b.value();
    } else {
      for (const auto& p : script_->named_parameters()) s[p.name] = p.value;
      for (const auto& b : script_->named_buffers())
        if (b.name.find("num_batches_tracked") == std::string::npos) s[b.name] = b.value;
    }
    return s;
  }

 private:
  template <class Holder>
  void set_native(Holder m) {
    native_ = m.ptr();
    native_forward_ = [m](const torch::Tensor& x) mutable { return m->forward(x); };
    if constexpr (std::is_same_v<Holder, ResNet>)
      tapped_forward_ = [m](const torch::Tensor& x, Tap& tap) mutable { return tapped_forward(*m, x, tap); };
    else
      tapped_forward_ = [m](const torch::Tensor& x, Tap& tap) mutable { return m->tapped_forward(x, tap); };
  }
  std::shared_ptr<nn::Module> native_;  // a zoo module of this file, or null
  std::function<torch::Tensor(const torch::Tensor&)> native_forward_;
  std::function<torch::Tensor(const torch::Tensor&, Tap&)> tapped_forward_;
  std::optional<torch::jit::Module> script_;
  int features_ = 0;
};

nn::Linear make_head(int features, int classes, const torch::Device& device) {
  nn::Linear head(features, classes);
  torch::NoGradGuard no_grad;
  nn::init::xavier_uniform_(head->weight);
  nn::init::zeros_(head->bias);
  head->to(device);
  return head;
}

void load_state(Backbone& net, const std::string& path, const std::string& what) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{} {}: cannot be read ({})", what, path, e.what_without_backtrace()));
  }
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing;
  for (auto& [name, t] : net.state()) {
    torch::Tensor v;
    if (!archive.try_read(name, v)) {
      missing.push_back(name);
      continue;
    }
    if (v.sizes() != t.sizes())
      throw InputError(fmt::format("{} {}: '{}' has shape [{}], the model expects [{}] (another architecture?)", what,
                                   path, name, fmt::join(v.sizes().vec(), ", "), fmt::join(t.sizes().vec(), ", ")));
    t.copy_(v.to(t.device(), t.scalar_type()));
  }
  if (!missing.empty())
    throw InputError(fmt::format("{} {}: lacks {} of the model's tensors (e.g. '{}'): another architecture?", what,
                                 path, missing.size(), missing.front()));
}

void save_state(Backbone& net, const std::string& path) {
  torch::serialize::OutputArchive archive;
  for (auto& [name, t] : net.state()) archive.write(name, t.detach().to(torch::kCPU));
  archive.save_to(path);
}

void load_imagenet(Backbone& net, const std::vector<NamedArray>& weights) {
  auto state = net.state();
  torch::NoGradGuard no_grad;
  std::size_t loaded = 0;
  for (const auto& w : weights) {
    auto it = state.find(w.name);
    if (it == state.end()) continue;
    if (w.shape != it->second.sizes().vec())
      throw InputError(fmt::format("ImageNet weights: '{}' has another shape than the model's", w.name));
    it->second.copy_(torch::from_blob(const_cast<float*>(w.values.data()), it->second.sizes(), torch::kFloat32)
                         .to(it->second.device()));
    ++loaded;
  }
  if (loaded != state.size())
    throw InputError(fmt::format("the ImageNet weights fit {} of the model's {} tensors", loaded, state.size()));
}

// ---------------------------------------------------------------------------------------------
// Augmentation on batched uint8 images (n x 3 x s x s), each operation for the samples that drew
// it, with albumentations' uint8 semantics (LUTs in float32, truncated to uint8).

torch::Tensor per_sample(const std::vector<double>& v, const torch::Device& device) {
  return torch::tensor(std::vector<float>(v.begin(), v.end()), torch::kFloat32).to(device).view({-1, 1, 1, 1});
}

// Applies op to x[idx] with the draws of those samples; x is uint8.
void apply_batched(const AugmentOp& op, const std::vector<const OpDraw*>& draws, torch::Tensor& x,
                   const torch::Tensor& idx) {
  if (draws.empty() || op.kind == AugmentOpKind::Identity) return;
  const auto device = x.device();
  torch::Tensor sel = x.index_select(0, idx);
  const int s = static_cast<int>(x.size(3));
  torch::Tensor out;
  switch (op.kind) {
    case AugmentOpKind::RGBShift: {
      std::vector<float> shifts;
      for (const auto* d : draws)
        for (int c = 0; c < 3; ++c) shifts.push_back(static_cast<float>(d->shift[c]));
      auto shift = torch::tensor(shifts).to(device).view({-1, 3, 1, 1});
      out = (sel.to(torch::kFloat32) + shift).clamp(0, 255).floor().to(torch::kUInt8);
      break;
    }
    case AugmentOpKind::BrightnessContrast: {
      std::vector<double> alpha, beta;
      for (const auto* d : draws) {
        alpha.push_back(d->alpha);
        beta.push_back(d->beta * 255.0);
      }
      out = (sel.to(torch::kFloat32) * per_sample(alpha, device) + per_sample(beta, device))
                .clamp(0, 255)
                .floor()
                .to(torch::kUInt8);
      break;
    }
    case AugmentOpKind::Solarize: {
      std::vector<double> thr;
      for (const auto* d : draws) thr.push_back(d->threshold);
      auto f = sel.to(torch::kFloat32);
      out = torch::where(f >= per_sample(thr, device), 255 - sel.to(torch::kInt16), sel.to(torch::kInt16))
                .to(torch::kUInt8);
      break;
    }
    case AugmentOpKind::HorizontalFlip: out = sel.flip({3}); break;
    case AugmentOpKind::VerticalFlip: out = sel.flip({2}); break;
    case AugmentOpKind::ShiftScaleRotate: {
      // cv2.getRotationMatrix2D about ((w - 1) / 2, (h - 1) / 2), shifted by (dx w, dy h), maps
      // source to destination; each destination pixel samples the source at the inverse map,
      // bilinearly, mirrored without repeating the edge (BORDER_REFLECT_101 = grid_sample's
      // reflection with align_corners=True).
      const double c = (s - 1) / 2.0;
      std::vector<float> inv;
      for (const auto* d : draws) {
        const double a = d->angle * M_PI / 180.0;
        const double al = d->scale * std::cos(a), be = d->scale * std::sin(a);
        const double tx = (1 - al) * c - be * c + d->dx * s, ty = be * c + (1 - al) * c + d->dy * s;
        // Inverse of [[al, be, tx], [-be, al, ty]].
        const double det = al * al + be * be;
        const double i00 = al / det, i01 = -be / det, i10 = be / det, i11 = al / det;
        const double itx = -(i00 * tx + i01 * ty), ity = -(i10 * tx + i11 * ty);
        // In grid_sample's normalised coordinates (align_corners=True): u = 2 p / (s - 1) - 1.
        // p_src = I p_dst + t  =>  u_src = I u_dst + (I 1 + 2 t / (s - 1) - 1) (per axis).
        const double k = 2.0 / (s - 1);
        inv.insert(inv.end(), {static_cast<float>(i00), static_cast<float>(i01),
                               static_cast<float>(i00 + i01 + k * itx - 1), static_cast<float>(i10),
                               static_cast<float>(i11), static_cast<float>(i10 + i11 + k * ity - 1)});
      }
      auto theta = torch::tensor(inv).to(device).view({-1, 2, 3});
      auto grid = torch::nn::functional::affine_grid(theta, {sel.size(0), 3, s, s}, /*align_corners=*/true);
      auto f = torch::nn::functional::grid_sample(
          sel.to(torch::kFloat32), grid,
          torch::nn::functional::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kReflection).align_corners(true));
      out = f.round().clamp(0, 255).to(torch::kUInt8);
      break;
    }
    case AugmentOpKind::CoarseDropout: {
      out = sel.clone();
      const auto fill = static_cast<std::uint8_t>(std::clamp(op.fill_value, 0.0, 255.0));
      for (std::size_t i = 0; i < draws.size(); ++i)
        for (const auto& h : draws[i]->holes)
          out[static_cast<long>(i)].narrow(1, h[0], h[2]).narrow(2, h[1], h[3]).fill_(fill);
      break;
    }
    default: return;
  }
  x.index_copy_(0, idx, out);
}

// A batch's policy: per sample the operations of its drawn sub-policy, applied stage by stage,
// each operation batched over the samples that drew it.
void apply_policy(torch::Tensor& x, const std::vector<std::vector<std::pair<const AugmentOp*, OpDraw>>>& drawn) {
  std::size_t stages = 0;
  for (const auto& d : drawn) stages = std::max(stages, d.size());
  for (std::size_t st = 0; st < stages; ++st) {
    std::map<const AugmentOp*, std::pair<std::vector<long>, std::vector<const OpDraw*>>> groups;
    for (std::size_t i = 0; i < drawn.size(); ++i)
      if (st < drawn[i].size()) {
        auto& g = groups[drawn[i][st].first];
        g.first.push_back(static_cast<long>(i));
        g.second.push_back(&drawn[i][st].second);
      }
    for (auto& [op, g] : groups)
      apply_batched(*op, g.second, x, torch::tensor(g.first, torch::kLong).to(x.device()));
  }
}

// ---------------------------------------------------------------------------------------------
// Training.

torch::Device pick_device(const std::string& device, int local_rank) {
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw InputError(fmt::format("unknown device '{}' (auto, cpu, cuda)", device));
  if (device == "cpu") return torch::kCPU;
  const bool gpu = torch::cuda::is_available();
  if (!gpu && device == "cuda")
    throw InputError(std::string("--device cuda: LibTorch sees no GPU (") +
                     (at::hasCUDA() ? "this LibTorch has CUDA, but no device is visible"
                                    : "this LibTorch is CPU-only, as Debian's is: build the training plugin alone "
                                      "against a CUDA LibTorch, cmake -S experiments/train_plugin -B "
                                      "build-train-plugin -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; "
                                      "print(torch.utils.cmake_prefix_path)'), and name "
                                      "build-train-plugin/libtaskfp_train.so in TASKFP_TRAIN_PLUGIN") +
                     ")");
  if (!gpu) return torch::kCPU;
  // Deterministic algorithms: a job gives the same result on any GPU of a kind, whichever rank
  // runs it (cuBLAS needs a fixed workspace for that).
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  const auto count = static_cast<int>(torch::cuda::device_count());
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count)};
}

// Balanced sampling with replacement (torch's WeightedRandomSampler with weights 1 / class
// count): a class uniformly among those present, then one of its samples uniformly.
class BalancedSampler {
 public:
  BalancedSampler(const TaskTensor& t, std::uint64_t seed) : rng_(seed) {
    by_class_.resize(t.classes);
    for (std::size_t i = 0; i < t.n; ++i) by_class_[t.labels[i]].push_back(static_cast<long>(i));
    for (int c = 0; c < t.classes; ++c)
      if (!by_class_[c].empty()) present_.push_back(c);
  }
  std::vector<long> draw(std::size_t n) {
    std::vector<long> out(n);
    for (auto& i : out) {
      const auto& pool = by_class_[present_[rng_.below(present_.size())]];
      i = pool[rng_.below(pool.size())];
    }
    return out;
  }
  SplitMix& rng() { return rng_; }

 private:
  SplitMix rng_;
  std::vector<std::vector<long>> by_class_;
  std::vector<int> present_;
};

// The images of `indices` as a uint8 batch on the device.
torch::Tensor gather(const TaskTensor& t, const std::vector<long>& indices, const torch::Device& device) {
  auto all = torch::from_blob(const_cast<std::uint8_t*>(t.pixels),
                              {static_cast<long>(t.n), 3, t.size, t.size}, torch::kUInt8);
  return all.index_select(0, torch::tensor(indices, torch::kLong)).to(device);
}

torch::Tensor labels_of(const TaskTensor& t, const std::vector<long>& indices, const torch::Device& device) {
  std::vector<long> y;
  for (long i : indices) y.push_back(t.labels[i]);
  return torch::tensor(y, torch::kLong).to(device);
}

// uint8 images to the network's input: / 255, then ImageNet normalisation.
torch::Tensor to_input(const torch::Tensor& x, bool normalize) {
  auto f = x.to(torch::kFloat32).div_(255.0f);
  if (!normalize) return f;
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).to(x.device()).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).to(x.device()).view({1, 3, 1, 1});
  return (f - mean) / std;
}

// A random crop of crop x crop (the whole image where it is smaller) and, with `flip`, a
// horizontal flip with probability 1/2, per image.
torch::Tensor crop_flip(const torch::Tensor& x, int crop_size, bool flip, SplitMix& rng) {
  const auto n = x.size(0);
  const int s = static_cast<int>(x.size(3));
  const int crop = std::min(crop_size, s);
  std::vector<torch::Tensor> views;
  for (long i = 0; i < n; ++i) {
    const auto y = static_cast<long>(rng.below(static_cast<std::size_t>(s - crop + 1)));
    const auto xx = static_cast<long>(rng.below(static_cast<std::size_t>(s - crop + 1)));
    auto v = x[i].narrow(1, y, crop).narrow(2, xx, crop);
    if (flip && rng.uniform() < 0.5) v = v.flip({2});
    views.push_back(v);
  }
  return torch::stack(views);
}

// The training view of a batch: the policy's operations, or a random crop and a flip.
torch::Tensor augment(torch::Tensor x, const TrainRequest& r, SplitMix& rng) {
  const auto n = x.size(0);
  const int s = static_cast<int>(x.size(3));
  if (r.policy) {
    std::vector<std::vector<std::pair<const AugmentOp*, OpDraw>>> drawn;
    for (long i = 0; i < n; ++i) drawn.push_back(draw_policy(*r.policy, s, rng));
    apply_policy(x, drawn);
    return x;
  }
  return crop_flip(x, r.crop, r.flip, rng);
}

TrainOutcome train_job(const TrainRequest& r, const EpochCallback& on_epoch) {
  const auto started = std::chrono::steady_clock::now();
  torch::set_num_threads(std::max(1, r.threads));
  install_reusing_cpu_allocator();  // activations of every step reused, not page-faulted in afresh
  const auto device = pick_device(r.device, r.local_rank);
  if (r.precision != "auto" && r.precision != "fp32")
    throw InputError(fmt::format("unknown precision '{}' (auto, fp32)", r.precision));
  const std::string precision = device.is_cuda() && r.precision == "auto" ? "bf16" : "fp32";
  if (r.train.n == 0 || r.evaluation.n == 0) throw InputError("a training needs training and evaluation images");

  torch::manual_seed(r.seed);
  if (device.is_cuda()) torch::cuda::manual_seed_all(r.seed);
  Backbone net(r.architecture, r.zoo_dir, device);
  if (r.imagenet) load_imagenet(net, *r.imagenet);
  if (!r.init_model.empty()) load_state(net, r.init_model, "source model");
  auto head = make_head(net.features(), r.train.classes, device);
  nn::Linear source_head{nullptr};
  const bool cotrain = r.source.n > 0;
  if (cotrain) source_head = make_head(net.features(), r.source.classes, device);

  std::vector<torch::Tensor> params = net.parameters();
  for (auto& p : head->parameters()) params.push_back(p);
  if (cotrain)
    for (auto& p : source_head->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(r.lr).betas({r.beta1, r.beta2}).weight_decay(r.weight_decay));

  // Every draw from one generator per job: sampling, crops, flips, policies.
  BalancedSampler target_sampler(r.train, seed_for(r.seed, "target sampling"));
  std::optional<BalancedSampler> source_sampler;
  if (cotrain) source_sampler.emplace(r.source, seed_for(r.seed, "source sampling"));
  SplitMix aug_rng(seed_for(r.seed, "augmentation"));

  TrainOutcome out;
  out.device = device.str();
  out.precision = precision;
  // Per epoch as many draws as training images (drop_last false: a smaller last batch); when
  // co-training, each batch is half target, half source.
  const std::size_t per_batch = cotrain ? std::max(1, r.batch / 2) : static_cast<std::size_t>(r.batch);
  const std::size_t steps = (r.train.n + per_batch - 1) / per_batch;
  for (int epoch = 1; epoch <= r.epochs; ++epoch) {
    // StepLR(step, gamma): the learning rate of this epoch.
    const double lr = r.lr * std::pow(r.gamma, (epoch - 1) / r.step);
    for (auto& group : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    net.train(true);
    head->train(true);
    double loss_sum = 0;
    for (std::size_t step = 0; step < steps; ++step) {
      const std::size_t n = std::min(per_batch, r.train.n - step * per_batch);
      const auto idx = target_sampler.draw(n);
      auto x = to_input(augment(gather(r.train, idx, device), r, aug_rng), r.normalize_imagenet);
      const auto y = labels_of(r.train, idx, device);
      torch::Tensor loss;
      {
        AutocastScope autocast(device, precision);
        loss = torch::nn::functional::cross_entropy(head->forward(net.forward(x)).to(torch::kFloat32), y);
        if (cotrain) {
          const auto sidx = source_sampler->draw(n);
          auto xs = to_input(augment(gather(r.source, sidx, device), r, aug_rng), r.normalize_imagenet);
          const auto ys = labels_of(r.source, sidx, device);
          loss = (loss + torch::nn::functional::cross_entropy(
                             source_head->forward(net.forward(xs)).to(torch::kFloat32), ys)) / 2;
          out.images += n;
        }
      }
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_sum += loss.item<double>();
      out.images += n;
    }
    out.epoch_loss.push_back(loss_sum / static_cast<double>(steps));
    if (on_epoch) on_epoch(epoch, out.epoch_loss.back());
  }

  // Evaluation once, on the whole evaluation images, no augmentation.
  net.train(false);
  head->train(false);
  {
    torch::NoGradGuard no_grad;
    out.scores.reserve(r.evaluation.n * static_cast<std::size_t>(r.train.classes));
    for (std::size_t at = 0; at < r.evaluation.n; at += static_cast<std::size_t>(r.batch)) {
      const std::size_t n = std::min(static_cast<std::size_t>(r.batch), r.evaluation.n - at);
      std::vector<long> idx(n);
      for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<long>(at + i);
      const auto x = to_input(gather(r.evaluation, idx, device), r.normalize_imagenet);
      torch::Tensor p;
      {
        AutocastScope autocast(device, precision);
        p = torch::softmax(head->forward(net.forward(x)).to(torch::kFloat32), 1);
      }
      p = p.to(torch::kCPU).contiguous();
      out.scores.insert(out.scores.end(), p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
      out.images += n;
    }
  }
  if (!r.save_model.empty()) save_state(net, r.save_model);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

// ---------------------------------------------------------------------------------------------
// FED's probe and Fisher embedding (experiments/trainer.hpp FisherRequest states the steps).

// Whether a backbone parameter enters the embedding (mml's select_embedding_params with
// ignore_bias, ignore_downsample, BatchNorm weights kept).
bool fisher_candidate(const std::string& name) {
  return name.find("bias") == std::string::npos && name.find("downsample") == std::string::npos;
}

// The Monte Carlo labels of a batch's rows (b x classes log-probabilities, one copy to the host):
// per row the first class whose cumulative probability exceeds its uniform u (float64 sums of
// the float32 softmax); the last class of non-zero probability where rounding leaves u above all.
std::vector<long> draw_labels(const torch::Tensor& log_probs, const double* uniforms) {
  const auto p = log_probs.detach().exp().to(torch::kCPU, torch::kFloat64).contiguous();
  const long rows = p.size(0), k = p.size(1);
  std::vector<long> labels(static_cast<std::size_t>(rows));
  for (long i = 0; i < rows; ++i) {
    const double* v = p.data_ptr<double>() + i * k;
    double cumulative = 0;
    long last = 0, label = -1;
    for (long c = 0; c < k && label < 0; ++c) {
      if (v[c] > 0) last = c;
      cumulative += v[c];
      if (uniforms[i] < cumulative) label = c;
    }
    labels[static_cast<std::size_t>(i)] = label < 0 ? last : label;
  }
  return labels;
}

FisherOutcome fisher_job(const FisherRequest& r, const FisherProgress& progress) {
  const auto started = std::chrono::steady_clock::now();
  torch::set_num_threads(std::max(1, r.threads));
  install_reusing_cpu_allocator();
  const auto device = pick_device(r.device, r.local_rank);
  // float32 arithmetic on a GPU as on the CPU: no TF32 tensor-core rounding of convolutions
  // (cuDNN's default) or products, whose 10-bit mantissas would move the squared gradients by
  // about 1e-3.
  if (device.is_cuda()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  const TaskTensor& t = r.images;
  if (t.n == 0 || t.classes < 2) throw InputError("the Fisher embedding needs images of at least 2 classes");
  if (r.fisher_indices.empty()) throw InputError("the Fisher embedding needs at least one image to average over");
  if (r.label_uniforms.size() != r.fisher_indices.size())
    throw InputError(fmt::format("{} label draws for {} Fisher images", r.label_uniforms.size(), r.fisher_indices.size()));
  for (const long i : r.fisher_indices)
    if (i < 0 || static_cast<std::size_t>(i) >= t.n)
      throw InputError(fmt::format("Fisher image index {} is outside the task's {} images", i, t.n));
  if (!(r.keep_fraction > 0 && r.keep_fraction <= 1))
    throw InputError(fmt::format("the kept fraction {} is not in (0, 1]", r.keep_fraction));
  if (r.head_samples < 0 || r.head_batch < 1) throw InputError("probe samples must be >= 0 and the batch >= 1");
  if (r.mode != "auto" && r.mode != "batched" && r.mode != "per-image")
    throw InputError(fmt::format("unknown Fisher mode '{}' (auto, batched, per-image)", r.mode));

  torch::manual_seed(r.weight_seed);
  Backbone net(r.architecture, "", device);
  if (!net.native())
    throw InputError(fmt::format("the Fisher probe '{}' must be a native network of the zoo (resnet18, resnet34, "
                                 "tiny_cnn, small_cnn)", r.architecture));
  if (r.weights) load_imagenet(net, *r.weights);
  FisherOutcome out;
  out.weights_checksum = weights_checksum(net.state());
  out.device = device.str();
  torch::manual_seed(r.seed);
  if (device.is_cuda()) torch::cuda::manual_seed_all(r.seed);
  auto head = make_head(net.features(), t.classes, device);
  if (!r.head_weight.empty() || !r.head_bias.empty()) {
    if (r.head_weight.size() != static_cast<std::size_t>(t.classes) * net.features() ||
        r.head_bias.size() != static_cast<std::size_t>(t.classes))
      throw InputError(fmt::format("the given head has {} weights and {} biases; {} x {} and {} are needed",
                                   r.head_weight.size(), r.head_bias.size(), t.classes, net.features(), t.classes));
    torch::NoGradGuard no_grad;
    head->weight.copy_(torch::from_blob(const_cast<float*>(r.head_weight.data()), {t.classes, net.features()},
                                        torch::kFloat32).to(device));
    head->bias.copy_(torch::from_blob(const_cast<float*>(r.head_bias.data()), {t.classes}, torch::kFloat32).to(device));
  }
  const std::size_t total = static_cast<std::size_t>(r.head_samples) + r.fisher_indices.size();

  // 1. The probe: backbone frozen, in training mode (as mml's freeze_backbone under Lightning).
  for (auto& p : net.parameters()) p.set_requires_grad(false);
  if (r.head_samples > 0) {
    torch::optim::Adam adam(head->parameters(), torch::optim::AdamOptions(r.lr).betas({r.beta1, r.beta2}));
    BalancedSampler sampler(t, seed_for(r.seed, "probe sampling"));
    SplitMix aug(seed_for(r.seed, "probe augmentation"));
    net.train(true);
    head->train(true);
    double loss_sum = 0;
    std::size_t steps = 0;
    for (std::size_t done = 0; done < static_cast<std::size_t>(r.head_samples);) {
      const std::size_t n = std::min<std::size_t>(r.head_batch, r.head_samples - done);
      const auto idx = sampler.draw(n);
      const auto x = to_input(crop_flip(gather(t, idx, device), r.crop, r.flip, aug), r.normalize_imagenet);
      const auto loss = torch::nn::functional::cross_entropy(head->forward(net.forward(x)), labels_of(t, idx, device));
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_sum += loss.item<double>();
      ++steps;
      done += n;
      out.images += n;
      if (progress) progress(done, total);
    }
    out.head_loss = loss_sum / static_cast<double>(steps);
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  out.probe_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // 2. The Fisher diagonal in eval mode, one image at a time (each image's own gradient).
  net.train(false);
  head->train(false);
  for (auto& p : head->parameters()) p.set_requires_grad(false);
  std::vector<std::pair<std::string, torch::Tensor>> kept;
  for (auto& [name, p] : net.named_parameters())
    if (fisher_candidate(name)) kept.emplace_back(name, p);
  // floor(count x (1 - keep)), guarded against 1 - 0.6 = 0.39999999999999997 (the paper: int(0.4 * count)).
  const auto first = static_cast<std::size_t>(std::floor(static_cast<double>(kept.size()) * (1.0 - r.keep_fraction) + 1e-9));
  kept.erase(kept.begin(), kept.begin() + static_cast<long>(std::min(first, kept.size())));
  if (kept.empty()) throw InputError("no parameter of the probe is kept for the Fisher embedding");
  // Squared gradients summed in float32 over blocks of kFisherBlock images (no temporaries), the
  // blocks' sums in float64.
  constexpr std::size_t kFisherBlock = 64;
  constexpr std::size_t kFisherBatch = 16;
  std::vector<torch::Tensor> params, block, sums;
  for (auto& [name, p] : kept) {
    p.set_requires_grad(true);
    params.push_back(p);
    block.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    sums.push_back(torch::zeros(p.sizes(), p.options().dtype(torch::kFloat64)));
  }
  SplitMix aug(seed_for(r.seed, "fisher augmentation"));
  const std::size_t count = r.fisher_indices.size();
  auto flush = [&](std::size_t done) {
    if (done % kFisherBlock != 0 && done != count) return;
    for (std::size_t k = 0; k < params.size(); ++k) {
      sums[k].add_(block[k]);
      block[k].zero_();
    }
  };
  out.mode = r.mode != "auto" ? r.mode : !device.is_cuda() && std::min(r.crop, t.size) >= 128 ? "per-image" : "batched";
  if (out.mode == "per-image") {
    // The plain definition: one backward pass per image.
    for (std::size_t i = 0; i < count; ++i) {
      const auto x = to_input(crop_flip(gather(t, {r.fisher_indices[i]}, device), r.crop, r.flip, aug), r.normalize_imagenet);
      const auto log_probs = torch::log_softmax(head->forward(net.forward(x)), 1);
      const long label = draw_labels(log_probs, &r.label_uniforms[i]).front();
      out.labels.push_back(static_cast<int>(label));
      const auto grads = torch::autograd::grad({log_probs[0][label]}, params);
      for (std::size_t k = 0; k < params.size(); ++k) block[k].addcmul_(grads[k], grads[k]);
      flush(i + 1);
      ++out.images;
      if (progress && (i + 1) % 10 == 0) progress(static_cast<std::size_t>(r.head_samples) + i + 1, total);
    }
  } else {
    // kFisherBatch images per pass. In eval mode an image's log-probabilities depend on its own
    // activations only, so the gradient of the batch's summed log-probabilities with respect to a
    // layer's output is, image by image, each image's own; each image's weight gradient follows
    // from it and the layer's input (a convolution: the output gradient times the unfolded input;
    // a BatchNorm: the output gradient times the normalised input, summed over the pixels).
    for (auto& p : params) p.set_requires_grad(false);
    Tap tap;
    for (std::size_t k = 0; k < kept.size(); ++k) tap.wanted[kept[k].first] = k;
    for (std::size_t at = 0; at < count; at += kFisherBatch) {
      const std::size_t nb = std::min(kFisherBatch, count - at);
      const std::vector<long> idx(r.fisher_indices.begin() + static_cast<long>(at),
                                  r.fisher_indices.begin() + static_cast<long>(at + nb));
      const auto x = to_input(crop_flip(gather(t, idx, device), r.crop, r.flip, aug), r.normalize_imagenet);
      tap.sites.clear();
      const auto log_probs = torch::log_softmax(head->forward(net.forward(x, tap)), 1);
      if (tap.sites.size() != kept.size())
        throw std::logic_error(fmt::format("{} of {} kept parameters were recorded", tap.sites.size(), kept.size()));
      const auto labels = draw_labels(log_probs, &r.label_uniforms[at]);
      for (const long label : labels) out.labels.push_back(static_cast<int>(label));
      const auto picked = log_probs.gather(1, torch::tensor(labels, torch::kLong).to(device).view({-1, 1})).sum();
      std::vector<torch::Tensor> outputs;
      for (const auto& site : tap.sites) outputs.push_back(site.out);
      const auto grads = torch::autograd::grad({picked}, outputs);
      const long b = static_cast<long>(nb);
      for (std::size_t k = 0; k < tap.sites.size(); ++k) {
        const auto& site = tap.sites[k];
        const auto& g = grads[k];
        torch::Tensor each;  // b x the weight's elements: every image's own gradient
        if (site.conv) {
          const auto& o = site.conv->options;
          const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
          if (o.groups() != 1 || !padding)
            throw std::logic_error("the Fisher probe has a grouped or 'same'-padded convolution");
          namespace F = torch::nn::functional;
          const auto unfolded = F::unfold(site.in.detach(), F::UnfoldFuncOptions(o.kernel_size())
                                                                .dilation(o.dilation())
                                                                .padding(*padding)
                                                                .stride(o.stride()));
          each = torch::bmm(g.reshape({b, g.size(1), -1}), unfolded.transpose(1, 2));
        } else {
          const auto& bn = site.bn;
          const auto normalised = (site.in.detach() - bn->running_mean.view({1, -1, 1, 1})) /
                                  torch::sqrt(bn->running_var.view({1, -1, 1, 1}) + bn->options.eps());
          each = (g * normalised).sum({2, 3});
        }
        auto& acc = block[site.kept];
        acc.add_(each.square_().sum(0).view(acc.sizes()));
      }
      flush(at + nb);
      out.images += nb;
      if (progress) progress(static_cast<std::size_t>(r.head_samples) + at + nb, total);
    }
  }
  if (progress) progress(total, total);

  // 3. The mean, convolution weights averaged over their kernel, concatenated.
  for (std::size_t k = 0; k < kept.size(); ++k) {
    auto mean = (sums[k] / static_cast<double>(count)).to(torch::kFloat32);
    if (mean.dim() == 4) mean = mean.mean({2, 3});
    mean = mean.to(torch::kCPU).contiguous();
    out.names.push_back(kept[k].first);
    out.shapes.push_back(mean.sizes().vec());
    out.embedding.insert(out.embedding.end(), mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  }
  for (auto& p : params) p.set_requires_grad(false);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

// LibTorch's errors (a model that cannot take the image size, memory on the device) as one
// InputError line, `what` failed: the last line of the message, which TorchScript ends with the
// cause.
template <class Job>
auto guarded(const std::string& what, Job&& job) -> decltype(job()) {
  std::string text;
  try {
    return job();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const c10::Error& e) {
    text = e.what_without_backtrace();
  } catch (const std::exception& e) {  // TorchScript's interpreter errors (torch::jit::JITException)
    text = e.what();
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const auto nl = text.rfind('\n');
  throw InputError(fmt::format("{} failed: {}", what, nl == std::string::npos ? text : text.substr(nl + 1)));
}

TrainOutcome train(const TrainRequest& r, const EpochCallback& on_epoch) {
  const int side = r.policy ? r.train.size : std::min(r.crop, r.train.size);
  return guarded(fmt::format("training {} on {} x {} images", r.architecture, side, side),
                 [&] { return train_job(r, on_epoch); });
}

FisherOutcome fisher(const FisherRequest& r, const FisherProgress& progress) {
  const int side = std::min(r.crop, r.images.size);
  return guarded(fmt::format("the Fisher embedding of {} on {} x {} images", r.architecture, side, side),
                 [&] { return fisher_job(r, progress); });
}

void apply_op(const AugmentOp& op, const OpDraw* draws, std::uint8_t* images, std::size_t n, int size) {
  auto x = torch::from_blob(images, {static_cast<long>(n), 3, size, size}, torch::kUInt8);
  std::vector<const OpDraw*> d;
  std::vector<long> idx;
  for (std::size_t i = 0; i < n; ++i) {
    d.push_back(&draws[i]);
    idx.push_back(static_cast<long>(i));
  }
  apply_batched(op, d, x, torch::tensor(idx, torch::kLong));
}

}  // namespace
}  // namespace taskfp::experiments

extern "C" __attribute__((visibility("default"))) const taskfp::experiments::TrainerPlugin* taskfp_trainer_plugin() {
  static const taskfp::experiments::TrainerPlugin plugin = [] {
    taskfp::experiments::TrainerPlugin p;
    p.train = &taskfp::experiments::train;
    p.apply_op = &taskfp::experiments::apply_op;
    p.fisher = &taskfp::experiments::fisher;
    return p;
  }();
  return &plugin;
}
