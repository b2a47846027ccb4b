// Experiment configs (yaml-cpp): strict reading, every key known, every value checked.
#include "config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"

namespace taskfp::experiments {

namespace fs = std::filesystem;

std::string study_key(StudyKind k) {
  switch (k) {
    case StudyKind::Baseline: return "baseline";
    case StudyKind::Architecture: return "architecture";
    case StudyKind::Pretraining: return "pretraining";
    case StudyKind::Augmentation: return "augmentation";
    case StudyKind::CoTraining: return "cotraining";
  }
  return "?";
}

int EpochRule::epochs(std::size_t n, int batch, bool is_shrunk) const {
  if (is_shrunk) return shrunk;
  // int(0.8 * N) as Python truncates it (N < 2^53: exact).
  const auto train = static_cast<long long>(0.8 * static_cast<double>(n));
  const long long e = steps / ((train / batch) + 1) + 1;
  return static_cast<int>(std::min<long long>(max, e));
}

std::array<ScenarioConfig, 5> paper_scenarios() {
  std::array<ScenarioConfig, 5> s;
  for (auto& sc : s) {
    sc.enabled = true;
    sc.targets = {true, true};
  }
  for (auto k : {StudyKind::Pretraining, StudyKind::Augmentation}) {
    s[static_cast<int>(k)].targets = {false, true};
    s[static_cast<int>(k)].max_target_classes = 39;
  }
  s[static_cast<int>(StudyKind::Architecture)].candidates = {"resnet18",     "resnet34",        "resnet50",
                                                             "densenet121",  "mobilenet_v2",    "efficientnet_b0",
                                                             "regnet_x_400mf"};
  return s;
}

const std::vector<std::string>& zoo_architectures() {
  // LibTorch-native definitions in the training plugin (torchvision's layouts), plus the tiny
  // network of the demo profile.
  static const std::vector<std::string> names = {"resnet18",       "resnet34",        "resnet50",
                                                 "densenet121",    "mobilenet_v2",    "efficientnet_b0",
                                                 "regnet_x_400mf", "tiny_cnn",       "small_cnn"};
  return names;
}

bool is_native_architecture(const std::string& name) {
  return name == "resnet18" || name == "resnet34" || name == "tiny_cnn" || name == "small_cnn";
}

namespace {

// A YAML map whose keys are checked against the known ones, read key by key.
class Section {
 public:
  Section(const YAML::Node& node, std::string where, std::string file, std::vector<std::string> keys)
      : node_(node), where_(std::move(where)), file_(std::move(file)), keys_(std::move(keys)) {
    if (!node_.IsMap()) fail("is not a map of keys");
    for (const auto& kv : node_) {
      const auto key = kv.first.as<std::string>();
      if (std::find(keys_.begin(), keys_.end(), key) == keys_.end())
        fail(fmt::format("has an unknown key '{}' (the keys are {})", key, fmt::join(keys_, ", ")));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("experiment config {}: {} {}", file_, where_, what));
  }
  [[nodiscard]] bool has(const char* key) const { return static_cast<bool>(node_[key]); }
  [[nodiscard]] YAML::Node node(const char* key) const { return node_[key]; }
  [[nodiscard]] std::string at(const char* key) const { return where_ == "the top level" ? key : where_ + "." + key; }

