// .npy reader: parses the header dictionary, then reads the raw little-endian payload.
#include "io/npy.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
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
                "array?); features must be float32 ('<f4') or float64 ('<f8')",
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

}  // namespace

Matrix<float> read_npy_matrix(const std::string& path) {
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

  const std::string& descr = header.descr;
  require(descr.size() != 3 || descr[0] != '>' || descr[1] != 'f',
          "'{}' holds big-endian floats ('{}'); taskfp reads little-endian float32 ('<f4') or "
          "float64 ('<f8'): save the array as a.astype('<f4')",
          path, descr);
  require(descr == "<f4" || descr == "<f8" || descr == "=f4" || descr == "=f8",
          "'{}' holds dtype '{}'; features must be float32 ('<f4') or float64 ('<f8')", path, descr);
  const bool is_f64 = descr.back() == '8';
  const bool fortran = header.fortran;
  const auto& shape = header.shape;
  require(shape.size() == 2, "'{}' has rank {}; features must be a 2-D array (samples x features)",
          path, shape.size());
  const std::size_t n = shape[0], d = shape[1];
  require(d > 0, "'{}' holds {} x 0 values: no features per sample", path, n);
  const std::size_t width = is_f64 ? 8 : 4;
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
  auto out = Matrix<float>::uninitialized(n, d);
  if (count == 0) return out;
  if (!is_f64 && !fortran) {  // the common case: the payload is the matrix
    in.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(bytes));
    if (static_cast<std::size_t>(in.gcount()) != bytes)
      throw truncated(static_cast<std::size_t>(in.gcount()));
    return out;
  }
  // Otherwise converted in pieces of whole rows (C order) or whole columns (Fortran order).
  const std::size_t line = fortran ? n : d, lines = fortran ? d : n;
  const std::size_t per_piece = std::max<std::size_t>(1, (std::size_t{4} << 20) / (line * width));
  std::vector<char> raw(std::min(lines, per_piece) * line * width);
  std::size_t got = 0;
  for (std::size_t l0 = 0; l0 < lines; l0 += per_piece) {
    const std::size_t l1 = std::min(lines, l0 + per_piece), k_count = (l1 - l0) * line;
    in.read(raw.data(), static_cast<std::streamsize>(k_count * width));
    got += static_cast<std::size_t>(in.gcount());
    if (static_cast<std::size_t>(in.gcount()) != k_count * width) throw truncated(got);
    for (std::size_t l = l0; l < l1; ++l)
      for (std::size_t j = 0; j < line; ++j) {
        const char* src = raw.data() + ((l - l0) * line + j) * width;
        float v;
        if (is_f64) {
          double x;
          std::memcpy(&x, src, 8);
          v = static_cast<float>(x);
        } else {
          std::memcpy(&v, src, 4);
        }
        // Fortran order stores column after column.
        if (fortran) out(j, l) = v;
        else out(l, j) = v;
      }
  }
  return out;
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
