// Task-set configuration and valid-source rules.
#include "evaluate/task_set.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"

namespace taskfp {
namespace {

std::vector<std::string> list_at(const YAML::Node& root, const std::string& key,
                                 const std::string& path, bool needed) {
  if (!root[key]) {
    require(!needed, "task set '{}' has no '{}' list", path, key);
    return {};
  }
  require(root[key].IsSequence(), "task set '{}': '{}' must be a list", path, key);
  std::vector<std::string> out;
  for (const auto& n : root[key]) out.push_back(n.as<std::string>());
  return out;
}

}  // namespace

TaskSet TaskSet::load(const std::string& path) {
  TaskSet s;
  try {  // yaml-cpp reports wrong types by exceptions: each names the file
    const YAML::Node root = YAML::LoadFile(path);
    require(root.IsMap(), "task set '{}' is not a YAML mapping of lists", path);
    s.development_ = list_at(root, "development", path, true);
    s.validation_ = list_at(root, "validation", path, false);
    s.not_shrinkable_ = list_at(root, "not_shrinkable", path, false);
    if (root["shrunk_suffix"]) s.shrunk_suffix_ = root["shrunk_suffix"].as<std::string>();
    if (root["groups"]) {
      require(root["groups"].IsMap(), "task set '{}': 'groups' must map names to lists", path);
      for (const auto& g : root["groups"]) {
        require(g.second.IsSequence(), "task set '{}': group '{}' must be a list", path, g.first.as<std::string>());
        std::vector<std::string> members;
        for (const auto& m : g.second) members.push_back(m.as<std::string>());
        s.groups_[g.first.as<std::string>()] = members;
      }
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("cannot read task set '{}': {}", path, e.what()));
  }
  s.all_ = s.development_;
  s.all_.insert(s.all_.end(), s.validation_.begin(), s.validation_.end());
  std::set<std::string> seen;
  for (const auto& t : s.all_) {
    require(!trim(t).empty(), "task set '{}' lists an empty task name", path);
    require(seen.insert(t).second, "task set '{}' lists '{}' twice", path, t);
  }
  return s;
}

TaskSet TaskSet::of_tasks(const std::vector<std::string>& tasks) {
  TaskSet s;
  s.validation_ = tasks;
  s.all_ = tasks;
  return s;
}

bool TaskSet::is_development(const std::string& task) const {
  return std::find(development_.begin(), development_.end(), task) != development_.end();
}

bool TaskSet::is_shrinkable(const std::string& task) const {
  return std::find(not_shrinkable_.begin(), not_shrinkable_.end(), task) == not_shrinkable_.end();
}

std::string TaskSet::shrunk_name(const std::string& task) const {
  return is_shrinkable(task) ? task + shrunk_suffix_ : task;
}

std::string TaskSet::group_of(const std::string& task) const {
  // The first group listing the task, as the reference searches them.
  for (const auto& [name, members] : groups_)
    if (std::find(members.begin(), members.end(), task) != members.end()) return name;
  return "";
}

std::vector<std::string> TaskSet::valid_sources(const std::string& target, const TaskInfoTable& info,
                                                double min_samples) const {
  const auto& pool = is_development(target) ? development_ : all_;
  const std::string group = group_of(target);
  const std::vector<std::string>* members = group.empty() ? nullptr : &groups_.at(group);
  std::vector<std::string> out;
  for (const auto& s : pool) {
    if (s == target) continue;
    if (members && std::find(members->begin(), members->end(), s) != members->end()) continue;
    if (info.at(s).num_samples < min_samples) continue;
    out.push_back(s);
  }
  return out;
}

}  // namespace taskfp
