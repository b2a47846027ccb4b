// .npy reader: parses the header dictionary, then reads the payload, converting numpy's numeric
// dtypes of either byte order to float32 (the type features have throughout taskfp).
#include "io/npy.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"

namespace taskfp {

namespace {

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape':
// (3, 2), }, padded with spaces and ended by a newline. It is parsed by its grammar, not searched
// with patterns, so that every field is checked: exactly the three keys numpy writes (numpy's own
// reader refuses others), a string, True/False, and a tuple of non-negative decimal integers.
struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<std::size_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted("a key");
      skip_space();
      expect(':');
      skip_space();
      const auto once = [&](bool& seen) {
        require(!seen, "'{}': the .npy header names '{}' twice", path_, key);
        seen = true;
      };
      if (key == "descr") {
        once(seen_descr);
        require(peek() == '\'' || peek() == '"',
                "'{}': the .npy header's 'descr' is not a plain dtype string (a structured "
                "array?); features must be one array of floats or integers",
                path_);
        h.descr = quoted("the dtype");
      } else if (key == "fortran_order") {
        once(seen_order);
        if (take_word("True"))
          h.fortran = true;
        else if (take_word("False"))
          h.fortran = false;
        else
          fail("'fortran_order' must be True or False");
      } else if (key == "shape") {
        once(seen_shape);
        h.shape = shape();
      } else {
        fail(
            fmt::format("unknown key '{}' (a .npy header has exactly 'descr', 'fortran_order' "
                        "and 'shape')",
                        key));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' after a value");
    }
    ++pos_;
    skip_space();  // numpy pads with spaces up to a newline
    if (pos_ != text_.size()) fail("text after the closing '}'");
    require(seen_descr, "'{}': the .npy header has no 'descr' (dtype)", path_);
    require(seen_order, "'{}': the .npy header has no 'fortran_order'", path_);
    require(seen_shape, "'{}': the .npy header has no 'shape'", path_);
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(
        fmt::format("'{}': malformed .npy header ({}, at character {}): the file is "
                    "corrupt or not written by numpy.save",
                    path_, why, pos_));
  }
  [[nodiscard]] char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  bool take_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::string quoted(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail(fmt::format("expected {} in quotes", what));
    const auto end = text_.find(q, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  // A tuple of entries of decimal digits only: no sign, no suffix, no other base.
  std::vector<std::size_t> shape() {
    require(peek() == '(', "'{}': the .npy header's 'shape' is not a tuple such as (3, 2)", path_);
    ++pos_;
    std::vector<std::size_t> out;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      const std::size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      const auto digits = text_.substr(start, pos_ - start);
      std::size_t value = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      const bool number =
          !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
      skip_space();
      require(number && (peek() == ',' || peek() == ')'),
              "'{}': the .npy header's shape has an entry that is not a size (decimal digits "
              "below 2^64) at character {}",
              path_, start);
      out.push_back(value);
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return out;
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

// The element types taskfp converts: floats of 2, 4 and 8 bytes and integers of 1 to 8 bytes,
// little- or big-endian.
struct NpyDtype {
  char kind = 'f';  // 'f', 'i' or 'u'
  std::size_t width = 4;
  bool swap = false;  // stored in the other byte order than this machine's
};

// A descr as numpy writes it: a byte-order character ('<', '>', '|' not applicable, '=' native),
// a kind and a width in bytes. Everything else is refused, saying why.
NpyDtype parse_dtype(const std::string& path, const std::string& descr) {
  const auto refuse = [&](std::string_view why) {
    return InputError(fmt::format(
        "'{}' holds dtype '{}': {}; taskfp imports floats (float16, float32, float64) and "
        "integers (8 to 64 bit, signed or unsigned) of either byte order, as float32",
        path, descr, why));
  };
  if (descr.size() < 2 || std::string_view("<>|=").find(descr[0]) == std::string_view::npos)
    throw refuse("not a dtype numpy.save writes (a byte order '<', '>' or '|', a kind, a size)");
  const char kind = descr[1];
  std::size_t width = 0;
  const auto digits = std::string_view(descr).substr(2);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), width);
  const bool sized = !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
  switch (kind) {
    case 'b':
      throw refuse("booleans (a mask?) are not features; if they are, save a.astype('<f4')");
    case 'c':
      throw refuse("complex numbers have no float32 value; save a.real or np.abs(a)");
    case 'O':
      throw refuse("Python objects (an array of arrays or mixed types?) are not numbers");
    case 'U':
    case 'S':
    case 'a':
      throw refuse("text is not numbers");
    case 'V':
      throw refuse("raw bytes (void) are not numbers");
    case 'M':
    case 'm':
      throw refuse("dates and time spans are not features");
    case 'f':
      if (sized && (width == 2 || width == 4 || width == 8)) break;
      throw refuse("taskfp reads floats of 2, 4 or 8 bytes (long double is not portable)");
    case 'i':
    case 'u':
      if (sized && (width == 1 || width == 2 || width == 4 || width == 8)) break;
      throw refuse("integers have 1, 2, 4 or 8 bytes");
    default:
      throw refuse("an unknown kind of values");
  }
  const bool big = descr[0] == '>';
  const bool little = descr[0] == '<';
  const bool native_big = std::endian::native == std::endian::big;
  return {kind, width, width > 1 && ((big && !native_big) || (little && native_big))};
}

// IEEE binary16 to binary32: exact (every half is a float).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa x 2^-24, exact in float32.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

// A float16 as its bits (C++20 has no half type).
struct Float16 {
  std::uint16_t bits;
};

template <typename T, bool Swap>
T load(const char* src) {
  char bytes[sizeof(T)];
  if constexpr (Swap)
    std::reverse_copy(src, src + sizeof(T), bytes);
  else
    std::memcpy(bytes, src, sizeof(T));
  return std::bit_cast<T>(bytes);
}

// Converts `count` consecutive elements at `src` to float32, rounded to nearest as numpy's
// astype(np.float32) rounds (float64 beyond float32's range becomes infinite: checked by the
// caller).
template <typename T, bool Swap>
void convert_elements(const char* src, std::size_t count, float* dst) {
  for (std::size_t k = 0; k < count; ++k, src += sizeof(T)) {
    if constexpr (std::is_same_v<T, Float16>)
      dst[k] = half_to_float(load<Float16, Swap>(src).bits);
    else
      dst[k] = static_cast<float>(load<T, Swap>(src));
  }
}

using ElementsConverter = void (*)(const char*, std::size_t, float*);

template <typename T>
ElementsConverter converter(bool swap) {
  return swap ? &convert_elements<T, true> : &convert_elements<T, false>;
}

ElementsConverter converter_for(const NpyDtype& t) {
  if (t.kind == 'f') {
    if (t.width == 2) return converter<Float16>(t.swap);
    if (t.width == 4) return converter<float>(t.swap);
    return converter<double>(t.swap);
  }
  if (t.kind == 'i') {
    if (t.width == 1) return converter<std::int8_t>(false);
    if (t.width == 2) return converter<std::int16_t>(t.swap);
    if (t.width == 4) return converter<std::int32_t>(t.swap);
    return converter<std::int64_t>(t.swap);
  }
  if (t.width == 1) return converter<std::uint8_t>(false);
  if (t.width == 2) return converter<std::uint16_t>(t.swap);
  if (t.width == 4) return converter<std::uint32_t>(t.swap);
  return converter<std::uint64_t>(t.swap);
}

}  // namespace

NpyMatrix read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open '{}': check the path and permissions", path);
  char magic[8];
  in.read(magic, 8);
  require(in.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0,
          "'{}' is not a NumPy .npy file (bad magic bytes)", path);
  const int major = static_cast<unsigned char>(magic[6]);
  require(major >= 1 && major <= 3,
          "'{}' is a .npy file of format version {}.{}; taskfp reads versions 1 to 3", path, major,
          static_cast<unsigned char>(magic[7]));
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2] = {};
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4] = {};
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  require(in.good() && header_len < (1u << 20), "'{}': truncated .npy header", path);
  std::string text(header_len, '\0');
  in.read(text.data(), header_len);
  require(in.gcount() == header_len, "'{}': truncated .npy header", path);
  const NpyHeader header = HeaderParser(path, text).parse();

  const NpyDtype dtype = parse_dtype(path, header.descr);
  const bool fortran = header.fortran;
  const auto& shape = header.shape;
  require(shape.size() == 2, "'{}' has rank {}; features must be a 2-D array (samples x features)",
          path, shape.size());
  const std::size_t n = shape[0], d = shape[1];
  require(d > 0, "'{}' holds {} x 0 values: no features per sample", path, n);
  const std::size_t width = dtype.width;
  // Checked before anything is allocated: the counts must not wrap around, and the data must be
  // in the file (so a header cannot make taskfp allocate more than the file's size).
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  require(n <= max / d && n * d <= max / width,
          "'{}': the .npy header's shape ({} x {}) is too large for any file: the header is "
          "corrupt",
          path, n, d);
  const std::size_t count = n * d, bytes = count * width;
  const std::streamoff data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const std::streamoff file_end = in.tellg();
  require(data_start >= 0 && file_end >= data_start, "'{}': cannot determine the file's size",
          path);
  in.seekg(data_start);
  const auto held = static_cast<std::size_t>(file_end - data_start);
  require(held >= bytes,
          "'{}' is truncated: its header says {} x {} values ({} bytes of data), the file holds {} "
          "bytes after the header",
          path, n, d, bytes, held);
  // numpy.save writes exactly the array; more bytes mean a header whose shape does not describe
  // the data (or several arrays in one file), so they are refused rather than ignored.
  require(held == bytes,
          "'{}' has {} bytes after the {} x {} array its header describes: the header's shape "
          "does not match the data (taskfp reads one array per .npy file)",
          path, held - bytes, n, d);

  const auto truncated = [&](std::size_t got) {
    return InputError(
        fmt::format("'{}' is truncated: expected {} x {} values ({} bytes of data), got {} bytes",
                    path, n, d, bytes, got));
  };
  NpyMatrix result{Matrix<float>::uninitialized(n, d), header.descr};
  auto& out = result.values;
  if (count == 0) return result;
  const bool native_f4 = dtype.kind == 'f' && dtype.width == 4 && !dtype.swap;
  if (native_f4 && !fortran) {  // the common case: the payload is the matrix
    in.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(bytes));
    if (static_cast<std::size_t>(in.gcount()) != bytes)
      throw truncated(static_cast<std::size_t>(in.gcount()));
    return result;
  }
  // Otherwise converted in pieces of whole rows (C order) or whole columns (Fortran order).
  const ElementsConverter convert = converter_for(dtype);
  const bool may_overflow = dtype.kind == 'f' && dtype.width == 8;
  const std::size_t line = fortran ? n : d, lines = fortran ? d : n;
  const std::size_t per_piece = std::max<std::size_t>(1, (std::size_t{4} << 20) / (line * width));
  std::vector<char> raw(std::min(lines, per_piece) * line * width);
  std::vector<float> converted(std::min(lines, per_piece) * line);
  std::size_t got = 0;
  for (std::size_t l0 = 0; l0 < lines; l0 += per_piece) {
    const std::size_t l1 = std::min(lines, l0 + per_piece), k_count = (l1 - l0) * line;
    in.read(raw.data(), static_cast<std::streamsize>(k_count * width));
    got += static_cast<std::size_t>(in.gcount());
    if (static_cast<std::size_t>(in.gcount()) != k_count * width) throw truncated(got);
    convert(raw.data(), k_count, converted.data());
    for (std::size_t l = l0, k = 0; l < l1; ++l)
      for (std::size_t j = 0; j < line; ++j, ++k) {
        // Fortran order stores column after column.
        const std::size_t r = fortran ? j : l, c = fortran ? l : j;
        // A finite float64 that float32 cannot hold reads as infinite: said as such (NaN and
        // infinities in the file are refused later, naming the task).
        if (may_overflow && std::isinf(converted[k])) {
          const char* src = raw.data() + k * 8;
          const double x = dtype.swap ? load<double, true>(src) : load<double, false>(src);
          require(!std::isfinite(x),
                  "'{}': sample {}, feature {} is {:g}, beyond float32's range (3.4e38); "
                  "features are float32: rescale them",
                  path, r, c, x);
        }
        out(r, c) = converted[k];
      }
  }
  return result;
}

Matrix<float> read_npy_matrix(const std::string& path) {
  return read_npy(path).values;
}

void write_npy_matrix(const std::string& path, const Matrix<float>& m) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                     std::to_string(m.rows) + ", " + std::to_string(m.cols) + "), }";
  std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  require(out.good(), "cannot write '{}'", path);
  out.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(dict.size());
  const unsigned char b[2] = {static_cast<unsigned char>(len & 0xff),
                              static_cast<unsigned char>(len >> 8)};
  out.write(reinterpret_cast<const char*>(b), 2);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  out.write(reinterpret_cast<const char*>(m.data.data()),
            static_cast<std::streamsize>(m.data.size() * sizeof(float)));
  require(out.good(), "failed writing '{}'", path);
}

}  // namespace taskfp
