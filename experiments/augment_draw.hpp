// The random magnitudes and choices of augmentation, drawn with taskfp's generator (header-only:
// the training plugin draws with the same code), with albumentations 1.3's rules:
//   RGBShift: a shift per channel, uniform in its limits; RandomBrightnessContrast: alpha = 1 +
//   uniform(contrast), beta = uniform(brightness); Solarize: threshold uniform in its limits;
//   ShiftScaleRotate: angle uniform (degrees), scale factor 1 + uniform(scale limit) (the JSON
//   stores the limit without albumentations' bias of 1), shifts uniform (fractions of width and
//   height); CoarseDropout: randint(min_holes, max_holes) holes of randint sizes at
//   randint(0, size - hole) corners (bounds inclusive, as Python's random.randint).
#pragma once

#include <algorithm>
#include <array>
#include <vector>

#include "core/random.hpp"
#include "policy.hpp"

namespace taskfp::experiments {

/// What one sample gets from one operation.
struct OpDraw {
  std::array<double, 3> shift{};      ///< RGBShift, 8-bit units
  double alpha = 1, beta = 0;         ///< BrightnessContrast
  double threshold = 0;               ///< Solarize, 8-bit units
  double angle = 0, scale = 1, dx = 0, dy = 0;  ///< ShiftScaleRotate
  std::vector<std::array<int, 4>> holes;  ///< CoarseDropout: y, x, height, width
};

inline double draw_uniform(const Range& r, SplitMix& rng) { return r.lo == r.hi ? r.lo : r.lo + (r.hi - r.lo) * rng.uniform(); }
inline int draw_int(int lo, int hi, SplitMix& rng) {  // [lo, hi], inclusive
  return hi <= lo ? lo : lo + static_cast<int>(rng.below(static_cast<std::size_t>(hi - lo + 1)));
}

inline OpDraw draw_op(const AugmentOp& op, int size, SplitMix& rng) {
  OpDraw d;
  switch (op.kind) {
    case AugmentOpKind::RGBShift:
      for (int c = 0; c < 3; ++c) d.shift[c] = draw_uniform(op.rgb_shift[c], rng);
      break;
    case AugmentOpKind::BrightnessContrast:
      d.alpha = 1 + draw_uniform(op.contrast, rng);
      d.beta = draw_uniform(op.brightness, rng);
      break;
    case AugmentOpKind::Solarize: d.threshold = draw_uniform(op.threshold, rng); break;
    case AugmentOpKind::ShiftScaleRotate:
      d.angle = draw_uniform(op.rotate, rng);
      d.scale = 1 + draw_uniform(op.scale, rng);
      d.dx = draw_uniform(op.shift_x, rng);
      d.dy = draw_uniform(op.shift_y, rng);
      break;
    case AugmentOpKind::CoarseDropout: {
      const int holes = draw_int(op.min_holes, op.max_holes, rng);
      for (int h = 0; h < holes; ++h) {
        const int hh = std::min(draw_int(op.min_height, op.max_height, rng), size);
        const int ww = std::min(draw_int(op.min_width, op.max_width, rng), size);
        const int y = draw_int(0, size - hh, rng), x = draw_int(0, size - ww, rng);
        d.holes.push_back({y, x, hh, ww});
      }
      break;
    }
    default: break;
  }
  return d;
}

/// A weighted choice: index i with probability weights[i] / sum (albumentations' OneOf).
template <class Weights>
std::size_t draw_choice(const Weights& weights, SplitMix& rng) {
  double total = 0;
  for (double w : weights) total += w;
  double u = rng.uniform() * total;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (u < weights[i]) return i;
    u -= weights[i];
  }
  return weights.size() - 1;
}

/// The operations a policy applies to one sample, in order, with their draws: a sub-policy by
/// weight, then in each of its stages an operation by weight.
inline std::vector<std::pair<const AugmentOp*, OpDraw>> draw_policy(const AugmentPolicy& policy, int size,
                                                                     SplitMix& rng) {
  std::vector<double> w;
  for (const auto& sp : policy.sub_policies) w.push_back(sp.weight);
  const auto& sub = policy.sub_policies[draw_choice(w, rng)];
  std::vector<std::pair<const AugmentOp*, OpDraw>> out;
  for (const auto& stage : sub.stages) {
    std::vector<double> ow;
    for (const auto& op : stage.ops) ow.push_back(op.weight);
    const auto& op = stage.ops[draw_choice(ow, rng)];
    out.emplace_back(&op, draw_op(op, size, rng));
  }
  return out;
}

}  // namespace taskfp::experiments
