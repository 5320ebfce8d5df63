// Masks, dark and flat frames: the per-pixel corrections that come as files.
#pragma once

#include <optional>
#include <string>

#include "io/frame_source.hpp"

namespace anvil::io {

// Reads a mask (1 = masked, any non-zero or NaN value counts as masked) from any image
// format open_frames reads: TIFF, a Dioptas ".mask" (a TIFF), EDF (silx/pyFAI), CBF, or
// HDF5 ("mask.h5:/path"). The orientation options apply as to the frames: a mask drawn in
// Dioptas is stored up-down flipped like the images Dioptas shows. With `expected` set, a
// mask of another shape is an InputError naming both shapes.
Mask read_mask(const std::string& spec, std::optional<Shape> expected = std::nullopt,
               const OpenOptions& orientation = {});

// A dark or flat frame: the pixel-wise mean of every frame in `spec` (a dark series is
// averaged). Pixels invalid in any frame are flagged in `invalid` (if given).
ImageF read_mean_frame(const std::string& spec, std::optional<Shape> expected = std::nullopt,
                       const OpenOptions& orientation = {}, Mask* invalid = nullptr);

// Every pixel masked in `extra` becomes masked in `mask` (shapes must agree).
void merge_mask(Mask& mask, const Mask& extra);

}  // namespace anvil::io
