// HDF5 C API wrappers; HDF5's own error printing is silenced and turned into InputError naming
// the file. Files are checked (hdf5_check.cpp) before they are read.
#include "io/hdf5.hpp"
#include "io/hdf5_detail.hpp"

#include <dlfcn.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/output_files.hpp"

namespace taskfp::h5 {
using namespace detail;
namespace {

// No atexit handler: after a failed write (disk full) HDF5's own handler would try to flush the
// open file again at exit and crash; taskfp closes its files itself.
struct LibraryInit {
  LibraryInit() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};
const LibraryInit library_init;

template <typename T>
Matrix<T> read_matrix(hid loc, const std::string& name, hid mem_type) {
  auto d = open_dataset(loc, name);
  require(d.type_class == H5T_FLOAT || d.type_class == H5T_INTEGER, "{} holds {}, expected numbers",
          where(loc, name), class_name(d.type_class));
  require(d.dims.size() == 1 || d.dims.size() == 2, "{} has rank {}, expected 1 or 2", where(loc, name),
          d.dims.size());
  auto m = Matrix<T>::uninitialized(d.dims[0], d.dims.size() == 2 ? d.dims[1] : 1);
  if (!m.data.empty())
    check(H5Dread(d.ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data.data()), loc,
          "reading " + name);
  return m;
}

template <typename T>
void write_raw(hid loc, const std::string& name, const T* data, std::vector<hsize_t> dims,
               hid mem_type, hid file_type) {
  Handle space(checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), loc,
                       "making the dataspace of " + name));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), 0);  // no timestamps: the same store, the same bytes
  std::size_t total = 1;
  for (auto d : dims) total *= d;
  // float64 arrays (fingerprints: many empty bins) are chunked and compressed. float32 arrays
  // (features: noise-like values that deflate shrinks by about a tenth while it costs more than
  // the disk on every read, bench/RESULTS.md) are stored contiguous.
  if (total > 4096 && !std::is_same_v<T, float>) {
    std::vector<hsize_t> chunk = dims;
    if (chunk.size() == 2) chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], (1u << 20) / std::max<hsize_t>(1, dims[1] * sizeof(T))));
    else chunk[0] = std::min<hsize_t>(dims[0], 1u << 18);
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(dcpl.get());
    H5Pset_deflate(dcpl.get(), 1);
  }
  Handle ds(checked(H5Dcreate2(loc, name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(),
                               H5P_DEFAULT),
                    loc, "creating dataset " + name));
  check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), loc, "writing " + name);
}

}  // namespace

namespace detail {

namespace {

// What HDF5's error stack says about its last failure: the innermost reason, and the two causes
// of a failed open that are no fault of the file.
struct FailureStack {
  std::string innermost;
  // flock/fcntl refused: another process holds the file, or the file system has no locks
  bool lock_failed = false;
  int lock_errno = 0;
  bool open_for_write = false;  // superblock v3's "file is open for writing" flag is set
};

FailureStack read_failure_stack() {
  FailureStack stack;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto& s = *static_cast<FailureStack*>(data);
        const std::string desc = e->desc ? e->desc : "";
        if (n == 0) s.innermost = desc;
        // Every version since locking came (1.10.0) says "unable to lock"; later ones also use
        // the minor code H5E_CANTLOCKFILE.
        bool lock = desc.find("unable to lock") != std::string::npos;
#ifdef H5E_CANTLOCKFILE
        lock = lock || e->min_num == H5E_CANTLOCKFILE;
#endif
        if (lock) {
          s.lock_failed = true;
          if (const auto at = desc.find("errno = "); at != std::string::npos && s.lock_errno == 0)
            s.lock_errno = std::atoi(desc.c_str() + at + 8);
        }
        if (desc.find("already open for write") != std::string::npos) s.open_for_write = true;
        return 0;
      },
      &stack);
  H5Eclear2(H5E_DEFAULT);
  return stack;
}

