// A detector image: a dense, row-major 2D array of pixels.
//
// Row index = slow axis (pyFAI "dim1", poni1 direction), column index = fast axis
// (pyFAI "dim2", poni2 direction), exactly as the detector writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace anvil {

struct Shape {
  std::size_t rows = 0;  // slow axis (y, dim1)
  std::size_t cols = 0;  // fast axis (x, dim2)
  std::size_t pixel_count() const { return rows * cols; }
  friend bool operator==(const Shape&, const Shape&) = default;
};

template <class T>
struct Image {
  Shape shape;
  std::vector<T> pixels;  // rows*cols values, row-major

  Image() = default;
  explicit Image(Shape s, T fill = T{}) : shape(s), pixels(s.pixel_count(), fill) {}

  std::size_t rows() const { return shape.rows; }
  std::size_t cols() const { return shape.cols; }
  bool empty() const { return pixels.empty(); }
  T& operator()(std::size_t r, std::size_t c) { return pixels[r * shape.cols + c]; }
  const T& operator()(std::size_t r, std::size_t c) const { return pixels[r * shape.cols + c]; }
  std::span<T> row(std::size_t r) { return {pixels.data() + r * shape.cols, shape.cols}; }
  std::span<const T> row(std::size_t r) const { return {pixels.data() + r * shape.cols, shape.cols}; }
};

using ImageF = Image<float>;
// 1 = masked (excluded), 0 = valid: the pyFAI / Dioptas convention.
using Mask = Image<std::uint8_t>;

// Flip an image in place: up-down reverses the rows, left-right the columns.
template <class T>
void flip_up_down(Image<T>& img) {
  for (std::size_t top = 0, bottom = img.rows(); top + 1 < bottom; ++top, --bottom) {
    auto a = img.row(top);
    auto b = img.row(bottom - 1);
    for (std::size_t c = 0; c < img.cols(); ++c) std::swap(a[c], b[c]);
  }
}

template <class T>
void flip_left_right(Image<T>& img) {
  for (std::size_t r = 0; r < img.rows(); ++r) {
    auto row = img.row(r);
    for (std::size_t i = 0, j = row.size(); i + 1 < j; ++i, --j) std::swap(row[i], row[j - 1]);
  }
}

}  // namespace anvil
