// Decoded images (PNG, JPEG, TIFF) and the writers the image generator and tests use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskfp {

/// Pixels, interleaved (row-major, channels last): 1 (grey), 2 (grey + alpha), 3 (RGB) or 4
/// (RGBA) channels. Either integer samples as stored, of 8 or 16 bits (PNG, JPEG, TIFF, IDX;
/// palette and sub-byte images expanded to 8 bits, CMYK converted to RGB), or, for sources whose
/// intensity mapping already gives values in [0, 1] (DICOM after its Modality and VOI LUTs,
/// NIfTI after percentile clipping), float32 intensities in `unit` with bit_depth 0 and
/// `samples` empty.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  int bit_depth = 8;                   ///< 8 or 16; 0: the image is in `unit`
  std::vector<std::uint16_t> samples;  ///< height * width * channels values in [0, max_value()]
  std::vector<float> unit;             ///< height * width * channels values in [0, 1]
  [[nodiscard]] bool is_unit() const { return bit_depth == 0; }
  /// What decoding recovered from or left out, one line each (libjpeg's warnings on a damaged
  /// JPEG decoded as far as it goes, a TIFF's pages after the first); empty for a clean file.
  std::vector<std::string> warnings;
  [[nodiscard]] std::uint16_t max_value() const { return bit_depth == 16 ? 65535 : 255; }
  [[nodiscard]] std::uint16_t at(int y, int x, int c) const {
    return samples[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
                       static_cast<std::size_t>(channels) +
                   static_cast<std::size_t>(c)];
  }
};

/// The default largest image decoded, in pixels (width x height): PIL's decompression-bomb
/// guard Image.MAX_IMAGE_PIXELS (1 GiB / 4 bytes / 3 channels). A few kilobytes of PNG or JPEG
/// can claim billions of pixels; decoded here, one takes width x height x channels x 2 bytes (up
/// to 716 MB at this limit) plus its preprocessing buffers, on every decoding thread.
inline constexpr std::uint64_t kDefaultMaxImagePixels = 89'478'485;

/// Decodes a PNG, JPEG or TIFF file, told apart by its first bytes, as PIL (torchvision's
/// loader) reads it, 16-bit samples kept: JPEG's CMYK and YCCK converted to RGB by PIL's formula; a
/// JPEG that libjpeg decodes with warnings (truncated data, extraneous bytes) decoded, the warnings
/// in Image::warnings; a TIFF's first page (a note in Image::warnings when it has more). InputError
/// naming the file and the reason for a missing, unreadable, truncated, corrupt or unsupported
/// file (TIFFs of floating-point, signed or 32-bit samples); for an image of more than
/// `max_pixels` pixels (checked from its header, before its pixels are allocated); and when
/// memory runs out while decoding.
Image read_image(const std::string& path, std::uint64_t max_pixels = kDefaultMaxImagePixels);

/// Writes a PNG (1-4 channels, 8 or 16 bits). InputError when it cannot.
void write_png(const std::string& path, const Image& image);
/// Writes a baseline JPEG (1 or 3 channels, 8 bits) at the given quality (1-100).
void write_jpeg(const std::string& path, const Image& image, int quality = 92);

}  // namespace taskfp
