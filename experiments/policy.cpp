// Reading and writing AutoAlbument policy JSON (nlohmann-json); every fault names the JSON path.
#include "policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/random.hpp"
#include "io/output_files.hpp"

namespace taskfp::experiments {

using nlohmann::json;

std::string op_name(AugmentOpKind k) {
  switch (k) {
    case AugmentOpKind::RGBShift: return "RGBShift";
    case AugmentOpKind::BrightnessContrast: return "RandomBrightnessContrast";
    case AugmentOpKind::Solarize: return "Solarize";
    case AugmentOpKind::HorizontalFlip: return "HorizontalFlip";
    case AugmentOpKind::VerticalFlip: return "VerticalFlip";
    case AugmentOpKind::ShiftScaleRotate: return "ShiftScaleRotate";
    case AugmentOpKind::CoarseDropout: return "CoarseDropout";
    case AugmentOpKind::Identity: return "NoOp";
  }
  return "?";
}

namespace {

constexpr AugmentOpKind kAllKinds[] = {AugmentOpKind::RGBShift,       AugmentOpKind::BrightnessContrast,
                                       AugmentOpKind::Solarize,       AugmentOpKind::HorizontalFlip,
                                       AugmentOpKind::VerticalFlip,   AugmentOpKind::ShiftScaleRotate,
                                       AugmentOpKind::CoarseDropout,  AugmentOpKind::Identity};

// Walks the JSON tree keeping the path ("transform.transforms[3].transforms[0]") for messages.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw InputError(fmt::format("augmentation policy {}: at {}: {}", origin_, where, what));
  }