// The OS's own words, where HDF5 quotes them ("..., error message = 'No space left on device'").
std::string shortened(std::string reason) {
  const auto at = reason.find("error message = '");
  if (at != std::string::npos) {
    const auto start = at + 17, end = reason.find('\'', start);
    reason = reason.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  if (reason.size() > 200) reason = reason.substr(0, 200) + "...";
  return reason;
}

}  // namespace

// The innermost reason HDF5 recorded for its last failure (for the OS: the errno text).
std::string last_reason() {
  return shortened(read_failure_stack().innermost);
}

[[noreturn]] void fail_open(const std::string& path, const std::string& what) {
  const FailureStack stack = read_failure_stack();
  if (stack.lock_failed) {
    const int e = stack.lock_errno;
    if (e == 0 || e == EAGAIN || e == EWOULDBLOCK || e == EACCES)
      throw StoreAccessError(fmt::format(
          "'{}' is locked by another process (HDF5 file locking: a program, such as h5py with "
          "File(..., 'w'), has it open for writing); wait until it closes the file, or, where that "
          "writer is known to be done or the file system's locks are unreliable, set "
          "HDF5_USE_FILE_LOCKING=FALSE to read it without locking",
          path));
    throw StoreAccessError(fmt::format(
        "'{}' cannot be locked for reading ({}): the file system does not support HDF5's file "
        "locking; set HDF5_USE_FILE_LOCKING=FALSE to read it without locking (no program may still "
        "be writing it)",
        path, std::strerror(e)));
  }
  if (stack.open_for_write)
    throw StoreAccessError(fmt::format(
        "'{}' is marked as open for writing (an HDF5 writer using the latest file format has it "
        "open, or stopped without closing it); wait until the writer closes it, or, where no "
        "writer is left, clear the mark with `h5clear -s '{}'` (Debian: hdf5-tools)",
        path, path));
  const std::string reason = shortened(stack.innermost);
  throw InputError(fmt::format("{} failed{}", what, reason.empty() ? "" : ": " + reason));
}

namespace {

// Filters h5py and the common plugin collections write, for messages: what a filter id is, and
// which Debian package decodes it where it is no part of libhdf5 itself.
struct KnownFilter {
  H5Z_filter_t id;
  const char* name;
  const char* debian_package;  // nullptr: built into libhdf5, or not packaged
  // A library the packaged plugin uses without linking it: Debian's hdf5-plugin-lzf (bookworm,
  // 3.7.0-8) loads only into a process that has liblzf already, as h5py has.
  const char* plugin_needs = nullptr;
};
constexpr KnownFilter kKnownFilters[] = {
    {H5Z_FILTER_DEFLATE, "gzip", nullptr},
    {H5Z_FILTER_SHUFFLE, "shuffle", nullptr},
    {H5Z_FILTER_FLETCHER32, "Fletcher32 checksum", nullptr},
    {H5Z_FILTER_SZIP, "SZIP", nullptr},
    {H5Z_FILTER_NBIT, "N-bit", nullptr},
    {H5Z_FILTER_SCALEOFFSET, "scale-offset", nullptr},
    {307, "bzip2", "hdf5-filter-plugin"},
    {32000, "LZF, h5py's", "hdf5-plugin-lzf", "liblzf.so.1"},
    {32001, "Blosc", "hdf5-filter-plugin-blosc-serial"},
    {32004, "LZ4", "hdf5-filter-plugin"},
    {32008, "bitshuffle", "hdf5-filter-plugin"},
    {32013, "ZFP", "hdf5-filter-plugin-zfp-serial"},
    {32015, "Zstandard", nullptr},
};

}  // namespace

