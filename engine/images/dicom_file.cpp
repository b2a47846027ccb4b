// The DICOM file walker (PS3.10 file meta, PS3.5 chapter 7 data elements, annex A.4 encapsulated
// pixel data) and one frame's stored samples: native data in place, RLE (PS3.5 annex G) decoded
// here, JPEG, JPEG-LS and JPEG 2000 in dicom_codec.cpp.
#include "images/dicom_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace taskfp::dicom {
namespace {

constexpr std::uint32_t kUndefinedLength = 0xFFFFFFFFu;
constexpr Tag kItem = tag(0xFFFE, 0xE000);
constexpr Tag kItemDelimiter = tag(0xFFFE, 0xE00D);
constexpr Tag kSequenceDelimiter = tag(0xFFFE, 0xE0DD);
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxElements = std::size_t{1} << 20;
// Deflated files are inflated in memory, up to 64 MiB or 64 times the file's size (deflate can
// reach 1000: a few kilobytes of it can claim gigabytes); beyond that they are refused.
std::size_t max_inflated_bytes(std::size_t deflated) {
  return std::max<std::size_t>(std::size_t{64} << 20, 64 * deflated);
}

std::string hex_tag(Tag t) {
  return fmt::format("({:04X},{:04X})", t >> 16, t & 0xFFFF);
}

// The VRs of the attributes this reader reads, for files in Implicit VR (which do not say).
const char* dictionary_vr(Tag t) {
  switch (t) {
    case tags::kSamplesPerPixel:
    case tags::kPlanarConfiguration:
    case tags::kRows:
    case tags::kColumns:
    case tags::kBitsAllocated:
    case tags::kBitsStored:
    case tags::kHighBit:
    case tags::kPixelRepresentation:
    case tags::kRedPaletteDescriptor:
    case tags::kGreenPaletteDescriptor:
    case tags::kBluePaletteDescriptor:
    case tags::kLutDescriptor:
      return "US";
    case tags::kRedPaletteData:
    case tags::kGreenPaletteData:
    case tags::kBluePaletteData:
    case tags::kSegmentedRedPaletteData:
    case tags::kLutData:
    case tags::kPixelData:
      return "OW";
    case tags::kWindowCenter:
    case tags::kWindowWidth:
    case tags::kRescaleIntercept:
    case tags::kRescaleSlope:
    case tags::kImagePosition:
    case tags::kImageOrientation:
      return "DS";
    case tags::kNumberOfFrames:
    case tags::kInstanceNumber:
      return "IS";
    case tags::kPhotometric:
    case tags::kVoiLutFunction:
    case tags::kModality:
      return "CS";
    case tags::kTransferSyntax:
    case tags::kSopClass:
    case tags::kSeriesInstanceUid:
      return "UI";
    case tags::kModalityLutSequence:
    case tags::kVoiLutSequence:
    case tags::kFrameVoiLutSequence:
    case tags::kPixelValueTransformationSequence:
    case tags::kSharedFunctionalGroups:
    case tags::kPerFrameFunctionalGroups:
      return "SQ";
    case tags::kExtendedOffsetTable:
    case tags::kExtendedOffsetTableLengths:
      return "OV";
    default:
      return nullptr;
  }
}

// PS3.5 7.1.2: these VRs have a 4-byte length after two reserved bytes in Explicit VR.
bool long_vr(char a, char b) {
  static constexpr std::array<const char*, 13> kLong = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                                        "SV", "UC", "UN", "UR", "UT", "UV"};
  return std::any_of(kLong.begin(), kLong.end(),
                     [&](const char* v) { return v[0] == a && v[1] == b; });
}

struct Encoding {
  bool explicit_vr = true;
  bool big_endian = false;
};

std::uint16_t u16(const std::uint8_t* p, bool big) {
  return big ? static_cast<std::uint16_t>(p[0] << 8 | p[1])
             : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}
std::uint32_t u32(const std::uint8_t* p, bool big) {
  return big ? (std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
                p[3])
             : (std::uint32_t{p[3]} << 24 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[1]} << 8 |
                p[0]);
}
std::uint64_t u64(const std::uint8_t* p, bool big) {
  const std::uint64_t a = u32(p, big), b = u32(p + 4, big);
  return big ? (a << 32 | b) : (b << 32 | a);
}

// Walks data sets, sequences and fragments, checking every length against its container.
class Walker {
 public:
  Walker(const DicomFile& file, const std::uint8_t* bytes) : file_(file), b_(bytes) {}