  const json& member(const json& node, const std::string& where, const char* key) const {
    if (!node.is_object()) fail(where, "expected an object");
    const auto it = node.find(key);
    if (it == node.end()) fail(where, fmt::format("'{}' is missing", key));
    return *it;
  }
  double number(const json& node, const std::string& where, const char* key) const {
    const json& v = member(node, where, key);
    if (!v.is_number()) fail(where, fmt::format("'{}' is not a number", key));
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(where, fmt::format("'{}' is not finite", key));
    return x;
  }
  int integer(const json& node, const std::string& where, const char* key) const {
    const json& v = member(node, where, key);
    if (!v.is_number_integer()) fail(where, fmt::format("'{}' is not an integer", key));
    return v.get<int>();
  }
  // albumentations limits: [lo, hi], or one number x meaning [-x, x] (as its to_tuple does).
  Range range(const json& node, const std::string& where, const char* key) const {
    const json& v = member(node, where, key);
    if (v.is_number()) {
      const double x = v.get<double>();
      return {-std::fabs(x), std::fabs(x)};
    }
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
      fail(where, fmt::format("'{}' is not a pair of numbers", key));
    Range r{v[0].get<double>(), v[1].get<double>()};
    if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || r.lo > r.hi)
      fail(where, fmt::format("'{}' is not an interval [lo, hi]", key));
    return r;
  }
  double weight(const json& node, const std::string& where) const {
    const double p = number(node, where, "p");
    if (p < 0) fail(where, fmt::format("the weight p = {} is negative", p));
    return p;
  }
  std::string class_name(const json& node, const std::string& where) const {
    const json& v = member(node, where, "__class_fullname__");
    if (!v.is_string()) fail(where, "'__class_fullname__' is not a string");
    std::string name = v.get<std::string>();
    // Older albumentations wrote the module path ("albumentations.augmentations.transforms.RGBShift").
    if (const auto dot = name.rfind('.'); dot != std::string::npos) name = name.substr(dot + 1);
    return name;
  }
  const json& children(const json& node, const std::string& where) const {
    const json& v = member(node, where, "transforms");
    if (!v.is_array() || v.empty()) fail(where, "'transforms' is not a non-empty list");
    return v;
  }

  AugmentOp op(const json& node, const std::string& where) const {
    AugmentOp op;
    const std::string name = class_name(node, where);
    bool known = false;
    for (auto k : kAllKinds)
      if (op_name(k) == name) {
        op.kind = k;
        known = true;
      }
    if (!known)
      fail(where, fmt::format("operation '{}' is not one of RGBShift, RandomBrightnessContrast, Solarize, "
                              "HorizontalFlip, VerticalFlip, ShiftScaleRotate, CoarseDropout, NoOp",
                              name));
    op.weight = weight(node, where);
    switch (op.kind) {
      case AugmentOpKind::RGBShift:
        op.rgb_shift = {range(node, where, "r_shift_limit"), range(node, where, "g_shift_limit"),
                        range(node, where, "b_shift_limit")};
        break;
      case AugmentOpKind::BrightnessContrast: {
        op.brightness = range(node, where, "brightness_limit");
        op.contrast = range(node, where, "contrast_limit");
        const auto it = node.find("brightness_by_max");
        if (it != node.end()) {
          if (!it->is_boolean()) fail(where, "'brightness_by_max' is not true or false");
          op.brightness_by_max = it->get<bool>();
        }
        break;
      }
      case AugmentOpKind::Solarize: {
        const json& t = member(node, where, "threshold");
        op.threshold = t.is_number() ? Range{t.get<double>(), t.get<double>()} : range(node, where, "threshold");
        break;
      }
      case AugmentOpKind::ShiftScaleRotate: {
        op.shift_x = range(node, where, "shift_limit_x");
        op.shift_y = range(node, where, "shift_limit_y");
        op.scale = range(node, where, "scale_limit");
        op.rotate = range(node, where, "rotate_limit");
        op.interpolation = integer(node, where, "interpolation");
        op.border_mode = integer(node, where, "border_mode");
        // What the batched implementation does: bilinear sampling with reflect-101 borders (the
        // albumentations defaults the published policies use).
        if (op.interpolation != 1)
          fail(where, fmt::format("interpolation {} is not implemented (only 1, linear)", op.interpolation));
        if (op.border_mode != 4)
          fail(where, fmt::format("border_mode {} is not implemented (only 4, reflect-101)", op.border_mode));
        if (const auto it = node.find("rotate_method");
            it != node.end() && !(it->is_string() && (*it == "largest_box" || *it == "ellipse")))
          fail(where, "'rotate_method' is not \"largest_box\" or \"ellipse\"");
        break;
      }
      case AugmentOpKind::CoarseDropout: {
        op.max_holes = integer(node, where, "max_holes");
        op.max_height = integer(node, where, "max_height");
        op.max_width = integer(node, where, "max_width");
        const auto opt_int = [&](const char* key, int fallback) {
          const auto it = node.find(key);
          return it == node.end() || it->is_null() ? fallback : integer(node, where, key);
        };
        op.min_holes = opt_int("min_holes", op.max_holes);
        op.min_height = opt_int("min_height", op.max_height);
        op.min_width = opt_int("min_width", op.max_width);
        if (op.min_holes < 0 || op.min_holes > op.max_holes || op.min_height < 1 ||
            op.min_height > op.max_height || op.min_width < 1 || op.min_width > op.max_width)
          fail(where, "holes, heights or widths are not 0 <= min <= max (sizes at least 1 pixel)");
        const json& fill = member(node, where, "fill_value");
        if (!fill.is_number()) fail(where, "'fill_value' is not a number (per-channel fills are not implemented)");
        op.fill_value = fill.get<double>();
        break;
      }
      default: break;
    }
    return op;
  }

  // A OneOf of operations (one stage), or an operation alone (a stage of one).
  PolicyStage stage(const json& node, const std::string& where) const {
    PolicyStage s;
    if (class_name(node, where) != "OneOf") {
      s.ops.push_back(op(node, where));
      s.ops.back().weight = 1;
      return s;
    }
    const json& list = children(node, where);
    double total = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      s.ops.push_back(op(list[i], fmt::format("{}.transforms[{}]", where, i)));
      total += s.ops.back().weight;
    }
    if (!(total > 0)) fail(where, "the weights of the stage's operations sum to zero");
    return s;
  }

  AugmentPolicy policy(const json& doc) const {
    const std::string top = "transform";
    const json& compose = member(doc, "the top level", "transform");
    if (class_name(compose, top) != "Compose") fail(top, "expected a Compose");
    const json& outer = children(compose, top);
    if (outer.size() != 1) fail(top, "expected one OneOf of sub-policies inside the Compose");
    const std::string where = top + ".transforms[0]";
    if (class_name(outer[0], where) != "OneOf") fail(where, "expected a OneOf of sub-policies");
    AugmentPolicy p;
    p.origin = origin_;
    const json& subs = children(outer[0], where);
    double total = 0;
    for (std::size_t i = 0; i < subs.size(); ++i) {
      const std::string at = fmt::format("{}.transforms[{}]", where, i);
      if (class_name(subs[i], at) != "Sequential") fail(at, "expected a Sequential (a sub-policy)");
      SubPolicy sp;
      sp.weight = weight(subs[i], at);
      total += sp.weight;
      const json& stages = children(subs[i], at);
      for (std::size_t j = 0; j < stages.size(); ++j)
        sp.stages.push_back(stage(stages[j], fmt::format("{}.transforms[{}]", at, j)));
      p.sub_policies.push_back(std::move(sp));
    }
    if (!(total > 0)) fail(where, "the weights of the sub-policies sum to zero");
    return p;
  }

 private:
  std::string origin_;
};

