// Image task sets from YAML, class folders and CSV manifests.
#include "images/image_taskset.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <set>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/task_list.hpp"
#include "core/text.hpp"
#include "io/csv.hpp"
#include "store/store_common.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

// What a listed file holds, told from its name where the name says it; only files of other
// names are opened (for DICOM's 'DICM' at byte 128), so listing a folder of PNGs opens none.
enum class FileKind { image, nifti, dicom, other };

FileKind file_kind(const std::string& path) {
  if (looks_like_nifti(path)) return FileKind::nifti;
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".tif" || ext == ".tiff") return FileKind::image;
  return looks_like_dicom(path) ? FileKind::dicom : FileKind::other;
}

bool is_image_file(const fs::path& p) { return file_kind(p.string()) != FileKind::other; }

bool is_hidden(const fs::path& p) {
  return p.filename().string().starts_with('.');
}

std::vector<fs::directory_entry> sorted_entries(const fs::path& dir) {
  std::vector<fs::directory_entry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(*it);
  if (ec) throw InputError(fmt::format("cannot read folder '{}': {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return out;
}

void ignore(IgnoredFiles& ignored, std::size_t IgnoredFiles::*reason, const fs::path& p) {
  ++(ignored.*reason);
  if (ignored.examples.size() < 3) ignored.examples.push_back(p.string());
}

// A class folder's images; what else it holds is counted in `ignored`.
std::vector<fs::path> class_images(const fs::path& dir, IgnoredFiles& ignored) {
  std::vector<fs::path> files;
  for (const auto& e : sorted_entries(dir)) {
    std::error_code ec;
    const auto& p = e.path();
    if (is_hidden(p))
      ignore(ignored, &IgnoredFiles::hidden, p);
    else if (e.is_directory(ec))
      ignore(ignored, &IgnoredFiles::subfolders, p);
    else if (!e.is_regular_file(ec))
      ignore(ignored, &IgnoredFiles::other, p);
    else if (!is_image_file(p))
      ignore(ignored, &IgnoredFiles::unknown_extension, p);
    else
      files.push_back(p);
  }
  return files;
}

// One listed file as the task's images: a NIfTI volume's selected slices, a DICOM file's frames
// (or the chosen one), else the file. A folder (a manifest's DICOM series): its files' frames.
void add_image_file(TaskImages& t, const ImageTaskSpec& spec, std::string file, int label) {
  switch (file_kind(file)) {
    case FileKind::nifti:
      for (const auto slice : nifti_slices(file, spec.nifti)) t.add(file, slice, label, ImageKind::nifti_slice);
      return;
    case FileKind::dicom: {
      const auto frames = dicom_frame_count(file);
      if (spec.dicom.frame) {
        require(*spec.dicom.frame < frames, "task '{}': DICOM file '{}' has {} frame{}, no frame {} (dicom: frame)",
                spec.name, file, frames, frames == 1 ? "" : "s", *spec.dicom.frame);
        t.add(std::move(file), *spec.dicom.frame, label, ImageKind::dicom_frame);
        return;
      }
      for (std::int64_t f = 0; f < frames; ++f) t.add(file, f, label, ImageKind::dicom_frame);
      return;
    }
    case FileKind::other: {
      std::error_code ec;  // a name the system refuses (too long) is no folder: read_image names it
      if (fs::is_directory(file, ec)) {
        for (auto& f : dicom_series_files(file)) add_image_file(t, spec, std::move(f), label);
        return;
      }
      break;  // not an image taskfp reads: decoding it says so, naming the file
    }
    case FileKind::image: break;
  }
  t.add(std::move(file), -1, label);
}

// The same, where a file whose header cannot be read is left out and noted (skip_bad) instead of
// stopping the listing.
void add_listed_file(TaskImages& t, const ImageTaskSpec& spec, std::string file, int label, bool skip_bad) {
  if (!skip_bad) return add_image_file(t, spec, std::move(file), label);
  const std::size_t before = t.files.size();
  try {
    add_image_file(t, spec, file, label);
  } catch (const InputError& e) {
    t.files.resize(before), t.index.resize(before), t.kinds.resize(before), t.labels.resize(before);
    t.unreadable.push_back(e.what());
  }
}

TaskImages from_folders(const ImageTaskSpec& spec, bool skip_bad) {
  const fs::path root(spec.root);
  require(fs::is_directory(root), "task '{}': root '{}' is not a readable folder", spec.name, spec.root);
  const fs::path split = root / spec.split;
  const fs::path base = fs::is_directory(split) ? split : root;
  TaskImages t;
  t.name = spec.name;
  for (const auto& entry : sorted_entries(base)) {
    std::error_code ec;
    if (!entry.is_directory(ec)) continue;  // files beside the class folders are no class's
    const auto& class_dir = entry.path();
    if (is_hidden(class_dir)) {  // .ipynb_checkpoints, .Trash: never a class
      ignore(t.ignored, &IgnoredFiles::hidden, class_dir);
      continue;
    }
    const std::size_t before = t.ignored.count();
    const auto files = class_images(class_dir, t.ignored);
    require(!files.empty(), "task '{}': class folder '{}' has no images (PNG, JPEG, TIFF, NIfTI or DICOM files){}",
            spec.name, class_dir.string(),
            t.ignored.count() > before
                ? fmt::format(" (only {} other file{} or folder{})", t.ignored.count() - before,
                              t.ignored.count() - before == 1 ? "" : "s",
                              t.ignored.count() - before == 1 ? "" : "s")
                : std::string());
    const int label = static_cast<int>(t.classes.size());
    t.classes.push_back(class_dir.filename().string());
    for (const auto& f : files) add_listed_file(t, spec, f.string(), label, skip_bad);
  }
  require(!t.files.empty() || !t.unreadable.empty(), "task '{}': no class folders with images under '{}'",
          spec.name, base.string());
  return t;
}

TaskImages from_manifest(const ImageTaskSpec& spec, bool skip_bad) {
  const auto lines = read_csv_file(spec.manifest);
  require(!lines.empty(), "manifest '{}' is empty (needs a header path,label,split)", spec.manifest);
  const auto& header = lines.front().fields;
  auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    require(it != header.end(), "manifest '{}' has no column '{}' (needs path,label,split)",
            spec.manifest, name);
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t cp = column("path"), cl = column("label"), cs = column("split");
  const fs::path base = fs::path(spec.manifest).parent_path();
  TaskImages t;
  t.name = spec.name;
  std::vector<std::pair<std::string, std::string>> rows;  // (label, path)
  for (std::size_t r = 1; r < lines.size(); ++r) {
    const auto& row = lines[r].fields;
    const std::size_t line = lines[r].line;
    if (row.size() == 1 && row[0].empty()) continue;  // a line holding only ""
    require(row.size() == header.size(), "manifest '{}', line {}: {} fields, expected {}",
            spec.manifest, line, row.size(), header.size());
    if (row[cs] != spec.split) continue;
    require(!row[cp].empty() && !row[cl].empty(), "manifest '{}', line {}: the {} is empty",
            spec.manifest, line, row[cp].empty() ? "path" : "label");
    const fs::path p = fs::path(row[cp]).is_absolute() ? fs::path(row[cp]) : base / row[cp];
    rows.emplace_back(row[cl], p.string());
  }
  require(!rows.empty(), "task '{}': manifest '{}' lists no '{}' images", spec.name, spec.manifest, spec.split);
  std::sort(rows.begin(), rows.end());
  for (const auto& [label, path] : rows) {
    if (t.classes.empty() || t.classes.back() != label) t.classes.push_back(label);
    add_listed_file(t, spec, path, static_cast<int>(t.classes.size()) - 1, skip_bad);
  }
  return t;
}

// The items of an IDX pair whose labels are kept, classes in label order.
TaskImages from_idx(const ImageTaskSpec& spec, std::uint64_t max_pixels) {
  TaskImages t;
  t.name = spec.name;
  t.idx = read_idx(spec.idx.images, spec.idx.labels, max_pixels);
  std::vector<int> keep = spec.idx.keep;
  if (keep.empty()) {
    std::set<int> present(t.idx->labels.begin(), t.idx->labels.end());
    keep.assign(present.begin(), present.end());
  }
  std::sort(keep.begin(), keep.end());
  std::vector<int> class_of(256, -1);
  for (const int label : keep) {
    class_of[static_cast<std::size_t>(label)] = static_cast<int>(t.classes.size());
    const auto named = static_cast<std::size_t>(label) < spec.idx.names.size();
    t.classes.push_back(named ? spec.idx.names[static_cast<std::size_t>(label)] : std::to_string(label));
  }
  std::vector<std::size_t> per_class(keep.size(), 0);
  for (int label = 0; label < 256; ++label) {  // class, then item order
    if (class_of[static_cast<std::size_t>(label)] < 0) continue;
    for (std::int64_t k = 0; k < t.idx->count; ++k)
      if (t.idx->labels[static_cast<std::size_t>(k)] == label) {
        t.add(spec.idx.images, k, class_of[static_cast<std::size_t>(label)], ImageKind::idx_item);
        ++per_class[static_cast<std::size_t>(class_of[static_cast<std::size_t>(label)])];
      }
  }
  for (std::size_t c = 0; c < keep.size(); ++c)
    require(per_class[c] > 0, "task '{}': no image of '{}' has label {}", spec.name, spec.idx.labels, keep[c]);
  return t;
}

// yaml-cpp's messages can span lines; taskfp's errors are one line.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// The task set's YAML, checked key by key: every value of the type it must have, no unknown or
// repeated keys (a misspelt key would otherwise be silently ignored), messages naming the file,
// the task and the key.
class TaskSetReader {
 public:
  explicit TaskSetReader(std::string path) : path_(std::move(path)) {}

  std::vector<ImageTaskSpec> read() {
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(path_);
    } catch (const YAML::Exception& e) {
      throw InputError(fmt::format("cannot read task set '{}': {}", path_, one_line(e.what())));
    }
    require(doc.IsMap() && doc["tasks"] && doc["tasks"].IsSequence(),
            "task set '{}' needs a 'tasks:' list", path_);
    require(doc["tasks"].size() > 0, "task set '{}' lists no tasks ('tasks:' is empty)", path_);
    for (const auto& kv : doc) {
      const auto key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      require(key == "tasks",
              "task set '{}': unknown key '{}' at the top (a task set has 'tasks:')", path_, key);
    }
    const fs::path base = fs::path(path_).parent_path();
    auto resolve = [&](const std::string& p) {
      return fs::path(p).is_absolute() ? p : (base / p).string();
    };
    std::vector<ImageTaskSpec> out;
    std::set<std::string> seen;
    std::size_t entry = 0;
    for (const auto& node : doc["tasks"]) {
      ++entry;
      require(node.IsMap(),
              "task set '{}': entry {} of 'tasks' is not a map (name: ..., root: ... or manifest: "
              "...)",
              path_, entry);
      require(static_cast<bool>(node["name"]),
              "task set '{}': every task needs a name (entry {} has none)", path_, entry);
      ImageTaskSpec s;
      s.name = text(node, "name", fmt::format("entry {}", entry));
      const std::string where = fmt::format("task '{}'", s.name);
      check_keys(node, where);
      name_is_valid(s.name);
      if (node["root"]) s.root = resolve(text(node, "root", where));
      if (node["manifest"]) s.manifest = resolve(text(node, "manifest", where));
      if (node["idx"]) s.idx = idx_source(node["idx"], where, resolve);
      if (node["nifti"]) {
        require(s.idx.images.empty(), "task set '{}': {}: an IDX task has no NIfTI volumes ('nifti')", path_,
                where);
        s.nifti = parse_nifti_options(node["nifti"], fmt::format("task set '{}': {}", path_, where));
      }
      if (node["dicom"]) {
        require(s.idx.images.empty(), "task set '{}': {}: an IDX task has no DICOM files ('dicom')", path_, where);
        s.dicom = parse_dicom_options(node["dicom"], fmt::format("task set '{}': {}", path_, where));
      }
      if (node["split"]) {
        require(s.idx.images.empty(),
                "task set '{}': {}: an IDX task has no 'split' (its files are one split: name the "
                "training or the test files)",
                path_, where);
        s.split = text(node, "split", where);
      }
      const int sources = int{!s.root.empty()} + int{!s.manifest.empty()} + int{!s.idx.images.empty()};
      require(sources == 1, "task set '{}': task '{}' needs exactly one of root, manifest and idx", path_,
              s.name);
      require(seen.insert(s.name).second, "task set '{}': task '{}' appears twice", path_, s.name);
      out.push_back(s);
      if (!node["shrink"]) continue;
      const auto shrink = node["shrink"];
      require(shrink.IsSequence(),
              "task set '{}': task '{}': 'shrink' must be a list of image counts, e.g. shrink: "
              "[800]",
              path_, s.name);
      for (const auto& n : shrink) {
        std::size_t count = 0;  // 0: not a positive whole number
        if (n.IsScalar()) count = parse_number<std::size_t>(n.Scalar()).value_or(0);
        require(count > 0,
                "task set '{}': task '{}': 'shrink' counts must be positive whole numbers (got "
                "'{}')",
                path_, s.name, n.IsScalar() ? n.Scalar() : std::string("a list or map"));
        ImageTaskSpec v = s;
        v.shrink = count;
        v.name = s.name + " --shrink_train " + std::to_string(v.shrink);
        require(seen.insert(v.name).second, "task set '{}': task '{}' appears twice", path_,
                v.name);
        out.push_back(v);
      }
    }
    return out;
  }

 private:
  // A key's value as text: a non-empty scalar (any YAML style; numbers are text too).
  std::string text(const YAML::Node& task, const char* key, const std::string& where) const {
    const YAML::Node v = task[key];
    require(v.IsScalar() && !v.Scalar().empty(),
            "task set '{}': {}: '{}' must be a non-empty text, not {}", path_, where, key,
            v.IsSequence() ? "a list"
            : v.IsMap()    ? "a map"
                           : "empty");
    return v.Scalar();
  }

  // idx: {images: file, labels: file, classes: [label, ...], names: [name, ...]}.
  template <class Resolve>
  IdxSource idx_source(const YAML::Node& node, const std::string& task, const Resolve& resolve) const {
    const std::string where = task + ": idx";
    require(node.IsMap(), "task set '{}': {} must be a map (images: <file>, labels: <file>)", path_, where);
    std::set<std::string> keys;
    for (const auto& kv : node) {
      const auto key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      require(key == "images" || key == "labels" || key == "classes" || key == "names",
              "task set '{}': {}: unknown key '{}' (idx has images, labels, classes, names)", path_, where,
              key);
      require(keys.insert(key).second, "task set '{}': {}: key '{}' appears twice", path_, where, key);
    }
    require(node["images"] && node["labels"], "task set '{}': {} needs both images and labels files", path_,
            where);
    IdxSource out;
    out.images = resolve(text(node, "images", where));
    out.labels = resolve(text(node, "labels", where));
    auto list = [&](const char* key) {
      const YAML::Node v = node[key];
      require(v.IsSequence() && v.size() > 0, "task set '{}': {}: '{}' must be a non-empty list", path_, where,
              key);
      return v;
    };
    if (node["classes"])
      for (const auto& c : list("classes")) {
        const int label = (c.IsScalar() ? parse_number<int>(c.Scalar()) : std::nullopt).value_or(-1);
        require(label >= 0 && label <= 255,
                "task set '{}': {}: classes are label values 0-255 (got '{}')", path_, where,
                c.IsScalar() ? c.Scalar() : std::string("a list or map"));
        require(std::find(out.keep.begin(), out.keep.end(), label) == out.keep.end(),
                "task set '{}': {}: class {} is listed twice", path_, where, label);
        out.keep.push_back(label);
      }
    if (node["names"])
      for (const auto& n : list("names")) {
        require(n.IsScalar() && !n.Scalar().empty(), "task set '{}': {}: names must be non-empty texts",
                path_, where);
        out.names.push_back(n.Scalar());
      }
    return out;
  }

  void check_keys(const YAML::Node& task, const std::string& where) const {
    std::set<std::string> keys;
    for (const auto& kv : task) {
      const auto key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      require(key == "name" || key == "root" || key == "manifest" || key == "idx" || key == "split" ||
                  key == "shrink" || key == "nifti" || key == "dicom",
              "task set '{}': {}: unknown key '{}' (a task has name, root, manifest or idx, split, "
              "shrink, nifti, dicom)",
              path_, where, key);
      require(keys.insert(key).second, "task set '{}': {}: key '{}' appears twice", path_, where,
              key);
    }
  }

  // Task names become HDF5 group names and lines of a parts folder's plan: checked here, before
  // any image is decoded.
  void name_is_valid(const std::string& name) const {
    try {
      validate_task_name(name);
    } catch (const InputError& e) {
      throw InputError(fmt::format("task set '{}': {}", path_, e.what()));
    }
    require(std::none_of(name.begin(), name.end(),
                         [](unsigned char c) { return c < 0x20 || c == 0x7f; }),
            "task set '{}': task name '{}' holds a control character (a tab or line break); rename "
            "the task",
            path_, name);
  }

  std::string path_;
};

}  // namespace

