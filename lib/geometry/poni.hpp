// pyFAI .poni files: read every version, write v2 (default orientation) or v2.1.
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

// What a .poni says, besides the geometry, about the image it belongs to.
struct PoniInfo {
  double version = 1.0;  // poni_version: 1, 2 or 2.1
  // The orientation is stated: "orientation" in Detector_config (v2.1), or the comment
  // "# anvil: orientation 3 ..." anvil writes into the v2 files it makes (pyFAI ignores it).
  // A v1/v2 file without either says nothing: pyFAI reads it as orientation 3 of the image as
  // stored, Dioptas (which flips every image up-down) wrote such files for its flipped image.
  bool orientation_recorded = false;
};

// Reads a .poni file. Errors are anvil::InputError naming the file: missing Distance or
// Wavelength, a value that is not a number (naming key and line), Distance or Wavelength
// <= 0, an unknown detector without a pixel size, malformed Detector_config JSON, a spline
// file (SplineFile / splineFile) that is missing or unreadable, an orientation outside 0..4.
// A spline file is read into Detector::distortion and, as in pyFAI, sets the pixel size and
// shape; a relative spline path is looked for next to the .poni first.
// `info`, if given, receives the version and whether the orientation is recorded.
Geometry read_poni(const std::filesystem::path& path, PoniInfo* info = nullptr);

// The same, from the text of a .poni file; `source` names it in errors, `base_dir` is where
// a relative spline path is looked for first.
Geometry parse_poni(std::string_view text, const std::string& source,
                    const std::filesystem::path& base_dir = {}, PoniInfo* info = nullptr);

// The flips frames are read with (io::OpenOptions flip_up_down / flip_left_right).
struct ImageFlips {
  bool up_down = false;
  bool left_right = false;
};

struct FramesGeometry {
  Geometry geometry;  // the geometry of the flipped frames
  std::string note;   // what was decided, for the log; empty when there is nothing to say
};

// The geometry of frames read with `flips`, from a .poni's geometry `g` (pyFAI's and Dioptas'
// conventions, docs/geometry.md):
//   * orientation recorded (v2.1, or anvil's comment): it refers to the image as stored in the
//     file, as pyFAI reads it. On flipped frames the same parameters hold with the orientation
//     flipped likewise (geometry::flipped): every pixel keeps its 2θ and χ, so a .poni from
//     pyFAI >= 2024, from Dioptas with orientation support, or from anvil gives the same result
//     with or without the flips.
//   * none recorded (v1, v2 from pyFAI < 2024 or older Dioptas): the geometry is taken to belong
//     to the frames as they are read, after the flips; that is what the flips are for with a
//     Dioptas .poni (geometry of its up-down flipped image).
// `poni_name` names the file in the note.
FramesGeometry geometry_for_frames(const Geometry& g, const PoniInfo& info, ImageFlips flips,
                                   const std::string& poni_name);

// The inverse: the geometry of frames read with `flips`, referred to the image as stored in the
// file, as a .poni must say it (the orientation flipped back). anvil calibrate --flip-ud writes
// orientation 2 (TopRight), as Dioptas does for its flipped image.
Geometry geometry_for_file(Geometry frames_geometry, ImageFlips flips);

// A pyFAI .poni: v2 for the default orientation (3), with the comment
// "# anvil: orientation 3 (BottomRight): ..." that records it for anvil while pyFAI 0.21, which
// reads v2 only, can still read the file; v2.1 with "orientation" in Detector_config otherwise
// (readable by pyFAI >= 2024). A detector with a distortion is written as pyFAI's generic "Detector"
// with "splineFile": distortion->file (write the spline there first; empty is an error). Doubles are written
// as Python's repr writes them, the shortest text that reads back to the same double, so write -> read is
// lossless.
std::string format_poni(const Geometry& g);
// Writes format_poni(g) to `path` (via a temporary file and a rename). InputError on failure.
void write_poni(const std::filesystem::path& path, const Geometry& g);

// Python's repr() of a double ("0.2", "4.859e-11", "1e-05", "-0.007"): shortest round-trip.
std::string python_float_repr(double v);

}  // namespace anvil::geometry
