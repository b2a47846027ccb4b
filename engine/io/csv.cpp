// CSV parsing and the paper's matrix format.
#include "io/csv.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/output_files.hpp"

namespace taskfp {

std::vector<CsvRow> parse_csv(const std::string& text, const std::string& where) {
  // UTF-16 (Excel's "Unicode text", PowerShell's default) would read as fields of NUL bytes.
  require(!(text.size() >= 2 &&
            ((text[0] == '\xff' && text[1] == '\xfe') || (text[0] == '\xfe' && text[1] == '\xff'))),
          "{} is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8", where);
  // pandas' to_csv(encoding='utf-8-sig') and Excel's "CSV UTF-8" start with a byte-order mark;
  // left in, it would become part of the first column's name.
  const std::size_t first = text.compare(0, 3, "\xef\xbb\xbf") == 0 ? 3 : 0;
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  std::size_t line = 1;
  bool in_quotes = false, field_started = false;
  const auto end_record = [&] {
    if (field_started || !field.empty() || !row.fields.empty()) {
      row.fields.push_back(std::move(field));
      rows.push_back(std::move(row));
    }
    row = CsvRow{};
    field.clear();
    field_started = false;
  };
  for (std::size_t i = first; i < text.size(); ++i) {
    const char c = text[i];
    // LF, CRLF and a lone CR each end one line, inside quotes too (for the line numbers).
    const bool line_break =
        c == '\n' || (c == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'));
    if (row.fields.empty() && !field_started && field.empty()) row.line = line;
    if (line_break) ++line;
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
      row.fields.push_back(std::move(field));
      field.clear();
      field_started = true;
    } else if (c == '\r' && !line_break) {
      // the CR of a CRLF: the LF ends the record
    } else if (line_break) {
      end_record();
    } else {
      field += c;
      field_started = true;
    }
  }
  require(!in_quotes, "{} line {}: a quoted field is not closed (a '\"' is missing)", where,
          row.line);
  end_record();
  return rows;
}

std::vector<CsvRow> read_csv_file(const std::string& path) {
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

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A correctly rounded double; numbers beyond double's range become +-inf or +-0 as Python's
// float() and pandas' round_trip parser make them (from_chars reports them as out of range).
std::optional<double> exact_double(std::string_view text) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ptr != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc()) return value;
  if (ec != std::errc::result_out_of_range) return std::nullopt;
  // The syntax was right; strtod (correctly rounded in glibc, "C" locale in taskfp) gives the
  // overflowed or underflowed value.
  const std::string copy(text);
  return std::strtod(copy.c_str(), nullptr);
}

}  // namespace

std::optional<double> parse_csv_double(std::string_view raw, FloatParser parser) {
  auto text = trim(raw);
  if (text.empty() || text == "NA") return std::nan("");
  const bool negative = text.front() == '-';
  const auto unsigned_text = text.front() == '-' || text.front() == '+' ? text.substr(1) : text;
  if (equals_ignoring_case(unsigned_text, "nan")) return std::nan("");
  if (equals_ignoring_case(unsigned_text, "inf") || equals_ignoring_case(unsigned_text, "infinity"))
    return negative ? -INFINITY : INFINITY;
  if (parser == FloatParser::PandasDefault) return pandas_xstrtod(text);
  // from_chars refuses a leading '+' (pandas and Python accept it), and accepts words the
  // spellings above do not ("nan(1)"): past the sign, a number starts with a digit or '.'.
  if (text.front() == '+') {
    if (unsigned_text.empty() || unsigned_text.front() == '-' || unsigned_text.front() == '+')
      return std::nullopt;
    text = unsigned_text;
  }
  const auto body = text.front() == '-' ? text.substr(1) : text;
  if (body.empty() || std::isalpha(static_cast<unsigned char>(body.front()))) return std::nullopt;
  return exact_double(text);
}

std::string csv_shown(std::string_view field) {
  constexpr std::size_t kShown = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < field.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  out += '\'';
  if (field.size() > kShown)
    out += fmt::format(" (first {} of {} characters)", kShown, field.size());
  return out;
}

std::string csv_location(const std::string& path, const CsvRow& row, std::size_t col,
                         std::string_view column_name) {
  return fmt::format("'{}' line {}, column {} ({})", path, row.line, col + 1,
                     csv_shown(column_name));
}

double csv_number_field(const std::string& path, const CsvRow& row, std::size_t col,
                        std::string_view column_name, const CsvNumberRule& rule) {
  const std::string& field = row.fields.at(col);
  const auto value = parse_csv_double(field, rule.parser);
  const auto refuse = [&](std::string_view what) {
    return InputError(fmt::format("{}: {} is {}{}{}", csv_location(path, row, col, column_name),
                                  csv_shown(field), what, rule.refusal_hint.empty() ? "" : "; ",
                                  rule.refusal_hint));
  };
  if (!value)
    throw refuse(
        "not a number (numbers, or for missing values an empty field, NA or NaN, and for "
        "infinite ones inf or -inf)");
  if (std::isnan(*value) && !rule.missing_ok) throw refuse("a missing value, refused here");
  if (std::isinf(*value) && !rule.infinite_ok) throw refuse("infinite, refused here");
  return *value;
}

LabeledMatrix read_matrix_csv(const std::string& path, FloatParser parser) {
  auto rows = read_csv_file(path);
  require(rows.size() >= 2, "'{}' has no data rows; expected a distance matrix CSV "
          "(first column source names, header row target names)", path);
  LabeledMatrix m;
  const auto& header = rows.front().fields;
  require(header.size() >= 2, "'{}': the header has no target names", path);
  m.col_names.assign(header.begin() + 1, header.end());
  m.values = Matrix<double>(rows.size() - 1, m.col_names.size());
  std::set<std::string> seen_cols(m.col_names.begin(), m.col_names.end());
  require(seen_cols.size() == m.col_names.size(), "'{}': duplicate column names", path);
  std::set<std::string> seen_rows;
  const CsvNumberRule rule{
      .missing_ok = true, .infinite_ok = true, .parser = parser, .refusal_hint = {}};
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    require(row.fields.size() == header.size(), "'{}' line {}: {} fields, the header has {}", path,
            row.line, row.fields.size(), header.size());
    m.row_names.push_back(row.fields.front());
    require(seen_rows.insert(row.fields.front()).second, "'{}' line {}: row {} appears twice", path,
            row.line, csv_shown(row.fields.front()));
    for (std::size_t c = 1; c < row.fields.size(); ++c)
      m.values(r - 1, c - 1) = csv_number_field(path, row, c, header[c], rule);
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