std::vector<ImageTaskSpec> select_image_tasks(const std::vector<ImageTaskSpec>& all,
                                              const std::vector<std::string>& wanted, const std::string& source) {
  if (wanted.empty()) return all;
  std::vector<std::string> names;
  for (const auto& s : all) names.push_back(s.name);
  require_tasks_present(wanted, names, source);
  std::vector<ImageTaskSpec> chosen;
  for (const auto& w : wanted)
    for (const auto& s : all)
      if (s.name == w) chosen.push_back(s);
  return chosen;
}

std::vector<ImageTaskSpec> read_image_taskset(const std::string& path) {
  try {
    return TaskSetReader(path).read();
  } catch (const YAML::Exception& e) {  // conversions the checks above do not foresee
    throw InputError(fmt::format("task set '{}': {}", path, one_line(e.what())));
  }
}

void TaskImages::add(std::string file, std::int64_t item, int label, ImageKind kind) {
  files.push_back(std::move(file));
  index.push_back(item);
  kinds.push_back(kind);
  labels.push_back(label);
}

std::string TaskImages::describe(std::size_t k) const {
  switch (kinds[k]) {
    case ImageKind::idx_item: return fmt::format("{} [item {}]", files[k], index[k]);
    case ImageKind::nifti_slice: return fmt::format("{} [slice {}]", files[k], index[k]);
    case ImageKind::dicom_frame: return fmt::format("{} [frame {}]", files[k], index[k]);
    case ImageKind::file: break;
  }
  return files[k];
}

