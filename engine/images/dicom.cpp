// DICOM options, series listing and the pixel pipeline: stored values -> Modality LUT -> VOI
// (window or LUT) -> [0, 1] for grey images, colour conversion for colour ones (PS3.3 C.7.6.3,
// C.11). Parsing and decoding live in dicom_file.cpp and dicom_codec.cpp.
#include "images/dicom.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"
#include "images/dicom_file.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

using dicom::DicomFile;
using dicom::Element;
using dicom::PixelLayout;
namespace tags = dicom::tags;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// yaml-cpp's messages can span lines; taskfp's errors are one line.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

double finite_number(const YAML::Node& n, const std::string& where, const char* what) {
  std::optional<double> v;
  if (n.IsScalar()) {
    std::string s(trim(n.Scalar()));
    if (!s.empty() && s[0] == '+') s.erase(0, 1);
    v = parse_number<double>(s);
  }
  require(v && std::isfinite(*v), "{}: dicom: {} must be a finite number (got '{}')", where, what,
          n.IsScalar() ? n.Scalar() : std::string(n.IsSequence() ? "a list" : "a map"));
  return *v;
}

// ---- the pixel pipeline ----

// A lookup table (PS3.3 C.11.1.1.1, C.11.2.1.1, C.7.6.3.1.5): Descriptor (entries, first mapped
// value, bits per entry) and its data.
struct Lut {
  std::int64_t first = 0;
  int bits = 16;
  std::vector<std::uint32_t> values;
  [[nodiscard]] std::uint32_t at(double x) const {
    const double i = std::floor(x) - static_cast<double>(first);
    const double last = static_cast<double>(values.size() - 1);
    return values[static_cast<std::size_t>(std::clamp(i, 0.0, last))];
  }
};

Lut read_lut(const DicomFile& file, const dicom::Dataset& item, dicom::Tag descriptor_tag,
             dicom::Tag data_tag, bool signed_first, const char* name) {
  const auto descriptor = file.numbers(item, descriptor_tag, name);
  const Element* data = item.find(data_tag);
  if (!descriptor || descriptor->size() != 3 || !data)
    file.fail(fmt::format("its {} has no three-valued descriptor or no data", name));
  Lut lut;
  const auto entries = static_cast<std::size_t>((*descriptor)[0] == 0 ? 65536 : (*descriptor)[0]);
  lut.first = static_cast<std::int64_t>((*descriptor)[1]);
  // The first mapped value is SS where the pixels are signed, but read as US in Implicit VR.
  if (signed_first && lut.first > 32767) lut.first -= 65536;
  lut.bits = static_cast<int>((*descriptor)[2]);
  if (lut.bits < 1 || lut.bits > 16)
    file.fail(fmt::format("its {} claims {}-bit entries", name, lut.bits));
  const std::size_t bytes = data->value.length;
  if (bytes == entries && lut.bits <= 8) {  // one byte per entry
    for (std::size_t i = 0; i < entries; ++i)
      lut.values.push_back(file.bytes()[data->value.offset + i]);
  } else {
    const auto words = file.words(*data);
    if (words.size() < entries)
      file.fail(fmt::format("its {} has {} entries of data, its descriptor says {}", name,
                            words.size(), entries));
    lut.values.assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(entries));
  }
  if (lut.values.empty()) file.fail(fmt::format("its {} is empty", name));
  return lut;
}

// The first item of a sequence, or nullptr.
const dicom::Dataset* first_item(const dicom::Dataset& ds, dicom::Tag t) {
  const Element* e = ds.find(t);
  return e && !e->items.empty() ? &e->items.front() : nullptr;
}

// Where a frame's attributes of one functional group live (PS3.3 C.7.6.16): its per-frame
// item, then the shared item, then the top level.
std::vector<const dicom::Dataset*> frame_scopes(const DicomFile& file, std::int64_t frame,
                                                dicom::Tag group) {
  std::vector<const dicom::Dataset*> out;
  const dicom::Dataset& top = file.dataset();
  if (const Element* per = top.find(tags::kPerFrameFunctionalGroups);
      per && static_cast<std::size_t>(frame) < per->items.size()) {
    if (const auto* g = first_item(per->items[static_cast<std::size_t>(frame)], group))
      out.push_back(g);
  }
  if (const auto* shared = first_item(top, tags::kSharedFunctionalGroups)) {
    if (const auto* g = first_item(*shared, group)) out.push_back(g);
  }
  out.push_back(&top);
  return out;
}

