// Synthetic task families: a splitmix64 stream and Box-Muller normals, so results do not depend
// on the standard library's distributions.
#include "synth/synthetic.hpp"

#include <cmath>
#include <new>
#include <numbers>
#include <utility>

#include "core/error.hpp"
#include "core/resources.hpp"
#include "core/random.hpp"
#include "core/text.hpp"

namespace taskfp {
namespace {

// The shared splitmix64 stream (core/random.hpp) with Box-Muller normals.
class Rng : public SplitMix {
 public:
  using SplitMix::SplitMix;
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Rng r(a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull));
  return r.next();
}

}  // namespace

void validate_synth_options(const SynthOptions& o) {
  require(o.families >= 1, "--families must be at least 1 (got {})", o.families);
  require(o.tasks_per_family >= 1, "--tasks-per-family must be at least 1 (got {})",
          o.tasks_per_family);
  require(o.samples >= 2,
          "--samples must be at least 2: a task's statistics need two samples (got {})", o.samples);
  require(o.dim >= 1, "--dim must be at least 1 (got {})", o.dim);
  // Spreads scale normals inside exp(0.3 spread x): beyond kMaxSynthSpread the features overflow
  // float32; NaN would silently turn every feature into zero (max(0, NaN)).
  for (const auto& [option, value] :
       {std::pair{"--family-spread", o.family_spread}, {"--task-spread", o.task_spread}})
    require(std::isfinite(value) && value >= 0 && value <= kMaxSynthSpread,
            "{} must be a number from 0 to {} (got {})", option, kMaxSynthSpread, value);
  require_memory(4.0L * o.families * o.tasks_per_family * o.samples * o.dim,
                 fmt::format("synth: {} x {} tasks of {} x {} float32 features (lower --families, "
                             "--tasks-per-family, --samples or --dim)",
                             o.families, o.tasks_per_family, o.samples, o.dim));
}

FeatureSet synthetic_features(const SynthOptions& o) {
  validate_synth_options(o);
  FeatureSet set;
  set.provenance.backbone = "synthetic";
  set.provenance.weights = "none (synthetic features)";
  set.provenance.weights_checksum = "none";
  set.provenance.preprocessing = "none";
  set.provenance.origin = fmt::format("taskfp synth seed={} families={} tasks_per_family={} "
                                      "samples={} dim={}",
                                      o.seed, o.families, o.tasks_per_family, o.samples, o.dim);
  set.provenance.feature_dim = o.dim;
  const auto d = static_cast<std::size_t>(o.dim);
  // Shared across families: which features are mostly inactive (as pooled ReLU features are).
  Rng global(mix(o.seed, 0));
  // About a quarter of the features are active in only a few percent of samples: zero in over
  // 95% of them (a degenerate bin range), but with a positive mean in every task.
  std::vector<double> base(d), scale(d);
  std::vector<char> sparse(d);
  for (std::size_t f = 0; f < d; ++f) {
    sparse[f] = global.uniform() < 0.25;
    base[f] = sparse[f] ? -1.0 : 0.5 * global.normal();
    scale[f] = sparse[f] ? 0.5 : 0.3 + 0.7 * global.uniform();
  }
  for (int k = 0; k < o.families; ++k) {
    Rng fam(mix(o.seed, 1000 + static_cast<std::uint64_t>(k)));
    std::vector<double> family_mean(d), family_scale(d);
    for (std::size_t f = 0; f < d; ++f) {
      const double shift = o.family_spread * 0.6 * fam.normal();
      const double stretch = std::exp(0.3 * o.family_spread * fam.normal());
      family_mean[f] = sparse[f] ? base[f] + 0.1 * shift : std::abs(base[f] + shift);
      family_scale[f] = sparse[f] ? scale[f] : scale[f] * stretch;
    }
    for (int j = 0; j < o.tasks_per_family; ++j) {
      Rng task(mix(o.seed, 100000 + static_cast<std::uint64_t>(k) * 1000 + static_cast<std::uint64_t>(j)));
      std::vector<double> mean(d), sd(d);
      for (std::size_t f = 0; f < d; ++f) {
        const double jitter = o.task_spread * 0.6 * task.normal();
        mean[f] = sparse[f] ? family_mean[f] + 0.1 * jitter : std::abs(family_mean[f] + jitter);
        sd[f] = family_scale[f] * std::exp(0.3 * o.task_spread * task.normal());
      }
      TaskFeatures t;
      t.name = fmt::format("fam{}_task{}", k, j);
      try {
        t.values = Matrix<float>(static_cast<std::size_t>(o.samples), d);
      } catch (const std::bad_alloc&) {  // sizes are the user's: say which ones to lower
        throw InputError(fmt::format(
            "synth: not enough memory for {} tasks of {} x {} float32 features; lower --samples, "
            "--dim, --families or --tasks-per-family",
            static_cast<std::size_t>(o.families) * static_cast<std::size_t>(o.tasks_per_family),
            o.samples, o.dim));
      }
      for (std::size_t i = 0; i < t.values.rows; ++i)
        for (std::size_t f = 0; f < d; ++f)
          t.values(i, f) = static_cast<float>(std::max(0.0, mean[f] + sd[f] * task.normal()));
      set.tasks.push_back(std::move(t));
    }
  }
  return set;
}

int synthetic_family(const std::string& name) {
  auto us = name.find('_');
  require(name.rfind("fam", 0) == 0 && us != std::string::npos,
          "'{}' is not a synthetic task name (fam<k>_task<j>)", name);
  auto k = parse_number<int>(std::string_view(name).substr(3, us - 3));
  require(k.has_value(), "'{}' is not a synthetic task name", name);
  return *k;
}

}  // namespace taskfp
