// Least-squares refinement of the PONI geometry on control points (Ceres Solver).
//
// Each control point on line k gives one residual, 2θ_model(point; dist, poni1, poni2, rot1,
// rot2, rot3) − 2θ_k(λ), 2θ_k = 2·asin(λ / 2d_k) — pyFAI's GeometryRefinement residual. A Huber
// loss keeps a few misplaced points from pulling the fit. Parameter uncertainties are the
// square roots of the diagonal of (JᵀJ)⁻¹·s², s² = Σr² / (n − p) (ceres::Covariance).
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "calibration/calibrant.hpp"
#include "calibration/control_points.hpp"
#include "calibration/ring_model.hpp"
#include "geometry/geometry.hpp"

namespace anvil::calibration {

// Which parameters are free. Index order: dist, poni1, poni2, rot1, rot2, rot3, wavelength;
// `distortion` frees the three RingDistortion terms (k1, b1, b2) together.
struct FreeParameters {
  bool dist = true, poni1 = true, poni2 = true, rot1 = true, rot2 = true, rot3 = false, wavelength = false;
  bool distortion = false;
  int count() const {
    return dist + poni1 + poni2 + rot1 + rot2 + rot3 + wavelength +
           (distortion ? kDistortionParameterCount : 0);
  }
  // Holds the parameter named as pyFAI names it ("dist", "poni1", "poni2", "rot1", "rot2", "rot3",
  // "wavelength") fixed; false for any other name.
  bool fix(std::string_view name) {
    bool* p = name == "dist"         ? &dist
              : name == "poni1"      ? &poni1
              : name == "poni2"      ? &poni2
              : name == "rot1"       ? &rot1
              : name == "rot2"       ? &rot2
              : name == "rot3"       ? &rot3
              : name == "wavelength" ? &wavelength
                                     : nullptr;
    if (p) *p = false;
    return p != nullptr;
  }
};

struct RefineOptions {
  FreeParameters free;
  double huber_scale_rad = 0.0;  // 0: plain least squares
  int max_iterations = 100;
  bool covariance = true;
};

struct RefinedGeometry {
  // The refined geometry; its detector carries the start detector's distortion plus
  // `distortion` (with_ring_distortion).
  geometry::Geometry geometry;
  RingDistortion distortion;  // refined (or as given) on top of the start's
  std::array<double, kDistortionParameterCount> distortion_sigma{};  // 0 when fixed
  // 1σ of dist (m), poni1 (m), poni2 (m), rot1, rot2, rot3 (rad), wavelength (m); 0 when fixed,
  // NaN when the covariance could not be computed (a degenerate problem).
  std::array<double, 7> sigma{};
  // Covariance (s²-scaled, as sigma) of the geometry and distortion parameters, row-major over
  // [dist, poni1, poni2, rot1, rot2, rot3, k1, b1, b2]; zero rows/columns for fixed ones. NaN
  // when the covariance could not be computed; all zero when not asked for.
  static constexpr int kCovarianceSize = kGeometryParameterCount + kDistortionParameterCount;
  std::array<double, kCovarianceSize * kCovarianceSize> covariance{};
  bool converged = false;
  std::string solver_report;          // Ceres' brief report
  std::vector<double> residuals_rad;  // per control point, model − expected 2θ
  double rms_rad = 0.0;
};

// `start.detector` is the base detector (its own distortion, if any, applies to the points as
// given); `start_distortion` is the RingDistortion to start from (refined if free.distortion).
RefinedGeometry refine_geometry(const geometry::Geometry& start, std::span<const ControlPoint> points,
                                std::span<const CalibrantLine> lines, const RefineOptions& options = {},
                                const RingDistortion& start_distortion = {});

// model − expected 2θ of each point, for a given geometry.
std::vector<double> two_theta_residuals(const geometry::Geometry& g, std::span<const ControlPoint> points,
                                        std::span<const CalibrantLine> lines);

}  // namespace anvil::calibration
