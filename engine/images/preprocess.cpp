// Preprocessing as torchvision does it on tensors (float32 throughout).
#include "images/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace taskfp {
namespace {

// Per output index: the first input index and the normalised weights of the inputs it covers.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;  // out_size x max_count
  int max_count = 0;
};

// torch's _compute_indices_weights_aa with the bilinear (triangle) filter, in float32 as torch
// computes it for float tensors: center = scale (i + 0.5), support = scale when shrinking else
// 1, taps from int(center - support + 0.5) to int(center + support + 0.5), weight
// filter((j - center + 0.5) / max(scale, 1)).
Taps taps_for(int in_size, int out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float support = scale >= 1.0f ? scale : 1.0f;
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  Taps t;
  t.max_count = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_count), 0.0f);
  for (int i = 0; i < out_size; ++i) {
    const float center = scale * (static_cast<float>(i) + 0.5f);
    const int lo = std::max(static_cast<int>(center - support + 0.5f), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5f), in_size);
    const int n = std::min(hi - lo, t.max_count);
    float* w = t.weights.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(t.max_count);
    float total = 0.0f;
    for (int j = 0; j < n; ++j) {
      const float x = std::fabs((static_cast<float>(j + lo) - center + 0.5f) * invscale);
      w[j] = x < 1.0f ? 1.0f - x : 0.0f;
      total += w[j];
    }
    if (total != 0.0f)
      for (int j = 0; j < n; ++j) w[j] /= total;
    t.first[static_cast<std::size_t>(i)] = lo;
    t.count[static_cast<std::size_t>(i)] = n;
  }
  return t;
}

// One separable pass along a dimension: `lines` lines of `in_len` values `stride` apart.
void filter(const float* src, float* dst, int lines, int in_len, int out_len, std::size_t line_in,
            std::size_t line_out, std::size_t step, const Taps& taps) {
  for (int l = 0; l < lines; ++l)
    for (int o = 0; o < out_len; ++o) {
      const float* w = taps.weights.data() + static_cast<std::size_t>(o) * static_cast<std::size_t>(taps.max_count);
      const float* s = src + static_cast<std::size_t>(l) * line_in + static_cast<std::size_t>(taps.first[static_cast<std::size_t>(o)]) * step;
      float acc = s[0] * w[0];
      for (int j = 1; j < taps.count[static_cast<std::size_t>(o)]; ++j) acc += s[static_cast<std::size_t>(j) * step] * w[j];
      dst[static_cast<std::size_t>(l) * line_out + static_cast<std::size_t>(o) * step] = acc;
    }
  (void)in_len;
}

}  // namespace

std::vector<float> resize_antialias(std::vector<float> chw, int channels, int in_h, int in_w,
                                    int out_h, int out_w) {
  require(channels > 0 && in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0,
          "resize: sizes must be positive ({}x{} -> {}x{})", in_h, in_w, out_h, out_w);
  std::vector<float> cur = std::move(chw);
  int h = in_h, w = in_w;
  if (out_w != w) {  // width first: rows of w values, one per (channel, y)
    const auto taps = taps_for(w, out_w);
    std::vector<float> next(static_cast<std::size_t>(channels) * static_cast<std::size_t>(h) * static_cast<std::size_t>(out_w));
    filter(cur.data(), next.data(), channels * h, w, out_w, static_cast<std::size_t>(w), static_cast<std::size_t>(out_w), 1, taps);
    cur.swap(next);
    w = out_w;
  }
  if (out_h != h) {  // then height: output row o = sum over its taps j of w_j x input row (first + j)
    // Whole rows at a time (contiguous, vectorised); per value the same products and sums in the
    // same order as a column walk would take.
    const auto taps = taps_for(h, out_h);
    const std::size_t W = static_cast<std::size_t>(w);
    std::vector<float> next(static_cast<std::size_t>(channels) * static_cast<std::size_t>(out_h) * W);
    for (int c = 0; c < channels; ++c)
      for (int o = 0; o < out_h; ++o) {
        const auto oi = static_cast<std::size_t>(o);
        const float* wt = taps.weights.data() + oi * static_cast<std::size_t>(taps.max_count);
        const float* src = cur.data() + (static_cast<std::size_t>(c) * static_cast<std::size_t>(h) +
                                         static_cast<std::size_t>(taps.first[oi])) * W;
        float* dst = next.data() + (static_cast<std::size_t>(c) * static_cast<std::size_t>(out_h) + oi) * W;
        const float w0 = wt[0];
        for (std::size_t x = 0; x < W; ++x) dst[x] = src[x] * w0;
        for (int j = 1; j < taps.count[oi]; ++j) {
          const float* row = src + static_cast<std::size_t>(j) * W;
          const float wj = wt[j];
          for (std::size_t x = 0; x < W; ++x) dst[x] += row[x] * wj;
        }
      }
    cur.swap(next);
  }
  return cur;
}