void require_filters_available(hid dcpl, hid loc, const std::string& name) {
  const int n = H5Pget_nfilters(dcpl);
  if (n < 0) fail(loc, "reading the filters of " + name);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    char stored_name[128] = "";
    const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, nullptr, nullptr,
                                           sizeof stored_name, stored_name, &config);
    if (id < 0) fail(loc, "reading the filters of " + name);
    const KnownFilter* known = nullptr;
    for (const auto& k : kKnownFilters)
      if (k.id == id) known = &k;
    // H5Zfilter_avail loads a plugin from HDF5_PLUGIN_PATH (or the library's default folder).
    const auto decodes = [id] {
      unsigned info = 0;
      const bool yes = H5Zfilter_avail(id) > 0 && H5Zget_filter_info(id, &info) >= 0 &&
                       (info & H5Z_FILTER_CONFIG_DECODE_ENABLED) != 0;
      H5Eclear2(H5E_DEFAULT);
      return yes;
    };
    if (decodes()) continue;
    // Loaded for good (the plugin keeps using it), and only where a dataset needs the filter.
    if (known && known->plugin_needs && dlopen(known->plugin_needs, RTLD_NOW | RTLD_GLOBAL) &&
        decodes())
      continue;
    stored_name[sizeof stored_name - 1] = '\0';
    const std::string what = known            ? known->name
                             : stored_name[0] ? fmt::format("'{}'", stored_name)
                                              : "unnamed";
    std::string remedy;
    if (known && id < H5Z_FILTER_RESERVED)
      remedy = "use a libhdf5 built with it";
    else if (known && known->debian_package)
      remedy = fmt::format(
          "install its plugin (Debian: apt-get install {}) or name the folder holding it in "
          "HDF5_PLUGIN_PATH",
          known->debian_package);
    else
      remedy = "name the folder holding its plugin in HDF5_PLUGIN_PATH";
    throw StoreAccessError(fmt::format(
        "{} is stored with filter {} ({}), which is not available in this HDF5 library: {}, or "
        "rewrite the store with gzip (h5py: compression='gzip'; or h5repack -f GZIP=4 <in> <out> "
        "where the filter is available)",
        where(loc, name), id, what, remedy));
  }
}

std::string fixed_string(const char* bytes, std::size_t size, H5T_str_t pad) {
  std::string s(bytes, size);
  s.resize(std::strlen(s.c_str()));
  if (pad == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// A file as the user knows it: the output's own name for the temporary it is written under.
std::string shown_name(hid loc) {
  std::string file = file_name(loc);
  const std::string suffix = temporary_name("");
  if (file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0)
    file.resize(file.size() - suffix.size());
  return file;
}

[[noreturn]] void fail(hid loc, const std::string& what) {
  const std::string reason = last_reason();
  const std::string file = loc >= 0 ? shown_name(loc) : "";
  throw InputError(fmt::format("{}{} failed{}", file.empty() ? "" : "'" + file + "': ", what,
                               reason.empty() ? "" : ": " + reason));
}

void check(herr_t status, hid loc, const std::string& what) {
  if (status < 0) fail(loc, what);
}

hid checked(hid id, hid loc, const std::string& what) {
  if (id < 0) fail(loc, what);
  return id;
}

void close_any(hid id) {
  switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
  }
}

std::string where(hid loc, const std::string& name) {
  const auto file = file_name(loc);
  return file.empty() ? "'" + name + "'" : fmt::format("'{}' in '{}'", name, file);
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floating-point numbers";
    case H5T_STRING: return "strings";
    case H5T_COMPOUND: return "compound records";
    case H5T_ENUM: return "an enumeration";
    case H5T_VLEN: return "variable-length sequences";
    case H5T_ARRAY: return "arrays";
    case H5T_REFERENCE: return "references";
    case H5T_OPAQUE: return "opaque bytes";
    case H5T_BITFIELD: return "bit fields";
    default: return "an unknown type";
  }
}