  // Elements from `pos` up to `end`, or up to an item delimiter when `in_undefined_item`.
  std::size_t dataset(std::size_t pos, std::size_t end, Encoding enc, int depth, Dataset& ds,
                      bool in_undefined_item, bool meta_only = false) {
    while (pos < end) {
      if (end - pos < 8) {
        if (!in_undefined_item &&
            std::all_of(b_ + pos, b_ + end, [](std::uint8_t c) { return c == 0; }))
          return end;  // zero padding after the last element
        file_.fail(fmt::format("truncated: {} stray bytes at byte {} where an element should start",
                               end - pos, pos));
      }
      const std::uint16_t group = u16(b_ + pos, enc.big_endian);
      const Tag t = tag(group, u16(b_ + pos + 2, enc.big_endian));
      if (meta_only && group != 0x0002) return pos;
      if (group == 0xFFFE) {
        if (t == kItemDelimiter && in_undefined_item) return pos + 8;
        file_.fail(
            fmt::format("damaged: an item tag {} at byte {} outside a sequence", hex_tag(t), pos));
      }
      Element e;
      e.tag = t;
      e.big_endian = enc.big_endian;
      std::uint32_t length = 0;
      std::size_t header = 8;
      if (enc.explicit_vr) {
        const char v0 = static_cast<char>(b_[pos + 4]), v1 = static_cast<char>(b_[pos + 5]);
        if (v0 < 'A' || v0 > 'Z' || v1 < 'A' || v1 > 'Z')
          file_.fail(
              fmt::format("damaged: element {} at byte {} has no valid VR (the bytes there "
                          "are not what its transfer syntax says)",
                          hex_tag(t), pos));
        e.vr[0] = v0;
        e.vr[1] = v1;
        if (long_vr(v0, v1)) {
          if (end - pos < 12)
            file_.fail(fmt::format("truncated in element {} at byte {}", hex_tag(t), pos));
          length = u32(b_ + pos + 8, enc.big_endian);
          header = 12;
        } else {
          length = u16(b_ + pos + 6, enc.big_endian);
        }
        // A VR of UN for an attribute this reader knows (an unknown-VR copy): its dictionary VR.
        if (e.is_vr("UN") && length != kUndefinedLength) {
          if (const char* d = dictionary_vr(t)) std::memcpy(e.vr, d, 2);
        }
      } else {
        length = u32(b_ + pos + 4, enc.big_endian);
        const char* d = dictionary_vr(t);
        std::memcpy(e.vr, d ? d : (length == kUndefinedLength ? "SQ" : "UN"), 2);
      }
      const std::size_t start = pos;
      pos += header;
      if (length == kUndefinedLength) {
        if (t == tags::kPixelData) {
          e.encapsulated = true;
          pos = fragments(pos, end, e);
        } else if (e.is_vr("SQ") || e.is_vr("UN")) {
          // CP-246: an undefined-length UN holds items in Implicit VR Little Endian.
          const Encoding inner = e.is_vr("UN") ? Encoding{false, false} : enc;
          pos = items(pos, end, inner, depth + 1, e, true);
        } else {
          file_.fail(fmt::format(
              "damaged: element {} at byte {} has an undefined length but is not a sequence",
              hex_tag(t), start));
        }
      } else {
        if (length > end - pos)
          file_.fail(fmt::format("truncated: element {} at byte {} claims {} bytes, {} are left",
                                 hex_tag(t), start, length, end - pos));
        if (e.is_vr("SQ")) {
          items(pos, pos + length, enc, depth + 1, e, false);
        } else {
          e.value = Span{pos, length};
        }
        pos += length;
      }
      count();
      ds.elements.push_back(std::move(e));
    }
    if (in_undefined_item) file_.fail("truncated: a sequence item has no end");
    return pos;
  }

 private:
  std::size_t items(std::size_t pos, std::size_t end, Encoding enc, int depth, Element& e,
                    bool undefined) {
    if (depth > kMaxDepth)
      file_.fail(fmt::format("damaged: sequences nested more than {} deep", kMaxDepth));
    while (pos < end) {
      if (end - pos < 8) file_.fail(fmt::format("truncated in sequence {}", hex_tag(e.tag)));
      const Tag t = tag(u16(b_ + pos, enc.big_endian), u16(b_ + pos + 2, enc.big_endian));
      const std::uint32_t length = u32(b_ + pos + 4, enc.big_endian);
      if (t == kSequenceDelimiter && undefined) return pos + 8;
      if (t != kItem)
        file_.fail(fmt::format("damaged: sequence {} holds {} at byte {} where an item should be",
                               hex_tag(e.tag), hex_tag(t), pos));
      pos += 8;
      Dataset item;
      if (length == kUndefinedLength) {
        pos = dataset(pos, end, enc, depth, item, true);
      } else {
        if (length > end - pos)
          file_.fail(fmt::format("truncated: an item of sequence {} claims {} bytes, {} are left",
                                 hex_tag(e.tag), length, end - pos));
        dataset(pos, pos + length, enc, depth, item, false);
        pos += length;
      }
      count();
      e.items.push_back(std::move(item));
    }
    if (undefined) file_.fail(fmt::format("truncated: sequence {} has no end", hex_tag(e.tag)));
    return pos;
  }

