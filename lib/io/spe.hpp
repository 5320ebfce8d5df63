// Princeton Instruments WinView/WinSpec SPE images (lab CCDs, e.g. PI-MAX, PyLoN).
//
// A 4100-byte binary header (little-endian) followed by the frames; version 3 files add an
// XML footer after the data. Header fields used (byte offsets, from the WinView 2.5 manual's
// "SPE file header" table): 10 exposure (float32, s), 42 xdim (uint16, fast axis), 108
// datatype (int16: 0 float32, 1 int32, 2 int16, 3 uint16, 5 float64, 6 uint8, 8 uint32),
// 656 ydim (uint16), 1446 NumFrames (int32), 1992 file_header_ver (float32), 678 XML footer
// offset (uint64, version 3). There is no wavelength, distance or pixel size in the header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/frame_source.hpp"

namespace anvil::io {

std::unique_ptr<FrameSource> open_spe(const std::string& path, const OpenOptions& options = {});

// Writes uint16 (datatype 3) or float32 (datatype 0) frames with a version-2.5 header, for tests.
void write_spe(const std::string& path, const std::vector<ImageF>& frames, bool as_float = false,
               float exposure_s = 1.0f);

}  // namespace anvil::io
