// Reading 2-D float32/float64 arrays from NumPy .npy files (format versions 1-3).
#pragma once

#include <string>

#include "core/matrix.hpp"

namespace taskfp {

/// Reads an n x d array of float32 or float64 (little-endian, C or Fortran order) as float32.
/// float64 values are rounded to float32 (features are float32 throughout taskfp).
/// Throws InputError for unreadable or truncated files, other dtypes, or rank != 2.
Matrix<float> read_npy_matrix(const std::string& path);

/// Writes an n x d float32 array as a version 1.0 .npy file (for tests and interchange).
void write_npy_matrix(const std::string& path, const Matrix<float>& m);

}  // namespace taskfp