// Modality LUT (PS3.3 C.11.1): Rescale Slope and Intercept, or the first Modality LUT.
struct Modality {
  double slope = 1;
  double intercept = 0;
  std::optional<Lut> lut;
  [[nodiscard]] double operator()(std::int64_t x) const {
    return lut ? static_cast<double>(lut->at(static_cast<double>(x)))
               : static_cast<double>(x) * slope + intercept;
  }
};

Modality modality_of(const DicomFile& file, const PixelLayout& l, std::int64_t frame) {
  Modality m;
  for (const dicom::Dataset* scope :
       frame_scopes(file, frame, tags::kPixelValueTransformationSequence)) {
    const auto slope = file.numbers(*scope, tags::kRescaleSlope, "Rescale Slope");
    const auto intercept = file.numbers(*scope, tags::kRescaleIntercept, "Rescale Intercept");
    if (slope || intercept) {
      m.slope = slope ? slope->front() : 1.0;
      m.intercept = intercept ? intercept->front() : 0.0;
      return m;
    }
  }
  if (const auto* item = first_item(file.dataset(), tags::kModalityLutSequence))
    m.lut =
        read_lut(file, *item, tags::kLutDescriptor, tags::kLutData, l.is_signed, "Modality LUT");
  return m;
}

// VOI (PS3.3 C.11.2) to [0, 1].
struct Voi {
  enum class Kind { linear, linear_exact, sigmoid, lut, minmax } kind = Kind::minmax;
  double center = 0;
  double width = 0;
  std::optional<Lut> lut;
  [[nodiscard]] double operator()(double x, double lo, double hi) const {
    switch (kind) {
      case Kind::linear: {  // C.11.2.1.2.1
        const double c = center - 0.5, w = width - 1;
        if (x <= c - w / 2) return 0;
        if (x > c + w / 2) return 1;
        return (x - c) / w + 0.5;
      }
      case Kind::linear_exact: {  // C.11.2.1.3.2
        if (x <= center - width / 2) return 0;
        if (x > center + width / 2) return 1;
        return (x - center) / width + 0.5;
      }
      case Kind::sigmoid:  // C.11.2.1.3.1
        return 1 / (1 + std::exp(-4 * (x - center) / width));
      case Kind::lut: {
        const double top = std::ldexp(1.0, lut->bits) - 1;
        return std::min(1.0, static_cast<double>(lut->at(x)) / top);
      }
      case Kind::minmax:
      default:
        return hi > lo ? (x - lo) / (hi - lo) : 0.0;
    }
  }
};

Voi voi_of(const DicomFile& file, std::int64_t frame, const DicomOptions& options) {
  Voi v;
  if (options.window == DicomOptions::Window::minmax) return v;
  if (options.window == DicomOptions::Window::fixed) {
    v.kind = Voi::Kind::linear;
    v.center = options.center;
    v.width = options.width;
    return v;
  }
  for (const dicom::Dataset* scope : frame_scopes(file, frame, tags::kFrameVoiLutSequence)) {
    const auto centers = file.numbers(*scope, tags::kWindowCenter, "Window Center");
    const auto widths = file.numbers(*scope, tags::kWindowWidth, "Window Width");
    if (!centers || !widths) continue;
    const std::string function = file.text(*scope, tags::kVoiLutFunction).value_or("LINEAR");
    v.center = centers->front();
    v.width = widths->front();
    if (function == "LINEAR_EXACT") {
      v.kind = Voi::Kind::linear_exact;
    } else if (function == "SIGMOID") {
      v.kind = Voi::Kind::sigmoid;
    } else {
      v.kind = Voi::Kind::linear;
    }
    // A window too narrow for its function (LINEAR needs >= 1, the others > 0) counts as none.
    if (v.kind == Voi::Kind::linear ? v.width >= 1 : v.width > 0) return v;
    v.kind = Voi::Kind::minmax;
    break;
  }
  if (const auto* item = first_item(file.dataset(), tags::kVoiLutSequence)) {
    v.kind = Voi::Kind::lut;
    v.lut = read_lut(file, *item, tags::kLutDescriptor, tags::kLutData, false, "VOI LUT");
  }
  return v;
}

