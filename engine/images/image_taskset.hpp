// Image task sets: which images make up each task (class folders or a CSV manifest), shrunk
// variants, and the seeded draw of the n images whose features fingerprint a task.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskfp {

/// One task's images of one split, in a fixed order (class, then file name).
struct TaskImages {
  std::string name;
  std::vector<std::string> files;
  std::vector<int> labels;                ///< index into classes
  std::vector<std::string> classes;
};

/// A task as configured: a class-folder root (<root>/<split>/<class>/<image>, or
/// <root>/<class>/<image> when there are no split folders) or a manifest CSV with columns
/// path,label,split (paths relative to the manifest). `shrink` > 0: the "<base> --shrink_train
/// <shrink>" variant, a seeded subset of that many training images.
struct ImageTaskSpec {
  std::string name;
  std::string root;
  std::string manifest;
  std::string split = "train";
  std::size_t shrink = 0;
};

/// Reads a task set file (YAML): `tasks:` a list of {name, root | manifest, split, shrink: [n,
/// ...]}; each shrink count adds the task "<name> --shrink_train <n>". Paths relative to the
/// file. InputError naming the file (and the task and key) for a malformed file, a value of the
/// wrong YAML type, an unknown or repeated key, a task without root or manifest, a task name that
/// cannot be stored ('/', '.', '..', empty: checked here, before any image is read), duplicate
/// names.
std::vector<ImageTaskSpec> read_image_taskset(const std::string& path);

/// Lists a task's images: PNG and JPEG files (.png, .jpg, .jpeg, any case). InputError naming the
/// root for an unreadable root, a class folder without images, a task without images, a manifest
/// row that is malformed or lacks a path or label. Shrunk variants keep `shrink` images, drawn
/// with the seed.
TaskImages list_task_images(const ImageTaskSpec& spec, std::uint64_t seed = 0);

/// Indices of the n images to extract from `count`: without replacement (a seeded shuffle's
/// first n) when count >= n, else n draws with replacement; the seed is combined with the task
/// name, so a task's draw does not depend on other tasks, ranks or order.
std::vector<std::size_t> draw_samples(std::size_t count, std::size_t n, std::uint64_t seed,
                                      const std::string& task);

}  // namespace taskfp
