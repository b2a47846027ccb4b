// TIFF through libtiff, read as PIL reads it: the first page; 8- and 16-bit grey, grey + alpha,
// RGB, RGBA and CMYK samples as stored (strips or tiles, either plane layout, any compression
// libtiff decodes); palette, bilevel, 2- and 4-bit grey and YCbCr through libtiff's RGBA
// interface at 8 bits. libtiff reports through handlers of this one handle: nothing is printed.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "images/image.hpp"
#include "images/image_decode.hpp"

namespace taskfp::image_decode {
namespace {

// What libtiff said about this handle: its first error (the cause; later ones follow from it)
// and its warnings about pixel data (those about unknown or odd tags concern metadata only).
struct TiffMessages {
  std::string error;
  std::vector<std::string> warnings;
};

std::string format_message(const char* module, const char* fmt, va_list ap) {
  char text[512];
  std::vsnprintf(text, sizeof text, fmt, ap);
  return module && *module ? fmt::format("{}: {}", module, text) : std::string(text);
}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<TiffMessages*>(user);
  if (m->error.empty()) m->error = format_message(module, fmt, ap);
  return 1;  // handled: not passed on to libtiff's global handlers, which print
}

int on_warning(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<TiffMessages*>(user);
  const bool metadata = module && (std::strncmp(module, "TIFFReadDirectory", 17) == 0 ||
                                   std::strncmp(module, "TIFFFetch", 9) == 0 ||
                                   std::strncmp(module, "TIFFReadCustomDirectory", 23) == 0);
  if (!metadata && m->warnings.size() < 3) m->warnings.push_back(format_message(module, fmt, ap));
  return 1;
}

// The process-wide handlers print to stderr; the few messages libtiff does not route through a
// handle's own handlers (allocation failures before a handle exists) are silenced once.
void silence_global_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(nullptr);
    TIFFSetWarningHandler(nullptr);
  });
}

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
struct OptionsFree {
  void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

const char* photometric_name(std::uint16_t p) {
  switch (p) {
    case PHOTOMETRIC_MINISWHITE:
      return "min-is-white grey";
    case PHOTOMETRIC_MINISBLACK:
      return "grey";
    case PHOTOMETRIC_RGB:
      return "RGB";
    case PHOTOMETRIC_PALETTE:
      return "palette";
    case PHOTOMETRIC_MASK:
      return "transparency mask";
    case PHOTOMETRIC_SEPARATED:
      return "separated (CMYK)";
    case PHOTOMETRIC_YCBCR:
      return "YCbCr";
    case PHOTOMETRIC_CIELAB:
      return "CIE L*a*b*";
    case PHOTOMETRIC_ICCLAB:
      return "ICC L*a*b*";
    case PHOTOMETRIC_ITULAB:
      return "ITU L*a*b*";
    case PHOTOMETRIC_LOGL:
      return "LogL";
    case PHOTOMETRIC_LOGLUV:
      return "LogLuv";
    default:
      return "unknown";
  }
}

// Pillow's CMYK to RGB (Convert.c cmyk2rgb): R = nk - MULDIV255(C, nk), nk = 255 - K. TIFF stores
// CMYK as it is (no inversion, unlike Adobe's JPEGs).
std::uint16_t cmyk_channel_as_pil(unsigned c, unsigned k) {
  const unsigned nk = 255 - k;
  const unsigned t = c * nk + 128;
  const int v = static_cast<int>(nk) - static_cast<int>(((t >> 8) + t) >> 8);
  return static_cast<std::uint16_t>(std::clamp(v, 0, 255));
}

class TiffReader {
 public:
  TiffReader(const std::string& path, std::uint64_t max_pixels)
      : path_(path), max_pixels_(max_pixels) {}