void grey(const DicomFile& file, const PixelLayout& l, std::int64_t frame,
          const dicom::FrameSamples& s, const DicomOptions& options, Image& img) {
  const Modality modality = modality_of(file, l, frame);
  const Voi voi = voi_of(file, frame, options);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  if (voi.kind == Voi::Kind::minmax) {
    for (std::size_t i = 0; i < s.pixels; ++i) {
      const double x = modality(s.at(i, 0));
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  const bool invert = l.photometric == "MONOCHROME1";
  img.channels = 1;
  img.unit.resize(s.pixels);
  for (std::size_t i = 0; i < s.pixels; ++i) {
    double v = voi(modality(s.at(i, 0)), lo, hi);
    if (!(v >= 0)) v = 0;  // NaN (an overflowing window) as well
    if (v > 1) v = 1;
    img.unit[i] = static_cast<float>(invert ? 1 - v : v);
  }
}

void palette(const DicomFile& file, const PixelLayout& l, const dicom::FrameSamples& s,
             Image& img) {
  const auto& ds = file.dataset();
  if (ds.find(tags::kSegmentedRedPaletteData))
    file.fail("segmented palette colour lookup tables are not supported");
  const std::array<Lut, 3> luts = {read_lut(file, ds, tags::kRedPaletteDescriptor,
                                            tags::kRedPaletteData, l.is_signed, "red palette"),
                                   read_lut(file, ds, tags::kGreenPaletteDescriptor,
                                            tags::kGreenPaletteData, l.is_signed, "green palette"),
                                   read_lut(file, ds, tags::kBluePaletteDescriptor,
                                            tags::kBluePaletteData, l.is_signed, "blue palette")};
  img.channels = 3;
  img.unit.resize(s.pixels * 3);
  for (int c = 0; c < 3; ++c) {
    const double top = std::ldexp(1.0, luts[c].bits) - 1;
    for (std::size_t i = 0; i < s.pixels; ++i)
      img.unit[i * 3 + static_cast<std::size_t>(c)] =
          static_cast<float>(std::min(1.0, luts[c].at(static_cast<double>(s.at(i, 0))) / top));
  }
}

// RGB as is; YBR_FULL (and upsampled YBR_FULL_422) to RGB with PS3.3 C.7.6.3.1.2's equations,
// rounded and clipped to the stored range as pydicom's convert_color_space and GDCM do.
void colour(const dicom::FrameSamples& s, Image& img) {
  img.channels = 3;
  img.unit.resize(s.pixels * 3);
  const double top = std::ldexp(1.0, s.bits_stored) - 1;
  const bool ybr = s.photometric == "YBR_FULL";
  const double half = std::ldexp(1.0, s.bits_stored - 1);
  for (std::size_t i = 0; i < s.pixels; ++i) {
    double rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<double>(s.at(i, c));
    if (ybr) {
      const double y = rgb[0], cb = rgb[1] - half, cr = rgb[2] - half;
      const double converted[3] = {y + 1.402 * cr,
                                   y - (0.114 * 1.772 / 0.587) * cb - (0.299 * 1.402 / 0.587) * cr,
                                   y + 1.772 * cb};
      for (int c = 0; c < 3; ++c) rgb[c] = std::clamp(std::floor(converted[c] + 0.5), 0.0, top);
    }
    for (int c = 0; c < 3; ++c)
      img.unit[i * 3 + static_cast<std::size_t>(c)] =
          static_cast<float>(std::clamp(rgb[c] / top, 0.0, 1.0));
  }
}

Image decode(const std::string& path, std::int64_t frame, const DicomOptions& options,
             std::uint64_t max_pixels) {
  DicomFile file(path);
  const PixelLayout l = file.pixel_layout();
  if (frame < 0 || frame >= l.frames)
    file.fail(fmt::format("frame {} is out of range: it has {} frame{} (0 to {})", frame, l.frames,
                          l.frames == 1 ? "" : "s", l.frames - 1));
  const auto rows = static_cast<std::uint64_t>(l.rows),
             cols = static_cast<std::uint64_t>(l.columns);
  if (cols > max_pixels / rows)
    throw InputError(
        fmt::format("image '{}' is {} x {} pixels, more than the limit of {} (a guard against "
                    "decompression bombs); if the "
                    "image is genuine, raise the limit with `taskfp extract --max-image-pixels`",
                    path, cols, rows, max_pixels));
  const dicom::FrameSamples s = dicom::frame_samples(file, l, frame);
  Image img;
  img.width = static_cast<int>(l.columns);
  img.height = static_cast<int>(l.rows);
  img.bit_depth = 0;
  if (l.photometric == "PALETTE COLOR") {
    palette(file, l, s, img);
  } else if (l.samples_per_pixel == 1) {
    grey(file, l, frame, s, options, img);
  } else {
    colour(s, img);
  }
  return img;
}

}  // namespace

std::string DicomOptions::describe() const {
  std::string w;
  switch (window) {
    case Window::file:
      w = "file (each file's first Window Center/Width with its VOI LUT Function, else its first "
          "VOI LUT, else "
          "per-image min-max)";
      break;
    case Window::minmax:
      w = "minmax (per image)";
      break;
    case Window::fixed:
      w = fmt::format("{}center {} width {} (LINEAR)", preset.empty() ? "" : preset + ": ", center,
                      width);
      break;
  }
  return fmt::format(
      "dicom: window {}; MONOCHROME1 inverted; colour / (2^BitsStored - 1); frames {}", w,
      frame ? std::to_string(*frame) : std::string("all"));
}

DicomOptions parse_dicom_options(const YAML::Node& node, const std::string& where) {
  DicomOptions o;
  if (!node || node.IsNull()) return o;
  require(node.IsMap(), "{}: dicom: must be a map (window: ..., frame: ...)", where);
  std::set<std::string> seen;
  try {
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      require(seen.insert(key).second, "{}: dicom: key '{}' appears twice", where, key);
      const YAML::Node& v = kv.second;
      if (key == "window") {
        if (v.IsSequence()) {
          require(v.size() == 2, "{}: dicom: window as a list is [center, width] (got {} values)",
                  where, v.size());
          o.window = DicomOptions::Window::fixed;
          o.center = finite_number(v[0], where, "the window center");
          o.width = finite_number(v[1], where, "the window width");
          require(o.width >= 1, "{}: dicom: the window width must be at least 1 (got {})", where,
                  o.width);
          continue;
        }
        require(v.IsScalar(), "{}: dicom: window must be file, minmax, a preset or [center, width]",
                where);
        const std::string name = lower(std::string(trim(v.Scalar())));
        if (name == "file") {
          o.window = DicomOptions::Window::file;
        } else if (name == "minmax") {
          o.window = DicomOptions::Window::minmax;
        } else {
          const auto it =
              std::find_if(std::begin(kDicomWindowPresets), std::end(kDicomWindowPresets),
                           [&](const DicomWindowPreset& p) { return name == p.name; });
          std::string names;
          for (const auto& p : kDicomWindowPresets)
            names += std::string(names.empty() ? "" : ", ") + p.name;
          require(it != std::end(kDicomWindowPresets),
                  "{}: dicom: unknown window '{}' (file, minmax, [center, width] or a preset: {})",
                  where, v.Scalar(), names);
          o.window = DicomOptions::Window::fixed;
          o.preset = it->name;
          o.center = it->center;
          o.width = it->width;
        }
      } else if (key == "frame") {
        require(v.IsScalar(), "{}: dicom: frame must be all or a frame number (0-based)", where);
        const std::string text(trim(v.Scalar()));
        if (lower(text) == "all") {
          o.frame.reset();
        } else {
          const auto n = parse_number<std::int64_t>(text);
          require(n && *n >= 0, "{}: dicom: frame must be all or a frame number >= 0 (got '{}')",
                  where, text);
          o.frame = *n;
        }
      } else {
        throw InputError(fmt::format("{}: dicom: unknown key '{}' (window, frame)", where, key));
      }
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: dicom: {}", where, one_line(e.what())));
  }
  return o;
}

bool looks_like_dicom(const std::string& path) {
  if (lower(fs::path(path).extension().string()) == ".dcm") return true;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return false;
  char head[132];
  return std::fread(head, 1, sizeof head, f.get()) == sizeof head &&
         std::string_view(head + 128, 4) == "DICM";
}

std::int64_t dicom_frame_count(const std::string& path) {
  return out_of_memory_as_error(fmt::format("reading '{}'", path), [&] {
    DicomFile file(path);
    const PixelLayout l = file.pixel_layout();
    dicom::check_pixel_data(file, l);
    return l.frames;
  });
}

Image read_dicom(const std::string& path, std::int64_t frame, const DicomOptions& options,
                 std::uint64_t max_pixels) {
  try {
    return decode(path, frame, options, max_pixels);
  } catch (const std::bad_alloc&) {
    throw InputError(
        fmt::format("image '{}': not enough memory to decode it; decode fewer images at once (-j) "
                    "or refuse large images with --max-image-pixels",
                    path));
  }
}

std::vector<std::string> dicom_series_files(const std::string& folder) {
  struct Entry {
    std::string path;
    std::optional<std::int64_t> instance;
    double position = 0;  // along the slice normal
    std::string series;
  };
  std::vector<fs::path> paths;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file() && looks_like_dicom(it->path().string())) paths.push_back(it->path());
  if (ec) throw InputError(fmt::format("cannot read series folder '{}': {}", folder, ec.message()));
  std::vector<Entry> entries;
  std::map<std::string, std::string> series;  // UID -> a file of it
  for (const auto& p : paths) {
    DicomFile file(p.string());
    const auto& ds = file.dataset();
    if (!ds.find(tags::kPixelData)) continue;  // a DICOMDIR, a report: not an image of the series
    Entry e;
    e.path = p.string();
    e.instance = file.integer(ds, tags::kInstanceNumber, "Instance Number");
    e.series = file.text(ds, tags::kSeriesInstanceUid).value_or("");
    const auto position = file.numbers(ds, tags::kImagePosition, "Image Position (Patient)");
    const auto orientation =
        file.numbers(ds, tags::kImageOrientation, "Image Orientation (Patient)");
    if (position && orientation && position->size() == 3 && orientation->size() == 6) {
      const auto& r = *orientation;
      const double normal[3] = {r[1] * r[5] - r[2] * r[4], r[2] * r[3] - r[0] * r[5],
                                r[0] * r[4] - r[1] * r[3]};
      e.position =
          normal[0] * (*position)[0] + normal[1] * (*position)[1] + normal[2] * (*position)[2];
    }
    series.emplace(e.series, e.path);
    entries.push_back(std::move(e));
  }
  require(!entries.empty(), "series folder '{}' holds no DICOM image", folder);
  if (series.size() > 1) {
    std::string list;
    for (const auto& [uid, file] : series)
      list += fmt::format("{}{} (e.g. '{}')", list.empty() ? "" : ", ",
                          uid.empty() ? "<none>" : uid, fs::path(file).filename().string());
    throw InputError(fmt::format("series folder '{}' holds {} series, one is expected: {}", folder,
                                 series.size(), list));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.instance.has_value() != b.instance.has_value()) return a.instance.has_value();
    if (a.instance && *a.instance != *b.instance) return *a.instance < *b.instance;
    if (a.position != b.position) return a.position < b.position;
    return a.path < b.path;
  });
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(std::move(e.path));
  return out;
}

}  // namespace taskfp
