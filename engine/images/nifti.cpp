// NIfTI volumes as canonical grey slices. nifticlib provides the header layouts, byte swapping,
// the quaternion and znzlib's (gzip or plain) reading; its own readers trust the header's sizes
// and print to stderr, so the header is checked here, against sane limits and the file's size,
// before anything is allocated, and every failure becomes one InputError naming the file.

#include "images/nifti.hpp"

#include <nifti2_io.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "core/error.hpp"
#include "core/text.hpp"

namespace taskfp {
namespace {

// Deflate emits at most 258 bytes for a 2-bit code: no gzip file inflates to more than about
// 1032 times its size. A header claiming more voxels than that is damaged or a bomb.
constexpr double kMaxInflateRatio = 1032.0;

template <typename... Args>
[[noreturn]] void fail(const std::string& path, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw InputError(
      fmt::format("NIfTI file '{}': {}", path, fmt::format(format, std::forward<Args>(args)...)));
}

// nifticlib's default verbosity prints its diagnostics; this file reports its own.
void quiet_nifticlib() {
  static std::once_flag once;
  std::call_once(once, [] { nifti_set_debug_level(0); });
}

struct ZnzCloser {
  void operator()(znzptr* f) const {
    if (f) Xznzclose(&f);
  }
};
using ZnzFile = std::unique_ptr<znzptr, ZnzCloser>;

// Reads exactly n bytes; false on a short read or a read error (znzread returns (size_t)-1).
bool read_exactly(znzptr* f, void* buf, std::size_t n) {
  return n == 0 || znzread(buf, 1, n, f) == n;
}

// A voxel axis of the stored array and where it goes in the canonical array.
struct AxisMap {
  int axis = 0;       // canonical axis 0 (L->R), 1 (P->A), 2 (I->S)
  bool flip = false;  // stored index runs against the canonical direction
};
using Orientation = std::array<AxisMap, 3>;

// What the header says, both versions alike, in native byte order.
struct Header {
  int version = 1;
  bool swapped = false;
  bool compressed = false;
  std::array<std::int64_t, 8> dim{};
  int datatype = 0;
  std::array<double, 8> pixdim{};
  std::int64_t vox_offset = 0;
  double scl_slope = 0, scl_inter = 0;
  int qform_code = 0, sform_code = 0;
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset_x = 0, qoffset_y = 0, qoffset_z = 0;
  std::array<std::array<double, 4>, 3> srow{};
};

// The checked geometry of the first 3D volume.
struct Geometry {
  Header header;
  std::array<std::int64_t, 3> stored{};     // nx, ny, nz as stored
  std::array<std::int64_t, 3> canonical{};  // extents along the canonical axes
  std::int64_t voxels = 0;
  int bytes_per_voxel = 0;
  bool scaled = false;  // scl_slope applies (finite and non-zero, as nibabel)
  Orientation orientation{};
};

template <typename H>
void copy_common(const H& h, Header& out) {
  for (int i = 0; i < 8; ++i) {
    out.dim[i] = h.dim[i];
    out.pixdim[i] = h.pixdim[i];
  }
  out.datatype = h.datatype;
  out.scl_slope = h.scl_slope;
  out.scl_inter = h.scl_inter;
  out.qform_code = h.qform_code;
  out.sform_code = h.sform_code;
  out.quatern_b = h.quatern_b;
  out.quatern_c = h.quatern_c;
  out.quatern_d = h.quatern_d;
  out.qoffset_x = h.qoffset_x;
  out.qoffset_y = h.qoffset_y;
  out.qoffset_z = h.qoffset_z;
  for (int c = 0; c < 4; ++c) {
    out.srow[0][c] = h.srow_x[c];
    out.srow[1][c] = h.srow_y[c];
    out.srow[2][c] = h.srow_z[c];
  }
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(path, "cannot open it: {}", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  return static_cast<std::uint64_t>(st.st_size);
}

bool starts_like_gzip(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) fail(path, "cannot open it: {}", std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  return std::fread(magic, 1, 2, f.get()) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

// Opens the file (gzip told by its first bytes, whatever its name) and reads the header.
Header read_header(const std::string& path, ZnzFile& file) {
  quiet_nifticlib();
  Header h;
  h.compressed = starts_like_gzip(path);
  file.reset(znzopen(path.c_str(), "rb", h.compressed ? 1 : 0));
  if (!file) fail(path, "cannot open it: {}", std::strerror(errno));
  alignas(8) char buf[sizeof(nifti_2_header)] = {};
  if (!read_exactly(file.get(), buf, sizeof(nifti_1_header)))
    fail(path,
         "ends within its first {} bytes, a NIfTI header's size: the file is truncated or "
         "not NIfTI{}",
         sizeof(nifti_1_header), h.compressed ? ", or its gzip data is corrupt" : "");
  const int version = nifti_header_version(buf, sizeof(nifti_1_header));
  if (version == 0)
    fail(path,
         "has an ANALYZE 7.5 header or a NIfTI header without its magic ('n+1'); only NIfTI-1 "
         "and NIfTI-2 files are read");
  if (version != 1 && version != 2)
    fail(path, "is not a NIfTI-1 or NIfTI-2 file (no NIfTI header at its start)");
  h.version = version;
  std::int32_t sizeof_hdr = 0;
  std::memcpy(&sizeof_hdr, buf, sizeof sizeof_hdr);
  h.swapped = sizeof_hdr != 348 && sizeof_hdr != 540;
  if (version == 1) {
    nifti_1_header n1;
    std::memcpy(&n1, buf, sizeof n1);
    if (h.swapped) swap_nifti_header(&n1, 1);
    if (!NIFTI_ONEFILE(n1))
      fail(path,
           "is the header of a two-file NIfTI (.hdr/.img); only single-file NIfTI (.nii, "
           ".nii.gz) is read");
    copy_common(n1, h);
    // A single file's voxels start at 352 at the earliest (NIfTI-1: header and extension flag).
    if (!std::isfinite(n1.vox_offset) || n1.vox_offset < 0 || n1.vox_offset > 1e15)
      fail(path, "has an invalid vox_offset ({})", n1.vox_offset);
    h.vox_offset = std::max<std::int64_t>(352, static_cast<std::int64_t>(n1.vox_offset));
  } else {
    if (!read_exactly(file.get(), buf + sizeof(nifti_1_header),
                      sizeof(nifti_2_header) - sizeof(nifti_1_header)))
      fail(path, "ends inside its NIfTI-2 header (540 bytes){}",
           h.compressed ? " or its gzip data is corrupt" : "");
    nifti_2_header n2;
    std::memcpy(&n2, buf, sizeof n2);
    if (h.swapped) swap_nifti_header(&n2, 2);
    if (!NIFTI_ONEFILE(n2))
      fail(path,
           "is the header of a two-file NIfTI-2 (.hdr/.img); only single-file NIfTI (.nii, "
           ".nii.gz) is read");
    copy_common(n2, h);
    if (n2.vox_offset < 0) fail(path, "has an invalid vox_offset ({})", n2.vox_offset);
    h.vox_offset = std::max<std::int64_t>(544, n2.vox_offset);
  }
  return h;
}

// ---- orientation: nibabel's io_orientation, then as_closest_canonical's axis order ----

// The voxel-to-world matrix nibabel's get_best_affine picks: the sform if its code is set, else
// the qform, else Analyze's default (x flipped: left-right as radiological images store it).
Eigen::Matrix3d best_affine(const Header& h) {
  Eigen::Matrix3d m = Eigen::Matrix3d::Zero();
  if (h.sform_code != 0) {
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m(r, c) = h.srow[r][c];
  } else if (h.qform_code != 0) {
    const nifti_dmat44 q =
        nifti_quatern_to_dmat44(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y,
                                h.qoffset_z, h.pixdim[1], h.pixdim[2], h.pixdim[3], h.pixdim[0]);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m(r, c) = q.m[r][c];
  } else {
    auto zoom = [](double d) { return std::isfinite(d) && d > 0 ? d : 1.0; };
    m(0, 0) = -zoom(h.pixdim[1]);
    m(1, 1) = zoom(h.pixdim[2]);
    m(2, 2) = zoom(h.pixdim[3]);
  }
  return m;
}

// For each stored axis, the closest world axis and its direction: the polar factor of the
// column-normalised matrix (its SVD with singular values above nibabel's tolerance), then
// nibabel's greedy choice, axis by axis, of the largest entry among the world axes not yet taken.
Orientation closest_canonical(const Header& h, const std::string& path) {
  Eigen::Matrix3d rzs = best_affine(h);
  if (!rzs.allFinite())
    fail(path, "has a non-finite {} matrix", h.sform_code != 0 ? "sform" : "qform");
  for (int c = 0; c < 3; ++c) {
    const double zoom = rzs.col(c).norm();
    if (zoom != 0) rzs.col(c) /= zoom;
  }
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(rzs, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Eigen::Vector3d s = svd.singularValues();
  const double tol = s.maxCoeff() * 3 * std::numeric_limits<double>::epsilon();
  Eigen::Matrix3d r = Eigen::Matrix3d::Zero();
  for (int k = 0; k < 3; ++k)
    if (s(k) > tol) r += svd.matrixU().col(k) * svd.matrixV().col(k).transpose();
  Orientation o{};
  std::array<bool, 3> taken{};
  for (int in = 0; in < 3; ++in) {
    int best = -1;
    for (int out = 0; out < 3; ++out) {
      if (std::abs(r(out, in)) <= 1e-8) continue;  // numpy.allclose(col, 0)
      if (best < 0 || std::abs(r(out, in)) > std::abs(r(best, in))) best = out;
    }
    if (best < 0 || taken[best])
      fail(path,
           "has a degenerate {} matrix (voxel axis {} has no direction of its own); cannot tell "
           "axial from coronal or sagittal",
           h.sform_code != 0 ? "sform" : (h.qform_code != 0 ? "qform" : "pixdim"), in + 1);
    o[in] = {best, r(best, in) < 0};
    taken[best] = true;
    r.row(best).setZero();
  }
  return o;
}

bool supported_datatype(int dt) {
  switch (dt) {
    case DT_UINT8:
    case DT_INT8:
    case DT_UINT16:
    case DT_INT16:
    case DT_UINT32:
    case DT_INT32:
    case DT_UINT64:
    case DT_INT64:
    case DT_FLOAT32:
    case DT_FLOAT64:
      return true;
    default:
      return false;
  }
}

// Checks the header against itself, the limits and the file's size; nothing is allocated yet.
Geometry check_header(const Header& h, const std::string& path, std::uint64_t size) {
  Geometry g;
  g.header = h;
  const std::int64_t ndim = h.dim[0];
  if (ndim < 1 || ndim > 7) fail(path, "has {} dimensions (dim[0]); NIfTI allows 1 to 7", ndim);
  for (int i = 1; i <= ndim; ++i)
    if (h.dim[i] < 1)
      fail(path, "has an empty dimension: dim[{}] = {} (every dimension needs a voxel)", i,
           h.dim[i]);
  for (int a = 0; a < 3; ++a) g.stored[a] = a < ndim ? h.dim[a + 1] : 1;
  std::int64_t voxels = 1;
  for (const auto n : g.stored)
    if (__builtin_mul_overflow(voxels, n, &voxels))
      voxels = std::numeric_limits<std::int64_t>::max();
  if (voxels > kMaxNiftiVoxels)
    fail(path,
         "claims {} x {} x {} voxels, more than the limit of {} per volume (a damaged "
         "header, or a volume too large to slice here)",
         g.stored[0], g.stored[1], g.stored[2], kMaxNiftiVoxels);
  g.voxels = voxels;
  if (!supported_datatype(h.datatype))
    fail(path, "has data type {} ({}); integer, float32 and float64 voxels are read",
         nifti_datatype_string(h.datatype), h.datatype);
  int swapsize = 0;
  nifti_datatype_sizes(h.datatype, &g.bytes_per_voxel, &swapsize);
  const double end = static_cast<double>(h.vox_offset) +
                     static_cast<double>(voxels) * static_cast<double>(g.bytes_per_voxel);
  if (!h.compressed && end > static_cast<double>(size))
    fail(path, "is truncated: its header puts {} bytes of voxels at byte {}, the file has {} bytes",
         voxels * g.bytes_per_voxel, h.vox_offset, size);
  if (h.compressed && end > kMaxInflateRatio * static_cast<double>(size))
    fail(path,
         "claims {} bytes of voxels at byte {}, more than a gzip file of {} bytes can hold (a "
         "damaged header or a decompression bomb)",
         voxels * g.bytes_per_voxel, h.vox_offset, size);
  g.scaled = h.scl_slope != 0 && std::isfinite(h.scl_slope);
  if (g.scaled && !std::isfinite(h.scl_inter))
    fail(path, "has scl_slope {} with a non-finite scl_inter ({})", h.scl_slope, h.scl_inter);
  g.orientation = closest_canonical(h, path);
  for (int a = 0; a < 3; ++a) g.canonical[g.orientation[a].axis] = g.stored[a];
  return g;
}

Geometry read_geometry(const std::string& path, ZnzFile& file) {
  const auto size = file_size(path);
  return check_header(read_header(path, file), path, size);
}

int axis_index(NiftiOptions::Axis a) {
  switch (a) {
    case NiftiOptions::Axis::sagittal:
      return 0;
    case NiftiOptions::Axis::coronal:
      return 1;
    case NiftiOptions::Axis::axial:
      return 2;
  }
  return 2;
}
const char* axis_name(NiftiOptions::Axis a) {
  switch (a) {
    case NiftiOptions::Axis::sagittal:
      return "sagittal";
    case NiftiOptions::Axis::coronal:
      return "coronal";
    case NiftiOptions::Axis::axial:
      return "axial";
  }
  return "?";
}

// Height and width of a slice along canonical axis `a` (see NiftiOptions::Axis).
std::array<std::int64_t, 2> slice_shape(const std::array<std::int64_t, 3>& n, int a) {
  if (a == 2) return {n[1], n[0]};
  if (a == 1) return {n[2], n[0]};
  return {n[2], n[1]};
}

}  // namespace

// ---- decoded volumes ----

/// The first 3D volume, scaled, mapped to [0, 1] and reordered to canonical axes (index i + n0 (j
/// + n1 k)), with the slices along each canonical axis that hold a non-zero voxel.
struct NiftiVolume {
  std::array<std::int64_t, 3> n{};
  std::vector<float> unit;
  std::array<std::vector<std::uint8_t>, 3> foreground;
  [[nodiscard]] std::size_t bytes() const {
    return unit.size() * sizeof(float) + foreground[0].size() + foreground[1].size() +
           foreground[2].size() + sizeof(NiftiVolume);
  }
};

namespace {

// numpy.percentile's default ("linear") between order statistics a (at floor) and b: from the
// lower one when the fraction is below 0.5, else from the upper one.
double numpy_lerp(double a, double b, double t) {
  const double d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}
struct PercentileIndex {
  std::int64_t below = 0, above = 0;
  double fraction = 0;
};
PercentileIndex percentile_index(double q, std::int64_t n) {
  const double v = (q / 100.0) * static_cast<double>(n - 1);
  PercentileIndex p;
  p.below = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(v)), n - 1);
  p.above = std::min<std::int64_t>(p.below + 1, n - 1);
  p.fraction = v - std::floor(v);
  return p;
}

template <typename T>
class Decoder {
 public:
  Decoder(const Geometry& g, const NiftiOptions& o, const std::string& path)
      : g_(g), options_(o), path_(path) {}

  std::shared_ptr<NiftiVolume> run(znzptr* file) {
    read_voxels(file);
    scan();
    const auto [lo, hi] = limits();
    auto volume = std::make_shared<NiftiVolume>();
    volume->n = g_.canonical;
    map_to_canonical(lo, hi, *volume);
    return volume;
  }

 private:
  [[nodiscard]] double value(T raw) const {
    const double x = static_cast<double>(raw);
    return g_.scaled ? x * g_.header.scl_slope + g_.header.scl_inter : x;
  }

  void read_voxels(znzptr* file) {
    const Header& h = g_.header;
    if (znzseek(file, static_cast<znz_off_t>(h.vox_offset), SEEK_SET) < 0)
      fail(path_, "is truncated: its voxels should start at byte {}", h.vox_offset);
    raw_.resize(static_cast<std::size_t>(g_.voxels));
    const std::size_t bytes = raw_.size() * sizeof(T);
    const std::size_t got = znzread(raw_.data(), 1, bytes, file);
    if (got != bytes)
      fail(path_, "holds {} of the {} bytes of voxels its header claims (the file is truncated{})",
           got == static_cast<std::size_t>(-1) ? 0 : got, bytes,
           h.compressed ? " or its gzip data corrupt" : "");
    // A single volume ends the file: reading on checks gzip's CRC and length.
    if (h.compressed && g_.voxels == total_voxels()) {
      char extra = 0;
      if (znzread(&extra, 1, 1, file) == static_cast<std::size_t>(-1))
        fail(path_, "has corrupt gzip data (its checksum or length does not match)");
    }
    if (h.swapped && sizeof(T) > 1) nifti_swap_Nbytes(g_.voxels, sizeof(T), raw_.data());
  }

  [[nodiscard]] std::int64_t total_voxels() const {
    std::int64_t n = 1;
    for (int i = 1; i <= g_.header.dim[0]; ++i)
      if (__builtin_mul_overflow(n, g_.header.dim[i], &n)) return -1;
    return n;
  }

  // Finite values only; the extremes; which stored slices hold a non-zero voxel.
  void scan() {
    const auto [nx, ny, nz] = g_.stored;
    for (int a = 0; a < 3; ++a) nonzero_[a].assign(static_cast<std::size_t>(g_.stored[a]), 0);
    min_ = std::numeric_limits<double>::infinity();
    max_ = -min_;
    std::size_t at = 0;
    for (std::int64_t k = 0; k < nz; ++k)
      for (std::int64_t j = 0; j < ny; ++j)
        for (std::int64_t i = 0; i < nx; ++i, ++at) {
          const double v = value(raw_[at]);
          if (!std::isfinite(v))
            fail(path_, "has {} voxel at ({}, {}, {}); NaN and infinite intensities are not read",
                 std::isnan(v) ? "a NaN" : "an infinite", i, j, k);
          min_ = std::min(min_, v);
          max_ = std::max(max_, v);
          if (v != 0) nonzero_[0][i] = nonzero_[1][j] = nonzero_[2][k] = 1;
        }
  }

  std::pair<double, double> limits() {
    if (options_.intensity == NiftiOptions::Intensity::minmax) return {min_, max_};
    return {percentile(options_.percentile_lo), percentile(options_.percentile_hi)};
  }

  double percentile(double q) {
    const auto p = percentile_index(q, g_.voxels);
    const double below = order_statistic(p.below);  // before `above`: see order_statistic
    const double above = order_statistic(p.above);
    return numpy_lerp(below, above, p.fraction);
  }

  // The k-th smallest scaled value (k from 0). Types of 16 bits or less count their values;
  // scaling keeps their order (or reverses it, for a negative slope).
  double order_statistic(std::int64_t k) {
    if constexpr (std::is_integral_v<T> && sizeof(T) <= 2) {
      if (counts_.empty()) {
        counts_.assign(std::size_t{1} << (8 * sizeof(T)), 0);
        for (const T v : raw_) ++counts_[bin(v)];
      }
      if (g_.scaled && g_.header.scl_slope < 0) k = g_.voxels - 1 - k;
      std::int64_t seen = 0;
      for (std::size_t b = 0; b < counts_.size(); ++b) {
        seen += counts_[b];
        if (seen > k) return value(unbin(b));
      }
      return value(unbin(counts_.size() - 1));
    } else {
      auto it = sorted_.find(k);
      if (it != sorted_.end()) return it->second;
      if (values_.empty()) {
        values_.resize(raw_.size());
        for (std::size_t i = 0; i < raw_.size(); ++i) values_[i] = value(raw_[i]);
      }
      // Order statistics are asked for in increasing order (lo, lo + 1, hi, hi + 1): each
      // selection searches only what lies at or above the previous one (all of it else).
      const std::size_t start =
          static_cast<std::size_t>(k) >= selected_below_ ? selected_below_ : 0;
      const auto from = values_.begin() + static_cast<std::ptrdiff_t>(start);
      const auto nth = values_.begin() + static_cast<std::ptrdiff_t>(k);
      std::nth_element(from, nth, values_.end());
      selected_below_ = static_cast<std::size_t>(k);
      return sorted_[k] = *nth;
    }
  }
  static std::size_t bin(T v) {
    return static_cast<std::size_t>(static_cast<std::int64_t>(v) -
                                    static_cast<std::int64_t>(std::numeric_limits<T>::min()));
  }
  static T unbin(std::size_t b) {
    return static_cast<T>(static_cast<std::int64_t>(b) +
                          static_cast<std::int64_t>(std::numeric_limits<T>::min()));
  }

  // (x - lo) / (hi - lo) clipped to [0, 1] (when hi == lo: 1 above it, else 0), written at the
  // voxel's canonical place.
  void map_to_canonical(double lo, double hi, NiftiVolume& out) {
    std::vector<double>().swap(values_);  // the percentiles' copy
    std::vector<std::int64_t>().swap(counts_);
    const auto& o = g_.orientation;
    const std::array<std::int64_t, 3> stride = {1, out.n[0], out.n[0] * out.n[1]};
    std::array<std::int64_t, 3> step{};
    std::int64_t base = 0;
    for (int a = 0; a < 3; ++a) {
      const std::int64_t s = stride[o[a].axis];
      step[a] = o[a].flip ? -s : s;
      if (o[a].flip) base += (g_.stored[a] - 1) * s;
      auto& fg = out.foreground[o[a].axis];
      fg = nonzero_[a];
      if (o[a].flip) std::reverse(fg.begin(), fg.end());
    }
    out.unit.assign(static_cast<std::size_t>(g_.voxels), 0.0f);
    const double range = hi - lo;
    const auto [nx, ny, nz] = g_.stored;
    std::size_t at = 0;
    for (std::int64_t k = 0; k < nz; ++k)
      for (std::int64_t j = 0; j < ny; ++j) {
        std::int64_t dst = base + j * step[1] + k * step[2];
        for (std::int64_t i = 0; i < nx; ++i, ++at, dst += step[0]) {
          const double v = value(raw_[at]);
          double u = range > 0 ? (v - lo) / range : (v > hi ? 1.0 : 0.0);
          u = std::clamp(u, 0.0, 1.0);
          out.unit[static_cast<std::size_t>(dst)] = static_cast<float>(u);
        }
      }
  }

  const Geometry& g_;
  const NiftiOptions& options_;
  const std::string& path_;
  std::vector<T> raw_;
  std::array<std::vector<std::uint8_t>, 3> nonzero_;
  double min_ = 0, max_ = 0;
  std::vector<std::int64_t> counts_;
  std::vector<double> values_;
  std::size_t selected_below_ = 0;
  std::unordered_map<std::int64_t, double> sorted_;
};

std::shared_ptr<NiftiVolume> decode_volume(const std::string& path, const NiftiOptions& options) {
  ZnzFile file;
  const Geometry g = read_geometry(path, file);
  try {
    switch (g.header.datatype) {
      case DT_UINT8:
        return Decoder<std::uint8_t>(g, options, path).run(file.get());
      case DT_INT8:
        return Decoder<std::int8_t>(g, options, path).run(file.get());
      case DT_UINT16:
        return Decoder<std::uint16_t>(g, options, path).run(file.get());
      case DT_INT16:
        return Decoder<std::int16_t>(g, options, path).run(file.get());
      case DT_UINT32:
        return Decoder<std::uint32_t>(g, options, path).run(file.get());
      case DT_INT32:
        return Decoder<std::int32_t>(g, options, path).run(file.get());
      case DT_UINT64:
        return Decoder<std::uint64_t>(g, options, path).run(file.get());
      case DT_INT64:
        return Decoder<std::int64_t>(g, options, path).run(file.get());
      case DT_FLOAT32:
        return Decoder<float>(g, options, path).run(file.get());
      case DT_FLOAT64:
        return Decoder<double>(g, options, path).run(file.get());
      default:
        break;
    }
  } catch (const std::bad_alloc&) {
    fail(path,
         "not enough memory to decode its {} x {} x {} voxels; read fewer volumes at once (-j)",
         g.stored[0], g.stored[1], g.stored[2]);
  }
  fail(path, "has data type {}", g.header.datatype);  // check_header refused it already
}

}  // namespace

// ---- the cache ----

struct NiftiVolumeCache::Impl {
  struct Key {
    std::string path;
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    int intensity = 0;
    double lo = 0, hi = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      std::size_t h = std::hash<std::string>()(k.path);
      for (const std::uint64_t v :
           {k.device, k.inode, k.size, static_cast<std::uint64_t>(k.mtime_ns),
            static_cast<std::uint64_t>(k.ctime_ns), static_cast<std::uint64_t>(k.intensity),
            std::hash<double>()(k.lo), std::hash<double>()(k.hi)})
        h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      return h;
    }
  };
  using Future = std::shared_future<std::shared_ptr<const NiftiVolume>>;
  struct Entry {
    Future volume;
    std::size_t bytes = 0;  // 0 while being decoded
    std::list<Key>::iterator lru;
  };

