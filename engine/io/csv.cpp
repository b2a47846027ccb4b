// CSV parsing and the paper's matrix format.
#include "io/csv.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
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

LabeledMatrix read_matrix_csv(const std::string& path) {
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
      auto text = trim(row[c]);
      double v;
      if (text.empty() || text == "nan" || text == "NaN") {
        v = std::nan("");
      } else if (text == "inf") {
        v = INFINITY;
      } else if (text == "-inf") {
        v = -INFINITY;
      } else {
        auto parsed = parse_number<double>(text);
        require(parsed.has_value(), "'{}' line {}, column '{}': '{}' is not a number", path, r + 1,
                header[c], text);
        v = *parsed;
      }
      m.values(r - 1, c - 1) = v;
    }
  }
  return m;
}

void write_matrix_csv(const std::string& path, const LabeledMatrix& m) {
  const std::string tmp = path + fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    require(out.good(), "cannot write '{}': check that the folder exists and is writable", path);
    for (const auto& c : m.col_names) out << ',' << csv_field(c);
    out << '\n';
    for (std::size_t r = 0; r < m.values.rows; ++r) {
      out << csv_field(m.row_names[r]);
      for (std::size_t c = 0; c < m.values.cols; ++c) out << ',' << csv_number(m.values(r, c));
      out << '\n';
    }
    out.flush();
    if (!out.good()) {
      std::remove(tmp.c_str());
      throw InputError(fmt::format("failed writing '{}' (disk full?)", path));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  require(!ec, "cannot move '{}' into place: {}", path, ec.message());
}

}  // namespace taskfp
