// Procedural image tasks with controlled relatedness, written as PNG/JPEG class folders: the
// offline default data of the image pipeline (demo, tests). Deterministic for a seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskfp {

struct ImageSynthOptions {
  int families = 4;           ///< related groups; the pattern kind cycles: stripes, blobs, rings, checks
  int tasks_per_family = 3;
  int classes = 3;            ///< per task; the class sets a pattern parameter (angle, count, ...)
  int images_per_class = 12;  ///< training images per class
  std::uint64_t seed = 7;
  int min_size = 40;          ///< image heights are min_size x (1, 1.4, 1.8, 2.2) by task
  bool jpeg_only = false;     ///< every task RGB JPEG (throughput runs) instead of the four kinds
};

/// Writes <dir>/<task>/train/<class>/<nnnn>.{png,jpg} for every task and <dir>/taskset.yaml
/// listing them; returns the task names ("imgfam<k>_task<j>"). Siblings share the family's
/// pattern kind, frequency and colours up to small changes; formats and sizes vary within a
/// family (grey 8-bit PNG, RGB 8-bit PNG, grey 16-bit PNG, RGB JPEG; 40 to 88 pixels by default), so the
/// pipeline meets every input kind.
std::vector<std::string> write_image_tasks(const std::string& dir, const ImageSynthOptions& options);

}  // namespace taskfp
