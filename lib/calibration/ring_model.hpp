// The PONI geometry as a function of its parameters, for least squares: 2θ of a detector point
// templated on the scalar type (Ceres Jets for automatic differentiation), and the inverse
// (the pixel where a given 2θ, χ lands). Same formulas as lib/geometry (pyFAI's
// _geometry.pyx f_t1/f_t2/f_t3); tests check the two agree.
#pragma once

#include <algorithm>
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
// them) to flipped pixel-edge coordinates, displaced by the detector's distortion if it has one.
inline DetectorPoint detector_point(const geometry::Detector& det, double d1, double d2) {
  using geometry::Orientation;
  const bool flip1 = det.orientation == Orientation::TopLeft || det.orientation == Orientation::TopRight;
  const bool flip2 = det.orientation == Orientation::TopLeft || det.orientation == Orientation::BottomLeft;
  const double y = d1 + 0.5, x = d2 + 0.5;
  DetectorPoint p{flip1 ? static_cast<double>(det.shape.rows) - y : y,
                  flip2 ? static_cast<double>(det.shape.cols) - x : x};
  if (det.distortion) {
    const auto d = det.distortion->displacement(p.y, p.x);
    p.y += d[0];
    p.x += d[1];
  }
  return p;
}

// The distortion anvil refines from calibrant rings (FreeParameters::distortion), in the
// photogrammetric (Brown) form: radial k1 (barrel < 0 < pincushion) and the two affine terms a
// square pixel grid cannot have, anisotropy b1 and shear b2. With u, v the flipped pixel-edge
// coordinates from the detector centre in units of s = half the larger side (pixels):
//   dx = s·(k1·u·(u² + v²) + b1·u + b2·v),   dy = s·(k1·v·(u² + v²) − b1·v + b2·u).
// Isotropic scale, rotation and shift are left out: distance, rot3 and the PONI are those.
struct RingDistortion {
  double k1 = 0.0, b1 = 0.0, b2 = 0.0;
  bool is_zero() const { return k1 == 0.0 && b1 == 0.0 && b2 == 0.0; }
};
enum RingDistortionParameter : int { kK1 = 0, kB1, kB2, kDistortionParameterCount };

struct DistortionFrame {  // centre and scale of RingDistortion for one detector shape
  double cy = 0.0, cx = 0.0, s = 1.0;
  explicit DistortionFrame(const geometry::Detector& det)
      : cy(0.5 * static_cast<double>(det.shape.rows)),
        cx(0.5 * static_cast<double>(det.shape.cols)),
        s(std::max(1.0, 0.5 * static_cast<double>(std::max(det.shape.rows, det.shape.cols)))) {}
  template <class T>
  void displace(const T* c, double y, double x, T& yd, T& xd) const {
    const double u = (x - cx) / s, v = (y - cy) / s, r2 = u * u + v * v;
    xd = x + s * (c[kK1] * (u * r2) + c[kB1] * u + c[kB2] * v);
    yd = y + s * (c[kK1] * (v * r2) - c[kB1] * v + c[kB2] * u);
  }
};

// `base` with `d` added to its distortion (a bicubic spline that holds both exactly when the
// base has none: the RingDistortion field is cubic). Zero `d` returns `base` unchanged.
geometry::Detector with_ring_distortion(const geometry::Detector& base, const RingDistortion& d);

// 2θ (rad) of point p for parameters g[kDist..kRot3] (m, m, m, rad, rad, rad).
template <class T>
T model_two_theta_at(const T* g, const T& y, const T& x, double pixel1_m, double pixel2_m) {
  using std::atan2;
  using std::cos;
  using std::sin;
  using std::sqrt;
  const T p1 = pixel1_m * y - g[kPoni1];
  const T p2 = pixel2_m * x - g[kPoni2];
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

template <class T>
T model_two_theta(const T* g, const DetectorPoint& p, double pixel1_m, double pixel2_m) {
  return model_two_theta_at(g, T(p.y), T(p.x), pixel1_m, pixel2_m);
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