// Dimensions of a simple (or scalar: rank 0) dataspace, checked against kMaxElements.
std::vector<std::uint64_t> extent(hid space, hid loc, const std::string& name) {
  const auto kind = H5Sget_simple_extent_type(space);
  require(kind == H5S_SIMPLE || kind == H5S_SCALAR || kind == H5S_NULL,
          "{} has an unreadable shape: the file is damaged", where(loc, name));
  if (kind == H5S_NULL) return {0};
  const int rank = H5Sget_simple_extent_ndims(space);
  require(rank >= 0 && rank <= 8, "{} has rank {}: the file is damaged", where(loc, name), rank);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) fail(loc, "reading the shape of " + name);
  std::uint64_t total = 1;
  for (auto d : dims) {
    require(d <= kMaxElements && (d == 0 || total <= kMaxElements / d),
            "{} claims {} elements, more than taskfp reads from one dataset (2^40): the file is "
            "damaged",
            where(loc, name), fmt::join(dims, " x "));
    total *= d;
  }
  return {dims.begin(), dims.end()};
}

std::uint64_t element_count(const std::vector<std::uint64_t>& dims) {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}


// Opens a dataset and checks that its declared size fits the bytes the file holds for it.
OpenDataset open_dataset(hid loc, const std::string& name) {
  require(exists(loc, name), "{} is missing", where(loc, name));
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  const herr_t got = H5Oget_info_by_name3(loc, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
  const herr_t got = H5Oget_info_by_name2(loc, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
  if (got < 0) fail(loc, "inspecting " + name);
  require(info.type == H5O_TYPE_DATASET, "{} is not a dataset", where(loc, name));
  OpenDataset d;
  d.ds = Handle(checked(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), loc, "opening dataset " + name));
  Handle space(checked(H5Dget_space(d.ds.get()), loc, "reading the shape of " + name));
  // taskfp writes empty lists with a shape (0); a null dataspace is no list, matrix or value.
  require(H5Sget_simple_extent_type(space.get()) != H5S_NULL, "{} has no shape (a null dataspace)",
          where(loc, name));
  d.dims = extent(space.get(), loc, name);
  Handle type(checked(H5Dget_type(d.ds.get()), loc, "reading the type of " + name));
  d.type_class = H5Tget_class(type.get());
  const std::uint64_t declared = element_count(d.dims) * std::max<std::size_t>(1, H5Tget_size(type.get()));
  Handle dcpl(checked(H5Dget_create_plist(d.ds.get()), loc, "reading the layout of " + name));
  require_filters_available(dcpl.get(), loc, name);
  const hsize_t stored = H5Dget_storage_size(d.ds.get());
  // Variable-length values live in the file's heap; the dataset stores references to them.
  if (d.type_class == H5T_VLEN || H5Tis_variable_str(type.get()) > 0) return d;
  switch (H5Pget_layout(dcpl.get())) {
    case H5D_CONTIGUOUS:
      require(stored == 0 || stored == declared,
              "{} declares {} bytes but stores {}: the file is damaged", where(loc, name), declared, stored);
      break;
    case H5D_CHUNKED:
      require(declared <= stored * kMaxCompression + (std::uint64_t{1} << 20),
              "{} declares {} bytes but stores only {} (no compression shrinks data that much): the "
              "file is damaged",
              where(loc, name), declared, stored);
      break;
    case H5D_COMPACT: require(declared <= 65536, "{} is damaged (compact data of {} bytes)", where(loc, name), declared); break;
    default: throw InputError(fmt::format("{} has an unknown storage layout: the file is damaged", where(loc, name)));
  }
  return d;
}

// Variable-length UTF-8 strings, in memory as char* that HDF5 allocates.
Handle vlen_string_type(H5T_cset_t cset) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), cset);
  return type;
}

}  // namespace detail

Handle::Handle(hid id) : id_(id) {}
Handle::~Handle() {
  if (id_ >= 0) close_any(id_);
}
Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0) close_any(id_);
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

std::string file_name(hid obj) {
  if (obj < 0) return "";
  const ssize_t len = H5Fget_name(obj, nullptr, 0);
  if (len <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return "";
  }
  std::string name(static_cast<std::size_t>(len), '\0');
  H5Fget_name(obj, name.data(), name.size() + 1);
  return name;
}

