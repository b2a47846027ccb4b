// DICOM images (PS3.10 files: single and multi-frame, native, RLE, JPEG, JPEG-LS, JPEG 2000)
// as unit images: stored values through the standard's Modality and VOI transforms (PS3.3
// C.11) to intensities in [0, 1]. docs/dicom.md says what is read, how, and what is refused.
// GDCM (for the compressed transfer syntaxes) stays inside dicom_codec.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "images/image.hpp"

namespace YAML {
class Node;
}

namespace taskfp {

/// How a DICOM file becomes images: which frames, and how grey values map to [0, 1].
/// Colour images (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT, PALETTE COLOR) are never
/// windowed: their samples are divided by 2^Bits Stored - 1 (by 2^bits - 1 of the palette's
/// entries for PALETTE COLOR).
struct DicomOptions {
  enum class Window {
    file,    ///< the file's first Window Center / Width (its VOI LUT Function: LINEAR,
             ///< LINEAR_EXACT or SIGMOID), else its first VOI LUT, else as minmax
    minmax,  ///< per image: (x - min) / (max - min), 0 for a constant image
    fixed,   ///< `center` and `width` with the LINEAR function, whatever the file says
  };
  Window window = Window::file;
  double center = 0;   ///< Window::fixed: in the units after the Modality LUT (CT: HU)
  double width = 0;    ///< Window::fixed: >= 1
  std::string preset;  ///< the preset's name when `center` and `width` came from one, else ""
  /// nullopt: every frame of a multi-frame file is an image; else only this frame (0-based).
  std::optional<std::int64_t> frame;

  /// One line for provenance, with every number ("window file (first Window Center/Width of
  /// each file; min-max where it has none), frames all").
  [[nodiscard]] std::string describe() const;
  friend bool operator==(const DicomOptions&, const DicomOptions&) = default;
};

/// Conventional CT windows (center, width in HU), as `window:` names them: lung (-600, 1500),
/// soft-tissue and mediastinum (40, 400), bone (400, 1800), brain (40, 80). docs/dicom.md gives
/// their sources.
struct DicomWindowPreset {
  const char* name;
  double center;
  double width;
};
inline constexpr DicomWindowPreset kDicomWindowPresets[] = {
    {"lung", -600, 1500}, {"soft-tissue", 40, 400}, {"mediastinum", 40, 400},
    {"bone", 400, 1800},  {"brain", 40, 80},
};

/// Reads a task's `dicom:` map: `window: file | minmax | <preset> | [center, width]` and
/// `frame: all | N` (N >= 0), each optional (file, all); a null node gives the defaults.
/// InputError "<where>: dicom: ..." for an unknown or repeated key, an unknown preset, a
/// width below 1, a value that is not a finite number or of the wrong type.
DicomOptions parse_dicom_options(const YAML::Node& node, const std::string& where);

/// True when the file has 'DICM' at byte 128, or its name ends in .dcm (any case). Reads at most
/// 132 bytes; false for a file that cannot be opened (without the extension).
bool looks_like_dicom(const std::string& path);

/// The frames of the file's image (Number of Frames, 1 when absent), from its header: pixels are
/// not decoded. InputError naming the file when it is missing, unreadable, not DICOM, truncated
/// or damaged, has no pixel data (an RT plan, a structured report; the message names its SOP
/// class), float pixel data, an unsupported transfer syntax, or pixel attributes out of range.
std::int64_t dicom_frame_count(const std::string& path);

/// The image files of a series folder (its files, not its subfolders; files that are not DICOM
/// by looks_like_dicom, and DICOM files without pixel data such as a DICOMDIR, are left out),
/// ordered by Instance Number, then by Image Position (Patient) along the slice normal (the
/// cross product of Image Orientation (Patient)'s row and column directions), then by file name;
/// files without an Instance Number come after those with one. InputError naming the folder
/// when it cannot be read, holds no DICOM image, or holds images of several Series Instance UIDs
/// (the message lists them with a file of each); InputError naming a file that cannot be read
/// as DICOM.
std::vector<std::string> dicom_series_files(const std::string& folder);

/// Frame `frame` (0-based) of the file as a unit image (bit_depth 0, `unit` = height x width x
/// channels floats in [0, 1], row-major, channels last; 1 channel for MONOCHROME1/2, 3 (RGB)
/// for colour), rows top to bottom as stored. Grey pixels: stored value (Bits Stored bits from
/// High Bit down, sign-extended when Pixel Representation is 1) -> Modality LUT (Rescale
/// Slope / Intercept, or the first Modality LUT) -> the window `options` says -> 1 - v for
/// MONOCHROME1. Enhanced multi-frame files: a frame's own Pixel Value Transformation and Frame
/// VOI LUT (per-frame, then shared functional groups) come before the top-level attributes.
/// Never NaN. InputError naming the file as dicom_frame_count, and for a frame out of range, an
/// image of more than `max_pixels` pixels (Rows x Columns, checked before decoding; raise it with
/// `--max-image-pixels`), truncated pixel data, a damaged codestream or one that disagrees with
/// the header, a segmented palette, and memory running out.
Image read_dicom(const std::string& path, std::int64_t frame, const DicomOptions& options,
                 std::uint64_t max_pixels = kDefaultMaxImagePixels);

}  // namespace taskfp
