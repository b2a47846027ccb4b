// One encapsulated frame of JPEG, JPEG-LS or JPEG 2000: its codestream header checked against
// the image, then decoded by libjpeg-turbo (8-bit lossy JPEG, dicom_jpeg.cpp) or by GDCM's codecs
// (12-bit and lossless JPEG through GDCM's IJG builds, JPEG-LS through CharLS, JPEG 2000 through
// OpenJPEG). The only file that includes GDCM.
//
// GDCM's codec glue trusts the codestream and asserts on it, and Debian's build keeps
// assertions (an abort): its JPEG path asserts that the frame size matches and that libjpeg
// raised no warning while reading the header (garbage between two markers is one), its JPEG 2000
// path copies the decoded components into a buffer sized from the DICOM attributes (an overflow
// when the codestream is larger) and asserts on JP2 box lengths, its JPEG-LS path allocates what
// the codestream claims. So the codestream's header (JPEG markers up to the first scan, JPEG-LS
// SOF55, JPEG 2000 SIZ and JP2 boxes) is walked here first and must be well formed and agree
// with the image before GDCM sees it.
#include <dlfcn.h>
#include <gdcmDataElement.h>
#include <gdcmFragment.h>
#include <gdcmJPEG2000Codec.h>
#include <gdcmJPEGCodec.h>
#include <gdcmJPEGLSCodec.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.hpp"
#include "images/dicom_file.hpp"

namespace taskfp::dicom {
namespace {

enum class Family { jpeg, jpeg_ls, jpeg2000, none };

Family family(const std::string& ts) {
  if (ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51" ||
      ts == "1.2.840.10008.1.2.4.57" || ts == "1.2.840.10008.1.2.4.70")
    return Family::jpeg;
  if (ts == "1.2.840.10008.1.2.4.80" || ts == "1.2.840.10008.1.2.4.81") return Family::jpeg_ls;
  if (ts == "1.2.840.10008.1.2.4.90" || ts == "1.2.840.10008.1.2.4.91" ||
      ts == "1.2.840.10008.1.2.4.92" || ts == "1.2.840.10008.1.2.4.93")
    return Family::jpeg2000;
  return Family::none;
}

// GDCM reports through gdcm::Trace (stderr by default); taskfp reports one line per error.
void quiet_gdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
  });
}

// GDCM's codecs let their libraries print to stderr: its IJG builds through libjpeg's default
// output_message, OpenJPEG through the error handler GDCM installs (an fprintf). taskfp reports
// one line per error, so the two functions GDCM calls to set these up are defined here as well:
// an executable's definitions come before those of the shared libraries it loads, so GDCM calls
// these, which call the libraries' own (dlsym RTLD_NEXT) and then drop the messages (a failed
// decode becomes taskfp's own error). IJG's jpeg_error_mgr starts with these three methods in
// every version.
struct IjgErrorManagerStart {
  void (*error_exit)(void*);
  void (*emit_message)(void*, int);
  void (*output_message)(void*);
};
void ignore_ijg_message(void*) {}
void ignore_opj_message(const char*, void*) {}

template <typename Fn>
Fn next_definition(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) std::abort();  // GDCM without its own libraries: cannot happen where it links
  return reinterpret_cast<Fn>(f);
}

void* quiet_jpeg_std_error(void* (*real)(void*), void* err) {
  void* mgr = real(err);
  static_cast<IjgErrorManagerStart*>(mgr)->output_message = ignore_ijg_message;
  return mgr;
}

}  // namespace
}  // namespace taskfp::dicom

extern "C" {
void* gdcmjpeg8_jpeg_std_error(void* err) {
  static const auto real =
      taskfp::dicom::next_definition<void* (*)(void*)>("gdcmjpeg8_jpeg_std_error");
  return taskfp::dicom::quiet_jpeg_std_error(real, err);
}
void* gdcmjpeg12_jpeg_std_error(void* err) {
  static const auto real =
      taskfp::dicom::next_definition<void* (*)(void*)>("gdcmjpeg12_jpeg_std_error");
  return taskfp::dicom::quiet_jpeg_std_error(real, err);
}
void* gdcmjpeg16_jpeg_std_error(void* err) {
  static const auto real =
      taskfp::dicom::next_definition<void* (*)(void*)>("gdcmjpeg16_jpeg_std_error");
  return taskfp::dicom::quiet_jpeg_std_error(real, err);
}
// OpenJPEG 2: OPJ_BOOL opj_set_error_handler(opj_codec_t*, opj_msg_callback, void*).
int opj_set_error_handler(void* codec, void (*)(const char*, void*), void* user_data) {
  using Fn = int (*)(void*, void (*)(const char*, void*), void*);
  static const auto real = taskfp::dicom::next_definition<Fn>("opj_set_error_handler");
  return real(codec, taskfp::dicom::ignore_opj_message, user_data);
}
}

