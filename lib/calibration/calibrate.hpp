// Geometry calibration from one calibrant image: the whole procedure, start to verdict.
//
//  1. Start: a guess (.poni, or distance + beam centre), or nothing: the beam centre is found
//     from the image's radial symmetry and the distance by matching ring radii to the
//     calibrant's lines (initial_guess.hpp). A rough guess (distance ±20 %, centre ±30 px) is
//     searched around in the same way; a full .poni guess (with tilts) is tried as it is first.
//  2. Passes: predict the rings for the current geometry, pick control points in a radial
//     window around each (control_points.hpp), refine the geometry on them (refine.hpp). The
//     first passes use the innermost rings, wide windows and no tilts; each pass adds rings out
//     to 1.5× the 2θ reached, narrows the windows and frees the tilts once 3 rings are in.
//  3. Final: points further than 4 robust σ from their ring are dropped and the geometry refined
//     once more, with parameter uncertainties.
//  4. Verdict: the fit fails (status ≠ Converged, with a message naming the numbers) when too
//     few rings or points are found, the solver did not converge, or the geometry does not do
//     what it is for — put every ring where the calibrant says, all the way round, determined by
//     the points — judged by (pixel-equivalents of 2θ):
//       - ring means: each ring's mean residual within max_ring_offset_px + 3 standard errors;
//       - ring shape: the mean of each eighth of a ring within max_arc_offset_px + 3 standard
//         errors (an ellipse the geometry cannot make: a distorted detector);
//       - stability: the 1σ of the 2θ map from the parameters' covariance, and the spread of
//         refits from perturbed starts, inside the outermost ring;
//       - strong rings in the image that are not calibrant lines (wrong calibrant or λ).
//     Point scatter alone does not refuse a fit (coarse-grained powders scatter without moving
//     the ring means); it only has a wide outer bound, max_rms_px.
//     A failed calibration still returns its best geometry and residuals, for diagnosis.
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "calibration/calibrant.hpp"
#include "calibration/control_points.hpp"
#include "calibration/refine.hpp"
#include "core/image.hpp"
#include "geometry/geometry.hpp"

namespace anvil::calibration {

enum class CalibrationStatus {
  Converged,     // a good fit
  NoRings,       // no (or too few) calibrant rings found
  PoorFit,       // rings found, but the residuals say the geometry does not fit them
  NotConverged,  // the solver stopped without converging
};
const char* status_name(CalibrationStatus s);

// Where to start.
struct CalibrationStart {
  std::optional<geometry::Geometry> guess;         // a full geometry (e.g. a .poni): tried as it is
  std::optional<double> dist_m;                    // a rough distance (±20 %)
  std::optional<std::array<double, 2>> center_px;  // a rough beam centre (d1 = row, d2 = column, ±30 px)
};

struct CalibrationOptions {
  FreeParameters free;  // rot3 and the wavelength fixed by default
  PickOptions pick;
  // The verdict (pixel-equivalents of 2θ). A fit is accepted on its ring means, the shape of its
  // rings and the stability of its parameters; point scatter only has a wide outer bound.
  double max_rms_px = 2.0;               // RMS residual of the points: beyond this they do not trace rings
  double max_ring_offset_px = 0.25;      // a ring's mean residual, beyond 3 standard errors of that mean
  double max_arc_offset_px = 0.5;        // the mean of an eighth of a ring, beyond 3 of its standard errors
  double max_two_theta_sigma_px = 0.25;  // 1σ of the fitted 2θ map (covariance), inside the outer ring
  double max_instability_px = 0.05;      // 2θ spread of refits from perturbed starts, inside the outer ring
  int min_rings = 2;
  int min_points = 20;
  int max_passes = 12;
  double search_radius_px = 40.0;    // centre search box around a rough centre
  double dist_search_factor = 1.35;  // distance search range: [D/f, D·f] around a rough distance
  double max_unexplained_peak =
      0.15;  // strong peaks in the image that are not lines: height vs the strongest
};

// One calibrant line as fitted.
struct RingFit {
  int line = -1;
  CalibrantLine calibrant_line;
  double two_theta_expected_rad = 0.0;
  double two_theta_observed_rad = 0.0;  // mean model 2θ of its points (expected + mean residual)
  int points = 0;
  double mean_residual_rad = 0.0;
  double mean_residual_sigma_rad = 0.0;  // standard error of that mean (sample σ / √points)
  double rms_residual_rad = 0.0;
  // The ring's eighths of χ with enough points to judge (arcs) and the one furthest off: its
  // mean residual, its χ (centre of the arc) and |mean| − 3 standard errors in pixel-equivalents.
  int arcs = 0;
  double worst_arc_mean_rad = 0.0, worst_arc_chi_rad = 0.0, worst_arc_excess_px = 0.0;
};

struct CalibrationResult {
  CalibrationStatus status = CalibrationStatus::NoRings;
  std::string message;  // one paragraph: what was found, or why the fit failed
  geometry::Geometry geometry;
  std::array<double, 7> sigma{};  // as RefinedGeometry::sigma
  // The distortion refined with FreeParameters::distortion (already in geometry.detector), and its 1σ.
  RingDistortion distortion;
  std::array<double, kDistortionParameterCount> distortion_sigma{};
  std::vector<ControlPoint> points;
  std::vector<double> residuals_rad;  // per point
  std::vector<RingFit> rings;
  double rms_rad = 0.0;
  double rms_px = 0.0;  // RMS in pixel-equivalents (radial pixel size in 2θ at each point's angle)
  // Largest 2θ difference (pixel-equivalents) between the answer and refits of its points from
  // perturbed starts, inside the outermost ring; NaN until the checks before it have passed.
  double instability_px = std::nan("");
  double two_theta_sigma_px = std::nan("");  // largest 1σ of the 2θ map there, from the covariance
  int passes = 0;
  std::vector<std::string> log;  // one line per step, for --verbose
  bool ok() const { return status == CalibrationStatus::Converged; }
};

// `detector` gives the pixel size and orientation; its shape is taken from the image. `mask`
// (1 = excluded) may be empty and should already include the detector's own invalid pixels;
// module gaps of a known detector are added here. `lines` are the calibrant's lines (e.g.
// calibrant_lines_to_two_theta(..., π/2)), largest d first.
CalibrationResult calibrate(const ImageF& image, const Mask& mask, const geometry::Detector& detector,
                            double wavelength_m, const std::vector<CalibrantLine>& lines,
                            const CalibrationStart& start = {}, const CalibrationOptions& options = {});

}  // namespace anvil::calibration