  // PS3.5 A.4: items of fragments after the basic offset table, up to a sequence delimiter.
  std::size_t fragments(std::size_t pos, std::size_t end, Element& e) {
    while (end - pos >= 8) {
      const Tag t = tag(u16(b_ + pos, false), u16(b_ + pos + 2, false));
      const std::uint32_t length = u32(b_ + pos + 4, false);
      if (t == kSequenceDelimiter) return pos + 8;
      if (t != kItem)
        file_.fail(
            fmt::format("damaged: the pixel data holds {} at byte {} where a fragment should be",
                        hex_tag(t), pos));
      pos += 8;
      if (length > end - pos)
        file_.fail(
            fmt::format("truncated: a pixel data fragment at byte {} claims {} bytes, {} are left",
                        pos - 8, length, end - pos));
      count();
      e.fragments.push_back(Span{pos, length});
      pos += length;
    }
    file_.fail("truncated: the encapsulated pixel data has no end");
  }

  void count() {
    if (++elements_ > kMaxElements)
      file_.fail(fmt::format("damaged: more than {} elements", kMaxElements));
  }

  const DicomFile& file_;
  const std::uint8_t* b_;
  std::size_t elements_ = 0;
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

std::vector<std::uint8_t> inflate_raw(const DicomFile& file, const std::uint8_t* data,
                                      std::size_t size) {
  const std::size_t limit = max_inflated_bytes(size);
  std::vector<std::uint8_t> out;
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) file.fail("cannot start zlib to inflate it");
  z.next_in = const_cast<Bytef*>(data);
  std::size_t consumed = 0;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (out.size() >= limit) {
      inflateEnd(&z);
      file.fail(fmt::format(
          "its deflated data set inflates to more than {} bytes (64 times the file)", limit));
    }
    const std::size_t before = out.size();
    out.resize(std::min(limit, std::max<std::size_t>(before * 2, 1 << 16)));
    z.next_out = out.data() + before;
    z.avail_out = static_cast<uInt>(
        std::min<std::size_t>(out.size() - before, std::numeric_limits<uInt>::max()));
    const std::size_t chunk =
        std::min<std::size_t>(size - consumed, std::numeric_limits<uInt>::max());
    z.avail_in = static_cast<uInt>(chunk);
    const std::size_t room = z.avail_out;
    status = inflate(&z, Z_NO_FLUSH);
    consumed += chunk - z.avail_in;
    out.resize(before + (room - z.avail_out));
    if (status == Z_BUF_ERROR && consumed == size) status = Z_DATA_ERROR;  // input ended early
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&z);
      file.fail("truncated or damaged: its deflated data set does not inflate");
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace

const Element* Dataset::find(Tag t) const {
  for (const auto& e : elements)
    if (e.tag == t) return &e;
  return nullptr;
}

struct DicomFile::Mapping {
  void* address = MAP_FAILED;
  std::size_t size = 0;
  ~Mapping() {
    if (address != MAP_FAILED) munmap(address, size);
  }
};

DicomFile::~DicomFile() = default;

void DicomFile::fail(const std::string& what) const {
  throw InputError(fmt::format("DICOM file '{}': {}", path_, what));
}