  Image read() {
    silence_global_handlers();
    std::unique_ptr<TIFFOpenOptions, OptionsFree> opts(TIFFOpenOptionsAlloc());
    if (!opts) throw InputError(fmt::format("'{}': out of memory starting libtiff", path_));
    TIFFOpenOptionsSetErrorHandlerExtR(opts.get(), on_error, &messages_);
    TIFFOpenOptionsSetWarningHandlerExtR(opts.get(), on_warning, &messages_);
    // No single allocation of libtiff's beyond what an image of the pixel limit needs (four
    // 16-bit samples a pixel, and some room for tables): a damaged header cannot make it
    // reserve gigabytes.
    const std::uint64_t cap =
        std::min<std::uint64_t>(max_pixels_, std::uint64_t{1} << 40) * 8 + (64u << 20);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts.get(), static_cast<tmsize_t>(cap));
    tif_.reset(TIFFOpenExt(path_.c_str(), "r", opts.get()));
    if (!tif_) throw unreadable();
    TIFF* t = tif_.get();

    std::uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    if (w == 0 || h == 0) throw unsupported("it has no pixels (width or height 0)");
    if (!within_limit(w, h, max_pixels_)) throw too_many_pixels(path_, w, h, max_pixels_);
    std::uint16_t spp = 1, bps = 1, format = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG,
                  photometric = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric))
      photometric = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;  // libtiff's own guess
    if (format == SAMPLEFORMAT_IEEEFP || format == SAMPLEFORMAT_COMPLEXIEEEFP)
      throw unsupported(fmt::format("{}-bit floating-point samples", bps));
    if (format == SAMPLEFORMAT_INT || format == SAMPLEFORMAT_COMPLEXINT)
      throw unsupported(fmt::format("{}-bit signed integer samples", bps));
    if (bps != 1 && bps != 2 && bps != 4 && bps != 8 && bps != 16)
      throw unsupported(fmt::format("{}-bit samples", bps));
    if (spp < 1 || spp > 8) throw unsupported(fmt::format("{} samples per pixel", spp));

    Image img;
    img.width = static_cast<int>(w);
    img.height = static_cast<int>(h);
    const int colour =
        photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE ? 1
        : photometric == PHOTOMETRIC_RGB                                               ? 3
        : photometric == PHOTOMETRIC_SEPARATED && spp >= 4                             ? 4
                                                                                       : 0;
    std::uint16_t inkset = INKSET_CMYK;
    TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &inkset);
    const bool as_stored = (bps == 8 || bps == 16) && colour > 0 && spp >= colour &&
                           (colour != 4 || (bps == 8 && inkset == INKSET_CMYK));
    try {
      if (as_stored)
        read_as_stored(img, spp, bps, planar, colour, photometric == PHOTOMETRIC_MINISWHITE);
      else
        read_rgba(img, photometric, bps, spp);
    } catch (const std::bad_alloc&) {
      throw out_of_memory(path_, w, h);
    }
    const tdir_t pages = TIFFNumberOfDirectories(t);
    if (pages > 1)
      img.warnings.push_back(fmt::format(
          "a TIFF of {} pages: only the first is read (as PIL and torchvision's loader do)",
          pages));
    for (const auto& warning : messages_.warnings) img.warnings.push_back("libtiff: " + warning);
    return img;
  }

 private:
  // libtiff's first error, else `fallback`.
  InputError unreadable(const std::string& fallback = "libtiff gave no reason") const {
    return InputError(fmt::format(
        "'{}' is not a readable TIFF ({}): the file is corrupt, truncated or unsupported", path_,
        messages_.error.empty() ? fallback : messages_.error));
  }
  InputError unsupported(const std::string& what) const {
    return InputError(fmt::format(
        "'{}': TIFF of {} is not supported (taskfp reads 1- to 16-bit unsigned grey, RGB, CMYK and "
        "palette images; convert it, e.g. to an 8- or 16-bit PNG)",
        path_, what));
  }

  // 8 or 16-bit grey (+ alpha), RGB (+ alpha) or CMYK (+ alpha, dropped), strip by strip or tile
  // by tile, each plane of a separate layout on its own. Samples beyond colour + alpha are
  // dropped.
  void read_as_stored(Image& img, std::uint16_t spp, std::uint16_t bps, std::uint16_t planar,
                      int colour, bool min_is_white) {
    TIFF* t = tif_.get();
    const std::size_t w = static_cast<std::size_t>(img.width),
                      h = static_cast<std::size_t>(img.height);
    const bool separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
    const std::size_t kept =
        std::min<std::size_t>(spp, static_cast<std::size_t>(colour) + 1);  // + alpha
    const std::size_t bytes = bps / 8;
    const std::size_t per_pixel = separate ? 1 : spp;  // samples of a pixel in one strip or tile
    std::vector<std::uint16_t> stored(w * h * kept);
    // Copies `rows` x `cols` pixels of a decoded block (its rows `block_width` pixels apart) to
    // (x0, y0) of the image: all samples, or plane `plane`.
    auto copy_block = [&](const std::uint8_t* block, std::size_t block_width, std::size_t x0,
                          std::size_t y0, std::size_t rows, std::size_t cols, std::size_t plane) {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          for (std::size_t s = 0; s < per_pixel; ++s) {
            const std::size_t sample = separate ? plane : s;
            if (sample >= kept) continue;
            const std::uint8_t* v = block + ((r * block_width + c) * per_pixel + s) * bytes;
            std::uint16_t value = *v;
            if (bytes == 2)
              std::memcpy(&value, v, 2);  // libtiff hands 16-bit samples in native order
            stored[((y0 + r) * w + x0 + c) * kept + sample] = value;
          }
    };
    const std::size_t planes = separate ? spp : 1;
    if (TIFFIsTiled(t)) {
      std::uint32_t tw = 0, th = 0;
      TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
      TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
      if (tw == 0 || th == 0) throw unsupported("tiles of no pixels");
      // A tile may exceed the image (small images in large tiles), not by orders of magnitude.
      if (static_cast<std::uint64_t>(tw) * th >
          std::max<std::uint64_t>(4 * w * h, std::uint64_t{1} << 20))
        throw unsupported(fmt::format("{} x {} tiles for a {} x {} image", tw, th, w, h));
      const std::size_t need = static_cast<std::size_t>(tw) * th * per_pixel * bytes;
      const auto size = static_cast<std::size_t>(TIFFTileSize64(t));
      if (size < need)
        throw unreadable(fmt::format("tiles of {} bytes for {} x {} pixels", size, tw, th));
      auto block = std::make_unique_for_overwrite<std::uint8_t[]>(size);
      for (std::size_t p = 0; p < planes; ++p)
        for (std::size_t y = 0; y < h; y += th)
          for (std::size_t x = 0; x < w; x += tw) {
            const auto tile =
                TIFFComputeTile(t, static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y), 0,
                                static_cast<std::uint16_t>(p));
            if (TIFFReadEncodedTile(t, tile, block.get(), static_cast<tmsize_t>(size)) <
                static_cast<tmsize_t>(need))
              throw unreadable(fmt::format("tile {} is short", tile));
            copy_block(block.get(), tw, x, y, std::min<std::size_t>(th, h - y),
                       std::min<std::size_t>(tw, w - x), p);
          }
    } else {
      std::uint32_t rows_per_strip = 0;
      TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
      const std::size_t rps = rows_per_strip == 0 ? h : std::min<std::size_t>(rows_per_strip, h);
      const auto size =
          static_cast<std::size_t>(TIFFVStripSize64(t, static_cast<std::uint32_t>(rps)));
      if (size < rps * w * per_pixel * bytes)
        throw unreadable(fmt::format("strips of {} bytes for {} rows of {} pixels", size, rps, w));
      auto block = std::make_unique_for_overwrite<std::uint8_t[]>(size);
      for (std::size_t p = 0; p < planes; ++p)
        for (std::size_t y = 0; y < h; y += rps) {
          const std::size_t rows = std::min(rps, h - y);
          const auto strip =
              TIFFComputeStrip(t, static_cast<std::uint32_t>(y), static_cast<std::uint16_t>(p));
          const tmsize_t got =
              TIFFReadEncodedStrip(t, strip, block.get(), static_cast<tmsize_t>(size));
          if (got < static_cast<tmsize_t>(rows * w * per_pixel * bytes))
            throw unreadable(fmt::format("strip {} is short", strip));
          copy_block(block.get(), w, 0, y, rows, w, p);
        }
    }
    img.bit_depth = bps;
    if (colour == 4) {  // CMYK (+ alpha) to RGB (+ alpha), as PIL converts it
      const bool alpha = kept == 5;
      img.channels = alpha ? 4 : 3;
      img.samples.resize(w * h * static_cast<std::size_t>(img.channels));
      for (std::size_t i = 0; i < w * h; ++i) {
        const std::uint16_t* s = stored.data() + i * kept;
        std::uint16_t* d = img.samples.data() + i * static_cast<std::size_t>(img.channels);
        for (std::size_t c = 0; c < 3; ++c) d[c] = cmyk_channel_as_pil(s[c], s[3]);
        if (alpha) d[3] = s[4];
      }
      return;
    }
    img.channels = static_cast<int>(kept);
    if (min_is_white) {  // PIL's "L;I": 0 is white
      const std::uint16_t max = img.max_value();
      for (std::size_t i = 0; i < w * h; ++i)
        stored[i * kept] = static_cast<std::uint16_t>(max - stored[i * kept]);
    }
    img.samples = std::move(stored);
  }

  // Everything else libtiff can render (palette, 1/2/4-bit grey, YCbCr, CIE Lab, ...) as 8-bit
  // RGBA, in the stored row order (PIL ignores the orientation tag too).
  void read_rgba(Image& img, std::uint16_t photometric, std::uint16_t bps, std::uint16_t spp) {
    TIFF* t = tif_.get();
    char why[1024] = {};
    if (!TIFFRGBAImageOK(t, why))
      throw unsupported(fmt::format("{}-bit {} samples ({} per pixel): {}", bps,
                                    photometric_name(photometric), spp, why));
    TIFFRGBAImage rgba{};
    if (!TIFFRGBAImageBegin(&rgba, t, 1, why)) {
      if (messages_.error.empty()) messages_.error = why;
      throw unreadable();
    }
    rgba.req_orientation = ORIENTATION_TOPLEFT;
    rgba.orientation = ORIENTATION_TOPLEFT;
    const std::size_t w = static_cast<std::size_t>(img.width),
                      h = static_cast<std::size_t>(img.height);
    std::vector<std::uint32_t> raster;
    try {
      raster.resize(w * h);
    } catch (...) {
      TIFFRGBAImageEnd(&rgba);
      throw;
    }
    const int ok = TIFFRGBAImageGet(&rgba, raster.data(), rgba.width, rgba.height);
    const bool alpha = rgba.alpha != 0;
    TIFFRGBAImageEnd(&rgba);
    if (!ok) throw unreadable();
    const bool grey =
        photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    img.bit_depth = 8;
    img.channels = (grey ? 1 : 3) + (alpha ? 1 : 0);
    const std::size_t n = static_cast<std::size_t>(img.channels);
    img.samples.resize(w * h * n);
    for (std::size_t i = 0; i < w * h; ++i) {
      const std::uint32_t p = raster[i];
      std::uint16_t* d = img.samples.data() + i * n;
      std::size_t c = 0;
      d[c++] = static_cast<std::uint16_t>(TIFFGetR(p));
      if (!grey) {
        d[c++] = static_cast<std::uint16_t>(TIFFGetG(p));
        d[c++] = static_cast<std::uint16_t>(TIFFGetB(p));
      }
      if (alpha) d[c] = static_cast<std::uint16_t>(TIFFGetA(p));
    }
  }

  std::string path_;
  std::uint64_t max_pixels_;
  TiffMessages messages_;
  std::unique_ptr<TIFF, TiffCloser> tif_;
};

}  // namespace

Image read_tiff(const std::string& path, std::uint64_t max_pixels) {
  return TiffReader(path, max_pixels).read();
}

}  // namespace taskfp::image_decode
