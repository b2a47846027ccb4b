// What the image decoders (image_io.cpp: PNG, JPEG; tiff_io.cpp: TIFF) share: the pixel-limit
// check made from a file's header and the errors that name the file. Internal to images/.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "images/image.hpp"

namespace taskfp::image_decode {

/// Whether width x height stays within `max_pixels`: checked from the header, before the pixels
/// are allocated (a decompression bomb's header claims far more pixels than its few bytes hold).
[[nodiscard]] inline bool within_limit(std::uint64_t width, std::uint64_t height,
                                       std::uint64_t max_pixels) {
  return height == 0 || width <= max_pixels / height;
}

[[nodiscard]] inline InputError too_many_pixels(const std::string& path, std::uint64_t width,
                                                std::uint64_t height, std::uint64_t max_pixels) {
  return InputError(fmt::format(
      "image '{}' is {} x {} pixels, more than the limit of {} (a guard against decompression "
      "bombs); if the image is genuine, raise the limit with `taskfp extract --max-image-pixels`",
      path, width, height, max_pixels));
}

[[nodiscard]] inline InputError out_of_memory(const std::string& path, std::uint64_t width,
                                              std::uint64_t height) {
  return InputError(fmt::format(
      "image '{}' ({} x {} pixels): not enough memory to decode it; decode fewer images at once "
      "(-j) or refuse such images with a lower --max-image-pixels",
      path, width, height));
}

/// The first page of a TIFF (classic or BigTIFF; tiff_io.cpp).
Image read_tiff(const std::string& path, std::uint64_t max_pixels);

}  // namespace taskfp::image_decode
