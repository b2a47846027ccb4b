// .npy import: every dtype and byte order numpy writes, read as numpy's astype(np.float32) reads
// them (tests/fixtures/io_formats, written by numpy), the refused dtypes, and what the import
// records. Header and size checks: tests/test_stores.cpp (NpyImport.*).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/npy.hpp"
#include "io_format_fixtures.hpp"
#include "store/features_store.hpp"
#include "test_util.hpp"

namespace taskfp {
namespace {

namespace fs = std::filesystem;


template <typename T>
std::string bytes_of(const std::vector<T>& values, bool big_endian) {
  std::string out;
  for (const T& v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if (big_endian != (std::endian::native == std::endian::big)) std::reverse(b, b + sizeof(T));
    out.append(b, sizeof(T));
  }
  return out;
}

TEST(Npy, EveryDtypeAndByteOrderReadsAsNumpyAstypeFloat32) {
  const auto records = test::io_fixture_records();
  std::size_t files = 0;
  for (const auto& r : records) {
    if (r.front() != "npy") continue;
    ++files;
    const auto& file = r[1];
    const auto npy = read_npy(test::io_fixture(file));
    EXPECT_EQ(npy.dtype, r[2]) << file;
    ASSERT_EQ(npy.values.rows, std::stoul(r[4])) << file;
    ASSERT_EQ(npy.values.cols, std::stoul(r[5])) << file;
    ASSERT_EQ(r.size(), 6 + npy.values.data.size()) << file;
    for (std::size_t k = 0; k < npy.values.data.size(); ++k) {
      const float expected = test::hex_f32(r[6 + k]);
      EXPECT_EQ(std::bit_cast<std::uint32_t>(npy.values.data[k]),
                std::bit_cast<std::uint32_t>(expected))
          << file << " value " << k << ": " << npy.values.data[k] << " instead of " << expected;
    }
  }
  // float16/32/64 in both byte orders, 8-bit integers, 16/32/64-bit integers in both byte
  // orders; C and Fortran order each.
  EXPECT_EQ(files, 2u * (3 * 2 + 2 + 6 * 2));
}

TEST(Npy, DtypesWithoutAFloat32ValueAreRefusedNamingFileAndDtype) {
  std::size_t files = 0;
  for (const auto& r : test::io_fixture_records()) {
    if (r.front() != "npy-refused") continue;
    ++files;
    try {
      read_npy(test::io_fixture(r[1]));
      ADD_FAILURE() << r[1] << " was accepted";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(r[1]), std::string::npos) << msg;
      EXPECT_NE(msg.find("'" + r[2] + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(files, 6u);  // bool, complex, unicode, bytes, datetime, long double
}

// Every one of the 65536 float16 bit patterns, in both byte orders, against the compiler's own
// conversion (GCC and Clang have _Float16 on x86-64 and AArch64).
TEST(Npy, EveryFloat16ConvertsExactly) {
#ifndef __FLT16_MAX__
  GTEST_SKIP() << "this compiler has no _Float16 to compare with";
#else
  test::TempDir dir;
  std::vector<std::uint16_t> bits(65536);
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<std::uint16_t>(i);
  for (const bool big : {false, true}) {
    test::write_npy_raw(dir.file("h.npy"),
                  fmt::format("{{'descr': '{}f2', 'fortran_order': False, 'shape': (256, 256), }}",
                              big ? '>' : '<'),
                  bytes_of(bits, big));
    const auto m = read_npy_matrix(dir.file("h.npy"));
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < bits.size(); ++i) {
      const float expected = static_cast<float>(std::bit_cast<_Float16>(bits[i]));
      const float got = m.data[i];
      wrong += std::isnan(expected)
                   ? !std::isnan(got)
                   : std::bit_cast<std::uint32_t>(got) != std::bit_cast<std::uint32_t>(expected);
    }
    EXPECT_EQ(wrong, 0u) << (big ? "big-endian" : "little-endian");
  }
#endif
}

// Non-finite values: NaN and infinities in a file are read as they are and refused by the import
// naming the task (as for float32 files); a finite float64 that float32 cannot hold is refused by
// the reader, naming sample and feature.
TEST(Npy, NonFiniteValuesAreRefused) {
  test::TempDir dir;
  test::write_npy_raw(dir.file("big.npy"), "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }",
                bytes_of(std::vector<double>{1.0, 2.0, 3.0, 1e39}, true));
  try {
    read_npy(dir.file("big.npy"));
    ADD_FAILURE() << "1e39 was read as float32";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("big.npy': sample 1, feature 1 is 1e+39"), std::string::npos) << msg;
  }
  for (const auto& [descr, payload] :
       {std::pair{std::string("<f2"),
                  bytes_of(std::vector<std::uint16_t>{0x3c00, 0x7e00, 0x3c00, 0x4000}, false)},
        {std::string(">f4"), bytes_of(std::vector<float>{1.0f, INFINITY, 1.0f, 2.0f}, true)},
        {std::string("<f8"), bytes_of(std::vector<double>{1.0, -INFINITY, 1.0, 2.0}, false)}}) {
    fs::create_directories(dir.path() / "set" / "task_a");
    test::write_npy_raw((dir.path() / "set" / "task_a" / "features_0001.npy").string(),
                  "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2, 2), }", payload);
    const auto m = read_npy_matrix((dir.path() / "set" / "task_a" / "features_0001.npy").string());
    EXPECT_FALSE(std::isfinite(m(0, 1))) << descr;
    try {
      import_npy_folder((dir.path() / "set").string());
      ADD_FAILURE() << descr << ": a non-finite value was imported";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("task 'task_a' has a non-finite value"), std::string::npos) << msg;
      EXPECT_NE(msg.find("sample 0, feature 1"), std::string::npos) << msg;
    }
  }
}

// The header checks hold for every width: the byte count is the shape times the dtype's size.
TEST(Npy, SizesAreCheckedForEveryWidth) {
  test::TempDir dir;
  const std::string eight(8, '\0');
  for (const auto& [header, words] : std::vector<std::pair<std::string, std::string>>{
           {"{'descr': '|u1', 'fortran_order': False, 'shape': (3, 3), }", "truncated"},
           {"{'descr': '>i2', 'fortran_order': True, 'shape': (1, 2), }", "after"},
           {"{'descr': '<f2', 'fortran_order': False, 'shape': (5, 1), }", "truncated"},
           {"{'descr': '>u8', 'fortran_order': False, 'shape': (2305843009213693952, 2), }",
            "too large"},
           {"{'descr': '<i8', 'fortran_order': False, 'shape': (1000000, 1000000), }", "truncated"},
       }) {
    test::write_npy_raw(dir.file("s.npy"), header, eight);
    try {
      read_npy(dir.file("s.npy"));
      ADD_FAILURE() << header << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << header << ": " << e.what();
    }
  }
  // The same 8 bytes as exactly what the header says: 8 x 1 uint8, 2 x 2 int16, 1 x 1 float64.
  for (const auto& header : {"{'descr': '|u1', 'fortran_order': False, 'shape': (8, 1), }",
                             "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }",
                             "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }"}) {
    test::write_npy_raw(dir.file("s.npy"), header, eight);
    EXPECT_NO_THROW(read_npy(dir.file("s.npy"))) << header;
  }
}

TEST(Npy, ImportRecordsTheSourceDtypesInTheProvenance) {
  test::TempDir dir;
  const auto put = [&](const std::string& task, const std::string& fixture) {
    fs::create_directories(dir.path() / task);
    fs::copy_file(test::io_fixture(fixture), dir.path() / task / "features_0001.npy");
  };
  put("a", "npy/f8-be-F.npy");
  put("b", "npy/f8-be-C.npy");
  auto set = import_npy_folder(dir.path().string());
  EXPECT_EQ(set.provenance.origin, "npy import from " + dir.path().string() + "; npy dtype '>f8'");
  put("c", "npy/i2-le-C.npy");
  put("d", "npy/u1-na-F.npy");
  set = import_npy_folder(dir.path().string());
  EXPECT_EQ(set.provenance.origin, "npy import from " + dir.path().string() +
                                       "; npy dtypes '<i2' (c), '>f8' (a, b), '|u1' (d)");
  // The values are the files' as numpy converts them (Fortran and C order alike).
  EXPECT_EQ(set.at("a").values.data, read_npy_matrix(test::io_fixture("npy/f8-be-C.npy")).data);
}

}  // namespace
}  // namespace taskfp
