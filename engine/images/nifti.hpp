// NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz) as 2D grey slices: reoriented to the closest
// canonical (RAS+) orientation, intensities mapped to [0, 1], each volume decoded once through a
// bounded cache (docs/nifti.md). nifticlib stays inside nifti.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "images/image.hpp"

namespace YAML {
class Node;
}

namespace taskfp {

/// How slices are cut from a volume, which ones, and how intensities become [0, 1]. Everything
/// applies to the first 3D volume of the file (index 0 along dimensions 4 to 7 of a 4D+ file).
struct NiftiOptions {
  /// Canonical axes (after reorientation, voxel index i: left -> right, j: posterior ->
  /// anterior, k: inferior -> superior). axial: slice k (rows anterior at the top -> posterior,
  /// columns left -> right); coronal: slice j (rows superior at the top -> inferior, columns
  /// left -> right); sagittal: slice i (rows superior at the top -> inferior, columns posterior
  /// -> anterior).
  enum class Axis { axial, coronal, sagittal };
  enum class Slices {
    all,         ///< every slice
    every,       ///< slices 0, k, 2k, ... (k = `every`)
    central,     ///< the central round(f n) slices (f = `central`, at least 1)
    foreground,  ///< slices with at least one non-zero voxel (after scl_slope/scl_inter)
  };
  enum class Intensity {
    percentiles,  ///< (x - p_lo) / (p_hi - p_lo) clipped to [0, 1], numpy's linear percentiles
    minmax,       ///< the same with the volume's minimum and maximum
  };

  Axis axis = Axis::axial;
  Slices slices = Slices::all;
  std::int64_t every = 1;  ///< Slices::every: the step k >= 1
  double central = 1.0;    ///< Slices::central: the fraction f in (0, 1]
  Intensity intensity = Intensity::percentiles;
  double percentile_lo = 0.5;   ///< Intensity::percentiles, in [0, 100), below percentile_hi
  double percentile_hi = 99.5;  ///< in (0, 100]

  /// One line for provenance, with every number.
  [[nodiscard]] std::string describe() const;
  friend bool operator==(const NiftiOptions&, const NiftiOptions&) = default;
};

/// Reads a task's `nifti:` map: `axis: axial | coronal | sagittal`, `slices: all | foreground |
/// {every: k} | {central: f}`, `intensity: minmax | {percentiles: [lo, hi]}`, each optional (the
/// defaults above); a null node gives the defaults. InputError "<where>: nifti: ..." for an
/// unknown or repeated key, a value of the wrong type or out of range.
NiftiOptions parse_nifti_options(const YAML::Node& node, const std::string& where);

/// True for names ending in .nii or .nii.gz, any case (the name only; the file is not read).
bool looks_like_nifti(const std::string& path);

/// Volumes larger than this, in voxels (the first 3D volume), are refused: decoding one holds
/// its stored voxels, 4 bytes per voxel for the mapped volume and, for types wider than 16 bits
/// with percentile mapping, 8 more for the percentiles (5.4 GB at this limit for float64).
inline constexpr std::int64_t kMaxNiftiVoxels = std::int64_t{1} << 28;  // e.g. 512 x 512 x 1024

/// The default budget of a NiftiVolumeCache, in bytes of mapped volumes (4 bytes per voxel:
/// about nine 181 x 217 x 181 brains).
inline constexpr std::size_t kDefaultNiftiCacheBytes = std::size_t{256} << 20;

/// Decoded, mapped, canonical volumes, shared by every thread reading slices: the least
/// recently used are dropped when the volumes held exceed the budget (a volume larger than the
/// budget is used by its readers and not kept). A volume is decoded once even when several
/// threads ask for it at the same time (the others wait for it). Keyed by the path, the file's
/// identity and times (device, inode, size, modification time: a file replaced or rewritten is
/// decoded again) and the intensity options. Memory held at a time: the budget plus the volumes
/// being decoded or read by threads at that moment. Thread-safe.
class NiftiVolumeCache {
 public:
  explicit NiftiVolumeCache(std::size_t max_bytes = kDefaultNiftiCacheBytes);
  ~NiftiVolumeCache();
  NiftiVolumeCache(const NiftiVolumeCache&) = delete;
  NiftiVolumeCache& operator=(const NiftiVolumeCache&) = delete;

  /// The process-wide cache the functions below use unless given another.
  static NiftiVolumeCache& shared();

  struct Stats {
    std::uint64_t decodes = 0;  ///< volumes decoded (misses)
    std::uint64_t hits = 0;     ///< requests served from a kept or in-flight volume
    std::size_t bytes = 0;      ///< bytes of the volumes kept now
    std::size_t volumes = 0;    ///< volumes kept now
  };
  [[nodiscard]] Stats stats() const;
  void clear();

  struct Impl;

 private:
  friend struct NiftiCacheAccess;  // nifti.cpp's reading functions
  std::unique_ptr<Impl> impl_;
};

/// The slice indices `options` selects along its axis, increasing, in canonical order (axial:
/// inferior -> superior; coronal: posterior -> anterior; sagittal: left -> right). Reads only
/// the header, except for Slices::foreground, which decodes the volume through `cache` (empty
/// for a volume without a non-zero voxel). InputError naming the file for a missing, unreadable
/// or malformed file, one that is not NIfTI-1 or -2 single-file, an unsupported data type
/// (complex, RGB, float128, bit), a degenerate orientation, or more voxels than
/// kMaxNiftiVoxels or than the file's size can hold.
std::vector<std::int64_t> nifti_slices(const std::string& path, const NiftiOptions& options,
                                       NiftiVolumeCache& cache = NiftiVolumeCache::shared());

/// One slice (an index in canonical order, as nifti_slices gives) as a grey unit image (bit_depth
/// 0, `unit` = height x width floats in [0, 1], row-major, orientation as NiftiOptions::Axis
/// says); the voxel grid as stored, without resampling (voxel sizes are ignored). InputError
/// naming the file, as nifti_slices, and for a slice index out of range, a slice of more than
/// `max_pixels` pixels (checked from the header, before decoding), a truncated or corrupt file,
/// NaN or infinite intensities, an infinite scl_inter with a valid scl_slope, or too little
/// memory.
Image read_nifti_slice(const std::string& path, std::int64_t slice, const NiftiOptions& options,
                       std::uint64_t max_pixels = kDefaultMaxImagePixels,
                       NiftiVolumeCache& cache = NiftiVolumeCache::shared());

}  // namespace taskfp
