// Procedural image tasks: per family a pattern kind and its parameters, per task small changes,
// per class one parameter, per image a random placement and noise.
#include "images/synth_images.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"
#include "images/image.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct Look {
  int kind;            // 0 stripes, 1 blobs, 2 rings, 3 checks
  double frequency;    // cycles across the image (stripes, rings), cells (checks)
  double fg[3], bg[3]; // colours in [0, 1]
};

// Pattern intensity in [0, 1] at (u, v) in [0, 1)^2 for a class and a per-image random state.
double intensity(const Look& look, int cls, double u, double v, const double* r) {
  switch (look.kind) {
    case 0: {  // stripes; the class turns them
      const double angle = cls * kPi / 3.0 + r[0] * 0.2;
      const double t = u * std::cos(angle) + v * std::sin(angle);
      return 0.5 + 0.5 * std::sin(2 * kPi * look.frequency * t + r[1] * 2 * kPi);
    }
    case 1: {  // blobs; the class sets how many
      double s = 0;
      for (int b = 0; b <= cls; ++b) {
        const double cx = 0.2 + 0.6 * r[(2 * b) % 6], cy = 0.2 + 0.6 * r[(2 * b + 1) % 6];
        const double d2 = (u - cx) * (u - cx) + (v - cy) * (v - cy);
        s += std::exp(-d2 * look.frequency * 12.0);
      }
      return std::min(1.0, s);
    }
    case 2: {  // rings around a jittered centre; the class sets their spacing
      const double cx = 0.5 + 0.1 * (r[0] - 0.5), cy = 0.5 + 0.1 * (r[1] - 0.5);
      const double d = std::sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy));
      return 0.5 + 0.5 * std::cos(2 * kPi * d * look.frequency * (1.0 + 0.5 * cls));
    }
    default: {  // checks; the class sets the cell size
      const double cells = look.frequency * (1.0 + cls);
      const int a = static_cast<int>(std::floor((u + r[0] * 0.1) * cells));
      const int b = static_cast<int>(std::floor((v + r[1] * 0.1) * cells));
      return ((a + b) % 2 == 0) ? 0.85 : 0.15;
    }
  }
}

}  // namespace

std::vector<std::string> write_image_tasks(const std::string& dir, const ImageSynthOptions& o) {
  for (const auto& [option, value] : {std::pair{"--families", o.families},
                                      {"--tasks-per-family", o.tasks_per_family},
                                      {"--classes", o.classes},
                                      {"--images-per-class", o.images_per_class}})
    require(value >= 1, "synth-images: {} must be at least 1 (got {})", option, value);
  require(o.min_size >= 8 && o.min_size <= 8192,
          "synth-images: --min-size must lie in 8..8192 pixels (got {})", o.min_size);
  fs::create_directories(dir);
  std::vector<std::string> names;
  SplitMix family_rng(o.seed);
  for (int f = 0; f < o.families; ++f) {
    Look family{f % 4, 2.0 + 4.0 * family_rng.uniform(), {}, {}};
    for (int c = 0; c < 3; ++c) {
      family.fg[c] = 0.5 + 0.5 * family_rng.uniform();
      family.bg[c] = 0.4 * family_rng.uniform();
    }
    for (int t = 0; t < o.tasks_per_family; ++t) {
      const std::string name = "imgfam" + std::to_string(f) + "_task" + std::to_string(t);
      names.push_back(name);
      SplitMix rng(seed_for(o.seed, name));
      Look look = family;  // siblings: the family's look, nudged
      look.frequency *= 0.9 + 0.2 * rng.uniform();
      for (int c = 0; c < 3; ++c) {
        look.fg[c] = std::clamp(look.fg[c] + 0.1 * (rng.uniform() - 0.5), 0.0, 1.0);
        look.bg[c] = std::clamp(look.bg[c] + 0.1 * (rng.uniform() - 0.5), 0.0, 1.0);
      }
      const int format = o.jpeg_only ? 3 : (f + t) % 4;  // grey PNG, RGB PNG, grey 16-bit PNG, RGB JPEG
      const int size = o.min_size + o.min_size * 2 / 5 * ((f + t) % 4);
      for (int cls = 0; cls < o.classes; ++cls) {
        const fs::path class_dir = fs::path(dir) / name / "train" / ("class" + std::to_string(cls));
        fs::create_directories(class_dir);
        for (int i = 0; i < o.images_per_class; ++i) {
          double r[6];
          for (double& x : r) x = rng.uniform();
          Image img;
          img.width = size + static_cast<int>(rng.below(9));  // not square, not all alike
          img.height = size;
          img.channels = (format == 1 || format == 3) ? 3 : 1;
          img.bit_depth = format == 2 ? 16 : 8;
          const double max = img.max_value();
          img.samples.resize(static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) *
                             static_cast<std::size_t>(img.channels));
          std::size_t k = 0;
          for (int y = 0; y < img.height; ++y)
            for (int x = 0; x < img.width; ++x) {
              const double p = intensity(look, cls, (x + 0.5) / img.width, (y + 0.5) / img.height, r);
              const double noise = 0.06 * (rng.uniform() - 0.5);
              for (int c = 0; c < img.channels; ++c) {
                const int ch = img.channels == 1 ? 1 : c;
                const double v = std::clamp(look.bg[ch] + (look.fg[ch] - look.bg[ch]) * p + noise, 0.0, 1.0);
                img.samples[k++] = static_cast<std::uint16_t>(std::lround(v * max));
              }
            }
          char file[32];
          std::snprintf(file, sizeof file, "%04d.%s", i, format == 3 ? "jpg" : "png");
          const auto path = (class_dir / file).string();
          if (format == 3)
            write_jpeg(path, img, 90);
          else
            write_png(path, img);
        }
      }
    }
  }
  std::ofstream yaml(fs::path(dir) / "taskset.yaml");
  yaml << "# Image task set written by `taskfp synth-images` (seed " << o.seed << ").\n"
       << "# Each task: a root in the class-folder layout <root>/<split>/<class>/<image>.\n"
       << "tasks:\n";
  for (const auto& n : names) yaml << "  - name: " << n << "\n    root: " << n << "\n";
  require(yaml.good(), "cannot write '{}'", (fs::path(dir) / "taskset.yaml").string());
  return names;
}

}  // namespace taskfp