  template <class T>
  void read(const char* key, T& value) const {
    if (!has(key)) return;
    try {
      value = node_[key].as<T>();
    } catch (const YAML::Exception&) {
      throw InputError(fmt::format("experiment config {}: '{}' has a value of the wrong type", file_, at(key)));
    }
  }
  template <class T>
  void read(const char* key, T& value, T lo, T hi) const {
    read(key, value);
    if (value < lo || value > hi)
      throw InputError(fmt::format("experiment config {}: '{}' is {}, outside [{}, {}]", file_, at(key), value, lo, hi));
  }
  [[nodiscard]] Section sub(const char* key, std::vector<std::string> keys) const {
    return Section(node_[key], at(key), file_, std::move(keys));
  }
  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  YAML::Node node_;
  std::string where_, file_;
  std::vector<std::string> keys_;
};

void require_zoo(const std::string& name, const std::string& file, const std::string& key) {
  const auto& zoo = zoo_architectures();
  if (std::find(zoo.begin(), zoo.end(), name) == zoo.end())
    throw InputError(fmt::format("experiment config {}: '{}' names architecture '{}', which is not in the model "
                                 "zoo ({})",
                                 file, key, name, fmt::join(zoo, ", ")));
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  return (path.is_absolute() ? path : fs::path(base_dir) / path).lexically_normal().string();
}

void read_training(const Section& s, TrainingConfig& t) {
  s.read("architecture", t.architecture);
  require_zoo(t.architecture, s.file(), s.at("architecture"));
  s.read("pretrained", t.pretrained);
  if (t.pretrained != "imagenet" && t.pretrained != "random")
    s.fail(fmt::format("has pretrained '{}' (imagenet or random)", t.pretrained));
  s.read("batch", t.batch, 1, 1 << 20);
  if (s.has("optimizer")) {
    const auto o = s.sub("optimizer", {"name", "lr", "betas", "weight_decay"});
    std::string name = "adam";
    o.read("name", name);
    if (name != "adam") o.fail(fmt::format("has name '{}' (only adam is implemented)", name));
    o.read("lr", t.lr);
    if (!(t.lr > 0 && t.lr < 10)) o.fail("has an lr outside (0, 10)");
    std::vector<double> betas = {t.beta1, t.beta2};
    o.read("betas", betas);
    if (betas.size() != 2 || !(betas[0] >= 0 && betas[0] < 1 && betas[1] >= 0 && betas[1] < 1))
      o.fail("has betas that are not two numbers in [0, 1)");
    t.beta1 = betas[0];
    t.beta2 = betas[1];
    o.read("weight_decay", t.weight_decay, 0.0, 1.0);
  }
  if (s.has("scheduler")) {
    const auto o = s.sub("scheduler", {"name", "step", "gamma"});
    std::string name = "step";
    o.read("name", name);
    if (name != "step") o.fail(fmt::format("has name '{}' (only step is implemented)", name));
    o.read("step", t.step, 1, 1 << 20);
    o.read("gamma", t.gamma, 0.0, 1.0);
  }
  for (const auto& [key, expected] : {std::pair{"loss", "cross_entropy"}, std::pair{"sampler", "balanced"}})
    if (s.has(key)) {
      std::string v;
      s.read(key, v);
      if (v != expected) s.fail(fmt::format("has {} '{}' (only {} is implemented)", key, v, expected));
    }
  s.read("precision", t.precision);
  if (t.precision != "auto" && t.precision != "fp32")
    s.fail(fmt::format("has precision '{}' (auto or fp32)", t.precision));
  if (s.has("epochs")) {
    const auto e = s.sub("epochs", {"max", "steps", "shrunk"});
    e.read("max", t.epochs.max, 1, 100000);
    e.read("steps", t.epochs.steps, 1, 100000000);
    e.read("shrunk", t.epochs.shrunk, 1, 100000);
  }
  if (s.has("images")) {
    const auto i = s.sub("images", {"size", "pad", "crop", "flip", "normalize"});
    i.read("size", t.images.size, 8, 4096);
    i.read("pad", t.images.pad, t.images.size, 8192);
    i.read("crop", t.images.crop, 1, t.images.size);
    i.read("flip", t.images.flip);
    i.read("normalize", t.images.normalize);
    if (t.images.normalize != "imagenet" && t.images.normalize != "none")
      i.fail(fmt::format("has normalize '{}' (imagenet or none)", t.images.normalize));
  }
}

TargetVariants read_targets(const Section& s) {
  TargetVariants v;
  if (!s.has("targets")) return v;
  std::vector<std::string> words;
  s.read("targets", words);
  if (words.empty()) s.fail("has an empty 'targets' list (full, shrunk)");
  v.full = v.shrunk = false;
  for (const auto& w : words) {
    if (w == "full") v.full = true;
    else if (w == "shrunk") v.shrunk = true;
    else s.fail(fmt::format("has target variant '{}' (full or shrunk)", w));
  }
  return v;
}

}  // namespace

ExperimentConfig read_experiment_config(const std::string& path) {
  ExperimentConfig c;
  c.path = path;
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw InputError(fmt::format("experiment config {}: cannot be read", path));
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("experiment config {}: not valid YAML ({})", path, e.what()));
  }
  const std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  const Section top(doc, "the top level", path,
                    {"name", "tasks", "folds", "evaluation_fold", "fold_seed", "shrink", "seeds", "training",
                     "metrics", "scenarios"});
  top.read("name", c.name);
  if (top.has("tasks")) {
    const auto t = top.sub("tasks", {"images", "rules", "sizes"});
    t.read("images", c.images);
    t.read("rules", c.rules);
    t.read("sizes", c.sizes);
    c.images = resolve(dir, c.images);
    c.rules = resolve(dir, c.rules);
    c.sizes = resolve(dir, c.sizes);
  }
  top.read("folds", c.folds, 2, 100);
  top.read("evaluation_fold", c.evaluation_fold, 0, c.folds - 1);
  top.read("fold_seed", c.fold_seed);
  if (top.has("shrink")) {
    const auto s = top.sub("shrink", {"size", "min_per_class", "max_classes", "min_samples"});
    s.read("size", c.shrink.size, std::size_t{1}, std::size_t{1} << 40);
    s.read("min_per_class", c.shrink.min_per_class, std::size_t{0}, std::size_t{1} << 40);
    s.read("max_classes", c.shrink.max_classes, std::size_t{1}, std::size_t{1} << 40);
    s.read("min_samples", c.shrink.min_samples, std::size_t{1}, std::size_t{1} << 40);
    if (c.shrink.size % static_cast<std::size_t>(c.folds - 1) != 0)
      s.fail(fmt::format("has size {}, which the {} training folds cannot share equally", c.shrink.size, c.folds - 1));
  }
  top.read("seeds", c.seeds);
  if (c.seeds.empty()) top.fail("has an empty 'seeds' list");
  if (std::set<int>(c.seeds.begin(), c.seeds.end()).size() != c.seeds.size()) top.fail("repeats a seed in 'seeds'");
  for (int r : c.seeds)
    if (r < 0) top.fail(fmt::format("has the negative seed {} in 'seeds'", r));
  if (top.has("training")) {
    read_training(top.sub("training", {"architecture", "pretrained", "batch", "optimizer", "scheduler", "loss",
                                       "sampler", "precision", "epochs", "images"}),
                  c.training);
  }
  if (top.has("metrics")) {
    std::vector<std::string> names;
    top.read("metrics", names);
    if (names.empty()) top.fail("has an empty 'metrics' list (AUROC, BA)");
    c.metrics.clear();
    for (const auto& n : names) {
      try {
        c.metrics.push_back(parse_metric(n));
      } catch (const InputError& e) {
        top.fail(fmt::format("lists {}", e.what()));
      }
    }
  }
  // No `scenarios`: all of them, with the paper's settings; else the ones listed.
  const StudyKind kinds[] = {StudyKind::Baseline, StudyKind::Architecture, StudyKind::Pretraining,
                             StudyKind::Augmentation, StudyKind::CoTraining};
  if (top.has("scenarios")) {
    const auto s = top.sub("scenarios", {"baseline", "architecture", "pretraining", "augmentation", "cotraining"});
    for (auto& sc : c.scenarios) sc.enabled = false;
    for (const auto kind : kinds) {
      const std::string key = study_key(kind);
      if (!s.has(key.c_str())) continue;
      auto& sc = c.scenarios[static_cast<int>(kind)];
      sc.enabled = true;
      std::vector<std::string> keys = {"targets", "max_target_classes"};
      if (kind == StudyKind::Architecture) keys.push_back("candidates");
      if (kind == StudyKind::Augmentation) {
        keys.push_back("search");
        keys.push_back("policies");
      }
      const YAML::Node node = s.node(key.c_str());
      if (node.IsNull()) continue;  // "pretraining:" alone: the defaults
      const Section sec(node, s.at(key.c_str()), path, keys);
      if (sec.has("targets")) sc.targets = read_targets(sec);
      sec.read("max_target_classes", sc.max_target_classes, std::size_t{0}, std::size_t{1} << 40);
      if (kind == StudyKind::Architecture && sec.has("candidates")) {
        sec.read("candidates", sc.candidates);
        if (sc.candidates.empty()) sec.fail("has an empty 'candidates' list");
      }
      if (kind == StudyKind::Augmentation && sec.has("search")) {
        const auto a = sec.sub("search", {"candidates", "epochs", "keep"});
        a.read("candidates", sc.search.candidates, 1, 100000);
        a.read("epochs", sc.search.epochs, 1, 100000);
        a.read("keep", sc.search.keep, 0.01, 1.0);
      }
      if (kind == StudyKind::Augmentation && sec.has("policies")) {
        sec.read("policies", sc.policies);
        sc.policies = resolve(dir, sc.policies);
        if (!fs::is_directory(sc.policies)) sec.fail(fmt::format("has policies '{}', which is not a folder", sc.policies));
      }
    }
  }
  for (const auto& name : c.scenarios[static_cast<int>(StudyKind::Architecture)].candidates)
    require_zoo(name, path, "scenarios.architecture.candidates");
  return c;
}

std::string ExperimentConfig::protocol(bool with_augmentation) const {
  const auto& t = training;
  std::string text = fmt::format(
      "folds={} eval={} fold_seed={} shrink={}/{}/{}/{} arch={} pretrained={} batch={} adam={},{},{},{} step={},{} "
      "precision={} epochs={},{},{} images={},{},{},{},{}",
      folds, evaluation_fold, fold_seed, shrink.size, shrink.min_per_class, shrink.max_classes, shrink.min_samples,
      t.architecture, t.pretrained, t.batch, t.lr, t.beta1, t.beta2, t.weight_decay, t.step, t.gamma, t.precision,
      t.epochs.max, t.epochs.steps, t.epochs.shrunk, t.images.size, t.images.pad, t.images.crop, t.images.flip,
      t.images.normalize);
  if (!with_augmentation) return text;
  const auto& a = scenario(StudyKind::Augmentation).search;
  const auto& aug = scenario(StudyKind::Augmentation);
  text += aug.policies.empty() ? fmt::format(" search={},{},{}", a.candidates, a.epochs, a.keep)
                               : std::string(" policies=published");
  return text;
}

}  // namespace taskfp::experiments
