// The PILATUS / EIGER "mini-header": "# Key value unit" lines that Dectris detectors write
// into a CBF's _array_data.header_contents and a TIFF's ImageDescription tag.
//
//   # Detector: PILATUS 1M, S/N 1-0100
//   # Pixel_size 172e-6 m x 172e-6 m
//   # Exposure_time 1.0000000 s
//   # Wavelength 0.4859 A
//   # Detector_distance 0.21143 m
//   # Beam_xy (498.18, 515.77) pixels
//   # Count_cutoff 1048576 counts
//
// Reference: Dectris, "PILATUS CBF header specification" v1.4 (PILATUS_1.2 convention).
#pragma once

#include <string>
#include <string_view>

#include "io/frame_source.hpp"

namespace anvil::io {

// Reads the keys above into metadata; unknown keys and unparsable values are ignored
// (a header is commentary: a bad line never makes an image unreadable).
FrameMetadata parse_pilatus_header(std::string_view text);

// Writes the set fields of `metadata` as such lines ("\r\n"-terminated, as the detector does).
std::string format_pilatus_header(const FrameMetadata& metadata);

}  // namespace anvil::io