json range_json(const Range& r) { return json::array({r.lo, r.hi}); }

json op_json(const AugmentOp& op) {
  json j = {{"__class_fullname__", op_name(op.kind)}, {"always_apply", false}, {"p", op.weight}};
  switch (op.kind) {
    case AugmentOpKind::RGBShift:
      j["r_shift_limit"] = range_json(op.rgb_shift[0]);
      j["g_shift_limit"] = range_json(op.rgb_shift[1]);
      j["b_shift_limit"] = range_json(op.rgb_shift[2]);
      break;
    case AugmentOpKind::BrightnessContrast:
      j["brightness_limit"] = range_json(op.brightness);
      j["contrast_limit"] = range_json(op.contrast);
      j["brightness_by_max"] = op.brightness_by_max;
      break;
    case AugmentOpKind::Solarize: j["threshold"] = range_json(op.threshold); break;
    case AugmentOpKind::ShiftScaleRotate:
      j["shift_limit_x"] = range_json(op.shift_x);
      j["shift_limit_y"] = range_json(op.shift_y);
      j["scale_limit"] = range_json(op.scale);
      j["rotate_limit"] = range_json(op.rotate);
      j["interpolation"] = op.interpolation;
      j["border_mode"] = op.border_mode;
      j["value"] = nullptr;
      j["mask_value"] = nullptr;
      j["rotate_method"] = "largest_box";
      break;
    case AugmentOpKind::CoarseDropout:
      j["max_holes"] = op.max_holes;
      j["max_height"] = op.max_height;
      j["max_width"] = op.max_width;
      j["min_holes"] = op.min_holes;
      j["min_height"] = op.min_height;
      j["min_width"] = op.min_width;
      j["fill_value"] = op.fill_value;
      j["mask_fill_value"] = nullptr;
      break;
    default: break;
  }
  return j;
}

}  // namespace

