// Features store I/O and the npy folder import.
#include "store/features_store.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "io/hdf5.hpp"
#include "io/npy.hpp"
#include "store/store_common.hpp"

namespace taskfp {

namespace fs = std::filesystem;

std::vector<std::string> FeatureSet::names() const {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.name);
  return out;
}

const TaskFeatures& FeatureSet::at(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.name == name) return t;
  throw InputError(fmt::format("no features for task '{}'", name));
}

void validate_features(const FeatureSet& set, std::size_t min_samples, const std::string& where) {
  require(!set.tasks.empty(), "{} holds no tasks", where);
  const std::size_t d = set.tasks.front().values.cols;
  std::set<std::string> seen;
  for (const auto& t : set.tasks) {
    validate_task_name(t.name);
    require(seen.insert(t.name).second, "{}: task '{}' appears twice", where, t.name);
    require(t.values.cols == d,
            "{}: task '{}' has {} features per sample, task '{}' has {}; all tasks need the same "
            "backbone output size",
            where, t.name, t.values.cols, set.tasks.front().name, d);
    require(t.values.rows >= min_samples,
            "{}: task '{}' has {} samples, fewer than the minimum of {}", where, t.name,
            t.values.rows, min_samples);
    for (std::size_t k = 0; k < t.values.data.size(); ++k) {
      if (!std::isfinite(t.values.data[k]))
        throw InputError(fmt::format("{}: task '{}' has a non-finite value ({}) at sample {}, "
                                     "feature {}; remove or re-extract it",
                                     where, t.name, t.values.data[k], k / d, k % d));
    }
  }
  require(set.provenance.feature_dim == 0 ||
              set.provenance.feature_dim == static_cast<std::int64_t>(d),
          "{}: provenance says {} features, the data has {}", where, set.provenance.feature_dim, d);
}

void write_features_store(const std::string& path, const FeatureSet& set) {
  validate_features(set, 1, "features to write");
  h5::AtomicWrite out(path);
  h5::Handle root = h5::group(out.file(), "/");
  write_header(root.get(), "features", kFeaturesSchemaVersion, set.provenance,
               static_cast<std::int64_t>(set.tasks.front().values.cols));
  h5::Handle tasks = h5::group(out.file(), "tasks", true);
  for (const auto& t : set.tasks) {
    h5::Handle g = h5::group(tasks.get(), t.name, true);
    h5::write(g.get(), "features", t.values);
    h5::set_attr(g.get(), "n_samples", static_cast<std::int64_t>(t.values.rows));
  }
  out.commit();
}

void visit_features_store(const std::string& path, const FeatureLoadOptions& options,
                          const std::function<void(const Provenance&, TaskFeatures&&)>& visit) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  const Provenance provenance = read_header(root.get(), path, "features", kFeaturesSchemaVersion);
  auto available = h5::children(file.get(), "tasks");
  auto wanted = options.tasks.value_or(available);
  require_tasks_present(wanted, available, "features store '" + path + "'");
  const std::string where = "features store '" + path + "'";
  require(!wanted.empty(), "{} holds no tasks", where);
  // validate_features, a task at a time: each task alone, then what holds across tasks.
  std::set<std::string> seen;
  std::string first;
  std::size_t d = 0;
  for (const auto& name : wanted) {
    FeatureSet one;
    one.provenance = provenance;
    h5::Handle g = h5::group(file.get(), "tasks/" + name);
    one.tasks.push_back({name, h5::read_f32(g.get(), "features")});
    validate_features(one, options.min_samples, where);
    const std::size_t cols = one.tasks.front().values.cols;
    require(seen.insert(name).second, "{}: task '{}' appears twice", where, name);
    require(first.empty() || cols == d,
            "{}: task '{}' has {} features per sample, task '{}' has {}; all tasks need the same "
            "backbone output size",
            where, name, cols, first, d);
    if (first.empty()) first = name, d = cols;
    visit(provenance, std::move(one.tasks.front()));
  }
}

FeatureSet read_features_store(const std::string& path, const FeatureLoadOptions& options) {
  FeatureSet set;
  visit_features_store(path, options, [&](const Provenance& provenance, TaskFeatures&& task) {
    set.provenance = provenance;
    set.tasks.push_back(std::move(task));
  });
  return set;
}

namespace {

// What the import converted, for the provenance: "; npy dtype '<f4'" when every task had the same,
// else each dtype with its tasks.
std::string npy_dtype_note(const std::map<std::string, std::vector<std::string>>& tasks_by_dtype) {
  if (tasks_by_dtype.size() == 1)
    return fmt::format("; npy dtype '{}'", tasks_by_dtype.begin()->first);
  std::vector<std::string> parts;
  for (const auto& [dtype, tasks] : tasks_by_dtype)
    parts.push_back(fmt::format("'{}' ({})", dtype, fmt::join(tasks, ", ")));
  return fmt::format("; npy dtypes {}", fmt::join(parts, ", "));
}

}  // namespace

FeatureSet import_npy_folder(const std::string& dir, const FeatureLoadOptions& options,
                             const Provenance& provenance) {
  require(fs::is_directory(dir), "'{}' is not a folder of task features", dir);
  std::vector<std::string> available;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && fs::exists(entry.path() / "features_0001.npy"))
      available.push_back(entry.path().filename().string());
  std::sort(available.begin(), available.end());
  require(!available.empty(),
          "'{}' has no task folders with a features_0001.npy (expected <dir>/<task>/features_0001.npy)",
          dir);
  auto wanted = options.tasks.value_or(available);
  require_tasks_present(wanted, available, "feature folder '" + dir + "'");
  FeatureSet set;
  set.provenance = provenance;
  if (set.provenance.origin == "unknown") set.provenance.origin = "npy import from " + dir;
  std::map<std::string, std::vector<std::string>> tasks_by_dtype;
  for (const auto& name : wanted) {
    auto npy = read_npy((fs::path(dir) / name / "features_0001.npy").string());
    tasks_by_dtype[npy.dtype].push_back(name);
    set.tasks.push_back({name, std::move(npy.values)});
  }
  set.provenance.origin += npy_dtype_note(tasks_by_dtype);
  if (set.provenance.feature_dim == 0)
    set.provenance.feature_dim = static_cast<std::int64_t>(set.tasks.front().values.cols);
  validate_features(set, options.min_samples, "feature folder '" + dir + "'");
  return set;
}

FeatureSet load_features(const std::string& path, const FeatureLoadOptions& options) {
  if (fs::is_directory(path)) return import_npy_folder(path, options);
  return read_features_store(path, options);
}

}  // namespace taskfp
