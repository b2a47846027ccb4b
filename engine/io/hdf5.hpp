// Thin RAII layer over the HDF5 C API: files, groups, datasets and attributes used by the stores.
//
// Stores travel between sites, so every file is read as possibly damaged or hostile: open_read()
// first walks the whole file in a short-lived child process with memory and time limits (a file
// that would crash libhdf5, make it loop or allocate without bound fails there, not here), and
// every read checks the dataset's type, rank and size against the file before allocating.
// Every error is an InputError naming the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace taskfp {
class OutputSet;
}

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
  /// Gives up ownership (the caller closes it).
  hid release() {
    const hid id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid id_ = -1;
};

/// Opens an existing file read-only after validate_file() (once per file and process).
/// InputError when it is missing, not HDF5, or damaged, or when another process holds it locked
/// or marked open for writing (the message names HDF5_USE_FILE_LOCKING, or h5clear).
Handle open_read(const std::string& path);

/// Reads every attribute and string dataset of the file, checks every contiguous dataset and
/// every chunk of a chunked one against the file's size and decodes one chunk per dataset of
/// numbers or fixed-length strings through its filters, in a child process limited to
/// max(2 GiB, 4 x the file's size) of memory and 5 s + 1 s per 100 MB of CPU time
/// (TASKFP_STORE_CHECK_MEMORY_GB and TASKFP_STORE_CHECK_SECONDS change them; ten times that of
/// waiting on the disk). InputError "invalid store '<file>': <what>" when the walk fails,
/// crashes, loops, or runs out of memory. What is no fault of the file comes as the readers
/// report it: a filter this HDF5 library lacks (named, with where to get it; the readers check
/// the same for every dataset they open), a lock held by another process.
void validate_file(const std::string& path);

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

/// Shape of a dataset (rank 0 for a scalar).
std::vector<std::uint64_t> shape(hid loc, const std::string& name);
/// Numeric datasets of rank 1 (as one column) or 2; InputError naming the file for any other
/// type or rank.
Matrix<float> read_f32(hid loc, const std::string& name);
/// Any rank, converted to float32, flattened in C order (shape() gives the dimensions).
std::vector<float> read_f32_flat(hid loc, const std::string& name);
Matrix<double> read_f64(hid loc, const std::string& name);
/// A numeric dataset of rank 1.
std::vector<double> read_vector(hid loc, const std::string& name);
/// A string dataset of rank 1.
std::vector<std::string> read_strings(hid loc, const std::string& name);

void set_attr(hid obj, const std::string& name, const std::string& value);
void set_attr(hid obj, const std::string& name, std::int64_t value);
void set_attr(hid obj, const std::string& name, double value);
bool has_attr(hid obj, const std::string& name);
/// Scalar attributes of the named kind; InputError naming the file for another type or shape.
std::string attr_string(hid obj, const std::string& name);
std::int64_t attr_int(hid obj, const std::string& name);
double attr_double(hid obj, const std::string& name);
/// Every attribute of an object rendered as text (for `taskfp inspect`).
std::vector<std::pair<std::string, std::string>> attrs_as_text(hid obj);

/// The name of the file an object belongs to ("" when unknown), for messages.
std::string file_name(hid obj);

/// Writes go to a temporary file beside `path` (io/output_files.hpp); commit() renames it into
/// place, or hands it to `set` to be committed with the run's other outputs. Without commit()
/// the temporary file is removed, so a crash or an error never leaves a half-written store.
class AtomicWrite {
 public:
  explicit AtomicWrite(std::string path, OutputSet* set = nullptr);
  ~AtomicWrite();
  AtomicWrite(const AtomicWrite&) = delete;
  AtomicWrite& operator=(const AtomicWrite&) = delete;
  [[nodiscard]] hid file() const { return file_.get(); }
  void commit();

 private:
  struct Pending;
  std::unique_ptr<Pending> pending_;
  OutputSet* set_;
  Handle file_;
};

}  // namespace taskfp::h5
