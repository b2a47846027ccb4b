// Inside the DICOM reader (not a public header): a DICOM Part 10 file walked element by element
// with every length checked against the file, and one frame's stored samples from it (native,
// RLE, or through GDCM's codecs for JPEG, JPEG-LS and JPEG 2000).
//
// Why the reader parses the file itself instead of handing it to GDCM's reader: Debian's GDCM
// is built with assertions on, and its parser asserts on what a file says (an undefined length
// on a non-SQ element, a missing Number of Frames in some RT Dose files, 1-bit pixels), which
// aborts the process; it also allocates every element's declared length before reading it (a
// few bytes claiming 4 GB). Here GDCM sees only a frame's compressed bytes, in an image this
// reader built from checked values, after the codec stream's own header was checked against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskfp::dicom {

/// (group << 16) | element.
using Tag = std::uint32_t;
constexpr Tag tag(std::uint16_t group, std::uint16_t element) {
  return (static_cast<Tag>(group) << 16) | element;
}

namespace tags {
inline constexpr Tag kTransferSyntax = tag(0x0002, 0x0010);
inline constexpr Tag kSopClass = tag(0x0008, 0x0016);
inline constexpr Tag kModality = tag(0x0008, 0x0060);
inline constexpr Tag kSeriesInstanceUid = tag(0x0020, 0x000E);
inline constexpr Tag kInstanceNumber = tag(0x0020, 0x0013);
inline constexpr Tag kImagePosition = tag(0x0020, 0x0032);
inline constexpr Tag kImageOrientation = tag(0x0020, 0x0037);
inline constexpr Tag kSamplesPerPixel = tag(0x0028, 0x0002);
inline constexpr Tag kPhotometric = tag(0x0028, 0x0004);
inline constexpr Tag kPlanarConfiguration = tag(0x0028, 0x0006);
inline constexpr Tag kNumberOfFrames = tag(0x0028, 0x0008);
inline constexpr Tag kRows = tag(0x0028, 0x0010);
inline constexpr Tag kColumns = tag(0x0028, 0x0011);
inline constexpr Tag kBitsAllocated = tag(0x0028, 0x0100);
inline constexpr Tag kBitsStored = tag(0x0028, 0x0101);
inline constexpr Tag kHighBit = tag(0x0028, 0x0102);
inline constexpr Tag kPixelRepresentation = tag(0x0028, 0x0103);
inline constexpr Tag kWindowCenter = tag(0x0028, 0x1050);
inline constexpr Tag kWindowWidth = tag(0x0028, 0x1051);
inline constexpr Tag kRescaleIntercept = tag(0x0028, 0x1052);
inline constexpr Tag kRescaleSlope = tag(0x0028, 0x1053);
inline constexpr Tag kVoiLutFunction = tag(0x0028, 0x1056);
inline constexpr Tag kRedPaletteDescriptor = tag(0x0028, 0x1101);
inline constexpr Tag kGreenPaletteDescriptor = tag(0x0028, 0x1102);
inline constexpr Tag kBluePaletteDescriptor = tag(0x0028, 0x1103);
inline constexpr Tag kRedPaletteData = tag(0x0028, 0x1201);
inline constexpr Tag kGreenPaletteData = tag(0x0028, 0x1202);
inline constexpr Tag kBluePaletteData = tag(0x0028, 0x1203);
inline constexpr Tag kSegmentedRedPaletteData = tag(0x0028, 0x1221);
inline constexpr Tag kLutDescriptor = tag(0x0028, 0x3002);
inline constexpr Tag kLutData = tag(0x0028, 0x3006);
inline constexpr Tag kModalityLutSequence = tag(0x0028, 0x3000);
inline constexpr Tag kVoiLutSequence = tag(0x0028, 0x3010);
inline constexpr Tag kFrameVoiLutSequence = tag(0x0028, 0x9132);
inline constexpr Tag kPixelValueTransformationSequence = tag(0x0028, 0x9145);
inline constexpr Tag kSharedFunctionalGroups = tag(0x5200, 0x9229);
inline constexpr Tag kPerFrameFunctionalGroups = tag(0x5200, 0x9230);
inline constexpr Tag kExtendedOffsetTable = tag(0x7FE0, 0x0001);
inline constexpr Tag kExtendedOffsetTableLengths = tag(0x7FE0, 0x0002);
inline constexpr Tag kFloatPixelData = tag(0x7FE0, 0x0008);
inline constexpr Tag kDoubleFloatPixelData = tag(0x7FE0, 0x0009);
inline constexpr Tag kPixelData = tag(0x7FE0, 0x0010);
}  // namespace tags

