// A minimal owning row-major matrix; views are spans over its storage.
#pragma once

#include <cassert>
#include <cstddef>
#include <span>
#include <vector>

#include "core/big_buffer.hpp"

namespace taskfp {

template <typename T>
struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  /// Row-major, rows * cols values. Large matrices use huge pages (core/big_buffer.hpp).
  std::vector<T, BigAllocator<T>> data;

  Matrix() = default;
  Matrix(std::size_t r, std::size_t c, T fill = T{}) : rows(r), cols(c), data(r * c, fill) {}
  /// A matrix whose values are all written by the caller before they are read (no zero fill).
  static Matrix uninitialized(std::size_t r, std::size_t c) {
    Matrix m;
    m.rows = r;
    m.cols = c;
    m.data.resize(r * c);
    return m;
  }

  T& operator()(std::size_t r, std::size_t c) {
    assert(r < rows && c < cols);
    return data[r * cols + c];
  }
  const T& operator()(std::size_t r, std::size_t c) const {
    assert(r < rows && c < cols);
    return data[r * cols + c];
  }
  std::span<T> row(std::size_t r) { return {data.data() + r * cols, cols}; }
  std::span<const T> row(std::size_t r) const { return {data.data() + r * cols, cols}; }
  [[nodiscard]] bool empty() const { return data.empty(); }
  [[nodiscard]] std::size_t size() const { return data.size(); }
};

}  // namespace taskfp