std::vector<float> preprocess(const Image& image, const PreprocessOptions& o) {
  std::vector<float> out(3 * static_cast<std::size_t>(o.size) * static_cast<std::size_t>(o.size));
  preprocess_into(image, o, out.data());
  return out;
}

std::vector<float> unit_channels(const Image& image, int& colour) {
  require(image.channels >= 1 && image.channels <= 4, "an image with {} channels", image.channels);
  const int h = image.height, w = image.width;
  const std::size_t plane = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  // To [0, 1] in float32 (ToTensor / the reference's division by the type's maximum). Grey (and
  // grey + alpha) images have three equal channels: one is converted (and resized by callers),
  // then copied.
  const float max = static_cast<float>(image.max_value());
  colour = image.channels >= 3 ? 3 : 1;
  const auto stride = static_cast<std::size_t>(image.channels);
  std::vector<float> chw(static_cast<std::size_t>(colour) * plane);
  const std::size_t values = plane * stride;
  require(image.is_unit() ? image.unit.size() == values : image.samples.size() == values,
          "an image of {} x {} x {} holds {} values", h, w, image.channels,
          image.is_unit() ? image.unit.size() : image.samples.size());
  for (int c = 0; c < colour; ++c) {
    float* dst = chw.data() + static_cast<std::size_t>(c) * plane;
    if (image.is_unit()) {  // already in [0, 1]
      const float* src = image.unit.data() + c;
      for (std::size_t p = 0; p < plane; ++p) dst[p] = src[p * stride];
    } else {
      const std::uint16_t* src = image.samples.data() + c;
      for (std::size_t p = 0; p < plane; ++p) dst[p] = static_cast<float>(src[p * stride]) / max;
    }
  }
  return chw;
}

void preprocess_into(const Image& image, const PreprocessOptions& o, float* out) {
  int colour = 0;
  auto chw = unit_channels(image, colour);
  const int h = image.height, w = image.width;
  auto resized = resize_antialias(std::move(chw), colour, h, w, o.size, o.size);
  const std::size_t out_plane = static_cast<std::size_t>(o.size) * static_cast<std::size_t>(o.size);
  for (int c = 0; c < 3; ++c) {
    const float* src = resized.data() + static_cast<std::size_t>(colour == 3 ? c : 0) * out_plane;
    float* dst = out + static_cast<std::size_t>(c) * out_plane;
    const float mean = o.mean[static_cast<std::size_t>(c)], sd = o.std[static_cast<std::size_t>(c)];
    for (std::size_t k = 0; k < out_plane; ++k) dst[k] = (src[k] - mean) / sd;
  }
}

std::string PreprocessOptions::describe() const {
  return fmt::format(
      "scale to [0,1] by type maximum; grey to 3 channels; resize {}x{} bilinear antialias "
      "(torch interpolate, align_corners=False); normalize mean ({}, {}, {}) std ({}, {}, {})",
      size, size, mean[0], mean[1], mean[2], std[0], std[1], std[2]);
}

}  // namespace taskfp