Handle open_read(const std::string& path) {
  validate_file(path);
  hid id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail_open(path, fmt::format("opening '{}'", path));
  return Handle(id);
}

Handle create(const std::string& path) {
  hid id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) fail(-1, fmt::format("creating '{}'", path));
  return Handle(id);
}

bool exists(hid loc, const std::string& path) {
  if (path.empty()) return false;
  std::string prefix;
  std::size_t start = path.front() == '/' ? 1 : 0;
  if (start) prefix = "/";
  while (start <= path.size()) {
    auto pos = path.find('/', start);
    prefix += path.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (pos == std::string::npos) break;
    prefix += '/';
    start = pos + 1;
  }
  return true;
}

Handle group(hid loc, const std::string& path, bool create_it) {
  if (create_it && !exists(loc, path)) {
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
    H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    H5Pset_obj_track_times(gcpl.get(), 0);
    return Handle(checked(H5Gcreate2(loc, path.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), loc,
                          "creating group " + path));
  }
  require(path == "/" || exists(loc, path), "'{}' has no group '{}' (not a taskfp store of this kind, or damaged)",
          file_name(loc), path);
  return Handle(checked(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), loc, "opening group " + path));
}

std::vector<std::string> children(hid loc, const std::string& path) {
  Handle g = group(loc, path);
  H5G_info_t info;
  check(H5Gget_info(g.get(), &info), loc, "listing " + path);
  Handle gcpl(checked(H5Gget_create_plist(g.get()), loc, "listing " + path));
  unsigned order_flags = 0;
  H5Pget_link_creation_order(gcpl.get(), &order_flags);
  const H5_index_t index =
      (order_flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  require(info.nlinks <= kMaxAttributeValues, "'{}': group '{}' claims {} members: the file is damaged",
          file_name(loc), path, info.nlinks);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) fail(loc, "listing " + path);
    require(len < 65536, "'{}': a member of '{}' has a name of {} bytes: the file is damaged", file_name(loc), path, len);
    std::string name(static_cast<std::size_t>(len), '\0');
    if (H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT) < 0)
      fail(loc, "listing " + path);
    names.push_back(name);
  }
  return names;
}

void write(hid loc, const std::string& name, const Matrix<float>& m) {
  write_raw(loc, name, m.data.data(), {m.rows, m.cols}, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE);
}
void write(hid loc, const std::string& name, const Matrix<double>& m) {
  write_raw(loc, name, m.data.data(), {m.rows, m.cols}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE);
}
void write(hid loc, const std::string& name, const std::vector<double>& v) {
  write_raw(loc, name, v.data(), {v.size()}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE);
}
void write(hid loc, const std::string& name, const std::vector<std::string>& strings) {
  // Variable-length UTF-8 strings: h5py reads them as str/bytes without our code.
  Handle type = vlen_string_type();
  std::vector<const char*> ptrs;
  for (const auto& s : strings) ptrs.push_back(s.c_str());
  hsize_t dims[1] = {strings.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), 0);
  Handle ds(checked(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(),
                               H5P_DEFAULT),
                    loc, "creating dataset " + name));
  if (!strings.empty())
    check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), loc,
          "writing " + name);
}

std::vector<std::uint64_t> shape(hid loc, const std::string& name) { return open_dataset(loc, name).dims; }

