// Area detectors as pyFAI describes them: pixel size, shape, module gaps, orientation.
//
// Presets follow pyFAI's detector classes (pyFAI/detectors/_dectris.py, _others.py,
// _rayonix.py): the same class names (written to .poni files), the same shapes and the same
// module-gap masks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/image.hpp"
#include "geometry/distortion.hpp"

namespace anvil::geometry {

// Where pixel (0, 0) lies, as pyFAI >= 2024.1 and .poni v2.1 define it (EXIF orientation
// seen from behind the detector). pyFAI computes every geometry quantity as if the image had
// been flipped back to the default, BottomRight (3), which is also what .poni v1/v2 mean.
//   1 TopLeft:     both axes flipped        2 TopRight:   rows flipped (up-down)
//   3 BottomRight: as stored (default)      4 BottomLeft: columns flipped (left-right)
enum class Orientation : int { TopLeft = 1, TopRight = 2, BottomRight = 3, BottomLeft = 4 };

// `o` for the same detector once its image is flipped: up_down reverses the rows, left_right
// the columns. Every pixel keeps its position, 2θ and χ: the orientation follows the flip.
// flipped(BottomRight, true, false) == TopRight, as Dioptas' poni_flipud maps 3 to 2.
Orientation flipped(Orientation o, bool up_down, bool left_right);
// "TopLeft", "TopRight", "BottomRight", "BottomLeft" (pyFAI's Orientation names).
const char* orientation_name(Orientation o);

// pyFAI's MODULE_SIZE / MODULE_GAP, (rows, cols) each: modules of module_rows x module_cols
// pixels separated by gap_rows dead rows and gap_cols dead columns.
struct ModuleLayout {
  std::size_t module_rows = 0;
  std::size_t module_cols = 0;
  std::size_t gap_rows = 0;
  std::size_t gap_cols = 0;
  friend bool operator==(const ModuleLayout&, const ModuleLayout&) = default;
};

struct Detector {
  std::string name = "Detector";        // pyFAI class name ("Pilatus1M", "Eiger2_4M"); "Detector" = generic
  double pixel1_m = 0.0;                // pixel size along rows (slow axis, y, dim1)
  double pixel2_m = 0.0;                // pixel size along columns (fast axis, x, dim2)
  Shape shape;                          // {0, 0} when unknown (a .poni v1 does not say)
  std::optional<ModuleLayout> modules;  // module gaps, for Pilatus / EIGER
  bool circular_active_area = false;    // image-plate readers (MAR345): corners are dead
  Orientation orientation = Orientation::BottomRight;
  // Spatial distortion (Fit2D spline, pyFAI's splineFile), applied after the orientation flips.
  std::optional<SplineDistortion> distortion;

  bool is_generic() const { return name == "Detector"; }
  // The pixels the detector cannot measure: module gaps, or the outside of a circular plate
  // (pyFAI's calc_mask). All zeros for a detector without either. Needs a known shape.
  Mask dead_pixel_mask() const;
  friend bool operator==(const Detector&, const Detector&) = default;
};

// A detector known only by its pixel size and shape (pyFAI's plain "Detector").
Detector generic_detector(double pixel1_m, double pixel2_m, Shape shape = {},
                          Orientation orientation = Orientation::BottomRight);

// The preset called `name`, or nullopt. Matching ignores case, spaces, '_' and '-', and knows
// pyFAI's aliases: "Pilatus1M", "pilatus 1m", "Pilatus_1M", "Eiger4M", "eiger2_4m",
// "Eiger2 4M", "Perkin Elmer", "MAR 345", "Rayonix MX225", ... Pilatus3 names map to the
// Pilatus of the same size.
std::optional<Detector> find_detector(std::string_view name);

// As find_detector, but an unknown name is an InputError that lists the known names.
Detector detector_preset(std::string_view name);

// pyFAI class names of every preset, in a stable order.
std::vector<std::string> detector_preset_names();

}  // namespace anvil::geometry
