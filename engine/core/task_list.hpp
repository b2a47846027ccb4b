// Task lists given on the command line or in files: "a,b", "@names.txt", "set.yaml#key".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace taskfp {

/// Parses a task list specification:
///   - "a,b,c"             comma-separated names (names may contain spaces, not commas)
///   - "@path"             a text file, one name per line ('#' starts a comment)
///   - "path.yaml#key"     the YAML sequence under `key` of a task-set file (nested keys: a.b)
/// Throws InputError for unreadable files, missing keys, empty lists or duplicate names.
std::vector<std::string> parse_task_list(std::string_view spec);

/// Returns the names of `wanted` missing from `available`, in the order of `wanted`.
std::vector<std::string> missing_names(const std::vector<std::string>& wanted,
                                       const std::vector<std::string>& available);

/// Throws InputError naming up to 10 missing tasks when any of `wanted` is not in `available`.
void require_tasks_present(const std::vector<std::string>& wanted,
                           const std::vector<std::string>& available, std::string_view where);

}  // namespace taskfp