DicomFile::DicomFile(const std::string& path) : path_(path), mapping_(std::make_unique<Mapping>()) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InputError(fmt::format("cannot open DICOM file '{}': {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    fail("the file is empty");
  }
  mapping_->address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (mapping_->address == MAP_FAILED)
    fail(fmt::format("cannot map it: {}", std::strerror(map_errno)));
  mapping_->size = size_;
  bytes_ = static_cast<const std::uint8_t*>(mapping_->address);

  // PS3.10 7.1: a 128-byte preamble, 'DICM', the file meta group in Explicit VR Little Endian.
  // Files without them (ACR-NEMA style, or a data set written alone) start with a data set;
  // its first element tells explicit from implicit VR, as pydicom and GDCM guess.
  Walker walker(*this, bytes_);
  std::size_t pos = 0;
  Dataset meta;
  const bool preamble = size_ >= 132 && std::memcmp(bytes_ + 128, "DICM", 4) == 0;
  if (preamble) pos = 132;
  const auto group_at = [&](std::size_t p) {
    return size_ - p >= 8 ? u16(bytes_ + p, false) : 0xFFFF;
  };
  if (group_at(pos) == 0x0002)
    pos = walker.dataset(pos, size_, Encoding{true, false}, 0, meta, false, true);
  if (const Element* ts = meta.find(tags::kTransferSyntax)) {
    transfer_syntax_ = trimmed(
        std::string(reinterpret_cast<const char*>(bytes_) + ts->value.offset, ts->value.length));
  } else {
    // No meta group, or one without a transfer syntax: the data set's first element decides.
    const std::uint16_t first = group_at(pos);
    if (!preamble && first != 0x0008 && first != 0x0000 && first != 0x0002)
      fail("not a DICOM file (no 'DICM' marker at byte 128, and no data set at its start)");
    if (size_ - pos < 8) fail("truncated: no data set after the file meta information");
    const char v0 = static_cast<char>(bytes_[pos + 4]), v1 = static_cast<char>(bytes_[pos + 5]);
    const bool explicit_vr = v0 >= 'A' && v0 <= 'Z' && v1 >= 'A' && v1 <= 'Z';
    transfer_syntax_ = explicit_vr ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2";
  }
  dataset_.elements = std::move(meta.elements);

  const std::string& ts = transfer_syntax_;
  Encoding enc{true, false};
  if (ts == "1.2.840.10008.1.2") {
    enc.explicit_vr = false;
  } else if (ts == "1.2.840.10008.1.2.2") {
    enc.big_endian = true;
  } else if (ts == "1.2.840.10008.1.2.1.99") {
    // The data set after the meta group is deflated (RFC 1951, no header): inflated behind a
    // copy of the meta group, so that the offsets of every element refer to one buffer.
    std::vector<std::uint8_t> rest = inflate_raw(*this, bytes_ + pos, size_ - pos);
    inflated_.reserve(pos + rest.size());
    inflated_.assign(bytes_, bytes_ + pos);
    inflated_.insert(inflated_.end(), rest.begin(), rest.end());
    bytes_ = inflated_.data();
    size_ = inflated_.size();
  } else if (ts != "1.2.840.10008.1.2.1" && ts != "1.2.840.10008.1.2.5" &&
             !decodes_encapsulated(ts)) {
    fail(fmt::format("unsupported transfer syntax {} ({})", ts, transfer_syntax_name(ts)));
  }
  // Some writers label an Implicit VR data set as Explicit VR (pydicom's SC_rgb_jpeg.dcm): the
  // first element tells, as pydicom and GDCM find out.
  if (enc.explicit_vr && !enc.big_endian && size_ - pos >= 8) {
    const char v0 = static_cast<char>(bytes_[pos + 4]), v1 = static_cast<char>(bytes_[pos + 5]);
    if (!(v0 >= 'A' && v0 <= 'Z' && v1 >= 'A' && v1 <= 'Z')) enc.explicit_vr = false;
  }
  Walker(*this, bytes_).dataset(pos, size_, enc, 0, dataset_, false);
}

std::optional<std::string> DicomFile::text(const Dataset& ds, Tag t) const {
  const Element* e = ds.find(t);
  if (!e || e->value.length == 0) return std::nullopt;
  return trimmed(
      std::string(reinterpret_cast<const char*>(bytes_) + e->value.offset, e->value.length));
}

