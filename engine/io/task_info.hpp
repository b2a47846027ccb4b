// Task metadata (the paper's task_infos.csv): keywords, sizes, dimensions per task.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace taskfp {

struct TaskInfo {
  std::string name;
  double num_classes = 0;
  double num_samples = 0;
  double imbalance_ratio = 0;
  double dimensions = 0;  ///< intrinsic dimension
  std::vector<std::string> keywords;
};

class TaskInfoTable {
 public:
  TaskInfoTable() = default;
  /// `source`: the file the rows came from, named in messages.
  explicit TaskInfoTable(std::vector<TaskInfo> rows, std::string source = "the task info table");

  [[nodiscard]] const TaskInfo& at(const std::string& name) const;
  [[nodiscard]] bool contains(const std::string& name) const { return index_.count(name) != 0; }
  [[nodiscard]] std::size_t index_of(const std::string& name) const;
  [[nodiscard]] const std::vector<TaskInfo>& rows() const { return rows_; }
  /// 1-based ranks of a field over all rows, ties averaged (pandas Series.rank()).
  [[nodiscard]] std::vector<double> ranks(double TaskInfo::*field) const;

 private:
  std::vector<TaskInfo> rows_;
  std::unordered_map<std::string, std::size_t> index_;
  std::string source_;
};

/// Reads a task-info CSV with at least the columns name, num_samples, keywords (a Python list
/// literal such as "['eye', 'medical']"); num_classes, imbalance_ratios, dimensions if present.
/// Missing counts are refused, naming line and column; an imbalance ratio may be infinite.
TaskInfoTable read_task_info(const std::string& path);

/// "svhn --shrink_train 800" -> "svhn": the task whose images a variant uses.
std::string base_task_name(const std::string& name);

}  // namespace taskfp
