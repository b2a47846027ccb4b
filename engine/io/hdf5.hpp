// Thin RAII layer over the HDF5 C API: files, groups, datasets and attributes used by the stores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp::h5 {

using hid = std::int64_t;

/// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid id);
  ~Handle();
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  [[nodiscard]] hid get() const { return id_; }

 private:
  hid id_ = -1;
};

/// Opens an existing file read-only; InputError when it is missing or not HDF5.
Handle open_read(const std::string& path);
/// Creates (truncates) a file for writing.
Handle create(const std::string& path);

bool exists(hid loc, const std::string& path);
/// Opens a group; creates it (and its parents) when `create` is set.
Handle group(hid loc, const std::string& path, bool create = false);
/// Names of the direct children of a group, in creation order.
std::vector<std::string> children(hid loc, const std::string& path);

void write(hid loc, const std::string& name, const Matrix<float>& m);
void write(hid loc, const std::string& name, const Matrix<double>& m);
void write(hid loc, const std::string& name, const std::vector<double>& v);
void write(hid loc, const std::string& name, const std::vector<std::string>& strings);

/// Shape of a dataset (rank 1 or 2).
std::vector<std::uint64_t> shape(hid loc, const std::string& name);
Matrix<float> read_f32(hid loc, const std::string& name);
/// Any rank, converted to float32, flattened in C order (shape() gives the dimensions).
std::vector<float> read_f32_flat(hid loc, const std::string& name);
Matrix<double> read_f64(hid loc, const std::string& name);
std::vector<double> read_vector(hid loc, const std::string& name);
std::vector<std::string> read_strings(hid loc, const std::string& name);

void set_attr(hid obj, const std::string& name, const std::string& value);
void set_attr(hid obj, const std::string& name, std::int64_t value);
void set_attr(hid obj, const std::string& name, double value);
bool has_attr(hid obj, const std::string& name);
std::string attr_string(hid obj, const std::string& name);
std::int64_t attr_int(hid obj, const std::string& name);
double attr_double(hid obj, const std::string& name);
/// Every attribute of an object rendered as text (for `taskfp inspect`).
std::vector<std::pair<std::string, std::string>> attrs_as_text(hid obj);

/// Writes go to a temporary file beside `path`; commit() renames it into place, so a crash or an
/// error never leaves a half-written store. Without commit() the temporary file is removed.
class AtomicWrite {
 public:
  explicit AtomicWrite(std::string path);
  ~AtomicWrite();
  AtomicWrite(const AtomicWrite&) = delete;
  AtomicWrite& operator=(const AtomicWrite&) = delete;
  [[nodiscard]] hid file() const { return file_.get(); }
  void commit();

 private:
  std::string path_;
  std::string tmp_;
  Handle file_;
  bool committed_ = false;
};

}  // namespace taskfp::h5
