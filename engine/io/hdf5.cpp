// HDF5 C API wrappers; HDF5's own error printing is silenced and turned into InputError naming
// the file. Files are checked (hdf5_check.cpp) before they are read.
#include "io/hdf5.hpp"
#include "io/hdf5_detail.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

// The innermost reason HDF5 recorded for its last failure (for the OS: the errno text).
std::string last_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto& out = *static_cast<std::string*>(data);
        if (n == 0 && e->desc) out = e->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  // The OS's own words, where HDF5 quotes them ("..., error message = 'No space left on device'").
  const auto at = reason.find("error message = '");
  if (at != std::string::npos) {
    const auto start = at + 17, end = reason.find('\'', start);
    reason = reason.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  if (reason.size() > 200) reason = reason.substr(0, 200) + "...";
  return reason;
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
  if (id < 0) fail(-1, fmt::format("opening '{}'", path));
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
  Handle ds(checked(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT,
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
  Handle type = vlen_string_type();
  std::vector<char*> ptrs(d.dims[0], nullptr);
  if (!ptrs.empty())
    check(H5Dread(d.ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), loc,
          "reading " + name);
  std::vector<std::string> out;
  out.reserve(ptrs.size());
  for (char* p : ptrs) {
    out.emplace_back(p ? p : "");
    H5free_memory(p);
  }
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
  std::string out(size, '\0');
  check(H5Aread(a.attr.get(), a.type.get(), out.data()), obj, "reading attribute " + name);
  out.resize(std::strlen(out.c_str()));
  return out;
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
