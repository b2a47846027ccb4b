// The records of tests/fixtures/io_formats/expected.txt: what numpy and pandas read from the .npy
// and CSV files beside it (written by tests/fixtures/make_io_format_fixtures.py, whose header
// describes the format).
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace taskfp::test {

inline std::string io_fixture(const std::string& relative) {
  return std::string(TASKFP_FIXTURES) + "/io_formats/" + relative;
}

/// Every record of expected.txt as its whitespace-separated tokens, comments left out.
inline std::vector<std::vector<std::string>> io_fixture_records() {
  std::ifstream in(io_fixture("expected.txt"));
  EXPECT_TRUE(in.good()) << "missing " << io_fixture("expected.txt");
  std::vector<std::vector<std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string w; words >> w;) tokens.push_back(w);
    out.push_back(std::move(tokens));
  }
  return out;
}

/// The records after a header record `first` (exclusive) up to the next header: the header's
/// sub-records, by their first token.
inline std::vector<std::string> io_fixture_field(
    const std::vector<std::vector<std::string>>& records, std::size_t first,
    const std::string& key) {
  for (std::size_t i = first + 1; i < records.size(); ++i) {
    if (records[i].front() == key) return {records[i].begin() + 1, records[i].end()};
  }
  ADD_FAILURE() << "no '" << key << "' after record " << first;
  return {};
}

inline std::uint64_t from_hex(const std::string& hex) {
  return std::stoull(hex, nullptr, 16);
}

inline float hex_f32(const std::string& hex) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(from_hex(hex)));
}

inline double hex_f64(const std::string& text) {
  if (text == "nan") return std::nan("");
  if (text == "inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  return std::bit_cast<double>(from_hex(text));
}

inline std::string hex_name(const std::string& hex) {
  if (hex == "-") return "";
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::vector<std::string> hex_names(const std::vector<std::string>& hex) {
  std::vector<std::string> out;
  for (const auto& h : hex) out.push_back(hex_name(h));
  return out;
}

/// Equal as bits (so -0 differs from 0), or both NaN.
inline ::testing::AssertionResult same_double(double got, double expected) {
  if ((std::isnan(got) && std::isnan(expected)) ||
      std::bit_cast<std::uint64_t>(got) == std::bit_cast<std::uint64_t>(expected))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << std::hexfloat << got << " instead of " << expected;
}

}  // namespace taskfp::test
