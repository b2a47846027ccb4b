// Augmentation policies in AutoAlbument's JSON format (albumentations 1.3 serialisation), as the
// paper's Faster AutoAugment searches exported them: Compose[OneOf(10 sub-policies)], each
// sub-policy a Sequential of stages, each stage a OneOf among operations with fixed magnitudes.
// A OneOf picks one child with probability p_child / sum(p) and applies it unconditionally
// (albumentations' OneOf calls the chosen child with force_apply), so the p of an operation is
// its weight in the stage and the p of a sub-policy its weight in the policy.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace taskfp::experiments {

enum class AugmentOpKind {
  RGBShift,            ///< add a per-channel shift (r, g, b limits, 8-bit units)
  BrightnessContrast,  ///< albumentations RandomBrightnessContrast (alpha = 1 + contrast, beta = brightness)
  Solarize,            ///< invert values at or above a threshold (8-bit units)
  HorizontalFlip,
  VerticalFlip,
  ShiftScaleRotate,  ///< affine: shift (fractions of the size), scale (1 + limit), rotation (degrees)
  CoarseDropout,     ///< fill rectangular holes
  Identity,          ///< albumentations NoOp
};
std::string op_name(AugmentOpKind k);  ///< the albumentations class name ("RGBShift", "NoOp", ...)

/// A closed interval [lo, hi] a magnitude is drawn from uniformly (lo == hi: fixed).
struct Range {
  double lo = 0, hi = 0;
};

/// One operation of a stage with its weight and magnitudes (the fields its kind uses).
struct AugmentOp {
  AugmentOpKind kind = AugmentOpKind::Identity;
  double weight = 0;                      ///< albumentations p: relative weight in its stage
  std::array<Range, 3> rgb_shift{};       ///< RGBShift: r, g, b, in 8-bit units (value / 255 on [0,1] images)
  Range brightness{}, contrast{};         ///< BrightnessContrast
  bool brightness_by_max = true;          ///< BrightnessContrast: beta scaled by the maximum value
  Range threshold{};                      ///< Solarize, 8-bit units
  Range shift_x{}, shift_y{}, scale{}, rotate{};  ///< ShiftScaleRotate; rotate in degrees
  int interpolation = 1;                  ///< ShiftScaleRotate: OpenCV flag (1 = linear)
  int border_mode = 4;                    ///< ShiftScaleRotate: OpenCV flag (4 = reflect 101)
  int min_holes = 0, max_holes = 0;       ///< CoarseDropout
  int min_height = 0, max_height = 0, min_width = 0, max_width = 0;  ///< CoarseDropout, pixels
  double fill_value = 0;                  ///< CoarseDropout, 8-bit units
};

/// One stage: a weighted choice of one operation.
struct PolicyStage {
  std::vector<AugmentOp> ops;
};

/// One sub-policy: its weight in the policy and its stages, applied in order.
struct SubPolicy {
  double weight = 0;
  std::vector<PolicyStage> stages;
};

struct AugmentPolicy {
  std::vector<SubPolicy> sub_policies;
  std::string origin;  ///< the file it was read from, or how it was made
};

/// A random policy of Faster AutoAugment's layout, as the published policies have it: 10
/// sub-policies of weight 0.1, each 3 stages of the same 15 operations (RGB shift of the red,
/// green, blue channel in [-255, 255]; brightness in [-1, 1]; contrast in [0, 10]; solarize at a
/// threshold in [1, 254]; horizontal and vertical flip; rotation in [-180, 180] degrees; shift
/// along x, along y in [-1, 1]; scale limit in [0, 10]; 16 holes of k x k, k in [1, size]; k holes
/// of 16 x 16, k in [1, 16]; identity) with random weights (normalised exponential draws, as a
/// flat Dirichlet) and magnitudes drawn uniformly in those ranges, fixed (lo = hi). `size`: the
/// image side the dropout sizes scale with (the published ones: 256). For the policy search.
AugmentPolicy random_policy(std::uint64_t seed, int size);

/// The published policy of `task` for `seed` below `folder`: a `policy_*.json` in a folder whose
/// name is the task or ends with `_<task>` (the paper's `<dataset>%TASK<id>_<task>`); where
/// several are found, the one below a folder whose name ends with `_<seed>` (the paper's
/// `pami2_t_aa_search_01_<seed>`). InputError naming the folder and task when none or no single
/// one fits.
std::string find_published_policy(const std::string& folder, const std::string& task, int seed);

/// Reads a policy JSON as AutoAlbument wrote it (`{"__version__": ..., "transform": {Compose}}`).
/// InputError naming the file and the JSON path of the fault for: unparsable JSON, an unknown
/// class name, a missing or mistyped parameter, a negative weight or a stage whose weights sum
/// to zero, an empty policy, parameters taskfp does not implement (e.g. another border mode).
AugmentPolicy read_policy(const std::string& path);
/// The same from JSON text; `origin` names it in errors.
AugmentPolicy parse_policy(const std::string& json_text, const std::string& origin);

/// Writes a policy in the same format (albumentations 1.3 can load it with A.load), atomically.
void write_policy(const AugmentPolicy& policy, const std::string& path);
/// The JSON text write_policy writes.
std::string policy_json(const AugmentPolicy& policy);

}  // namespace taskfp::experiments
