// Task list parsing (comma lists, text files, YAML task sets).
#include "core/task_list.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <unordered_set>

#include "core/error.hpp"
#include "core/text.hpp"

namespace taskfp {
namespace {

std::vector<std::string> from_text_file(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot read task list file '{}': check the path", path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    auto name = trim(line);
    if (!name.empty()) names.emplace_back(name);
  }
  return names;
}

std::vector<std::string> from_yaml(const std::string& path, const std::string& key) {
  try {  // yaml-cpp reports wrong types by exceptions: each names the file
    YAML::Node node = YAML::LoadFile(path);
    for (const auto& part : split(key, '.')) {
      require(node.IsMap() && node[part], "task set '{}' has no key '{}' (asked for '{}')", path,
              part, key);
      node = node[part];
    }
    require(node.IsSequence(), "'{}#{}' is not a list of task names", path, key);
    std::vector<std::string> names;
    for (const auto& item : node) {
      require(item.IsScalar(), "'{}#{}' holds an entry that is not a task name", path, key);
      names.push_back(item.as<std::string>());
    }
    return names;
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("cannot read task set '{}': {}", path, e.what()));
  }
}

}  // namespace

std::vector<std::string> parse_task_list(std::string_view spec_view) {
  std::string spec(trim(spec_view));
  require(!spec.empty(), "empty task list: give names 'a,b', a file '@names.txt' or 'set.yaml#key'");
  std::vector<std::string> names;
  if (spec.front() == '@') {
    names = from_text_file(spec.substr(1));
  } else if (auto hash = spec.find(".yaml#"); hash != std::string::npos) {
    names = from_yaml(spec.substr(0, hash + 5), spec.substr(hash + 6));
  } else if (auto hash2 = spec.find(".yml#"); hash2 != std::string::npos) {
    names = from_yaml(spec.substr(0, hash2 + 4), spec.substr(hash2 + 5));
  } else {
    for (const auto& part : split(spec, ',')) {
      auto name = trim(part);
      if (!name.empty()) names.emplace_back(name);
    }
  }
  require(!names.empty(), "task list '{}' names no task", spec);
  for (const auto& n : names)
    for (unsigned char c : n)
      require(c >= 0x20 && c != 0x7f, "task list '{}' holds a name with a control character ({:?}); task names are text", spec, n);
  std::unordered_set<std::string> seen;
  for (const auto& n : names) require(seen.insert(n).second, "task list '{}' names '{}' twice", spec, n);
  return names;
}

std::vector<std::string> missing_names(const std::vector<std::string>& wanted,
                                       const std::vector<std::string>& available) {
  std::unordered_set<std::string> have(available.begin(), available.end());
  std::vector<std::string> missing;
  for (const auto& w : wanted)
    if (!have.count(w)) missing.push_back(w);
  return missing;
}

void require_tasks_present(const std::vector<std::string>& wanted,
                           const std::vector<std::string>& available, std::string_view where) {
  auto missing = missing_names(wanted, available);
  if (missing.empty()) return;
  std::string shown;
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) shown += fmt::format("'{}' ", missing[i]);
  if (missing.size() > 10) shown += fmt::format("and {} more", missing.size() - 10);
  throw InputError(fmt::format("{} task(s) missing from {}: {}", missing.size(), where, shown));
}

}  // namespace taskfp
