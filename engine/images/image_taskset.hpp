// Image task sets: which images make up each task (class folders or a CSV manifest), shrunk
// variants, and the seeded draw of the n images whose features fingerprint a task.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "images/dicom.hpp"
#include "images/idx.hpp"
#include "images/nifti.hpp"

namespace taskfp {

/// What listing a class-folder task passed over, by reason: files of an extension taskfp does not
/// read; hidden files and folders (names starting with '.': .DS_Store, AppleDouble ._x.png,
/// .ipynb_checkpoints; a hidden folder is never a class); folders inside class folders; other
/// entries (sockets, broken links).
struct IgnoredFiles {
  std::size_t unknown_extension = 0, hidden = 0, subfolders = 0, other = 0;
  std::vector<std::string> examples;  ///< the first three, in listing order
  [[nodiscard]] std::size_t count() const {
    return unknown_extension + hidden + subfolders + other;
  }
  /// One line, e.g. "ignored 3 files or folders (2 of unknown extension, 1 hidden), e.g. 'a/b.txt',
  /// ..."; empty when nothing was ignored.
  [[nodiscard]] std::string summary() const;
};

/// What an image of a task is: a whole file (PNG, JPEG, TIFF), an item of an IDX file, a slice
/// of a NIfTI volume, or a frame of a DICOM file.
enum class ImageKind : std::uint8_t { file, idx_item, nifti_slice, dicom_frame };

/// One task's images of one split, in a fixed order (class, then file name, then the image's
/// index within its file). A file can hold several images (the items of an IDX file, the slices
/// of a NIfTI volume, the frames of a DICOM file); image k is files[k], item index[k] of it (-1:
/// the file is one image).
struct TaskImages {
  std::string name;
  std::vector<std::string> files;
  std::vector<std::int64_t> index;        ///< per image: its item or slice in the file, or -1
  std::vector<ImageKind> kinds;           ///< per image
  std::vector<int> labels;                ///< index into classes
  std::vector<std::string> classes;
  std::shared_ptr<const IdxImages> idx;   ///< the task's IDX files, read once when listed
  NiftiOptions nifti;                     ///< how the task's NIfTI volumes become slices
  DicomOptions dicom;                     ///< how the task's DICOM frames become unit images
  /// How files became images where that was a choice ("nifti: ...", NiftiOptions::describe,
  /// "dicom: ...", DicomOptions::describe,
  /// when the task holds volumes); empty for plain images.
  std::string inputs;
  IgnoredFiles ignored;                   ///< class folders only (a manifest names its images)
  /// "<file>: <reason>" for each file left out because its header could not be read (a DICOM
  /// file or NIfTI volume listed with skip_bad).
  std::vector<std::string> unreadable;

  /// Adds image `file` (item `item`, -1 for a whole file) of class `label`.
  void add(std::string file, std::int64_t item, int label, ImageKind kind = ImageKind::file);
  /// "<file>", "<file> [item <k>]", "<file> [slice <k>]" or "<file> [frame <k>]": image k as
  /// messages and the provenance name it.
  [[nodiscard]] std::string describe(std::size_t k) const;
  /// Decodes image k. InputError naming it (describe(k)) for an unreadable image.
  [[nodiscard]] Image read(std::size_t k, std::uint64_t max_pixels = kDefaultMaxImagePixels) const;
};

/// The images of an IDX pair (Fashion-MNIST, MNIST): the two files, the label values kept (all
/// when empty) and the class names by label value (the values themselves when empty).
struct IdxSource {
  std::string images, labels;
  std::vector<int> keep;
  std::vector<std::string> names;
};

/// A task as configured: a class-folder root (<root>/<split>/<class>/<image>, or
/// <root>/<class>/<image> when there are no split folders), a manifest CSV with columns
/// path,label,split (paths relative to the manifest), or an IDX image and label file pair (one
/// split: the files are the split). `shrink` > 0: the "<base> --shrink_train <shrink>" variant,
/// a seeded subset of that many training images.
struct ImageTaskSpec {
  std::string name;
  std::string root;
  std::string manifest;
  IdxSource idx;  ///< idx.images empty: not an IDX task
  std::string split = "train";
  std::size_t shrink = 0;
  NiftiOptions nifti;  ///< the task's `nifti:` map: slicing and intensity mapping of its volumes
  DicomOptions dicom;  ///< the task's `dicom:` map: window and frames of its DICOM files

  /// How the task's files become images where that is a choice (NIfTI slicing and intensity
  /// mapping, DICOM windowing and frames), one line with every number; empty for IDX tasks. Part of the extraction plan's
  /// key, so that parts made under another mapping are not reused.
  [[nodiscard]] std::string describe_inputs() const;
};

/// Reads a task set file (YAML): `tasks:` a list of {name, root | manifest | idx, split, shrink:
/// [n, ...], nifti: {...}, dicom: {...}}, where idx is {images: file, labels: file, classes:
/// [label, ...], names: [name, ...]}, nifti as parse_nifti_options and dicom as
/// parse_dicom_options read them; each shrink count adds the task "<name> --shrink_train <n>". Paths relative to the
/// file. InputError naming the file (and the task and key) for a malformed file, a value of the
/// wrong YAML type, an unknown or repeated key, a task without exactly one source, a task name
/// that cannot be stored ('/', '.', '..', empty: checked here, before any image is read),
/// duplicate names.
std::vector<ImageTaskSpec> read_image_taskset(const std::string& path);

/// The tasks of `all` named in `wanted`, in the order of `wanted` (empty: all of them).
/// InputError naming `source` (e.g. "the task set tasks.yaml") for a name it lacks.
std::vector<ImageTaskSpec> select_image_tasks(const std::vector<ImageTaskSpec>& all,
                                              const std::vector<std::string>& wanted, const std::string& source);

/// Lists a task's images: PNG, JPEG and TIFF files (.png, .jpg, .jpeg, .tif, .tiff, any case),
/// the selected slices of NIfTI volumes (.nii, .nii.gz) and the frames of DICOM files (.dcm, or
/// 'DICM' at byte 128; a manifest path may name a series folder), whose headers are read here (in
/// class folders, what else they hold is counted in `ignored`); or the items of its IDX files
/// (read here, whole). InputError naming the root for an unreadable root, a class folder without
/// images, a task without images, a manifest row that is malformed or lacks a path or label,
/// unreadable IDX files or kept labels that none of its images has, and a DICOM or NIfTI header
/// that cannot be read (with `skip_bad`: the file is left out and noted in `unreadable`, unless
/// no file is left). Shrunk variants keep `shrink` images, drawn with the seed.
TaskImages list_task_images(const ImageTaskSpec& spec, std::uint64_t seed = 0,
                            std::uint64_t max_pixels = kDefaultMaxImagePixels, bool skip_bad = false);

/// Indices of the n images to extract from `count`: without replacement (a seeded shuffle's
/// first n) when count >= n, else n draws with replacement; the seed is combined with the task
/// name, so a task's draw does not depend on other tasks, ranks or order.
std::vector<std::size_t> draw_samples(std::size_t count, std::size_t n, std::uint64_t seed,
                                      const std::string& task);

}  // namespace taskfp
