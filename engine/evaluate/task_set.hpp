// A task set as configuration (configs/tasksets/*.yaml): development and validation tasks,
// groups of tasks sharing images, shrinkable tasks; with task metadata it answers which sources
// are valid for a target and which column holds a shrunk target.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/task_info.hpp"

namespace taskfp {

class TaskSet {
 public:
  /// Reads a task-set YAML (keys: development, validation, groups, not_shrinkable,
  /// shrunk_suffix). InputError for a missing file or key.
  static TaskSet load(const std::string& path);
  /// A task set without rules: every task a validation task, no groups, every task shrinkable.
  static TaskSet of_tasks(const std::vector<std::string>& tasks);

  [[nodiscard]] const std::vector<std::string>& development() const { return development_; }
  [[nodiscard]] const std::vector<std::string>& validation() const { return validation_; }
  /// development then validation, the order the paper's matrices use.
  [[nodiscard]] const std::vector<std::string>& all() const { return all_; }
  [[nodiscard]] bool is_development(const std::string& task) const;
  [[nodiscard]] bool is_shrinkable(const std::string& task) const;
  /// "<task> --shrink_train 800" for shrinkable tasks, the task itself otherwise.
  [[nodiscard]] std::string shrunk_name(const std::string& task) const;
  /// The name of the group `task` belongs to, or "" when none.
  [[nodiscard]] std::string group_of(const std::string& task) const;
  [[nodiscard]] const std::string& shrunk_suffix() const { return shrunk_suffix_; }
  [[nodiscard]] const std::map<std::string, std::vector<std::string>>& groups() const { return groups_; }

  /// Valid sources of a target (method.md section 1): the development tasks for a development
  /// target, all tasks otherwise; minus the target, its group, and tasks with fewer than
  /// `min_samples` samples (per `info`). In task-set order.
  [[nodiscard]] std::vector<std::string> valid_sources(const std::string& target,
                                                       const TaskInfoTable& info,
                                                       double min_samples = 1) const;

 private:
  std::vector<std::string> development_, validation_, all_, not_shrinkable_;
  std::map<std::string, std::vector<std::string>> groups_;
  std::string shrunk_suffix_ = " --shrink_train 800";
};

}  // namespace taskfp