Matrix<float> read_f32(hid loc, const std::string& name) {
  return read_matrix<float>(loc, name, H5T_NATIVE_FLOAT);
}
std::vector<float> read_f32_flat(hid loc, const std::string& name) {
  auto d = open_dataset(loc, name);
  require(d.type_class == H5T_FLOAT || d.type_class == H5T_INTEGER, "{} holds {}, expected numbers",
          where(loc, name), class_name(d.type_class));
  std::vector<float> out(element_count(d.dims));
  if (!out.empty())
    check(H5Dread(d.ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), loc,
          "reading " + name);
  return out;
}
Matrix<double> read_f64(hid loc, const std::string& name) {
  return read_matrix<double>(loc, name, H5T_NATIVE_DOUBLE);
}
std::vector<double> read_vector(hid loc, const std::string& name) {
  const auto m = read_matrix<double>(loc, name, H5T_NATIVE_DOUBLE);
  require(m.cols == 1, "{} is a {} x {} matrix, expected a list", where(loc, name), m.rows, m.cols);
  return {m.data.begin(), m.data.end()};
}

std::vector<std::string> read_strings(hid loc, const std::string& name) {
  auto d = open_dataset(loc, name);
  require(d.type_class == H5T_STRING, "{} holds {}, expected strings", where(loc, name), class_name(d.type_class));
  require(d.dims.size() == 1, "{} has rank {}, expected a list of strings", where(loc, name), d.dims.size());
  Handle stored(checked(H5Dget_type(d.ds.get()), loc, "reading the type of " + name));
  std::vector<std::string> out;
  out.reserve(d.dims[0]);
  if (d.dims[0] == 0) return out;
  if (H5Tis_variable_str(stored.get()) > 0) {  // what taskfp writes; h5py's str
    Handle type = vlen_string_type(H5Tget_cset(stored.get()));
    std::vector<char*> ptrs(d.dims[0], nullptr);
    check(H5Dread(d.ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), loc,
          "reading " + name);
    for (char* p : ptrs) {
      out.emplace_back(p ? p : "");
      H5free_memory(p);
    }
    return out;
  }
  // Fixed-length (h5py's numpy 'S' arrays): read as stored, no conversion; HDF5 converts none
  // between fixed and variable length.
  const std::size_t size = H5Tget_size(stored.get());
  require(size > 0 && size <= 65536, "{} holds strings of {} bytes: the file is damaged",
          where(loc, name), size);
  std::vector<char> bytes(d.dims[0] * size);
  check(H5Dread(d.ds.get(), stored.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), loc,
        "reading " + name);
  const H5T_str_t pad = H5Tget_strpad(stored.get());
  for (std::size_t i = 0; i < d.dims[0]; ++i)
    out.push_back(fixed_string(bytes.data() + i * size, size, pad));
  return out;
}

void set_attr(hid obj, const std::string& name, const std::string& value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle type = vlen_string_type();
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      obj, "creating attribute " + name));
  const char* ptr = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &ptr), obj, "writing attribute " + name);
}

void set_attr(hid obj, const std::string& name, std::int64_t value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      obj, "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), obj, "writing attribute " + name);
}

void set_attr(hid obj, const std::string& name, double value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      obj, "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), obj, "writing attribute " + name);
}

bool has_attr(hid obj, const std::string& name) {
  const htri_t found = H5Aexists(obj, name.c_str());
  if (found < 0) H5Eclear2(H5E_DEFAULT);
  return found > 0;
}

namespace {

// An attribute holding exactly one value of the given class.
struct ScalarAttr {
  Handle attr, type;
};
ScalarAttr open_scalar_attr(hid obj, const std::string& name, std::initializer_list<H5T_class_t> classes,
                            const char* expected) {
  require(has_attr(obj, name), "'{}' lacks attribute '{}' (not a taskfp store, or damaged)", file_name(obj), name);
  ScalarAttr a;
  a.attr = Handle(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), obj, "opening attribute " + name));
  a.type = Handle(checked(H5Aget_type(a.attr.get()), obj, "reading the type of attribute " + name));
  Handle space(checked(H5Aget_space(a.attr.get()), obj, "reading the shape of attribute " + name));
  const auto cls = H5Tget_class(a.type.get());
  require(std::find(classes.begin(), classes.end(), cls) != classes.end(),
          "attribute '{}' of '{}' holds {}, expected {}", name, file_name(obj), class_name(cls), expected);
  require(element_count(extent(space.get(), obj, "attribute " + name)) == 1,
          "attribute '{}' of '{}' is not a single value", name, file_name(obj));
  return a;
}

}  // namespace

