#include "io/mask.hpp"

#include <fmt/core.h>

#include <cmath>

namespace anvil::io {

namespace {

void check_shape(const std::string& spec, Shape got, std::optional<Shape> expected, const char* what) {
  if (expected && got != *expected)
    throw InputError(spec, fmt::format("{} is {}x{} (rows x columns) but the frames are {}x{}", what,
                                       got.rows, got.cols, expected->rows, expected->cols));
}

OpenOptions raw_values(const OpenOptions& orientation) {
  OpenOptions o;
  o.flip_up_down = orientation.flip_up_down;
  o.flip_left_right = orientation.flip_left_right;
  o.mask_sentinels = false;  // a mask's values are flags, not counts
  return o;
}

}  // namespace

Mask read_mask(const std::string& spec, std::optional<Shape> expected, const OpenOptions& orientation) {
  const auto src = open_frames(spec, raw_values(orientation));
  if (src->frame_count() == 0) throw InputError(spec, "mask file holds no image");
  check_shape(spec, src->shape(), expected, "mask");
  const Frame f = src->read(0);
  Mask m(f.image.shape, 0);
  for (std::size_t i = 0; i < m.pixels.size(); ++i) {
    const float v = f.image.pixels[i];
    m.pixels[i] = (v != 0.0f || std::isnan(v)) ? 1 : 0;
  }
  return m;
}

ImageF read_mean_frame(const std::string& spec, std::optional<Shape> expected, const OpenOptions& orientation,
                       Mask* invalid) {
  OpenOptions o = orientation;
  o.mask_sentinels = true;
  const auto src = open_frames(spec, o);
  if (src->frame_count() == 0) throw InputError(spec, "holds no image");
  check_shape(spec, src->shape(), expected, "correction frame");
  std::vector<double> sum(src->shape().pixel_count(), 0.0);
  Mask bad(src->shape(), 0);
  std::size_t used = 0;
  std::string first_error;
  for_each_frame(
      *src,
      [&](Frame&& f) {
        for (std::size_t i = 0; i < sum.size(); ++i) {
          sum[i] += f.image.pixels[i];
          bad.pixels[i] |= f.invalid.pixels[i];
        }
        ++used;
      },
      [&](const FrameError& e) {
        if (first_error.empty()) first_error = e.what();
      });
  if (used == 0) throw InputError(spec, "no readable frame: " + first_error);
  ImageF mean(src->shape());
  for (std::size_t i = 0; i < sum.size(); ++i)
    mean.pixels[i] = static_cast<float>(sum[i] / static_cast<double>(used));
  if (invalid) *invalid = std::move(bad);
  return mean;
}

void merge_mask(Mask& mask, const Mask& extra) {
  if (extra.empty()) return;
  if (mask.empty()) {
    mask = extra;
    return;
  }
  if (mask.shape != extra.shape)
    throw InputError("", fmt::format("cannot combine masks of shapes {}x{} and {}x{}", mask.rows(),
                                     mask.cols(), extra.rows(), extra.cols()));
  for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= extra.pixels[i];
}

}  // namespace anvil::io