AugmentPolicy random_policy(std::uint64_t seed, int size) {
  SplitMix rng(seed);
  auto u = [&](double lo, double hi) { return lo + (hi - lo) * rng.uniform(); };
  auto fixed = [](double v) { return Range{v, v}; };
  auto k = [&](int lo, int hi) { return lo + static_cast<int>(rng.below(static_cast<std::size_t>(hi - lo + 1))); };
  AugmentPolicy p;
  p.origin = fmt::format("random policy (seed {})", seed);
  for (int sp = 0; sp < 10; ++sp) {
    SubPolicy sub;
    sub.weight = 0.1;
    for (int st = 0; st < 3; ++st) {
      PolicyStage stage;
      auto add = [&](AugmentOp op) { stage.ops.push_back(std::move(op)); };
      for (int c = 0; c < 3; ++c) {
        AugmentOp op;
        op.kind = AugmentOpKind::RGBShift;
        op.rgb_shift[c] = fixed(std::round(u(-255, 255)));
        add(op);
      }
      AugmentOp b;
      b.kind = AugmentOpKind::BrightnessContrast;
      b.brightness = fixed(u(-1, 1));
      add(b);
      AugmentOp c;
      c.kind = AugmentOpKind::BrightnessContrast;
      c.contrast = fixed(u(0, 10));
      add(c);
      AugmentOp so;
      so.kind = AugmentOpKind::Solarize;
      so.threshold = fixed(k(1, 254));
      add(so);
      AugmentOp hf;
      hf.kind = AugmentOpKind::HorizontalFlip;
      add(hf);
      AugmentOp vf;
      vf.kind = AugmentOpKind::VerticalFlip;
      add(vf);
      for (int g = 0; g < 4; ++g) {
        AugmentOp op;
        op.kind = AugmentOpKind::ShiftScaleRotate;
        if (g == 0) op.rotate = fixed(u(-180, 180));
        if (g == 1) op.shift_x = fixed(u(-1, 1));
        if (g == 2) op.shift_y = fixed(u(-1, 1));
        if (g == 3) op.scale = fixed(u(0, 10));
        add(op);
      }
      AugmentOp d1;
      d1.kind = AugmentOpKind::CoarseDropout;
      d1.min_holes = d1.max_holes = 16;
      d1.min_height = d1.max_height = d1.min_width = d1.max_width = k(1, std::max(1, size));
      add(d1);
      AugmentOp d2;
      d2.kind = AugmentOpKind::CoarseDropout;
      d2.min_holes = d2.max_holes = k(1, 16);
      d2.min_height = d2.max_height = d2.min_width = d2.max_width = std::min(16, std::max(1, size));
      add(d2);
      AugmentOp id;
      id.kind = AugmentOpKind::Identity;
      add(id);
      double total = 0;
      for (auto& op : stage.ops) total += (op.weight = -std::log(1.0 - rng.uniform()));
      for (auto& op : stage.ops) op.weight /= total;
      sub.stages.push_back(std::move(stage));
    }
    p.sub_policies.push_back(std::move(sub));
  }
  return p;
}

std::string find_published_policy(const std::string& folder, const std::string& task, int seed) {
  namespace fs = std::filesystem;
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto& p = it->path();
    if (!it->is_regular_file() || p.extension() != ".json" || !p.filename().string().starts_with("policy_")) continue;
    const std::string parent = p.parent_path().filename().string();
    if (parent == task || parent.ends_with("_" + task)) found.push_back(p);
  }
  if (ec) throw InputError(fmt::format("policies folder {}: cannot be listed ({})", folder, ec.message()));
  std::sort(found.begin(), found.end());
  if (found.size() > 1) {
    std::vector<fs::path> of_seed;
    const std::string suffix = "_" + std::to_string(seed);
    for (const auto& p : found)
      for (const auto& part : fs::relative(p, folder))
        if (part.string().ends_with(suffix)) {
          of_seed.push_back(p);
          break;
        }
    found = of_seed;
  }
  if (found.size() != 1)
    throw InputError(fmt::format("policies folder {}: {} policy files fit task '{}' and seed {} (expected one: "
                                 "policy_*.json in a folder named '<...>_{}', below a folder ending in '_{}' where "
                                 "there are several)",
                                 folder, found.size(), task, seed, task, seed));
  return found.front().string();
}

AugmentPolicy parse_policy(const std::string& json_text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("augmentation policy {}: not valid JSON ({})", origin, e.what()));
  }
  return Reader(origin).policy(doc);
}

AugmentPolicy read_policy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("augmentation policy {}: cannot be read", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_policy(text.str(), path);
}

std::string policy_json(const AugmentPolicy& policy) {
  json subs = json::array();
  for (const auto& sp : policy.sub_policies) {
    json stages = json::array();
    for (const auto& st : sp.stages) {
      json ops = json::array();
      for (const auto& op : st.ops) ops.push_back(op_json(op));
      stages.push_back({{"__class_fullname__", "OneOf"}, {"p", 1.0}, {"transforms", ops}});
    }
    subs.push_back({{"__class_fullname__", "Sequential"}, {"p", sp.weight}, {"transforms", stages}});
  }
  json doc = {{"__version__", "1.3.0"},
              {"transform",
               {{"__class_fullname__", "Compose"},
                {"p", 1.0},
                {"transforms", json::array({{{"__class_fullname__", "OneOf"}, {"p", 1}, {"transforms", subs}}})},
                {"bbox_params", nullptr},
                {"keypoint_params", nullptr},
                {"additional_targets", json::object()}}}};
  return doc.dump(2) + "\n";
}

void write_policy(const AugmentPolicy& policy, const std::string& path) { write_text_file(path, policy_json(policy)); }

}  // namespace taskfp::experiments
