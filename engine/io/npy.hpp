// Reading 2-D float32/float64 arrays from NumPy .npy files (format versions 1-3).
#pragma once

#include <string>

#include "core/matrix.hpp"

namespace taskfp {

/// Reads an n x d array of float32 or float64 (little-endian, C or Fortran order) as float32.
/// float64 values are rounded to float32 (features are float32 throughout taskfp).
/// Throws InputError, naming the file, for unreadable files, a header that is not exactly numpy's
/// (the keys descr, fortran_order and shape; a shape of decimal integers), other dtypes
/// (big-endian included), rank != 2, no features per sample, and a payload of another size than
/// the header says: shorter (truncated), longer (bytes after the array), or more than 64 bits can
/// count. Sizes are checked against the file before anything is allocated.
Matrix<float> read_npy_matrix(const std::string& path);

/// Writes an n x d float32 array as a version 1.0 .npy file (for tests and interchange).
void write_npy_matrix(const std::string& path, const Matrix<float>& m);

}  // namespace taskfp
