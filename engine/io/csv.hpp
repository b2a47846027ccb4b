// CSV in the paper's formats: RFC 4180 fields, and distance matrices as pandas writes them
// (first column source names, header row target names, rows = sources, columns = targets).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {

class OutputSet;

/// Parses CSV text into rows of fields (quotes, doubled quotes, commas and newlines in quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& where);
std::vector<std::vector<std::string>> read_csv_file(const std::string& path);

/// Quotes a field when it holds a comma, quote or newline.
std::string csv_field(const std::string& s);

/// A number with 17 significant digits (round-trips a double); NaN as an empty field as pandas
/// writes it.
std::string csv_number(double v);

/// How numbers in CSV files are parsed. Exact: correctly rounded (round trip). PandasDefault:
/// what pandas 1.x read_csv does without float_precision='round_trip' (its precise_xstrtod),
/// which is one ulp off for about one value in eight. The paper's evaluation read its CSVs that
/// way, and the published numbers depend on it (outcome ties), so the evaluation uses it.
enum class FloatParser { Exact, PandasDefault };

/// Parses a whole field as a double ("nan"/empty -> NaN, "inf"); nullopt when it is not a number.
std::optional<double> parse_csv_double(std::string_view text, FloatParser parser);
/// pandas' precise_xstrtod on a whole field; nullopt when anything is left over.
std::optional<double> pandas_xstrtod(std::string_view text);

struct LabeledMatrix {
  std::vector<std::string> row_names;
  std::vector<std::string> col_names;
  Matrix<double> values;
};

/// Reads a matrix CSV (pandas `to_csv` of a DataFrame with an index). Empty fields and "nan"
/// read as NaN. InputError for ragged rows, non-numbers, duplicate names.
LabeledMatrix read_matrix_csv(const std::string& path, FloatParser parser = FloatParser::Exact);
/// Writes atomically (temporary file, then rename).
/// Writes whole or not at all (io/output_files.hpp): committed at once, or with `set`.
void write_matrix_csv(const std::string& path, const LabeledMatrix& m, OutputSet* set = nullptr);

}  // namespace taskfp
