#include "calibration/active_area.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace anvil::calibration {

namespace {

// Dilation (`dilate`) or erosion of a 0/1 mask by a (2k+1)² square, separable: rows, then columns.
Mask grow(const Mask& in, int k, bool dilate) {
  if (k <= 0) return in;
  const std::size_t rows = in.rows(), cols = in.cols();
  const std::uint8_t outside = dilate ? 0 : 1;  // beyond the image: neutral for the operation
  auto pass = [&](const Mask& src, bool along_rows) {
    Mask dst(src.shape, 0);
    const std::size_t n_lines = along_rows ? rows : cols, len = along_rows ? cols : rows;
    for (std::size_t l = 0; l < n_lines; ++l)
      for (std::size_t i = 0; i < len; ++i) {
        std::uint8_t v = dilate ? 0 : 1;
        for (long j = static_cast<long>(i) - k; j <= static_cast<long>(i) + k; ++j) {
          const std::uint8_t x =
              (j < 0 || j >= static_cast<long>(len))
                  ? outside
                  : (along_rows ? src(l, static_cast<std::size_t>(j)) : src(static_cast<std::size_t>(j), l));
          v = dilate ? std::max(v, x) : std::min(v, x);
        }
        (along_rows ? dst(l, i) : dst(i, l)) = v;
      }
    return dst;
  };
  return pass(pass(in, true), false);
}

}  // namespace

std::optional<InactiveArea> find_inactive_area(const ImageF& image, const Mask& mask,
                                               const InactiveAreaOptions& options) {
  const std::size_t rows = image.rows(), cols = image.cols(), n = image.pixels.size();
  if (rows < 3 || cols < 3) return std::nullopt;
  auto excluded = [&](std::size_t i) {
    return std::isnan(image.pixels[i]) || (!mask.pixels.empty() && mask.pixels[i] != 0);
  };
  // The value at least three of the four corners share.
  const std::array<std::size_t, 4> corners{0, cols - 1, (rows - 1) * cols, rows * cols - 1};
  std::optional<float> value;
  for (std::size_t a : corners) {
    if (excluded(a)) continue;
    int same = 0;
    for (std::size_t b : corners)
      if (!excluded(b) && image.pixels[b] == image.pixels[a]) ++same;
    if (same >= 3) {
      value = image.pixels[a];
      break;
    }
  }
  if (!value) return std::nullopt;
  auto holds = [&](std::size_t i) { return !excluded(i) && image.pixels[i] == *value; };

  // Flood fill from the border.
  InactiveArea out;
  out.value = *value;
  out.mask = Mask(image.shape, 0);
  std::vector<std::size_t> stack;
  auto push = [&](std::size_t i) {
    if (out.mask.pixels[i] == 0 && holds(i)) {
      out.mask.pixels[i] = 1;
      stack.push_back(i);
    }
  };
  for (std::size_t c = 0; c < cols; ++c) {
    push(c);
    push((rows - 1) * cols + c);
  }
  for (std::size_t r = 0; r < rows; ++r) {
    push(r * cols);
    push(r * cols + cols - 1);
  }
  while (!stack.empty()) {
    const std::size_t i = stack.back();
    stack.pop_back();
    out.region_px += 1;
    const std::size_t r = i / cols, c = i % cols;
    if (r > 0) push(i - cols);
    if (r + 1 < rows) push(i + cols);
    if (c > 0) push(i - 1);
    if (c + 1 < cols) push(i + 1);
  }
  if (out.region_px < options.min_fraction * static_cast<double>(n)) return std::nullopt;

  // The value must be foreign to the data: rare among the other valid pixels.
  std::size_t others = 0, same = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (out.mask.pixels[i] || excluded(i)) continue;
    ++others;
    if (image.pixels[i] == *value) ++same;
  }
  if (others == 0 || same > options.max_value_fraction * static_cast<double>(others)) return std::nullopt;

  // Solid: a region of no data survives an erosion; the zeros of a count-starved image that
  // happen to touch each other form a thin, porous cluster that does not.
  const Mask core = grow(out.mask, options.solid_px, false);
  const auto kept = static_cast<std::size_t>(std::count(core.pixels.begin(), core.pixels.end(), 1));
  if (kept < options.min_solid_fraction * static_cast<double>(out.region_px)) return std::nullopt;

  // Margin: pixels the active area's edge only partly covers.
  out.mask = grow(out.mask, options.margin_px, true);
  out.masked_px = static_cast<std::size_t>(std::count(out.mask.pixels.begin(), out.mask.pixels.end(), 1));
  return out;
}

}  // namespace anvil::calibration