  explicit Impl(std::size_t max) : max_bytes(max) {}

  static Key key_of(const std::string& path, const NiftiOptions& o) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail(path, "cannot open it: {}", std::strerror(errno));
    Key k;
    k.path = path;
    k.device = st.st_dev;
    k.inode = st.st_ino;
    k.size = static_cast<std::uint64_t>(st.st_size);
    k.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
    k.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
    k.intensity = static_cast<int>(o.intensity);
    if (o.intensity == NiftiOptions::Intensity::percentiles) {
      k.lo = o.percentile_lo;
      k.hi = o.percentile_hi;
    }
    return k;
  }

  // The volume, kept from before, being decoded by another thread, or decoded here after
  // `before_decode` (checks that must pass before this request starts a decode).
  std::shared_ptr<const NiftiVolume> get(const std::string& path, const NiftiOptions& options,
                                         const std::function<void()>& before_decode) {
    const Key key = key_of(path, options);
    std::unique_lock lock(mutex);
    for (bool checked = false;; checked = true) {
      if (auto it = entries.find(key); it != entries.end()) {
        ++hits;
        if (it->second.bytes > 0) lru.splice(lru.begin(), lru, it->second.lru);
        Future f = it->second.volume;
        lock.unlock();
        return f.get();
      }
      if (checked || !before_decode) break;
      lock.unlock();
      before_decode();
      lock.lock();
    }
    std::promise<std::shared_ptr<const NiftiVolume>> promise;
    lru.push_front(key);
    entries.emplace(key, Entry{promise.get_future().share(), 0, lru.begin()});
    ++decodes;
    lock.unlock();
    std::shared_ptr<const NiftiVolume> volume;
    try {
      volume = decode_volume(path, options);
    } catch (...) {
      lock.lock();
      forget(key);
      lock.unlock();
      promise.set_exception(std::current_exception());
      throw;
    }
    promise.set_value(volume);
    lock.lock();
    if (auto it = entries.find(key); it != entries.end()) {  // clear() may have dropped it
      it->second.bytes = volume->bytes();
      bytes += it->second.bytes;
      evict();
    }
    return volume;
  }