struct Dataset;

/// A byte range of the file: [offset, offset + length).
struct Span {
  std::size_t offset = 0;
  std::size_t length = 0;
};

/// One data element. Values stay in the file; sequences hold their items, encapsulated pixel
/// data its items (the first is the basic offset table, possibly empty).
struct Element {
  Tag tag = 0;
  char vr[2] = {'U', 'N'};  ///< as written (explicit VR) or from a small dictionary (implicit)
  bool big_endian = false;  ///< byte order of its binary values
  Span value;               ///< empty for sequences and encapsulated pixel data
  bool encapsulated = false;
  std::vector<Dataset> items;   ///< sequence items
  std::vector<Span> fragments;  ///< encapsulated pixel data: offset table, then fragments
  [[nodiscard]] bool is_vr(const char* v) const { return vr[0] == v[0] && vr[1] == v[1]; }
};

struct Dataset {
  std::vector<Element> elements;  ///< in file order
  [[nodiscard]] const Element* find(Tag t) const;
};

/// The pixel description (PS3.3 C.7.6.3), checked for consistency.
struct PixelLayout {
  std::int64_t rows = 0;
  std::int64_t columns = 0;
  int samples_per_pixel = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  int high_bit = 0;
  bool is_signed = false;
  bool planar = false;      ///< Planar Configuration 1: R plane, G plane, B plane
  std::string photometric;  ///< MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, ... (trimmed)
  std::int64_t frames = 1;
};

/// A file, mapped and walked. Every element's length was checked against the bytes that hold
/// it, sequences nest at most 64 deep, and the walk keeps at most 2^20 elements.
class DicomFile {
 public:
  /// InputError naming the file: missing, unreadable, empty, not DICOM (neither the 'DICM'
  /// marker at byte 128 nor a data set at byte 0), truncated or damaged structure, an
  /// unsupported transfer syntax.
  explicit DicomFile(const std::string& path);
  ~DicomFile();
  DicomFile(const DicomFile&) = delete;
  DicomFile& operator=(const DicomFile&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& transfer_syntax() const { return transfer_syntax_; }
  [[nodiscard]] const Dataset& dataset() const { return dataset_; }
  [[nodiscard]] const std::uint8_t* bytes() const { return bytes_; }

  /// A text value (trailing spaces and NULs trimmed), nullopt when absent.
  [[nodiscard]] std::optional<std::string> text(const Dataset& ds, Tag t) const;
  /// Numbers of a DS, IS, US, SS, UL, SL, FL or FD element (each backslash-separated value);
  /// nullopt when absent or empty; InputError naming the attribute when a value is not a finite
  /// number.
  [[nodiscard]] std::optional<std::vector<double>> numbers(const Dataset& ds, Tag t,
                                                           const char* name) const;
  /// The first of numbers(), required to be a whole number.
  [[nodiscard]] std::optional<std::int64_t> integer(const Dataset& ds, Tag t,
                                                    const char* name) const;
  /// 16-bit words of an OW/US/SS element (LUT data), in the file's byte order.
  [[nodiscard]] std::vector<std::uint16_t> words(const Element& e) const;

  /// The pixel description; InputError when the file holds no pixel data (naming its SOP
  /// class), float pixel data, or attributes missing or out of range.
  [[nodiscard]] PixelLayout pixel_layout() const;

  /// "InputError: '<path>': <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::string path_;
  struct Mapping;
  std::unique_ptr<Mapping> mapping_;
  std::vector<std::uint8_t> inflated_;  // Deflated Explicit VR Little Endian, inflated
  const std::uint8_t* bytes_ = nullptr;
  std::size_t size_ = 0;
  std::string transfer_syntax_;
  Dataset dataset_;
};

/// Stored samples of one frame, as the file's encoding gives them: read with `at`, which
/// applies the high-bit shift, the Bits Stored mask and the sign extension.
struct FrameSamples {
  std::vector<std::uint8_t> owned;  ///< decoded frames (RLE, GDCM): little-endian words
  const std::uint8_t* data = nullptr;
  int bytes_per_sample = 1;   ///< 1, 2 or 4; 0: 1 bit per sample, packed (LSB first)
  std::size_t first_bit = 0;  ///< 1-bit samples: the frame's first bit in `data`
  bool big_endian = false;
  bool planar = false;  ///< channel planes instead of interleaved samples
  int shift = 0;        ///< High Bit + 1 - Bits Stored
  int bits_stored = 16;
  bool is_signed = false;
  std::size_t pixels = 0;
  int channels = 1;
  std::string photometric;  ///< after decoding (JPEG 2000 YBR_ICT / YBR_RCT -> RGB)