Image TaskImages::read(std::size_t k, std::uint64_t max_pixels) const {
  switch (kinds[k]) {
    case ImageKind::idx_item: return idx->image(index[k]);
    case ImageKind::nifti_slice: return read_nifti_slice(files[k], index[k], nifti, max_pixels);
    case ImageKind::dicom_frame: return read_dicom(files[k], index[k], dicom, max_pixels);
    case ImageKind::file: break;
  }
  return read_image(files[k], max_pixels);
}

std::string ImageTaskSpec::describe_inputs() const {
  // The listing is not known here: a folder or manifest task states its NIfTI mapping whether or
  // not it holds volumes (TaskImages::inputs says it only where it does).
  return idx.images.empty() ? nifti.describe() + "; " + dicom.describe() : std::string();
}

TaskImages list_task_images(const ImageTaskSpec& spec, std::uint64_t seed, std::uint64_t max_pixels,
                            bool skip_bad) {
  TaskImages t = !spec.idx.images.empty() ? from_idx(spec, max_pixels)
                 : spec.manifest.empty()  ? from_folders(spec, skip_bad)
                                          : from_manifest(spec, skip_bad);
  require(!t.files.empty(), "task '{}': none of its {} files could be read, e.g. {}", spec.name, t.unreadable.size(),
          t.unreadable.empty() ? std::string("-") : t.unreadable.front());
  t.nifti = spec.nifti;
  t.dicom = spec.dicom;
  const auto holds = [&](ImageKind kind) { return std::find(t.kinds.begin(), t.kinds.end(), kind) != t.kinds.end(); };
  std::vector<std::string> inputs;
  if (holds(ImageKind::nifti_slice)) inputs.push_back(t.nifti.describe());
  if (holds(ImageKind::dicom_frame)) inputs.push_back(t.dicom.describe());
  t.inputs = fmt::format("{}", fmt::join(inputs, "; "));
  if (spec.shrink > 0 && spec.shrink < t.files.size()) {
    // The subset is the task's own: seeded by the base task's name, kept in listing order.
    const auto base = spec.name.substr(0, spec.name.find(" --shrink_train"));
    auto keep = draw_samples(t.files.size(), spec.shrink, seed, base + " --shrink_train");
    std::sort(keep.begin(), keep.end());
    TaskImages s;
    s.name = t.name;
    s.classes = t.classes;
    s.idx = t.idx;
    s.ignored = t.ignored;
    s.nifti = t.nifti;
    s.dicom = t.dicom;
    s.inputs = t.inputs;
    s.unreadable = t.unreadable;
    for (auto k : keep) s.add(t.files[k], t.index[k], t.labels[k], t.kinds[k]);
    return s;
  }
  return t;
}

