// The PONI geometry as a function of its parameters, for least squares: 2θ of a detector point
// templated on the scalar type (Ceres Jets for automatic differentiation), and the inverse
// (the pixel where a given 2θ, χ lands). Same formulas as lib/geometry (pyFAI's
// _geometry.pyx f_t1/f_t2/f_t3); tests check the two agree.
#pragma once

#include <cmath>
#include <optional>

#include "geometry/geometry.hpp"

namespace anvil::calibration {

// The refined parameters, in this order in a Ceres parameter block.
enum GeometryParameter : int { kDist = 0, kPoni1, kPoni2, kRot1, kRot2, kRot3, kGeometryParameterCount };

// A detector point in pixel-edge coordinates after the orientation flips: y along rows, x along
// columns, pixel (i, j) spanning [i, i+1) × [j, j+1). p1 = pixel1·y − poni1.
struct DetectorPoint {
  double y = 0.0;
  double x = 0.0;
};

// Pixel-index coordinates (centre of pixel (i, j) at (i, j), as geometry::two_theta takes
// them) to flipped pixel-edge coordinates.
inline DetectorPoint detector_point(const geometry::Detector& det, double d1, double d2) {
  using geometry::Orientation;
  const bool flip1 = det.orientation == Orientation::TopLeft || det.orientation == Orientation::TopRight;
  const bool flip2 = det.orientation == Orientation::TopLeft || det.orientation == Orientation::BottomLeft;
  const double y = d1 + 0.5, x = d2 + 0.5;
  return {flip1 ? static_cast<double>(det.shape.rows) - y : y,
          flip2 ? static_cast<double>(det.shape.cols) - x : x};
}

// 2θ (rad) of point p for parameters g[kDist..kRot3] (m, m, m, rad, rad, rad).
template <class T>
T model_two_theta(const T* g, const DetectorPoint& p, double pixel1_m, double pixel2_m) {
  using std::atan2;
  using std::cos;
  using std::sin;
  using std::sqrt;
  const T p1 = pixel1_m * p.y - g[kPoni1];
  const T p2 = pixel2_m * p.x - g[kPoni2];
  const T& L = g[kDist];
  const T c1 = cos(g[kRot1]), s1 = sin(g[kRot1]);
  const T c2 = cos(g[kRot2]), s2 = sin(g[kRot2]);
  const T c3 = cos(g[kRot3]), s3 = sin(g[kRot3]);
  // R3(rot3)·R2(rot2)·R1(rot1), rows as geometry::rotation_matrix.
  const T t1 = c2 * c3 * p1 + (c3 * s1 * s2 - c1 * s3) * p2 - (c1 * c3 * s2 + s1 * s3) * L;
  const T t2 = c2 * s3 * p1 + (c1 * c3 + s1 * s2 * s3) * p2 - (c1 * s2 * s3 - c3 * s1) * L;
  const T t3 = s2 * p1 - c2 * s1 * p2 + c1 * c2 * L;
  return atan2(sqrt(t1 * t1 + t2 * t2), t3);
}

inline void geometry_parameters(const geometry::Geometry& g, double* out) {
  out[kDist] = g.dist_m;
  out[kPoni1] = g.poni1_m;
  out[kPoni2] = g.poni2_m;
  out[kRot1] = g.rot1;
  out[kRot2] = g.rot2;
  out[kRot3] = g.rot3;
}

inline void set_geometry_parameters(geometry::Geometry& g, const double* p) {
  g.dist_m = p[kDist];
  g.poni1_m = p[kPoni1];
  g.poni2_m = p[kPoni2];
  g.rot1 = p[kRot1];
  g.rot2 = p[kRot2];
  g.rot3 = p[kRot3];
}

// Where the ray at (2θ, χ) meets the detector, in pixel-index coordinates (d1, d2); nullopt
// when it runs parallel to or away from the detector plane.
std::optional<std::array<double, 2>> pixel_at(const geometry::Geometry& g, double two_theta_rad,
                                              double chi_rad);

// The beam centre on the detector (where 2θ = 0), pixel-index coordinates (d1, d2).
std::optional<std::array<double, 2>> beam_center_px(const geometry::Geometry& g);

// A geometry with no tilt whose beam centre is (d1, d2) in pixel-index coordinates.
geometry::Geometry untilted_geometry(const geometry::Detector& det, double wavelength_m, double dist_m,
                                     double center_d1, double center_d2);

}  // namespace anvil::calibration