std::string attr_string(hid obj, const std::string& name) {
  auto a = open_scalar_attr(obj, name, {H5T_STRING}, "a string");
  if (H5Tis_variable_str(a.type.get()) > 0) {
    Handle type = vlen_string_type(H5Tget_cset(a.type.get()));
    char* ptr = nullptr;
    check(H5Aread(a.attr.get(), type.get(), &ptr), obj, "reading attribute " + name);
    std::string out = ptr ? ptr : "";
    H5free_memory(ptr);
    return out;
  }
  const std::size_t size = H5Tget_size(a.type.get());
  require(size > 0 && size <= 65536, "attribute '{}' of '{}' has a string of {} bytes: the file is damaged",
          name, file_name(obj), size);
  std::string bytes(size, '\0');
  check(H5Aread(a.attr.get(), a.type.get(), bytes.data()), obj, "reading attribute " + name);
  return fixed_string(bytes.data(), size, H5Tget_strpad(a.type.get()));
}

std::int64_t attr_int(hid obj, const std::string& name) {
  auto a = open_scalar_attr(obj, name, {H5T_INTEGER}, "an integer");
  std::int64_t v = 0;
  check(H5Aread(a.attr.get(), H5T_NATIVE_INT64, &v), obj, "reading attribute " + name);
  return v;
}

double attr_double(hid obj, const std::string& name) {
  auto a = open_scalar_attr(obj, name, {H5T_FLOAT, H5T_INTEGER}, "a number");
  double v = 0;
  check(H5Aread(a.attr.get(), H5T_NATIVE_DOUBLE, &v), obj, "reading attribute " + name);
  return v;
}

std::vector<std::pair<std::string, std::string>> attrs_as_text(hid obj) {
  std::vector<std::pair<std::string, std::string>> out;
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  check(H5Oget_info3(obj, &info, H5O_INFO_NUM_ATTRS), obj, "listing attributes");
#else
  check(H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS), obj, "listing attributes");
#endif
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    ssize_t len = H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) fail(obj, "listing attributes");
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
    Handle attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), obj, "opening attribute " + name));
    Handle type(checked(H5Aget_type(attr.get()), obj, "reading attribute " + name));
    Handle space(checked(H5Aget_space(attr.get()), obj, "reading attribute " + name));
    std::string text;
    if (element_count(extent(space.get(), obj, "attribute " + name)) != 1) {
      text = "(not a single value)";
    } else {
      switch (H5Tget_class(type.get())) {
        case H5T_STRING: text = attr_string(obj, name); break;
        case H5T_INTEGER: text = std::to_string(attr_int(obj, name)); break;
        case H5T_FLOAT: text = fmt::format("{}", attr_double(obj, name)); break;
        default: text = "(unsupported type)";
      }
    }
    out.emplace_back(name, text);
  }
  return out;
}

struct AtomicWrite::Pending {
  PendingOutput output;
};

AtomicWrite::AtomicWrite(std::string path, OutputSet* set)
    : pending_(std::make_unique<Pending>(Pending{PendingOutput(std::move(path))})), set_(set) {
  hid id = H5Fcreate(pending_->output.temporary().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) fail(-1, fmt::format("creating '{}'", pending_->output.path()));
  file_ = Handle(id);
}

AtomicWrite::~AtomicWrite() { file_ = Handle(); }  // closes before the pending output removes it

void AtomicWrite::commit() {
  const std::string& path = pending_->output.path();
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail(-1, fmt::format("writing '{}'", path));
  if (H5Fclose(file_.release()) < 0) fail(-1, fmt::format("writing '{}'", path));
  if (set_)
    set_->add(std::move(pending_->output));
  else
    pending_->output.commit();
}

}  // namespace taskfp::h5