namespace taskfp::dicom {
namespace {

// What a codestream's header says about its image.
struct StreamHeader {
  std::int64_t width = 0;
  std::int64_t height = 0;
  int components = 0;
  int precision = 0;        // bits per sample
  bool is_signed = false;   // JPEG 2000 only
  bool subsampled = false;  // JPEG 2000: a component with XRsiz or YRsiz != 1
  bool lossless = false;    // JPEG: a lossless frame (SOF3, SOF7, SOF11, SOF15)
  bool strict = true;       // JPEG: markers back to back, known, with sane values up to the scan
};

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// JPEG (ITU T.81 B.2) and JPEG-LS (T.87): markers from SOI up to the first scan. `strict` stays
// true when nothing there would make libjpeg warn while reading the header (bytes between
// markers, an unknown marker, a JFIF version other than 1.x, an Adobe transform other than 0-2).
bool jpeg_header(const std::uint8_t* p, std::size_t n, bool jpeg_ls, StreamHeader& h) {
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return false;
  std::size_t i = 2;
  bool frame = false;
  while (i + 4 <= n) {
    if (p[i] != 0xFF) {  // garbage between segments: libjpeg skips it, with a warning
      h.strict = false;
      while (i < n && p[i] != 0xFF) ++i;
      continue;
    }
    const std::uint8_t m = p[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // no length
      h.strict = false;
      i += 2;
      continue;
    }
    const std::size_t length = be16(p + i + 2);
    if (length < 2 || i + 2 + length > n) return false;
    const std::uint8_t* seg = p + i + 4;
    const std::size_t size = length - 2;
    const bool sof =
        jpeg_ls ? m == 0xF7 : (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC);
    if (sof) {
      if (frame || size < 6) return false;
      frame = true;
      h.precision = seg[0];
      h.height = be16(seg + 1);
      h.width = be16(seg + 3);
      h.components = seg[5];
      h.lossless = m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF;
      if (size != 6 + 3 * static_cast<std::size_t>(h.components)) h.strict = false;
    } else if (m == 0xDA) {  // the first scan: its header ends the walk
      if (!frame || size < 1 || size != 4 + 2 * static_cast<std::size_t>(seg[0])) return false;
      return true;
    } else if (m == 0xE0 && size >= 7 && std::memcmp(seg, "JFIF\0", 5) == 0) {
      if (seg[5] != 1) h.strict = false;
    } else if (m == 0xEE && size >= 12 && std::memcmp(seg, "Adobe", 5) == 0) {
      if (seg[11] > 2) h.strict = false;
    } else if (!((m >= 0xE0 && m <= 0xEF) || m == 0xFE || m == 0xDB || m == 0xC4 || m == 0xCC ||
                 m == 0xDD || (jpeg_ls && (m == 0xF8)))) {
      h.strict = false;  // a marker libjpeg does not expect here
    }
    i += 2 + length;
  }
  return false;
}

// JPEG 2000 (T.800 A.5.1): the SIZ segment after SOC, in a bare codestream or in a JP2 file's
// contiguous codestream box.
bool j2k_header(const std::uint8_t* p, std::size_t n, StreamHeader& h) {
  std::size_t start = 0;
  if (n >= 12 && std::memcmp(p + 4, "jP  ", 4) == 0) {  // JP2: boxes up to 'jp2c'
    std::size_t i = 0;
    bool found = false;
    while (i + 8 <= n) {
      std::uint64_t length = be32(p + i);
      std::size_t header = 8;
      if (length == 1) {
        if (i + 16 > n) return false;
        length = std::uint64_t{be32(p + i + 8)} << 32 | be32(p + i + 12);
        header = 16;
      } else if (length == 0) {
        length = n - i;
      }
      if (length < header || length > n - i) return false;
      if (std::memcmp(p + i + 4, "jp2c", 4) == 0) {
        start = i + header;
        found = true;
        break;
      }
      i += static_cast<std::size_t>(length);
    }
    if (!found) return false;
  }
  const std::uint8_t* s = p + start;
  const std::size_t m = n - start;
  if (m < 4 + 38 || be16(s) != 0xFF4F || be16(s + 2) != 0xFF51) return false;
  const std::uint8_t* siz =
      s + 4;  // Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz
  const std::size_t lsiz = be16(siz);
  const std::uint32_t xsiz = be32(siz + 4), ysiz = be32(siz + 8), xo = be32(siz + 12),
                      yo = be32(siz + 16);
  const int csiz = be16(siz + 36);
  if (lsiz != 38 + 3 * static_cast<std::size_t>(csiz) || m < 4 + lsiz || csiz < 1 || xo >= xsiz ||
      yo >= ysiz)
    return false;
  h.width = xsiz - xo;
  h.height = ysiz - yo;
  h.components = csiz;
  for (int c = 0; c < csiz; ++c) {
    const std::uint8_t* comp = siz + 38 + 3 * static_cast<std::size_t>(c);
    const int precision = (comp[0] & 0x7F) + 1;
    const bool is_signed = (comp[0] & 0x80) != 0;
    if (c == 0) {
      h.precision = precision;
      h.is_signed = is_signed;
    } else if (precision != h.precision || is_signed != h.is_signed) {
      return false;
    }
    if (comp[1] != 1 || comp[2] != 1) h.subsampled = true;
  }
  return true;
}

}  // namespace

bool decodes_encapsulated(const std::string& transfer_syntax) {
  return family(transfer_syntax) != Family::none;
}

void decode_encapsulated(const DicomFile& file, const PixelLayout& l,
                         const std::vector<Span>& fragments, FrameSamples& out) {
  const Family kind = family(file.transfer_syntax());
  // A frame's codestream is its fragments, joined.
  std::vector<std::uint8_t> stream;
  for (const auto& f : fragments)
    stream.insert(stream.end(), file.bytes() + f.offset, file.bytes() + f.offset + f.length);
  // Trailing padding after the end-of-image marker (fragments have even lengths) is harmless.
  StreamHeader h;
  const bool parsed = kind == Family::jpeg2000
                          ? j2k_header(stream.data(), stream.size(), h)
                          : jpeg_header(stream.data(), stream.size(), kind == Family::jpeg_ls, h);
  const std::string what = transfer_syntax_name(file.transfer_syntax());
  if (!parsed) file.fail(fmt::format("its {} codestream has no readable header (damaged)", what));
  if (h.width != l.columns || h.height != l.rows || h.components != l.samples_per_pixel)
    file.fail(fmt::format(
        "its {} codestream is {} x {} with {} components, the DICOM header says {} x {} with {}",
        what, h.width, h.height, h.components, l.columns, l.rows, l.samples_per_pixel));
  if (h.subsampled)
    file.fail(fmt::format("its {} codestream has subsampled components (not supported)", what));
  const int max_precision = kind == Family::jpeg2000 ? 32 : 16;
  if (h.precision < 2 && !(kind == Family::jpeg2000 && h.precision == 1))
    file.fail(fmt::format("its {} codestream claims {}-bit samples", what, h.precision));
  if (h.precision > max_precision || h.precision > std::max(l.bits_allocated, 8))
    file.fail(fmt::format("its {} codestream holds {}-bit samples, more than Bits Allocated {}",
                          what, h.precision, l.bits_allocated));
  if (kind == Family::jpeg && !h.lossless && h.precision == 8) {
    decode_jpeg8(file, l, stream, out);
    return;
  }
  if (kind == Family::jpeg && !h.strict)
    file.fail(
        fmt::format("its {} codestream has stray bytes or unexpected values before its first scan "
                    "(damaged)",
                    what));
  quiet_gdcm();

  // The codec is told the codestream's sample size: GDCM picks its 8, 12 or 16-bit JPEG build
  // from Bits Allocated (12 for 12-bit JPEG) and sizes its JPEG 2000 output from it.
  const unsigned short allocated = h.precision <= 8                            ? 8
                                   : h.precision <= 12 && kind == Family::jpeg ? 12
                                   : h.precision <= 16                         ? 16
                                                                               : 32;
  const std::size_t width = allocated <= 8    ? 1
                            : allocated <= 16 ? 2
                                              : 4;  // bytes per decoded sample
  const bool is_signed = kind == Family::jpeg2000 ? h.is_signed : l.is_signed;
  // GDCM's JPEG post-processing asserts that 8-bit samples have 8 bits stored: JPEG's 2 to 7-bit
  // (lossless) samples are given to it as 8-bit ones.
  const auto stored =
      static_cast<unsigned short>(kind == Family::jpeg && allocated == 8 ? 8 : h.precision);
  const gdcm::PixelFormat pf(static_cast<unsigned short>(l.samples_per_pixel), allocated, stored,
                             static_cast<unsigned short>(stored - 1), is_signed ? 1 : 0);
  gdcm::PhotometricInterpretation pi(
      gdcm::PhotometricInterpretation::GetPIType(l.photometric.c_str()));
  const unsigned int dims[3] = {static_cast<unsigned int>(l.columns),
                                static_cast<unsigned int>(l.rows), 1};

  gdcm::SmartPointer<gdcm::SequenceOfFragments> sequence = new gdcm::SequenceOfFragments;
  gdcm::Fragment fragment;
  fragment.SetByteValue(reinterpret_cast<const char*>(stream.data()),
                        static_cast<std::uint32_t>(stream.size()));
  sequence->AddFragment(fragment);
  gdcm::DataElement in(gdcm::Tag(0x7FE0, 0x0010));
  in.SetValue(*sequence);
  gdcm::DataElement decoded;

  const auto configure = [&](gdcm::ImageCodec& codec) {
    codec.SetNumberOfDimensions(2);
    codec.SetDimensions(dims);
    codec.SetPlanarConfiguration(0);
    codec.SetPhotometricInterpretation(pi);
    codec.SetPixelFormat(pf);
    codec.SetNeedOverlayCleanup(false);
  };
  bool ok = false;
  try {
    if (kind == Family::jpeg) {
      gdcm::JPEGCodec codec;
      configure(codec);
      ok = codec.Decode(in, decoded);
    } else if (kind == Family::jpeg_ls) {
      gdcm::JPEGLSCodec codec;
      configure(codec);
      ok = codec.Decode(in, decoded);
    } else {
      gdcm::JPEG2000Codec codec;
      configure(codec);
      ok = codec.Decode(in, decoded);
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    file.fail(fmt::format("its {} codestream does not decode ({})", what, e.what()));
  }
  const gdcm::ByteValue* bytes = ok ? decoded.GetByteValue() : nullptr;
  if (!bytes)
    file.fail(fmt::format("its {} codestream does not decode (damaged or truncated)", what));
  const std::size_t samples = static_cast<std::size_t>(l.rows) *
                              static_cast<std::size_t>(l.columns) *
                              static_cast<std::size_t>(l.samples_per_pixel);
  if (bytes->GetLength() < samples * width)
    file.fail(
        fmt::format("its {} codestream decodes to {} bytes, {} expected (damaged or truncated)",
                    what, bytes->GetLength(), samples * width));
  out.owned.assign(reinterpret_cast<const std::uint8_t*>(bytes->GetPointer()),
                   reinterpret_cast<const std::uint8_t*>(bytes->GetPointer()) + samples * width);
  out.data = out.owned.data();
  out.bytes_per_sample = static_cast<int>(width);
  out.big_endian = false;
  out.planar = false;
  // The codestream's sample size where it differs from Bits Stored (GDCM and pydicom use it for
  // JPEG 2000; for JPEG, GDCM takes the smaller), the sign the DICOM header's: an unsigned JPEG
  // 2000 codestream of signed pixels holds their two's complement (pydicom's
  // J2K_pixelrep_mismatch.dcm), which pydicom reads as signed and GDCM as unsigned.
  out.is_signed = l.is_signed;
  out.bits_stored = kind == Family::jpeg2000 ? h.precision : std::min(l.bits_stored, h.precision);
  // JPEG 2000's reversible and irreversible colour transforms are undone by the codec.
  if (l.photometric == "YBR_ICT" || l.photometric == "YBR_RCT") out.photometric = "RGB";
}

}  // namespace taskfp::dicom
