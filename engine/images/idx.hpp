// IDX files (the MNIST format, as Fashion-MNIST ships them: images and labels, optionally
// gzipped), read whole into memory: a task drawn from them decodes nothing per image.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "images/image.hpp"

namespace taskfp {

/// The images of an IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions count x rows
/// x columns, big-endian sizes) with the labels of its IDX label file (magic 0x00000801, count
/// unsigned bytes). Pixels row-major, image after image.
struct IdxImages {
  std::string images_path, labels_path;
  std::int64_t count = 0, rows = 0, columns = 0;
  std::vector<std::uint8_t> pixels;  ///< count x rows x columns
  std::vector<std::uint8_t> labels;  ///< count

  /// Image `k` as an 8-bit grey image.
  [[nodiscard]] Image image(std::int64_t k) const;
};

/// Reads an image file and its label file, each plain or gzip-compressed (told apart by the
/// gzip magic, not the name). InputError naming the file for a missing, truncated or corrupt
/// file, another magic (e.g. the label file given as images), sizes beyond 2^31 or beyond what
/// the file holds, more than `max_pixels` pixels per image, and counts of images and labels that
/// differ.
std::shared_ptr<const IdxImages> read_idx(const std::string& images_path, const std::string& labels_path,
                                          std::uint64_t max_pixels = kDefaultMaxImagePixels);

}  // namespace taskfp
