// pyFAI .poni files: read every version, write v2.1.
//
//   v1   PixelSize1/PixelSize2 (+ optional Detector name, SplineFile)
//   v2   "poni_version: 2", Detector: <pyFAI class>, Detector_config: <JSON: pixel1, pixel2,
//        max_shape, ...>
//   v2.1 as v2, with "orientation" (1..4) in Detector_config
// Common to all: "Key: value" lines, keys case-insensitive, '#' comments, lines without ':'
// ignored; a file may hold several records and, as in pyFAI, a key seen again overwrites the
// earlier value (the last record wins). Distance (or Dist) and Wavelength are required here;
// Poni1/Poni2/Rot1..3 default to 0.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "geometry/geometry.hpp"

namespace anvil::geometry {

// Reads a .poni file. Errors are anvil::InputError naming the file: missing Distance or
// Wavelength, a value that is not a number (naming key and line), Distance or Wavelength
// <= 0, an unknown detector without a pixel size, malformed Detector_config JSON, a spline
// file (SplineFile / splineFile) that is missing or unreadable, an orientation outside 0..4.
// A spline file is read into Detector::distortion and, as in pyFAI, sets the pixel size and
// shape; a relative spline path is looked for next to the .poni first.
Geometry read_poni(const std::filesystem::path& path);

// The same, from the text of a .poni file; `source` names it in errors, `base_dir` is where
// a relative spline path is looked for first.
Geometry parse_poni(std::string_view text, const std::string& source,
                    const std::filesystem::path& base_dir = {});

// A pyFAI v2.1 .poni (readable by pyFAI >= 2024; pyFAI 0.21 reads v2 only: drop the
// orientation there). A detector with a distortion is written as pyFAI's generic "Detector"
// with "splineFile": distortion->file (write the spline there first; empty is an error). Doubles are written
// as Python's repr writes them, the shortest text that reads back to the same double, so write -> read is
// lossless.
std::string format_poni(const Geometry& g);
// Writes format_poni(g) to `path` (via a temporary file and a rename). InputError on failure.
void write_poni(const std::filesystem::path& path, const Geometry& g);

// Python's repr() of a double ("0.2", "4.859e-11", "1e-05", "-0.007"): shortest round-trip.
std::string python_float_repr(double v);

}  // namespace anvil::geometry
