// Image preprocessing before the backbone (method.md section 2): scale to [0, 1] by the sample
// type's maximum, grey to 3 channels, resize with antialiasing, normalise per channel.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "images/image.hpp"

namespace taskfp {

struct PreprocessOptions {
  int size = 256;  ///< output height and width
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  ///< ImageNet
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  /// One line for provenance: what was done, with every number.
  [[nodiscard]] std::string describe() const;
};

/// 3 x size x size float32, channels first, as torchvision's ToTensor -> Resize((size, size),
/// antialias=True) -> Normalize gives it: x / max in float32; grey (and grey + alpha) repeated
/// to 3 channels, alpha dropped; resized; (x - mean) / std.
std::vector<float> preprocess(const Image& image, const PreprocessOptions& options = {});
/// The same, written to `out` (3 x size x size floats), e.g. straight into a batch.
void preprocess_into(const Image& image, const PreprocessOptions& options, float* out);

/// An image's values in [0, 1] (by its type's maximum), channels first, float32: 3 planes for
/// colour images (alpha dropped), 1 for grey ones (`colour` says which), at the image's size.
std::vector<float> unit_channels(const Image& image, int& colour);

/// Resizes channels x in_h x in_w float32 (channels first) to channels x out_h x out_w the way
/// torch's interpolate(mode="bilinear", antialias=True, align_corners=False) does: separable
/// triangle filters widened by the scale when shrinking (support = scale), weights normalised
/// to sum 1, width first, then height; a dimension of unchanged size is not filtered.
std::vector<float> resize_antialias(std::vector<float> chw, int channels, int in_h, int in_w,
                                    int out_h, int out_w);

}  // namespace taskfp
