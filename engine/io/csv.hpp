// CSV in the paper's formats: RFC 4180 fields, and distance matrices as pandas writes them
// (first column source names, header row target names, rows = sources, columns = targets).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {

class OutputSet;

/// One record of a CSV file: its fields, and the line of the file it starts on (1-based; a
/// quoted field may hold line breaks, so records and lines can differ).
struct CsvRow {
  std::vector<std::string> fields;
  std::size_t line = 0;
};

/// Parses CSV text into records, as pandas and R write them: a UTF-8 byte-order mark is skipped,
/// lines end with LF, CRLF or CR, fields may be quoted (commas, line breaks and doubled quotes
/// inside), blank lines are skipped. `where` names the text in errors (unterminated quotes,
/// UTF-16 text).
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& where);
/// The records of a file; InputError naming it when it cannot be read.
std::vector<CsvRow> read_csv_file(const std::string& path);

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

/// Parses a whole field (surrounding spaces ignored) as a double; nullopt when it is not a number.
/// One set of spellings for every CSV input, those pandas, R and numpy write:
///  - missing, read as NaN: an empty field, NA, nan in any case and sign (nan, NaN, -nan);
///  - infinite, read as +-inf: inf or infinity in any case, with a sign or not (inf, -inf, Inf,
///    -Inf, Infinity), and numbers beyond double's range (1e999).
/// A leading '+' is allowed on numbers.
std::optional<double> parse_csv_double(std::string_view text, FloatParser parser);
/// pandas' precise_xstrtod on a whole field; nullopt when anything is left over.
std::optional<double> pandas_xstrtod(std::string_view text);

/// What one numeric CSV column accepts besides numbers (see parse_csv_double for the spellings).
/// Every reader states its rule per column, so the same spelling means the same in every command.
struct CsvNumberRule {
  bool missing_ok = false;   ///< missing values read as NaN; refused otherwise
  bool infinite_ok = false;  ///< infinite values read as +-inf; refused otherwise
  FloatParser parser = FloatParser::Exact;
  /// Completes a refusal: what the column must hold and what to do, e.g. "a transfer outcome
  /// must be a finite number: drop the pair's rows".
  std::string_view refusal_hint;
};

/// The field of `row` in column `col` (0-based; `column_name` from the header) of the CSV file
/// `path`, as a number under `rule`. InputError "'<path>' line <l>, column <c> ('<name>'): ..."
/// for text that is not a number and for missing or infinite values the rule refuses.
double csv_number_field(const std::string& path, const CsvRow& row, std::size_t col,
                        std::string_view column_name, const CsvNumberRule& rule);

/// Where a field is, for messages: "'<path>' line <l>, column <c> ('<name>')" (c 1-based).
std::string csv_location(const std::string& path, const CsvRow& row, std::size_t col,
                         std::string_view column_name);

/// A field as shown in messages: quoted, control characters escaped, long fields shortened.
std::string csv_shown(std::string_view field);

struct LabeledMatrix {
  std::vector<std::string> row_names;
  std::vector<std::string> col_names;
  Matrix<double> values;
};

/// Reads a matrix CSV (pandas `to_csv` of a DataFrame with an index, or R's write.csv with row
/// names). Missing values read as NaN and infinite ones as +-inf (a metric may have no value for
/// a pair; the evaluation refuses such an entry only where it needs it). InputError for ragged
/// rows, non-numbers (naming line and column), duplicate names.
LabeledMatrix read_matrix_csv(const std::string& path, FloatParser parser = FloatParser::Exact);
/// Writes atomically (temporary file, then rename).
/// Writes whole or not at all (io/output_files.hpp): committed at once, or with `set`.
void write_matrix_csv(const std::string& path, const LabeledMatrix& m, OutputSet* set = nullptr);

}  // namespace taskfp
