// Spatial distortion of an area detector: how far each point of the image lies from where the
// regular pixel grid puts it, as Fit2D's spline files describe it and pyFAI applies it
// (pyFAI/spline.py, Detector.calc_cartesian_positions):
//
//   p1 = pixel1·(y + dy(x, y)) − poni1,   p2 = pixel2·(x + dx(x, y)) − poni2
//
// with (y, x) pixel-edge coordinates (pixel (i, j) spans [i, i+1) × [j, j+1), after the
// orientation flips) and dx, dy in pixels, each a bicubic tensor-product B-spline (FITPACK's
// bisplev: knots tx, ty, coefficients c[i·(ny − 4) + j], arguments clamped to the knot range).
//
// Lens-like CCDs (fibre-optic tapers, image intensifiers) need this; pixel detectors do not.
// A distortion is read from / written to the Fit2D text format, or fitted (least squares) to
// any smooth displacement field — anvil's calibration does that for the distortion it refines.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/image.hpp"

namespace anvil::geometry {

// A bicubic B-spline s(x, y) = Σᵢⱼ c[i·(ny−4) + j]·Bᵢ(x)·Bⱼ(y) (FITPACK layout).
struct BicubicSpline {
  std::vector<double> knots_x, knots_y, coefficients;

  // FITPACK fpbisp: x, y are clamped to [knots[3], knots[n − 4]].
  double operator()(double x, double y) const;
  bool valid() const;  // knot counts ≥ 8, non-decreasing, coefficient count (nx−4)(ny−4)
  friend bool operator==(const BicubicSpline&, const BicubicSpline&) = default;
};

struct SplineDistortion {
  // Region the spline covers, pixel-edge coordinates: x (columns) then y (rows), as Fit2D.
  double x_min = 0.0, y_min = 0.0, x_max = 0.0, y_max = 0.0;
  double grid_spacing = 0.0;                  // Fit2D's "grid spacing" (knot spacing, pixels)
  double pixel_x_um = 0.0, pixel_y_um = 0.0;  // pixel size the spline was made for (µm)
  BicubicSpline dx, dy;                       // displacement along columns (x) and rows (y), pixels
  std::string file;                           // where it was read from / written to ("" if neither)

  // {dy, dx} at pixel-edge coordinates (y, x).
  std::array<double, 2> displacement(double y, double x) const { return {this->dy(x, y), this->dx(x, y)}; }
  // The (y, x) whose displaced position is (Y, X): the inverse map, by fixed-point iteration.
  std::array<double, 2> undistort(double Y, double X) const;
  // The detector shape the spline covers: rows, columns (pyFAI getDetectorSize).
  Shape shape() const;
  friend bool operator==(const SplineDistortion&, const SplineDistortion&) = default;
};

// Least-squares bicubic spline of a displacement field f(y, x) → {dy, dx} (pixels) over a
// detector of `shape`, knots every `spacing` pixels (and at both edges), sampled every
// `sample_step` pixels. A field that is a polynomial of degree ≤ 3 in each of x, y is
// reproduced exactly (to rounding).
SplineDistortion fit_spline_distortion(Shape shape, double pixel1_m, double pixel2_m,
                                       const std::function<std::array<double, 2>(double, double)>& f,
                                       double spacing = 64.0, double sample_step = 4.0);

// Fit2D spline file ("SPATIAL DISTORTION SPLINE INTERPOLATION COEFFICIENTS"). Errors are
// anvil::InputError naming the file: missing sections, unreadable numbers, knot or coefficient
// counts that do not match, a non-positive pixel size or an empty region.
SplineDistortion parse_fit2d_spline(std::string_view text, const std::string& source);
SplineDistortion read_fit2d_spline(const std::filesystem::path& path);
std::string format_fit2d_spline(const SplineDistortion& s);  // %14.7E, five to a line, as Fit2D/pyFAI
void write_fit2d_spline(const std::filesystem::path& path, const SplineDistortion& s);

}  // namespace anvil::geometry