std::string IgnoredFiles::summary() const {
  const std::size_t n = count();
  if (n == 0) return {};
  const auto plural = [](std::size_t k) { return k == 1 ? "" : "s"; };
  std::vector<std::string> reasons;
  if (unknown_extension)
    reasons.push_back(fmt::format("{} of unknown extension", unknown_extension));
  if (hidden) reasons.push_back(fmt::format("{} hidden", hidden));
  if (subfolders)
    reasons.push_back(
        fmt::format("{} subfolder{} of class folders", subfolders, plural(subfolders)));
  if (other) reasons.push_back(fmt::format("{} neither file nor folder", other));
  std::vector<std::string> quoted;
  for (const auto& e : examples) quoted.push_back("'" + e + "'");
  return fmt::format("ignored {} file{} or folder{} ({}), e.g. {}", n, plural(n), plural(n),
                     fmt::join(reasons, ", "), fmt::join(quoted, ", "));
}

std::vector<std::size_t> draw_samples(std::size_t count, std::size_t n, std::uint64_t seed,
                                      const std::string& task) {
  require(count > 0, "task '{}' has no images to draw from", task);
  SplitMix rng(seed_for(seed, task));
  std::vector<std::size_t> out;
  if (count >= n) {  // partial Fisher-Yates: the first n of a seeded shuffle
    std::vector<std::size_t> idx(count);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    for (std::size_t i = 0; i < n; ++i) std::swap(idx[i], idx[i + rng.below(count - i)]);
    out.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n));
  } else {
    out.resize(n);
    for (auto& k : out) k = rng.below(count);
  }
  return out;
}

}  // namespace taskfp
