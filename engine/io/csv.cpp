// CSV parsing and the paper's matrix format.
#include "io/csv.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/output_files.hpp"
#include "core/text.hpp"

namespace taskfp {

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& where) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false, field_started = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (field_started || !field.empty() || !row.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  require(!in_quotes, "{}: unterminated quoted field", where);
  if (field_started || !field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::vector<std::string>> read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read '{}': check the path", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str(), "'" + path + "'");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.17g}", v);
}

std::optional<double> pandas_xstrtod(std::string_view text) {
  // pandas/_libs/src/parser/tokenizer.c, precise_xstrtod: up to 17 significant digits are
  // accumulated in a double, then scaled by a tabulated power of ten.
  static const std::vector<double> e = [] {
    std::vector<double> t(309);
    for (int i = 0; i <= 308; ++i) t[static_cast<std::size_t>(i)] = std::stod("1e" + std::to_string(i));
    return t;
  }();
  const char* p = text.data();
  const char* end = text.data() + text.size();
  auto digit = [&](const char* q) { return q < end && *q >= '0' && *q <= '9'; };
  while (p < end && std::isspace(static_cast<unsigned char>(*p))) ++p;
  bool negative = false;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  const int max_digits = 17;
  double number = 0.;
  int exponent = 0, num_digits = 0, num_decimals = 0;
  while (digit(p)) {
    if (num_digits < max_digits) {
      number = number * 10. + (*p - '0');
      ++num_digits;
    } else {
      ++exponent;
    }
    ++p;
  }
  if (p < end && *p == '.') {
    ++p;
    while (num_digits < max_digits && digit(p)) {
      number = number * 10. + (*p - '0');
      ++p;
      ++num_digits;
      ++num_decimals;
    }
    if (num_digits >= max_digits)
      while (digit(p)) ++p;
    exponent -= num_decimals;
  }
  if (num_digits == 0) return std::nullopt;
  if (negative) number = -number;
  if (p < end && (*p == 'e' || *p == 'E')) {
    const char* mark = p;
    ++p;
    bool neg_exp = false;
    if (p < end && (*p == '-' || *p == '+')) neg_exp = *p++ == '-';
    int n = 0, exp_digits = 0;
    while (exp_digits < max_digits && digit(p)) {
      n = n * 10 + (*p - '0');
      ++exp_digits;
      ++p;
    }
    exponent += neg_exp ? -n : n;
    if (exp_digits == 0) p = mark;
  }
  if (exponent > 308) {
    number = negative ? -HUGE_VAL : HUGE_VAL;
  } else if (exponent > 0) {
    number *= e[static_cast<std::size_t>(exponent)];
  } else if (exponent < -308) {
    if (exponent < -616) {
      number = 0.;
    } else {
      number /= e[static_cast<std::size_t>(-308 - exponent)];
      number /= e[308];
    }
  } else {
    number /= e[static_cast<std::size_t>(-exponent)];
  }
  while (p < end && std::isspace(static_cast<unsigned char>(*p))) ++p;
  if (p != end) return std::nullopt;
  return number;
}

std::optional<double> parse_csv_double(std::string_view raw, FloatParser parser) {
  auto text = trim(raw);
  if (text.empty() || text == "nan" || text == "NaN") return std::nan("");
  if (text == "inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  if (parser == FloatParser::PandasDefault) return pandas_xstrtod(text);
  return parse_number<double>(text);
}

LabeledMatrix read_matrix_csv(const std::string& path, FloatParser parser) {
  auto rows = read_csv_file(path);
  require(rows.size() >= 2, "'{}' has no data rows; expected a distance matrix CSV "
          "(first column source names, header row target names)", path);
  LabeledMatrix m;
  const auto& header = rows.front();
  require(header.size() >= 2, "'{}': the header has no target names", path);
  m.col_names.assign(header.begin() + 1, header.end());
  m.values = Matrix<double>(rows.size() - 1, m.col_names.size());
  std::set<std::string> seen_cols(m.col_names.begin(), m.col_names.end());
  require(seen_cols.size() == m.col_names.size(), "'{}': duplicate column names", path);
  std::set<std::string> seen_rows;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    require(row.size() == header.size(), "'{}' line {}: {} fields, the header has {}", path, r + 1,
            row.size(), header.size());
    m.row_names.push_back(row.front());
    require(seen_rows.insert(row.front()).second, "'{}': row '{}' appears twice", path, row.front());
    for (std::size_t c = 1; c < row.size(); ++c) {
      auto v = parse_csv_double(row[c], parser);
      require(v.has_value(), "'{}' line {}, column '{}': '{}' is not a number", path, r + 1,
              header[c], row[c]);
      m.values(r - 1, c - 1) = *v;
    }
  }
  return m;
}

void write_matrix_csv(const std::string& path, const LabeledMatrix& m, OutputSet* set) {
  std::string text;
  for (const auto& c : m.col_names) text += ',' + csv_field(c);
  text += '\n';
  for (std::size_t r = 0; r < m.values.rows; ++r) {
    text += csv_field(m.row_names[r]);
    for (std::size_t c = 0; c < m.values.cols; ++c) text += ',' + csv_number(m.values(r, c));
    text += '\n';
  }
  write_text_file(path, text, set);
}

}  // namespace taskfp
