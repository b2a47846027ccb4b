// Internals shared by the HDF5 layer's readers (hdf5.cpp) and its file check (hdf5_check.cpp).
// Not part of the engine's interface: include io/hdf5.hpp.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace taskfp::h5::detail {

// Largest counts taskfp accepts from a file (elements of one dataset, attribute values), far
// beyond any store it writes; a damaged header claiming more is refused before any allocation.
inline constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 40;
inline constexpr std::uint64_t kMaxAttributeValues = std::uint64_t{1} << 20;
// Deflate cannot expand data more than about 1032-fold: a chunked dataset whose declared size
// exceeds that multiple of its storage cannot be a valid one.
inline constexpr std::uint64_t kMaxCompression = 1100;

/// A store that may well be valid but that this process cannot read now: a filter this HDF5
/// library lacks, a lock another process holds. The file check passes the message on as it is
/// instead of calling the store invalid.
class StoreAccessError : public InputError {
 public:
  using InputError::InputError;
};

/// The innermost reason HDF5 recorded for its last failure (for the OS: the errno text); clears
/// HDF5's error stack.
std::string last_reason();
/// InputError "'<file>': <what> failed: <reason>", the file named as the user knows it.
[[noreturn]] void fail(hid loc, const std::string& what);
/// For a failed H5Fopen (or H5Fis_hdf5) of `path`, from HDF5's error stack: StoreAccessError
/// where another process holds a lock on the file or has it marked as open for writing (each
/// naming what to do), else InputError "<what> failed: <reason>".
[[noreturn]] void fail_open(const std::string& path, const std::string& what);
void check(herr_t status, hid loc, const std::string& what);
hid checked(hid id, hid loc, const std::string& what);
void close_any(hid id);
/// "'<name>' in '<file>'", for messages.
std::string where(hid loc, const std::string& name);
const char* class_name(H5T_class_t c);
/// Dimensions of a simple (or scalar: rank 0; null: one 0) dataspace, at most kMaxElements.
std::vector<std::uint64_t> extent(hid space, hid loc, const std::string& name);
std::uint64_t element_count(const std::vector<std::uint64_t>& dims);

struct OpenDataset {
  Handle ds;
  std::vector<std::uint64_t> dims;
  H5T_class_t type_class = H5T_NO_CLASS;
};
/// StoreAccessError naming the filter (id, name, where to get it) when a filter of the dataset
/// (its creation property list `dcpl`) cannot be decoded by this HDF5 library and its plugins.
void require_filters_available(hid dcpl, hid loc, const std::string& name);
/// A fixed-length string as stored: up to its first NUL, or without its trailing spaces where
/// it is space-padded (H5T_STR_SPACEPAD, as Fortran writes them).
std::string fixed_string(const char* bytes, std::size_t size, H5T_str_t pad);
/// Opens a dataset, checks that its declared size fits the bytes the file holds for it and that
/// this HDF5 library can decode its filters.
OpenDataset open_dataset(hid loc, const std::string& name);
/// Variable-length strings in memory, as char* that HDF5 allocates.
Handle vlen_string_type(H5T_cset_t cset = H5T_CSET_UTF8);

}  // namespace taskfp::h5::detail