  [[nodiscard]] std::int64_t at(std::size_t pixel, int channel) const {
    const std::size_t i =
        planar ? static_cast<std::size_t>(channel) * pixels + pixel
               : pixel * static_cast<std::size_t>(channels) + static_cast<std::size_t>(channel);
    std::uint64_t word = 0;
    switch (bytes_per_sample) {
      case 0: {
        const std::size_t bit = first_bit + i;
        word = (data[bit >> 3] >> (bit & 7)) & 1u;
        break;
      }
      case 1:
        word = data[i];
        break;
      case 2: {
        const std::uint8_t* p = data + 2 * i;
        word = big_endian ? (std::uint64_t{p[0]} << 8 | p[1]) : (std::uint64_t{p[1]} << 8 | p[0]);
        break;
      }
      default: {
        const std::uint8_t* p = data + 4 * i;
        word = big_endian ? (std::uint64_t{p[0]} << 24 | std::uint64_t{p[1]} << 16 |
                             std::uint64_t{p[2]} << 8 | p[3])
                          : (std::uint64_t{p[3]} << 24 | std::uint64_t{p[2]} << 16 |
                             std::uint64_t{p[1]} << 8 | p[0]);
      }
    }
    word = (word >> shift) & ((std::uint64_t{1} << bits_stored) - 1);
    if (is_signed && (word >> (bits_stored - 1)) != 0)
      return static_cast<std::int64_t>(word) - (std::int64_t{1} << bits_stored);
    return static_cast<std::int64_t>(word);
  }
};

/// Checks, without decoding, that the pixel data holds every frame: native data long enough,
/// encapsulated fragments that can be told apart as frames. InputError naming the file.
void check_pixel_data(const DicomFile& file, const PixelLayout& layout);

/// The stored samples of frame `frame` (0-based, checked by the caller); InputError naming the
/// file for truncated pixel data, frames that cannot be told apart, a damaged or mismatching
/// codec stream.
FrameSamples frame_samples(const DicomFile& file, const PixelLayout& layout, std::int64_t frame);

/// Decodes one frame of JPEG, JPEG-LS or JPEG 2000 (dicom_codec.cpp): `fragments` are the
/// frame's pieces of the file. Fills `out.owned` with little-endian interleaved samples and
/// `out`'s description of them; InputError naming the file for a codestream whose header is
/// damaged or disagrees with the image, or that does not decode.
void decode_encapsulated(const DicomFile& file, const PixelLayout& layout,
                         const std::vector<Span>& fragments, FrameSamples& out);

/// True for the transfer syntaxes decode_encapsulated takes.
bool decodes_encapsulated(const std::string& transfer_syntax);

/// An 8-bit lossy JPEG codestream (baseline, extended) through libjpeg-turbo (dicom_jpeg.cpp),
/// its frame header already checked against `layout`.
void decode_jpeg8(const DicomFile& file, const PixelLayout& layout,
                  const std::vector<std::uint8_t>& stream, FrameSamples& out);

/// A readable name for a transfer syntax UID ("JPEG 2000", "RLE Lossless", ...), or the UID.
std::string transfer_syntax_name(const std::string& uid);

}  // namespace taskfp::dicom
