// A minimal owning row-major matrix; views are spans over its storage.
#pragma once

#include <cassert>
#include <cstddef>
#include <span>
#include <vector>

namespace taskfp {

template <typename T>
struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<T> data;  ///< row-major, rows * cols values

  Matrix() = default;
  Matrix(std::size_t r, std::size_t c, T fill = T{}) : rows(r), cols(c), data(r * c, fill) {}

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