  void forget(Key key) {  // a copy: the caller's may live in the list or map erased here
    auto it = entries.find(key);
    if (it == entries.end()) return;
    bytes -= it->second.bytes;
    lru.erase(it->second.lru);
    entries.erase(it);
  }

  // Least recently used first, until the budget holds; volumes being decoded count nothing and
  // stay. A volume larger than the whole budget goes as soon as it is decoded.
  void evict() {
    auto it = lru.end();
    while (bytes > max_bytes && it != lru.begin()) {
      const auto victim = std::prev(it);
      if (entries.at(*victim).bytes == 0)
        it = victim;
      else
        forget(*victim);
    }
  }

  const std::size_t max_bytes;
  mutable std::mutex mutex;
  std::unordered_map<Key, Entry, KeyHash> entries;
  std::list<Key> lru;  // most recently used first
  std::size_t bytes = 0;
  std::uint64_t decodes = 0, hits = 0;
};

NiftiVolumeCache::NiftiVolumeCache(std::size_t max_bytes)
    : impl_(std::make_unique<Impl>(max_bytes)) {}
NiftiVolumeCache::~NiftiVolumeCache() = default;

NiftiVolumeCache& NiftiVolumeCache::shared() {
  static NiftiVolumeCache cache;
  return cache;
}

