// Task images for training: decoded once, preprocessed by the protocol, held as uint8.
#include "task_data.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "images/preprocess.hpp"

namespace taskfp::experiments {

namespace {

// Index i of a line of n values mirrored about its end pixels (BORDER_REFLECT_101), any i.
int reflect101(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace

std::vector<std::uint8_t> protocol_image(const Image& image, const ImageProtocol& p) {
  int colour = 0;
  auto chw = unit_channels(image, colour);
  int h = image.height, w = image.width;
  // Smallest side to p.size.
  const double scale = static_cast<double>(p.size) / std::min(h, w);
  const int rh = std::max(1, static_cast<int>(std::nearbyint(h * scale)));
  const int rw = std::max(1, static_cast<int>(std::nearbyint(w * scale)));
  chw = resize_antialias(std::move(chw), colour, h, w, rh, rw);
  h = rh;
  w = rw;
  // Pad to at least p.pad on each side, centred (top = (pad - h) / 2 truncated).
  const int ph = std::max(h, p.pad), pw = std::max(w, p.pad);
  if (ph != h || pw != w) {
    const int top = (ph - h) / 2, left = (pw - w) / 2;
    std::vector<float> padded(static_cast<std::size_t>(colour) * ph * pw);
    for (int c = 0; c < colour; ++c)
      for (int y = 0; y < ph; ++y) {
        const int sy = reflect101(y - top, h);
        for (int x = 0; x < pw; ++x)
          padded[(static_cast<std::size_t>(c) * ph + y) * pw + x] =
              chw[(static_cast<std::size_t>(c) * h + sy) * w + reflect101(x - left, w)];
      }
    chw = std::move(padded);
    h = ph;
    w = pw;
  }
  chw = resize_antialias(std::move(chw), colour, h, w, p.size, p.size);
  const std::size_t plane = static_cast<std::size_t>(p.size) * p.size;
  std::vector<std::uint8_t> out(3 * plane);
  for (int c = 0; c < 3; ++c) {
    const float* src = chw.data() + static_cast<std::size_t>(colour == 3 ? c : 0) * plane;
    for (std::size_t k = 0; k < plane; ++k)
      out[c * plane + k] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(src[k] * 255.0f), 0.0f, 255.0f));
  }
  return out;
}

TaskData load_task_data(const ImageTaskSpec& spec, const ImageProtocol& protocol, std::size_t max_bytes) {
  const auto images = list_task_images(spec);
  TaskData d;
  d.name = spec.name;
  d.size = protocol.size;
  d.labels = images.labels;
  d.classes = images.classes;
  const std::size_t per = 3 * static_cast<std::size_t>(protocol.size) * protocol.size;
  const std::size_t n = images.labels.size();
  if (n * per > max_bytes)
    throw InputError(fmt::format("task '{}': {} images of 3 x {} x {} take {:.1f} GB, more than the {:.1f} GB allowed "
                                 "(--memory); use smaller images or a machine with more memory",
                                 spec.name, n, protocol.size, protocol.size, n * per / 1e9, max_bytes / 1e9));
  d.pixels.resize(n * per);
  std::string error;
#pragma omp parallel for schedule(dynamic, 8)
  for (std::size_t k = 0; k < n; ++k) {
    try {
      const auto pixels = protocol_image(images.read(k), protocol);
      std::memcpy(d.pixels.data() + k * per, pixels.data(), per);
    } catch (const std::exception& e) {
#pragma omp critical
      if (error.empty()) error = e.what();
    }
  }
  if (!error.empty()) throw InputError(fmt::format("task '{}': {}", spec.name, error));
  return d;
}

TaskTensor task_view(const TaskData& data, const std::vector<std::size_t>& indices, std::vector<std::uint8_t>& pixels,
                     std::vector<int>& labels) {
  const std::size_t per = 3 * static_cast<std::size_t>(data.size) * data.size;
  pixels.resize(indices.size() * per);
  labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    std::memcpy(pixels.data() + i * per, data.pixels.data() + indices[i] * per, per);
    labels[i] = data.labels[indices[i]];
  }
  return {pixels.data(), indices.size(), data.size, labels.data(), static_cast<int>(data.classes.size())};
}

}  // namespace taskfp::experiments
