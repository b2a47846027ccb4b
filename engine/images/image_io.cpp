// PNG through libpng and JPEG through libjpeg(-turbo), and the choice of decoder by a file's first
// bytes (TIFF: tiff_io.cpp). Both libraries report errors by longjmp; each call keeps its C++
// objects outside the setjmp scope and turns the error into InputError.

// jpeglib.h needs size_t and FILE declared before it.
// clang-format off
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include <jpeglib.h>
#include <png.h>
// clang-format on

#include "core/error.hpp"
#include "images/image.hpp"
#include "images/image_decode.hpp"

namespace taskfp {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_file(const std::string& path, const char* mode) {
  File f(std::fopen(path.c_str(), mode));
  if (!f)
    throw InputError(fmt::format("cannot open image '{}': {}", path, std::strerror(errno)));
  return f;
}

using image_decode::too_many_pixels;
using image_decode::within_limit;

InputError out_of_memory(const std::string& path, const Image& img) {
  return image_decode::out_of_memory(path, static_cast<std::uint64_t>(img.width),
                                     static_cast<std::uint64_t>(img.height));
}

// ---- PNG ----

struct PngError {
  std::string message;
};

void png_error_fn(png_structp png, png_const_charp msg) {
  static_cast<PngError*>(png_get_error_ptr(png))->message = msg;
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

Image read_png(const std::string& path, std::FILE* f, std::uint64_t max_pixels) {
  PngError err;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  if (!png) throw InputError(fmt::format("'{}': out of memory starting libpng", path));
  png_infop info = png_create_info_struct(png);
  Image img;
  std::vector<png_bytep> rows;
  std::vector<std::uint8_t> raw;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw InputError(fmt::format("'{}' is not a readable PNG ({}): the file is corrupt or truncated", path,
                                 err.message));
  }
  png_init_io(png, f);
  png_read_info(png, info);
  const std::uint64_t header_w = png_get_image_width(png, info),
                      header_h = png_get_image_height(png, info);
  if (!within_limit(header_w, header_h, max_pixels)) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw too_many_pixels(path, header_w, header_h, max_pixels);
  }
  // Palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> alpha; 16-bit samples kept.
  png_set_expand(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  img.width = static_cast<int>(png_get_image_width(png, info));
  img.height = static_cast<int>(png_get_image_height(png, info));
  img.channels = png_get_channels(png, info);
  img.bit_depth = png_get_bit_depth(png, info);
  const std::size_t stride = png_get_rowbytes(png, info);
  try {
    raw.resize(stride * static_cast<std::size_t>(img.height));
    rows.resize(static_cast<std::size_t>(img.height));
  } catch (const std::bad_alloc&) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw out_of_memory(path, img);
  }
  for (int y = 0; y < img.height; ++y) rows[static_cast<std::size_t>(y)] = raw.data() + stride * static_cast<std::size_t>(y);
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) *
                        static_cast<std::size_t>(img.channels);
  try {
    img.samples.resize(n);
  } catch (const std::bad_alloc&) {
    throw out_of_memory(path, img);
  }
  for (int y = 0; y < img.height; ++y) {
    const std::uint8_t* row = raw.data() + stride * static_cast<std::size_t>(y);
    std::uint16_t* dst = img.samples.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(img.width) *
                                                  static_cast<std::size_t>(img.channels);
    const std::size_t count = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.channels);
    for (std::size_t k = 0; k < count; ++k)
      dst[k] = img.bit_depth == 16 ? static_cast<std::uint16_t>((row[2 * k] << 8) | row[2 * k + 1]) : row[k];
  }
  return img;
}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  char first_warning[JMSG_LENGTH_MAX];
  long warnings = 0;
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
// Warnings ("Premature end of JPEG file": the rest decoded as mid-grey; "Corrupt JPEG data: N
// extraneous bytes before marker") leave an image that PIL, and so torchvision's loader, decodes
// as libjpeg gives it: kept, counted and handed to the caller, never printed. Trace messages
// (level > 0) are dropped.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (err->warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->first_warning);
}

// A progressive JPEG can hold any number of scans, each a pass over the whole image: a small
// hostile file makes libjpeg work for hours. Real files have about ten; libjpeg-turbo's own tools
// offer such a limit (djpeg -maxscans).
constexpr int kMaxJpegScans = 1000;
void jpeg_progress(j_common_ptr cinfo) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number <= kMaxJpegScans) return;
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxJpegScans);
  std::longjmp(err->jump, 1);
}

// PIL's CMYK JPEGs: read as Adobe's inverted CMYK (rawmode "CMYK;I", each value 255 - v), then
// convert('RGB') as Pillow's cmyk2rgb: R = nk - MULDIV255(C, nk) with nk = 255 - K and
// MULDIV255(a, b) = ((a b + 128) >> 8 + a b + 128) >> 8. With the inversion: nk is the stored K and
// C is 255 - the stored C.
std::uint16_t cmyk_channel_as_pil(unsigned stored_c, unsigned stored_k) {
  const unsigned nk = stored_k, c = 255 - stored_c;
  const unsigned t = c * nk + 128;
  const int v = static_cast<int>(nk) - static_cast<int>(((t >> 8) + t) >> 8);
  return static_cast<std::uint16_t>(std::clamp(v, 0, 255));
}

