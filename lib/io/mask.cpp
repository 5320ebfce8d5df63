#include "io/mask.hpp"

#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "core/text.hpp"
#include "io/tiff.hpp"

namespace anvil::io {

namespace {

void check_shape(const std::string& spec, Shape got, std::optional<Shape> expected, const char* what) {
  if (expected && got != *expected)
    throw InputError(spec, fmt::format("{} is {}x{} (rows x columns) but the frames are {}x{}", what,
                                       got.rows, got.cols, expected->rows, expected->cols));
}

// The file part of "file.h5:/dataset".
std::string file_of(const std::string& spec) {
  const auto colon = spec.find(":/");
  return colon == std::string::npos ? spec : spec.substr(0, colon);
}

}  // namespace

MaskOrientation parse_mask_orientation(std::string_view text, const std::string& what) {
  const std::string t = lower(trim(text));
  if (t == "auto") return MaskOrientation::Auto;
  if (t == "raw") return MaskOrientation::Raw;
  if (t == "dioptas") return MaskOrientation::Dioptas;
  throw InputError(what, fmt::format("expected auto, raw or dioptas, not '{}'", text));
}

std::string_view mask_orientation_name(MaskOrientation o) {
  switch (o) {
    case MaskOrientation::Auto:
      return "auto";
    case MaskOrientation::Raw:
      return "raw";
    case MaskOrientation::Dioptas:
      return "dioptas";
  }
  return "?";
}

MaskOrientation resolve_mask_orientation(const std::string& spec, MaskOrientation requested) {
  if (requested != MaskOrientation::Auto) return requested;
  const std::string file = file_of(spec);
  if (file.size() != spec.size()) return MaskOrientation::Raw;  // an HDF5 dataset
  return lower(std::filesystem::path(file).extension().string()) == ".mask" ? MaskOrientation::Dioptas
                                                                            : MaskOrientation::Raw;
}

OpenOptions mask_flips(MaskOrientation stored, const OpenOptions& frames) {
  if (stored == MaskOrientation::Auto)
    throw std::invalid_argument("mask_flips: resolve the mask orientation first (resolve_mask_orientation)");
  OpenOptions o;
  o.flip_up_down = stored == MaskOrientation::Dioptas ? !frames.flip_up_down : frames.flip_up_down;
  o.flip_left_right = frames.flip_left_right;
  o.mask_sentinels = false;  // a mask's values are flags, not counts
  return o;
}

std::string describe_mask_orientation(const std::string& spec, MaskOrientation stored,
                                      const OpenOptions& frames) {
  const auto flips = [](const OpenOptions& o, const char* none) -> std::string {
    if (o.flip_up_down && o.flip_left_right) return "flipped up-down and left-right";
    if (o.flip_up_down) return "flipped up-down";
    if (o.flip_left_right) return "flipped left-right";
    return none;
  };
  const char* layout = stored == MaskOrientation::Dioptas
                           ? "Dioptas layout (up-down flipped relative to the frame files)"
                           : "raw layout (as the frame files)";
  return fmt::format("mask {}: {}; frames {}: mask {}", spec, layout, flips(frames, "as stored"),
                     flips(mask_flips(stored, frames), "used as stored"));
}

Mask read_mask(const std::string& spec, std::optional<Shape> expected, const OpenOptions& frames,
               MaskOrientation stored) {
  const auto src = open_frames(spec, mask_flips(resolve_mask_orientation(spec, stored), frames));
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

void write_dioptas_mask(const std::string& path, Mask mask) {
  flip_up_down(mask);
  write_tiff_mask(path, mask);
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
