// torchvision's ResNet18/34 in LibTorch, without the classifier (the global average pool's
// features), with torchvision's parameter names: the backbone of `taskfp extract` and members of
// the transfer zoo. Include only from plugin sources.
#pragma once

#include <torch/torch.h>

#include <array>

namespace taskfp {

namespace resnet_detail {
namespace nn = torch::nn;

inline nn::Conv2d conv(int in, int out, int k, int stride, int pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

// torchvision's BasicBlock (ResNet18/34).
struct BasicBlockImpl : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Sequential downsample{nullptr};
  BasicBlockImpl(int in, int out, int stride) {
    conv1 = register_module("conv1", conv(in, out, 3, stride, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out)
      downsample = register_module("downsample", nn::Sequential(conv(in, out, 1, stride, 0), nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
};
TORCH_MODULE(BasicBlock);

struct ResNetImpl : nn::Module {
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  explicit ResNetImpl(std::array<int, 4> blocks) {
    conv1 = register_module("conv1", conv(3, 64, 7, 2, 3));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    auto layer = [](int in, int out, int n, int stride) {
      nn::Sequential s;
      for (int b = 0; b < n; ++b) s->push_back(BasicBlock(b == 0 ? in : out, out, b == 0 ? stride : 1));
      return s;
    };
    layer1 = register_module("layer1", layer(64, 64, blocks[0], 1));
    layer2 = register_module("layer2", layer(64, 128, blocks[1], 2));
    layer3 = register_module("layer3", layer(128, 256, blocks[2], 2));
    layer4 = register_module("layer4", layer(256, 512, blocks[3], 2));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(bn1(conv1(x))), 3, 2, 1);
    x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }
};
TORCH_MODULE(ResNet);
}  // namespace resnet_detail

using resnet_detail::ResNet;
/// Blocks per stage.
inline constexpr std::array<int, 4> kResNet18Blocks = {2, 2, 2, 2}, kResNet34Blocks = {3, 4, 6, 3};

}  // namespace taskfp
