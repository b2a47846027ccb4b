// 8-bit lossy JPEG frames of DICOM files (baseline and extended, the common case) through
// libjpeg-turbo, as PNG and JPEG files are read: its own error handling (a warning, e.g. a
// truncated scan, is an error), SIMD, and the decoder pydicom's reference values come from
// (Pillow). 12-bit and lossless JPEG, which libjpeg-turbo 2.1 cannot decode, go to GDCM.

// jpeglib.h needs size_t and FILE declared before it.
// clang-format off
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
// clang-format on

#include "core/error.hpp"
#include "images/dicom_file.hpp"

namespace taskfp::dicom {
namespace {

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
void emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) error_exit(cinfo);
}

}  // namespace

void decode_jpeg8(const DicomFile& file, const PixelLayout& l,
                  const std::vector<std::uint8_t>& stream, FrameSamples& out) {
  const std::size_t row_bytes =
      static_cast<std::size_t>(l.columns) * static_cast<std::size_t>(l.samples_per_pixel);
  out.owned.assign(row_bytes * static_cast<std::size_t>(l.rows), 0);  // before the setjmp scope
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = error_exit;
  err.mgr.emit_message = emit_message;
  bool rgb_stream = false;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    file.fail(fmt::format("its JPEG codestream does not decode ({})", err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, stream.data(), static_cast<unsigned long>(stream.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.image_width != static_cast<JDIMENSION>(l.columns) ||
      cinfo.image_height != static_cast<JDIMENSION>(l.rows) ||
      cinfo.num_components != l.samples_per_pixel) {
    std::snprintf(err.message, sizeof err.message, "%u x %u with %d components", cinfo.image_width,
                  cinfo.image_height, cinfo.num_components);
    std::longjmp(err.jump, 1);
  }
  // Grey stays grey. YBR_FULL(_422) stays YCbCr, converted later with the DICOM equations (as
  // pydicom converts Pillow's draft('YCbCr') output). RGB: the components as coded, unless an
  // Adobe marker says they were transformed (PS3.5 8.2.1: RGB means no colour transform; pydicom
  // does the same). A codestream the Adobe marker calls RGB is RGB whatever the header says.
  if (cinfo.num_components == 1) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else {
    const bool ybr = l.photometric.rfind("YBR", 0) == 0;
    if (!ybr && !cinfo.saw_Adobe_marker) cinfo.jpeg_color_space = JCS_RGB;
    rgb_stream = cinfo.jpeg_color_space == JCS_RGB;
    cinfo.out_color_space = ybr && cinfo.jpeg_color_space == JCS_YCbCr ? JCS_YCbCr : JCS_RGB;
  }
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.owned.data() + static_cast<std::size_t>(cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  const bool ycbcr = cinfo.out_color_space == JCS_YCbCr;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  out.data = out.owned.data();
  out.bytes_per_sample = 1;
  out.big_endian = false;
  out.planar = false;
  out.bits_stored = 8;
  if (l.samples_per_pixel == 3) out.photometric = ycbcr && !rgb_stream ? "YBR_FULL" : "RGB";
}

}  // namespace taskfp::dicom
