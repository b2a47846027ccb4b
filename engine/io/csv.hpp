// CSV in the paper's formats: RFC 4180 fields, and distance matrices as pandas writes them
// (first column source names, header row target names, rows = sources, columns = targets).
#pragma once

#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {

/// Parses CSV text into rows of fields (quotes, doubled quotes, commas and newlines in quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& where);
std::vector<std::vector<std::string>> read_csv_file(const std::string& path);

/// Quotes a field when it holds a comma, quote or newline.
std::string csv_field(const std::string& s);

/// A number with 17 significant digits (round-trips a double); NaN as an empty field as pandas
/// writes it.
std::string csv_number(double v);

struct LabeledMatrix {
  std::vector<std::string> row_names;
  std::vector<std::string> col_names;
  Matrix<double> values;
};

/// Reads a matrix CSV (pandas `to_csv` of a DataFrame with an index). Empty fields and "nan"
/// read as NaN. InputError for ragged rows, non-numbers, duplicate names.
LabeledMatrix read_matrix_csv(const std::string& path);
/// Writes atomically (temporary file, then rename).
void write_matrix_csv(const std::string& path, const LabeledMatrix& m);

}  // namespace taskfp
