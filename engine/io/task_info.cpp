// Task-info CSV reader.
#include "io/task_info.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/csv.hpp"

namespace taskfp {

TaskInfoTable::TaskInfoTable(std::vector<TaskInfo> rows, std::string source)
    : rows_(std::move(rows)), source_(std::move(source)) {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    require(index_.emplace(rows_[i].name, i).second, "{} lists '{}' twice", source_, rows_[i].name);
  }
}

const TaskInfo& TaskInfoTable::at(const std::string& name) const { return rows_[index_of(name)]; }

std::size_t TaskInfoTable::index_of(const std::string& name) const {
  auto it = index_.find(name);
  require(it != index_.end(), "task '{}' is missing from {}", name, source_);
  return it->second;
}

std::vector<double> TaskInfoTable::ranks(double TaskInfo::*field) const {
  std::vector<std::size_t> order(rows_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](auto a, auto b) { return rows_[a].*field < rows_[b].*field; });
  std::vector<double> rank(rows_.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && rows_[order[j + 1]].*field == rows_[order[i]].*field) ++j;
    const double avg = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = avg;
    i = j + 1;
  }
  return rank;
}

namespace {

std::vector<std::string> parse_python_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) {
        out.push_back(cur);
        cur.clear();
        quote = 0;
      } else {
        cur += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    }
  }
  return out;
}

}  // namespace

TaskInfoTable read_task_info(const std::string& path) {
  auto rows = read_csv_file(path);
  require(!rows.empty(), "'{}' is empty", path);
  const auto& header = rows.front().fields;
  auto col = [&](const std::string& name, bool needed) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    require(it != header.end() || !needed, "task info '{}' has no column '{}'", path, name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_name = col("name", true), c_samples = col("num_samples", true),
            c_keywords = col("keywords", true), c_classes = col("num_classes", false),
            c_imb = col("imbalance_ratios", false), c_dim = col("dimensions", false);
  // Counts must be there: ranks (SEMANTIC) and the evaluation's target choice compare them. An
  // imbalance ratio may be infinite (a class without samples), as numpy computes it.
  const CsvNumberRule count{.missing_ok = false,
                            .infinite_ok = false,
                            .parser = FloatParser::Exact,
                            .refusal_hint = "task info needs every task's counts: fill it in"};
  const CsvNumberRule ratio{.missing_ok = false,
                            .infinite_ok = true,
                            .parser = FloatParser::Exact,
                            .refusal_hint = "fill it in (inf for a class without samples)"};
  auto number = [&](const CsvRow& row, int c, const CsvNumberRule& rule) {
    if (c < 0) return 0.0;
    const auto k = static_cast<std::size_t>(c);
    return csv_number_field(path, row, k, header[k], rule);
  };
  std::vector<TaskInfo> out;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    require(row.fields.size() == header.size(), "task info '{}' line {}: {} fields, header has {}",
            path, row.line, row.fields.size(), header.size());
    TaskInfo t;
    t.name = row.fields[static_cast<std::size_t>(c_name)];
    t.num_samples = number(row, c_samples, count);
    t.num_classes = number(row, c_classes, count);
    t.imbalance_ratio = number(row, c_imb, ratio);
    t.dimensions = number(row, c_dim, count);
    t.keywords = parse_python_list(row.fields[static_cast<std::size_t>(c_keywords)]);
    out.push_back(std::move(t));
  }
  return TaskInfoTable(std::move(out), "task info '" + path + "'");
}

std::string base_task_name(const std::string& name) {
  auto pos = name.find(" --");
  return pos == std::string::npos ? name : name.substr(0, pos);
}

}  // namespace taskfp