std::optional<std::vector<double>> DicomFile::numbers(const Dataset& ds, Tag t,
                                                      const char* name) const {
  const Element* e = ds.find(t);
  if (!e || e->value.length == 0) return std::nullopt;
  std::vector<double> out;
  const std::uint8_t* p = bytes_ + e->value.offset;
  const std::size_t n = e->value.length;
  const auto bad = [&](const std::string& v) {
    fail(fmt::format("{} {} is '{}', not a finite number", name, hex_tag(t), v));
  };
  if (e->is_vr("DS") || e->is_vr("IS")) {
    const std::string all(reinterpret_cast<const char*>(p), n);
    std::size_t start = 0;
    while (start <= all.size()) {
      std::size_t stop = all.find('\\', start);
      if (stop == std::string::npos) stop = all.size();
      std::string v = trimmed(all.substr(start, stop - start));
      if (!v.empty()) {
        const char* b = v.data() + (v[0] == '+' ? 1 : 0);
        double x = 0;
        const auto [ptr, ec] = std::from_chars(b, v.data() + v.size(), x);
        if (ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(x)) bad(v);
        out.push_back(x);
      }
      start = stop + 1;
    }
  } else {
    const bool big = e->big_endian;
    const auto each = [&](std::size_t width, auto read) {
      for (std::size_t i = 0; i + width <= n; i += width) out.push_back(read(p + i));
    };
    if (e->is_vr("US") || e->is_vr("OW")) {
      each(2, [&](const std::uint8_t* q) { return static_cast<double>(u16(q, big)); });
    } else if (e->is_vr("SS")) {
      each(2, [&](const std::uint8_t* q) {
        return static_cast<double>(static_cast<std::int16_t>(u16(q, big)));
      });
    } else if (e->is_vr("UL")) {
      each(4, [&](const std::uint8_t* q) { return static_cast<double>(u32(q, big)); });
    } else if (e->is_vr("SL")) {
      each(4, [&](const std::uint8_t* q) {
        return static_cast<double>(static_cast<std::int32_t>(u32(q, big)));
      });
    } else if (e->is_vr("FL")) {
      each(4, [&](const std::uint8_t* q) {
        const std::uint32_t w = u32(q, big);
        float f;
        std::memcpy(&f, &w, 4);
        return static_cast<double>(f);
      });
    } else if (e->is_vr("FD")) {
      each(8, [&](const std::uint8_t* q) {
        const std::uint64_t w = u64(q, big);
        double d;
        std::memcpy(&d, &w, 8);
        return d;
      });
    } else {
      fail(fmt::format("{} {} has VR {}{}, not a number", name, hex_tag(t), e->vr[0], e->vr[1]));
    }
    for (double x : out)
      if (!std::isfinite(x)) bad(fmt::format("{}", x));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::int64_t> DicomFile::integer(const Dataset& ds, Tag t, const char* name) const {
  const auto v = numbers(ds, t, name);
  if (!v) return std::nullopt;
  const double x = v->front();
  if (x != std::floor(x) || std::fabs(x) > 9e15)
    fail(fmt::format("{} {} is {}, not a whole number", name, hex_tag(t), x));
  return static_cast<std::int64_t>(x);
}

std::vector<std::uint16_t> DicomFile::words(const Element& e) const {
  std::vector<std::uint16_t> out(e.value.length / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = u16(bytes_ + e.value.offset + 2 * i, e.big_endian);
  return out;
}

PixelLayout DicomFile::pixel_layout() const {
  const Dataset& ds = dataset_;
  if (ds.find(tags::kFloatPixelData) || ds.find(tags::kDoubleFloatPixelData))
    fail("float pixel data (a parametric map) is not supported");
  if (!ds.find(tags::kPixelData)) {
    const auto sop = text(ds, tags::kSopClass);
    fail(fmt::format("no pixel data (SOP class {}): not an image",
                     sop ? *sop : std::string("unknown")));
  }
  PixelLayout l;
  const auto need = [&](Tag t, const char* name) {
    const auto v = integer(ds, t, name);
    if (!v)
      fail(fmt::format("no {} {}: the image's pixels cannot be read without it", name, hex_tag(t)));
    return *v;
  };
  l.rows = need(tags::kRows, "Rows");
  l.columns = need(tags::kColumns, "Columns");
  l.bits_allocated = static_cast<int>(need(tags::kBitsAllocated, "Bits Allocated"));
  l.samples_per_pixel =
      static_cast<int>(integer(ds, tags::kSamplesPerPixel, "Samples per Pixel").value_or(1));
  l.bits_stored =
      static_cast<int>(integer(ds, tags::kBitsStored, "Bits Stored").value_or(l.bits_allocated));
  l.high_bit =
      static_cast<int>(integer(ds, tags::kHighBit, "High Bit").value_or(l.bits_stored - 1));
  const auto representation =
      integer(ds, tags::kPixelRepresentation, "Pixel Representation").value_or(0);
  l.planar = integer(ds, tags::kPlanarConfiguration, "Planar Configuration").value_or(0) == 1;
  l.photometric =
      text(ds, tags::kPhotometric).value_or(l.samples_per_pixel == 3 ? "RGB" : "MONOCHROME2");
  l.frames = integer(ds, tags::kNumberOfFrames, "Number of Frames").value_or(1);
  if (l.frames == 0) l.frames = 1;  // written as 0 by some single-frame writers

  if (l.rows <= 0 || l.columns <= 0)
    fail(fmt::format("Rows x Columns is {} x {}: no pixels", l.rows, l.columns));
  if (l.frames < 0) fail(fmt::format("Number of Frames is {}", l.frames));
  if (l.bits_allocated != 1 && l.bits_allocated != 8 && l.bits_allocated != 16 &&
      l.bits_allocated != 32)
    fail(fmt::format("Bits Allocated {} is not supported (1, 8, 16 or 32)", l.bits_allocated));
  if (l.bits_stored < 1 || l.bits_stored > l.bits_allocated)
    fail(fmt::format("Bits Stored {} does not fit Bits Allocated {}", l.bits_stored,
                     l.bits_allocated));
  // High Bit is Bits Stored - 1 in every current IOD; other values place the stored bits higher.
  if (l.high_bit < l.bits_stored - 1 || l.high_bit >= l.bits_allocated)
    l.high_bit = l.bits_stored - 1;
  if (representation != 0 && representation != 1)
    fail(fmt::format("Pixel Representation is {} (0: unsigned, 1: signed)", representation));
  l.is_signed = representation == 1;
  if (l.samples_per_pixel != 1 && l.samples_per_pixel != 3)
    fail(fmt::format("{} samples per pixel are not supported (1: grey or palette, 3: colour)",
                     l.samples_per_pixel));
  const std::string& pi = l.photometric;
  const bool grey = pi == "MONOCHROME1" || pi == "MONOCHROME2" || pi == "PALETTE COLOR";
  const bool colour =
      pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422" || pi == "YBR_ICT" || pi == "YBR_RCT";
  if (!grey && !colour)
    fail(
        fmt::format("Photometric Interpretation '{}' is not supported (MONOCHROME1, MONOCHROME2, "
                    "PALETTE COLOR, RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT)",
                    pi));
  if (grey != (l.samples_per_pixel == 1))
    fail(fmt::format("Photometric Interpretation {} with {} samples per pixel", pi,
                     l.samples_per_pixel));
  if (colour && l.is_signed) fail("signed colour samples are not supported");
  if (l.bits_allocated == 1 && (l.samples_per_pixel != 1 || pi == "PALETTE COLOR"))
    fail("1-bit pixels are supported for grey images only");
  return l;
}

// ---- frames ----

namespace {

// PackBits (PS3.5 G.3.1) of one segment into exactly `out_size` bytes at `out` (stride apart).
bool unpack_bits(const std::uint8_t* in, std::size_t in_size, std::uint8_t* out,
                 std::size_t out_size, std::size_t stride) {
  std::size_t i = 0, o = 0;
  while (o < out_size && i < in_size) {
    const int header = in[i] < 128 ? in[i] : in[i] - 256;  // a signed byte
    ++i;
    if (header >= 0) {
      const std::size_t n = static_cast<std::size_t>(header) + 1;
      if (i + n > in_size || o + n > out_size) return false;
      for (std::size_t k = 0; k < n; ++k) out[(o++) * stride] = in[i++];
    } else if (header != -128) {
      const std::size_t n = static_cast<std::size_t>(1 - header);
      if (i >= in_size || o + n > out_size) return false;
      const std::uint8_t v = in[i++];
      for (std::size_t k = 0; k < n; ++k) out[(o++) * stride] = v;
    }
  }
  return o == out_size;
}

// RLE Lossless (PS3.5 annex G): one segment per byte of each sample, most significant byte
// first, red before green before blue; decoded into interleaved little-endian words.
void decode_rle(const DicomFile& file, const PixelLayout& l, std::int64_t frame,
                const std::vector<Span>& pieces, FrameSamples& out) {
  std::vector<std::uint8_t> joined;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  if (pieces.size() == 1) {
    data = file.bytes() + pieces[0].offset;
    size = pieces[0].length;
  } else {
    for (const auto& p : pieces)
      joined.insert(joined.end(), file.bytes() + p.offset, file.bytes() + p.offset + p.length);
    data = joined.data();
    size = joined.size();
  }
  const int bytes = l.bits_allocated / 8;
  const std::size_t segments_needed =
      static_cast<std::size_t>(l.samples_per_pixel) * static_cast<std::size_t>(bytes);
  if (l.bits_allocated == 1) file.fail("RLE with 1-bit pixels is not supported");
  if (size < 64) file.fail(fmt::format("frame {}: its RLE header is truncated", frame));
  const std::uint32_t segments = u32(data, false);
  if (segments != segments_needed)
    file.fail(fmt::format("frame {}: RLE data has {} segments, {} samples of {} bits need {}",
                          frame, segments, l.samples_per_pixel, l.bits_allocated, segments_needed));
  const std::size_t pixels = static_cast<std::size_t>(l.rows) * static_cast<std::size_t>(l.columns);
  // PackBits turns 2 bytes into at most 128: data too short for the frame is refused before the
  // frame is allocated.
  if (size - 64 < segments_needed * ((pixels + 127) / 128) * 2)
    file.fail(fmt::format(
        "frame {}: {} bytes of RLE data cannot hold {} x {} pixels (truncated or damaged)", frame,
        size, l.columns, l.rows));
  out.owned.assign(pixels * segments_needed, 0);
  for (std::uint32_t s = 0; s < segments; ++s) {
    const std::size_t begin = u32(data + 4 + 4 * std::size_t{s}, false);
    const std::size_t stop = s + 1 < segments ? u32(data + 8 + 4 * std::size_t{s}, false) : size;
    if (begin < 64 || begin > stop || stop > size)
      file.fail(fmt::format("frame {}: RLE segment {} lies outside its data (damaged offsets)",
                            frame, s));
    const std::size_t sample = s / static_cast<std::size_t>(bytes);
    const std::size_t byte =
        static_cast<std::size_t>(bytes) - 1 - s % static_cast<std::size_t>(bytes);
    std::uint8_t* dst = out.owned.data() + sample * static_cast<std::size_t>(bytes) + byte;
    if (!unpack_bits(data + begin, stop - begin, dst, pixels, segments_needed))
      file.fail(fmt::format("frame {}: RLE segment {} does not decode to {} bytes (damaged)", frame,
                            s, pixels));
  }
  out.data = out.owned.data();
  out.bytes_per_sample = bytes;
  out.big_endian = false;
  out.planar = false;
}

// The fragments of frame `frame` (PS3.5 A.4): by the Extended Offset Table, the Basic Offset
// Table, one fragment per frame, all fragments for one frame, or (JPEG family) the fragments
// that start a codestream.
std::vector<Span> frame_fragments(const DicomFile& file, const Element& pixels,
                                  const PixelLayout& l, std::int64_t frame) {
  if (pixels.fragments.size() < 2) file.fail("the encapsulated pixel data holds no fragment");
  std::vector<Span> all(pixels.fragments.begin() + 1, pixels.fragments.end());
  const std::size_t frames = static_cast<std::size_t>(l.frames);
  const std::size_t f = static_cast<std::size_t>(frame);
  // Offsets count from the first byte of the first fragment's item tag.
  const std::size_t base = all.front().offset - 8;
  const auto by_offsets = [&](const std::vector<std::uint64_t>& offsets, const char* table) {
    if (offsets.size() != frames)
      file.fail(fmt::format("its {} lists {} frames, Number of Frames is {}", table, offsets.size(),
                            frames));
    const std::uint64_t from = offsets[f];
    const std::uint64_t to =
        f + 1 < frames ? offsets[f + 1] : std::numeric_limits<std::uint64_t>::max();
    std::vector<Span> out;
    bool starts = false;
    for (const auto& s : all) {
      const std::uint64_t at = s.offset - 8 - base;
      if (at == from) starts = true;
      if (at >= from && at < to) out.push_back(s);
    }
    if (!starts || out.empty() || (f + 1 < frames && to <= from))
      file.fail(fmt::format("its {} does not point at the fragments of frame {} (damaged)", table,
                            frame));
    return out;
  };
  if (const Element* eot = file.dataset().find(tags::kExtendedOffsetTable);
      eot && eot->value.length >= 8) {
    std::vector<std::uint64_t> offsets;
    for (std::size_t i = 0; i + 8 <= eot->value.length; i += 8)
      offsets.push_back(u64(file.bytes() + eot->value.offset + i, false));
    return by_offsets(offsets, "Extended Offset Table");
  }
  const Span& bot = pixels.fragments.front();
  if (bot.length >= 4) {
    std::vector<std::uint64_t> offsets;
    for (std::size_t i = 0; i + 4 <= bot.length; i += 4)
      offsets.push_back(u32(file.bytes() + bot.offset + i, false));
    return by_offsets(offsets, "Basic Offset Table");
  }
  if (all.size() == frames) return {all[f]};
  if (frames == 1) return all;
  // No table and more fragments than frames: a frame starts where a codestream starts.
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::uint8_t* p = file.bytes() + all[i].offset;
    const std::size_t n = all[i].length;
    const bool jpeg = n >= 2 && p[0] == 0xFF && p[1] == 0xD8;
    const bool j2k = n >= 2 && p[0] == 0xFF && p[1] == 0x4F;
    const bool jp2 = n >= 12 && std::memcmp(p + 4, "jP  ", 4) == 0;
    if (jpeg || j2k || jp2) starts.push_back(i);
  }
  if (starts.size() != frames || starts.front() != 0 ||
      file.transfer_syntax() == "1.2.840.10008.1.2.5")
    file.fail(fmt::format(
        "{} fragments for {} frames and no offset table: the frames cannot be told apart",
        all.size(), frames));
  const std::size_t to = f + 1 < frames ? starts[f + 1] : all.size();
  return std::vector<Span>(all.begin() + static_cast<std::ptrdiff_t>(starts[f]),
                           all.begin() + static_cast<std::ptrdiff_t>(to));
}

// YBR_FULL_422 (PS3.3 C.7.6.3.1.2): two pixels share one Cb and one Cr (Y1 Y2 Cb Cr); expanded
// to YBR_FULL by repeating them, as pydicom does.
void expand_422(const DicomFile& file, const PixelLayout& l, const std::uint8_t* src,
                FrameSamples& out) {
  if (l.bits_allocated != 8) file.fail("YBR_FULL_422 with more than 8 bits is not supported");
  if (l.planar) file.fail("YBR_FULL_422 with Planar Configuration 1 is not allowed");
  if (l.columns % 2 != 0) file.fail("YBR_FULL_422 with an odd number of columns");
  const std::size_t rows = static_cast<std::size_t>(l.rows),
                    cols = static_cast<std::size_t>(l.columns);
  out.owned.resize(rows * cols * 3);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* in = src + r * cols * 2;
    std::uint8_t* o = out.owned.data() + r * cols * 3;
    for (std::size_t c = 0; c < cols; c += 2) {
      const std::uint8_t* g = in + c * 2;  // Y1 Y2 Cb Cr
      o[c * 3 + 0] = g[0];
      o[c * 3 + 1] = g[2];
      o[c * 3 + 2] = g[3];
      if (c + 1 < cols) {
        o[c * 3 + 3] = g[1];
        o[c * 3 + 4] = g[2];
        o[c * 3 + 5] = g[3];
      }
    }
  }
  out.data = out.owned.data();
  out.photometric = "YBR_FULL";
}

}  // namespace

namespace {

// Units of one native frame: bits for 1-bit pixels (frames need not start on a byte), else bytes.
std::uint64_t native_frame_units(const PixelLayout& l) {
  const std::uint64_t samples = static_cast<std::uint64_t>(l.rows) *
                                static_cast<std::uint64_t>(l.columns) *
                                static_cast<std::uint64_t>(l.samples_per_pixel);
  if (l.bits_allocated == 1) return samples;
  if (l.photometric == "YBR_FULL_422") return samples / 3 * 2;  // Y Y Cb Cr per two pixels
  return samples * static_cast<std::uint64_t>(l.bits_allocated / 8);
}

}  // namespace

void check_pixel_data(const DicomFile& file, const PixelLayout& l) {
  const Element& pixels = *file.dataset().find(tags::kPixelData);
  if (pixels.encapsulated) {
    (void)frame_fragments(file, pixels, l, l.frames - 1);  // the frames can be told apart
    return;
  }
  const std::uint64_t units = native_frame_units(l);
  const std::uint64_t have = pixels.value.length;
  const std::uint64_t have_units = l.bits_allocated == 1 ? have * 8 : have;
  if (static_cast<std::uint64_t>(l.frames) > have_units / units)
    file.fail(fmt::format(
        "truncated: its pixel data holds {} bytes, {} frame{} of {} {} each are needed", have,
        l.frames, l.frames == 1 ? "" : "s", units, l.bits_allocated == 1 ? "bits" : "bytes"));
}

FrameSamples frame_samples(const DicomFile& file, const PixelLayout& l, std::int64_t frame) {
  check_pixel_data(file, l);
  const Element& pixels = *file.dataset().find(tags::kPixelData);
  FrameSamples out;
  out.pixels = static_cast<std::size_t>(l.rows) * static_cast<std::size_t>(l.columns);
  out.channels = l.samples_per_pixel;
  out.bits_stored = l.bits_stored;
  out.is_signed = l.is_signed;
  out.photometric = l.photometric;
  if (!pixels.encapsulated) {
    const std::uint64_t frame_units = native_frame_units(l);
    const bool sub422 = l.photometric == "YBR_FULL_422";
    const std::uint8_t* start = file.bytes() + pixels.value.offset;
    out.big_endian = pixels.big_endian;
    out.shift = l.high_bit + 1 - l.bits_stored;
    if (l.bits_allocated == 1) {
      out.bytes_per_sample = 0;
      out.data = start;
      out.first_bit = static_cast<std::size_t>(frame) * static_cast<std::size_t>(frame_units);
      return out;
    }
    const std::uint8_t* frame_start =
        start + static_cast<std::size_t>(frame) * static_cast<std::size_t>(frame_units);
    out.bytes_per_sample = l.bits_allocated / 8;
    out.planar = l.planar && l.samples_per_pixel > 1;
    if (sub422) {
      expand_422(file, l, frame_start, out);
      out.big_endian = false;
      out.planar = false;
      out.shift = 0;
      return out;
    }
    out.data = frame_start;
    return out;
  }
  const auto pieces = frame_fragments(file, pixels, l, frame);
  if (file.transfer_syntax() == "1.2.840.10008.1.2.5") {
    decode_rle(file, l, frame, pieces, out);
  } else {
    decode_encapsulated(file, l, pieces, out);
  }
  out.shift = 0;  // decoders give the stored bits from bit 0
  if (out.photometric == "YBR_FULL_422") out.photometric = "YBR_FULL";  // codecs upsample
  return out;
}

std::string transfer_syntax_name(const std::string& uid) {
  static const std::array<std::pair<const char*, const char*>, 34> kNames = {{
      {"1.2.840.10008.1.2", "Implicit VR Little Endian"},
      {"1.2.840.10008.1.2.1", "Explicit VR Little Endian"},
      {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"},
      {"1.2.840.10008.1.2.2", "Explicit VR Big Endian"},
      {"1.2.840.10008.1.2.5", "RLE Lossless"},
      {"1.2.840.10008.1.2.4.50", "JPEG Baseline"},
      {"1.2.840.10008.1.2.4.51", "JPEG Extended"},
      {"1.2.840.10008.1.2.4.57", "JPEG Lossless"},
      {"1.2.840.10008.1.2.4.70", "JPEG Lossless SV1"},
      {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"},
      {"1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"},
      {"1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"},
      {"1.2.840.10008.1.2.4.91", "JPEG 2000"},
      {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless"},
      {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component"},
      {"1.2.840.10008.1.2.4.94", "JPIP Referenced"},
      {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate"},
      {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile video"},
      {"1.2.840.10008.1.2.4.101", "MPEG2 High Profile video"},
      {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 video"},
      {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible video"},
      {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 2D video"},
      {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 3D video"},
      {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo video"},
      {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile video"},
      {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile video"},
      {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless"},
      {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"},
      {"1.2.840.10008.1.2.4.112", "JPEG XL"},
      {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless"},
      {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 RPCL Lossless"},
      {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"},
      {"1.2.840.10008.1.2.6.1", "RFC 2557 MIME Encapsulation"},
      {"1.2.840.10008.1.2.6.2", "XML Encoding"},
  }};
  for (const auto& [u, name] : kNames)
    if (uid == u) return name;
  return "unknown";
}

}  // namespace taskfp::dicom