NiftiVolumeCache::Stats NiftiVolumeCache::stats() const {
  std::lock_guard lock(impl_->mutex);
  Stats s;
  s.decodes = impl_->decodes;
  s.hits = impl_->hits;
  s.bytes = impl_->bytes;
  for (const auto& [key, entry] : impl_->entries) s.volumes += entry.bytes > 0 ? 1 : 0;
  return s;
}

void NiftiVolumeCache::clear() {
  std::lock_guard lock(impl_->mutex);
  // Volumes being decoded stay: their decoders still account for them.
  for (auto it = impl_->lru.begin(); it != impl_->lru.end();) {
    const auto key = *it++;
    if (impl_->entries.at(key).bytes > 0) impl_->forget(key);
  }
}

struct NiftiCacheAccess {
  static std::shared_ptr<const NiftiVolume> volume(
      NiftiVolumeCache& cache, const std::string& path, const NiftiOptions& options,
      const std::function<void()>& before_decode = {}) {
    return cache.impl_->get(path, options, before_decode);
  }
};

// ---- options ----

std::string NiftiOptions::describe() const {
  std::string slices_text;
  switch (slices) {
    case Slices::all:
      slices_text = "all";
      break;
    case Slices::every:
      slices_text = fmt::format("every {}", every);
      break;
    case Slices::central:
      slices_text = fmt::format("central fraction {}", central);
      break;
    case Slices::foreground:
      slices_text = "foreground (a non-zero voxel)";
      break;
  }
  const std::string intensity_text =
      intensity == Intensity::minmax
          ? std::string("volume min-max")
          : fmt::format("volume percentiles [{}, {}] (numpy linear)", percentile_lo, percentile_hi);
  return fmt::format(
      "nifti: first 3D volume, scl_slope/scl_inter applied, reoriented to the closest canonical "
      "RAS+ (as nibabel), {} slices ({}), intensity {} to [0, 1] clipped",
      axis_name(axis), slices_text, intensity_text);
}

