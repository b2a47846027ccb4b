// .npy reader: parses the header dictionary, then reads the raw little-endian payload.
#include "io/npy.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include "core/error.hpp"
#include "core/text.hpp"

namespace taskfp {

Matrix<float> read_npy_matrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open '{}': check the path and permissions", path);
  char magic[8];
  in.read(magic, 8);
  require(in.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0,
          "'{}' is not a NumPy .npy file (bad magic bytes)", path);
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  require(in.good() && header_len < (1u << 20), "'{}': truncated .npy header", path);
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  require(in.gcount() == header_len, "'{}': truncated .npy header", path);

  std::smatch m;
  require(std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")),
          "'{}': .npy header has no dtype", path);
  const std::string descr = m[1];
  require(descr == "<f4" || descr == "<f8" || descr == "=f4" || descr == "=f8",
          "'{}' holds dtype '{}'; features must be float32 ('<f4') or float64 ('<f8')", path, descr);
  const bool is_f64 = descr.back() == '8';
  require(std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")),
          "'{}': .npy header has no fortran_order", path);
  const bool fortran = m[1] == "True";
  require(std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")),
          "'{}': .npy header has no shape", path);
  std::vector<std::size_t> shape;
  for (const auto& part : split(std::string(m[1]), ',')) {
    auto t = trim(part);
    if (t.empty()) continue;
    auto v = parse_number<std::size_t>(t);
    require(v.has_value(), "'{}': bad shape entry '{}'", path, t);
    shape.push_back(*v);
  }
  require(shape.size() == 2, "'{}' has rank {}; features must be a 2-D array (samples x features)",
          path, shape.size());

  const std::size_t n = shape[0], d = shape[1], count = n * d;
  const std::size_t width = is_f64 ? 8 : 4;
  const auto truncated = [&](std::size_t got) {
    return InputError(fmt::format(
        "'{}' is truncated: expected {} x {} values ({} bytes of data), got {} bytes", path, n, d,
        count * width, got));
  };
  auto out = Matrix<float>::uninitialized(n, d);
  if (!is_f64 && !fortran) {  // the common case: the payload is the matrix
    in.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(count * 4));
    if (static_cast<std::size_t>(in.gcount()) != count * 4)
      throw truncated(static_cast<std::size_t>(in.gcount()));
    return out;
  }
  // Otherwise converted in pieces of whole rows (C order) or whole columns (Fortran order).
  const std::size_t line = fortran ? n : d, lines = fortran ? d : n;
  const std::size_t per_piece = std::max<std::size_t>(1, (std::size_t{4} << 20) / std::max<std::size_t>(1, line * width));
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
