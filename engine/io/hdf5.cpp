// HDF5 C API wrappers; HDF5's own error printing is silenced and turned into InputError.
#include "io/hdf5.hpp"

#include <type_traits>

#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fmt/format.h>

#include "core/error.hpp"

namespace taskfp::h5 {
namespace {

struct Silence {
  Silence() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const Silence silence_once;

void check(herr_t status, const std::string& what) {
  if (status < 0) throw InputError(fmt::format("HDF5: {} failed", what));
}

hid checked(hid id, const std::string& what) {
  if (id < 0) throw InputError(fmt::format("HDF5: {} failed", what));
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

template <typename T>
void write_raw(hid loc, const std::string& name, const T* data, std::vector<hsize_t> dims,
               hid mem_type, hid file_type) {
  Handle space(checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                       "dataspace for " + name));
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
                    "creating dataset " + name));
  check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing " + name);
}

template <typename T>
Matrix<T> read_matrix(hid loc, const std::string& name, hid mem_type) {
  auto dims = shape(loc, name);
  require(dims.size() == 1 || dims.size() == 2, "dataset '{}' has rank {}, expected 1 or 2", name, dims.size());
  auto m = Matrix<T>::uninitialized(dims[0], dims.size() == 2 ? dims[1] : 1);
  Handle ds(checked(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
  if (!m.data.empty())
    check(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data.data()),
          "reading " + name);
  return m;
}

}  // namespace

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

Handle open_read(const std::string& path) {
  require(std::filesystem::exists(path), "'{}' does not exist", path);
  require(H5Fis_hdf5(path.c_str()) > 0, "'{}' is not an HDF5 file", path);
  hid id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  require(id >= 0, "cannot open HDF5 file '{}'", path);
  return Handle(id);
}

Handle create(const std::string& path) {
  hid id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  require(id >= 0, "cannot create '{}': check that the folder exists and is writable", path);
  return Handle(id);
}

bool exists(hid loc, const std::string& path) {
  std::string prefix;
  std::size_t start = path.front() == '/' ? 1 : 0;
  if (start) prefix = "/";
  while (start <= path.size()) {
    auto pos = path.find('/', start);
    prefix += path.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
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
    return Handle(checked(H5Gcreate2(loc, path.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT),
                          "creating group " + path));
  }
  require(exists(loc, path), "the store has no group '{}'", path);
  return Handle(checked(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), "opening group " + path));
}

std::vector<std::string> children(hid loc, const std::string& path) {
  Handle g = group(loc, path);
  H5G_info_t info;
  check(H5Gget_info(g.get(), &info), "listing " + path);
  Handle gcpl(H5Gget_create_plist(g.get()));
  unsigned order_flags = 0;
  H5Pget_link_creation_order(gcpl.get(), &order_flags);
  const H5_index_t index =
      (order_flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", index, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
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
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> ptrs;
  for (const auto& s : strings) ptrs.push_back(s.c_str());
  hsize_t dims[1] = {strings.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle ds(checked(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    "creating dataset " + name));
  if (!strings.empty())
    check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
          "writing " + name);
}

std::vector<std::uint64_t> shape(hid loc, const std::string& name) {
  require(exists(loc, name), "the store has no dataset '{}'", name);
  Handle ds(checked(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
  Handle space(H5Dget_space(ds.get()));
  int rank = H5Sget_simple_extent_ndims(space.get());
  require(rank >= 0 && rank <= 8, "dataset '{}' has rank {}", name, rank);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

Matrix<float> read_f32(hid loc, const std::string& name) {
  return read_matrix<float>(loc, name, H5T_NATIVE_FLOAT);
}
std::vector<float> read_f32_flat(hid loc, const std::string& name) {
  std::size_t total = 1;
  for (auto d : shape(loc, name)) total *= d;
  std::vector<float> out(total);
  Handle ds(checked(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
  if (total)
    check(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "reading " + name);
  return out;
}
Matrix<double> read_f64(hid loc, const std::string& name) {
  return read_matrix<double>(loc, name, H5T_NATIVE_DOUBLE);
}
std::vector<double> read_vector(hid loc, const std::string& name) {
  const auto m = read_matrix<double>(loc, name, H5T_NATIVE_DOUBLE);
  return {m.data.begin(), m.data.end()};
}

std::vector<std::string> read_strings(hid loc, const std::string& name) {
  auto dims = shape(loc, name);
  Handle ds(checked(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name));
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<char*> ptrs(dims[0], nullptr);
  if (!ptrs.empty())
    check(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
          "reading " + name);
  std::vector<std::string> out;
  for (char* p : ptrs) {
    out.emplace_back(p ? p : "");
    std::free(p);
  }
  return out;
}

void set_attr(hid obj, const std::string& name, const std::string& value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      "creating attribute " + name));
  const char* ptr = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &ptr), "writing attribute " + name);
}

void set_attr(hid obj, const std::string& name, std::int64_t value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), "writing attribute " + name);
}

void set_attr(hid obj, const std::string& name, double value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(checked(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                 H5P_DEFAULT),
                      "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), "writing attribute " + name);
}

bool has_attr(hid obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string attr_string(hid obj, const std::string& name) {
  require(has_attr(obj, name), "the store lacks attribute '{}' (not a taskfp store, or damaged)",
          name);
  Handle attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
  Handle ftype(H5Aget_type(attr.get()));
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5Tget_cset(ftype.get()));
    char* ptr = nullptr;
    check(H5Aread(attr.get(), type.get(), &ptr), "reading attribute " + name);
    std::string out = ptr ? ptr : "";
    std::free(ptr);
    return out;
  }
  require(H5Tget_class(ftype.get()) == H5T_STRING, "attribute '{}' is not a string", name);
  std::size_t size = H5Tget_size(ftype.get());
  std::string out(size, '\0');
  check(H5Aread(attr.get(), ftype.get(), out.data()), "reading attribute " + name);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::int64_t attr_int(hid obj, const std::string& name) {
  require(has_attr(obj, name), "the store lacks attribute '{}'", name);
  Handle attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
  std::int64_t v = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "reading attribute " + name);
  return v;
}

double attr_double(hid obj, const std::string& name) {
  require(has_attr(obj, name), "the store lacks attribute '{}'", name);
  Handle attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name));
  double v = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), "reading attribute " + name);
  return v;
}

std::vector<std::pair<std::string, std::string>> attrs_as_text(hid obj) {
  std::vector<std::pair<std::string, std::string>> out;
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  H5Oget_info3(obj, &info, H5O_INFO_NUM_ATTRS);
#else
  H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS);
#endif
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    ssize_t len = H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
    Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    Handle type(H5Aget_type(attr.get()));
    std::string text;
    switch (H5Tget_class(type.get())) {
      case H5T_STRING: text = attr_string(obj, name); break;
      case H5T_INTEGER: text = std::to_string(attr_int(obj, name)); break;
      case H5T_FLOAT: text = fmt::format("{}", attr_double(obj, name)); break;
      default: text = "(unsupported type)";
    }
    out.emplace_back(name, text);
  }
  return out;
}

AtomicWrite::AtomicWrite(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + fmt::format(".tmp-{}", ::getpid());
  file_ = create(tmp_);
}

AtomicWrite::~AtomicWrite() {
  if (!committed_) {
    file_ = Handle();
    std::remove(tmp_.c_str());
  }
}

void AtomicWrite::commit() {
  check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flushing " + tmp_);
  file_ = Handle();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  require(!ec, "cannot move '{}' into place as '{}': {}", tmp_, path_, ec.message());
  committed_ = true;
}

}  // namespace taskfp::h5
