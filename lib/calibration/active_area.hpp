// The part of an image that carries no data, read off the image itself.
//
// A CCD behind a round fibre-optic taper (MarCCD, Rayonix) or an image-plate scanner writes one
// constant, usually 0, wherever no phosphor is: the corners of a square image outside a circular
// active area, a frame round a smaller active rectangle. Left in, the step between that constant
// and the measured background is the sharpest feature of a SAXS image, and a centre search or a
// ring picker takes its edge for a ring. Such a region is found as the pixels equal to the value
// the image's corners share, connected (4-neighbours) to the image border, and is accepted only when
//  - it is large (≥ min_fraction of the image) and solid (most of it survives an erosion by
//    solid_px: the zeros of a sparse image that touch each other form a porous cluster), and
//  - the rest of the image almost never takes that value (≤ max_value_fraction of its valid
//    pixels): in a count-starved image, where zero is an ordinary count, nothing is masked.
// The pixels within margin_px of it (partly covered by the active area's edge) are added.
#pragma once

#include <cstddef>
#include <optional>

#include "core/image.hpp"

namespace anvil::calibration {

struct InactiveAreaOptions {
  double min_fraction = 0.01;         // of the image's pixels
  double max_value_fraction = 0.005;  // of the other valid pixels that may hold the same value
  int solid_px = 3;                   // erosion (square of side 2·solid_px + 1) the region must survive
  double min_solid_fraction = 0.5;    // ... with this share of its pixels
  int margin_px = 2;                  // added round the region (square dilation)
};

struct InactiveArea {
  Mask mask;                  // 1 = outside the active area (region + margin)
  float value = 0.0f;         // the constant the region holds
  std::size_t region_px = 0;  // pixels of the constant region itself
  std::size_t masked_px = 0;  // with the margin
};

// `mask`: 1 = already excluded (may be empty); those pixels are neither part of the region nor
// counted as data. nullopt when the image has no such region.
std::optional<InactiveArea> find_inactive_area(const ImageF& image, const Mask& mask,
                                               const InactiveAreaOptions& options = {});

}  // namespace anvil::calibration