namespace {

std::string yaml_kind(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  if (n.IsNull()) return "empty";
  return "'" + n.Scalar() + "'";
}

double yaml_number(const YAML::Node& n, const std::string& where, const char* what) {
  std::optional<double> v;
  if (n.IsScalar()) v = parse_number<double>(trim(n.Scalar()));
  require(v && std::isfinite(*v), "{}: nifti: {} must be a number (got {})", where, what,
          yaml_kind(n));
  return *v;
}

// A map of exactly one key, e.g. {every: 2}.
std::pair<std::string, YAML::Node> single_entry(const YAML::Node& n, const std::string& where,
                                                const char* key, const char* forms) {
  require(n.IsMap() && n.size() == 1, "{}: nifti: '{}' must be {} (got {})", where, key, forms,
          yaml_kind(n));
  const auto kv = *n.begin();
  return {kv.first.IsScalar() ? kv.first.Scalar() : std::string("?"), kv.second};
}

}  // namespace

NiftiOptions parse_nifti_options(const YAML::Node& node, const std::string& where) {
  NiftiOptions o;
  if (!node || node.IsNull()) return o;
  require(node.IsMap(), "{}: 'nifti' must be a map (axis, slices, intensity), not {}", where,
          yaml_kind(node));
  std::set<std::string> seen;
  try {
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      require(seen.insert(key).second, "{}: nifti: key '{}' appears twice", where, key);
      const YAML::Node v = kv.second;
      if (key == "axis") {
        const std::string a = v.IsScalar() ? v.Scalar() : "";
        if (a == "axial")
          o.axis = NiftiOptions::Axis::axial;
        else if (a == "coronal")
          o.axis = NiftiOptions::Axis::coronal;
        else if (a == "sagittal")
          o.axis = NiftiOptions::Axis::sagittal;
        else
          throw InputError(
              fmt::format("{}: nifti: 'axis' must be axial, coronal or sagittal (got {})", where,
                          yaml_kind(v)));
      } else if (key == "slices") {
        constexpr const char* forms = "all, foreground, {every: k} or {central: f}";
        if (v.IsScalar() && v.Scalar() == "all") {
          o.slices = NiftiOptions::Slices::all;
        } else if (v.IsScalar() && v.Scalar() == "foreground") {
          o.slices = NiftiOptions::Slices::foreground;
        } else {
          const auto [form, value] = single_entry(v, where, "slices", forms);
          if (form == "every") {
            std::optional<std::int64_t> k;
            if (value.IsScalar()) k = parse_number<std::int64_t>(trim(value.Scalar()));
            require(k && *k >= 1, "{}: nifti: slices: 'every' must be a whole number >= 1 (got {})",
                    where, yaml_kind(value));
            o.slices = NiftiOptions::Slices::every;
            o.every = *k;
          } else if (form == "central") {
            const double f = yaml_number(value, where, "slices: 'central'");
            require(f > 0 && f <= 1,
                    "{}: nifti: slices: 'central' must be a fraction in (0, 1] (got {})", where, f);
            o.slices = NiftiOptions::Slices::central;
            o.central = f;
          } else {
            throw InputError(
                fmt::format("{}: nifti: 'slices' must be {} (got '{}')", where, forms, form));
          }
        }
      } else if (key == "intensity") {
        constexpr const char* forms = "minmax or {percentiles: [lo, hi]}";
        if (v.IsScalar() && v.Scalar() == "minmax") {
          o.intensity = NiftiOptions::Intensity::minmax;
        } else {
          const auto [form, value] = single_entry(v, where, "intensity", forms);
          require(form == "percentiles", "{}: nifti: 'intensity' must be {} (got '{}')", where,
                  forms, form);
          require(value.IsSequence() && value.size() == 2,
                  "{}: nifti: intensity: 'percentiles' must be a list [lo, hi] (got {})", where,
                  yaml_kind(value));
          const double lo = yaml_number(value[0], where, "intensity: percentiles' lo");
          const double hi = yaml_number(value[1], where, "intensity: percentiles' hi");
          require(0 <= lo && lo < hi && hi <= 100,
                  "{}: nifti: intensity: percentiles [{}, {}] must satisfy 0 <= lo < hi <= 100",
                  where, lo, hi);
          o.intensity = NiftiOptions::Intensity::percentiles;
          o.percentile_lo = lo;
          o.percentile_hi = hi;
        }
      } else {
        throw InputError(fmt::format(
            "{}: nifti: unknown key '{}' (the keys are axis, slices, intensity)", where, key));
      }
    }
  } catch (const YAML::Exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    throw InputError(fmt::format("{}: nifti: {}", where, what));
  }
  return o;
}

