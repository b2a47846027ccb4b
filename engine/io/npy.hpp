// Reading 2-D numeric arrays from NumPy .npy files (format versions 1-3) as float32.
#pragma once

#include <string>

#include "core/matrix.hpp"

namespace taskfp {

/// An n x d array read from a .npy file, with the dtype it was stored in.
struct NpyMatrix {
  Matrix<float> values;  ///< rows = samples, cols = features
  std::string dtype;     ///< numpy's descr as in the file, e.g. '<f4', '>f8', '|u1'
};

/// Reads an n x d array (C or Fortran order) as float32. Accepted dtypes, little- or big-endian:
/// float16, float32, float64 and signed or unsigned integers of 1, 2, 4 and 8 bytes; each value
/// is rounded to the nearest float32, as numpy's astype(np.float32) does (float16 and integers
/// up to 16 bits exactly; larger integers to 24 significant bits). NaN and infinities are kept
/// (validate_features refuses them, naming the task); a finite float64 beyond float32's range is
/// refused here, naming sample and feature.
/// Throws InputError, naming the file, for unreadable files, a header that is not exactly numpy's
/// (the keys descr, fortran_order and shape; a shape of decimal integers), other dtypes (bool,
/// complex, text, objects, dates, long double; the message says which), rank != 2, no features
/// per sample, and a payload of another size than the header says: shorter (truncated), longer
/// (bytes after the array), or more than 64 bits can count. Sizes are checked against the file
/// before anything is allocated.
NpyMatrix read_npy(const std::string& path);

/// read_npy's values alone.
Matrix<float> read_npy_matrix(const std::string& path);

/// Writes an n x d float32 array as a version 1.0 .npy file (for tests and interchange).
void write_npy_matrix(const std::string& path, const Matrix<float>& m);

}  // namespace taskfp