Image read_jpeg(const std::string& path, std::FILE* f, std::uint64_t max_pixels) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  jpeg_progress_mgr progress{};
  progress.progress_monitor = jpeg_progress;
  Image img;
  std::vector<JSAMPLE> row;  // objects with destructors live outside the setjmp scope
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw InputError(fmt::format("'{}' is not a readable JPEG ({}): the file is corrupt, truncated or unsupported",
                                 path, err.message));
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  // Before jpeg_start_decompress, which allocates whole-image buffers for progressive files.
  if (!within_limit(cinfo.image_width, cinfo.image_height, max_pixels)) {
    const std::uint64_t w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    throw too_many_pixels(path, w, h, max_pixels);
  }
  // CMYK and YCCK (libjpeg turns YCCK into CMYK) become RGB below, as PIL converts them.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(cinfo.output_width);
  img.height = static_cast<int>(cinfo.output_height);
  const int decoded = cinfo.output_components;
  img.channels = cmyk ? 3 : decoded;
  img.bit_depth = 8;
  const std::size_t width = static_cast<std::size_t>(img.width);
  const std::size_t stride = width * static_cast<std::size_t>(img.channels);
  try {
    row.resize(width * static_cast<std::size_t>(decoded));
    img.samples.resize(stride * static_cast<std::size_t>(img.height));
  } catch (const std::bad_alloc&) {
    jpeg_destroy_decompress(&cinfo);
    throw out_of_memory(path, img);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rp = row.data();
    const std::size_t y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &rp, 1);
    std::uint16_t* dst = img.samples.data() + y * stride;
    if (cmyk) {
      for (std::size_t x = 0; x < width; ++x)
        for (std::size_t c = 0; c < 3; ++c)
          dst[3 * x + c] = cmyk_channel_as_pil(row[4 * x + c], row[4 * x + 3]);
    } else {
      for (std::size_t k = 0; k < stride; ++k) dst[k] = row[k];
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.warnings > 0)
    img.warnings.push_back(fmt::format(
        "libjpeg: {}{}", err.first_warning,
        err.warnings > 1
            ? fmt::format(" (and {} more warning{})", err.warnings - 1, err.warnings > 2 ? "s" : "")
            : std::string()));
  return img;
}

// "II" (little-endian) or "MM" (big-endian), then 42 (TIFF) or 43 (BigTIFF) in that order.
bool is_tiff(const unsigned char* m) {
  return (m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
         (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43));
}

}  // namespace

Image read_image(const std::string& path, std::uint64_t max_pixels) {
  File f = open_file(path, "rb");
  unsigned char magic[8] = {};
  const std::size_t got = std::fread(magic, 1, 8, f.get());
  require(got > 0, "image '{}' is empty", path);
  std::rewind(f.get());
  Image img;
  try {
    if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) {
      img = read_png(path, f.get(), max_pixels);
    } else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
      img = read_jpeg(path, f.get(), max_pixels);
    } else if (got >= 4 && is_tiff(magic)) {
      f.reset();  // libtiff opens the file itself
      img = image_decode::read_tiff(path, max_pixels);
    } else {
      throw InputError(
          fmt::format("'{}' is neither PNG, JPEG nor TIFF (unsupported image format)", path));
    }
  } catch (const std::bad_alloc&) {  // anywhere else in decoding
    throw InputError(
        fmt::format("image '{}': not enough memory to decode it; decode fewer images "
                    "at once (-j) or refuse large images with --max-image-pixels",
                    path));
  }
  require(img.width > 0 && img.height > 0, "image '{}' has no pixels", path);
  return img;
}

void write_png(const std::string& path, const Image& image) {
  require(image.channels >= 1 && image.channels <= 4 && (image.bit_depth == 8 || image.bit_depth == 16),
          "write_png '{}': {} channels of {} bits are not writable", path, image.channels, image.bit_depth);
  File f = open_file(path, "wb");
  PngError err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  png_infop info = png_create_info_struct(png);
  const std::size_t per_row = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.channels);
  std::vector<std::uint8_t> row(per_row * (image.bit_depth == 16 ? 2 : 1));
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw InputError(fmt::format("cannot write PNG '{}': {}", path, err.message));
  }
  png_init_io(png, f.get());
  static const int kTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                               PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height),
               image.bit_depth, kTypes[image.channels - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y) {
    const std::uint16_t* src = image.samples.data() + static_cast<std::size_t>(y) * per_row;
    for (std::size_t k = 0; k < per_row; ++k) {
      if (image.bit_depth == 16) {
        row[2 * k] = static_cast<std::uint8_t>(src[k] >> 8);
        row[2 * k + 1] = static_cast<std::uint8_t>(src[k] & 0xff);
      } else {
        row[k] = static_cast<std::uint8_t>(src[k]);
      }
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
}

void write_jpeg(const std::string& path, const Image& image, int quality) {
  require((image.channels == 1 || image.channels == 3) && image.bit_depth == 8,
          "write_jpeg '{}': JPEG takes 1 or 3 channels of 8 bits", path);
  File f = open_file(path, "wb");
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  const std::size_t stride = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.channels);
  std::vector<JSAMPLE> row(stride);
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    throw InputError(fmt::format("cannot write JPEG '{}': {}", path, err.message));
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f.get());
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    const std::size_t y = cinfo.next_scanline;
    for (std::size_t k = 0; k < stride; ++k) row[k] = static_cast<JSAMPLE>(image.samples[y * stride + k]);
    JSAMPROW rp = row.data();
    jpeg_write_scanlines(&cinfo, &rp, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
}

}  // namespace taskfp