bool looks_like_nifti(const std::string& path) {
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto ends_with = [&](std::string_view s) {
    return lower.size() >= s.size() && lower.compare(lower.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".nii") || ends_with(".nii.gz");
}

// ---- slices ----

std::vector<std::int64_t> nifti_slices(const std::string& path, const NiftiOptions& options,
                                       NiftiVolumeCache& cache) {
  const int a = axis_index(options.axis);
  std::vector<std::int64_t> out;
  if (options.slices == NiftiOptions::Slices::foreground) {
    const auto volume = NiftiCacheAccess::volume(cache, path, options);
    const auto& fg = volume->foreground[a];
    for (std::size_t s = 0; s < fg.size(); ++s)
      if (fg[s]) out.push_back(static_cast<std::int64_t>(s));
    return out;
  }
  ZnzFile file;
  const std::int64_t n = read_geometry(path, file).canonical[a];
  switch (options.slices) {
    case NiftiOptions::Slices::every:
      for (std::int64_t s = 0; s < n; s += std::max<std::int64_t>(1, options.every))
        out.push_back(s);
      break;
    case NiftiOptions::Slices::central: {
      const auto m = std::clamp<std::int64_t>(
          static_cast<std::int64_t>(std::floor(options.central * static_cast<double>(n) + 0.5)), 1,
          n);
      for (std::int64_t s = (n - m) / 2; s < (n - m) / 2 + m; ++s) out.push_back(s);
      break;
    }
    default:
      for (std::int64_t s = 0; s < n; ++s) out.push_back(s);
  }
  return out;
}

Image read_nifti_slice(const std::string& path, std::int64_t slice, const NiftiOptions& options,
                       std::uint64_t max_pixels, NiftiVolumeCache& cache) {
  const int a = axis_index(options.axis);
  auto check = [&](const std::array<std::int64_t, 3>& n) {
    const auto [h, w] = slice_shape(n, a);
    if (slice < 0 || slice >= n[a])
      fail(path, "has no {} slice {} (it has {}, numbered from 0)", axis_name(options.axis), slice,
           n[a]);
    if (static_cast<std::uint64_t>(h) * static_cast<std::uint64_t>(w) > max_pixels)
      fail(path,
           "{} slices are {} x {} pixels, more than the limit of {} (a guard against "
           "decompression bombs); if the volume is genuine, raise the limit with `taskfp "
           "extract --max-image-pixels`",
           axis_name(options.axis), w, h, max_pixels);
  };
  // From the header before this request decodes the volume; from the volume when it is kept.
  const auto volume = NiftiCacheAccess::volume(cache, path, options, [&] {
    ZnzFile file;
    check(read_geometry(path, file).canonical);
  });
  const auto& n = volume->n;
  check(n);
  const auto [h, w] = slice_shape(n, a);
  Image img;
  img.width = static_cast<int>(w);
  img.height = static_cast<int>(h);
  img.channels = 1;
  img.bit_depth = 0;
  img.unit.resize(static_cast<std::size_t>(h * w));
  auto at = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
    return volume->unit[static_cast<std::size_t>(i + n[0] * (j + n[1] * k))];
  };
  for (std::int64_t r = 0; r < h; ++r)
    for (std::int64_t c = 0; c < w; ++c) {
      float v = 0;
      if (a == 2)
        v = at(c, n[1] - 1 - r, slice);
      else if (a == 1)
        v = at(c, slice, n[2] - 1 - r);
      else
        v = at(slice, c, n[2] - 1 - r);
      img.unit[static_cast<std::size_t>(r * w + c)] = v;
    }
  return img;
}

}  // namespace taskfp
