#include "calibration/ring_model.hpp"

namespace anvil::calibration {

std::optional<std::array<double, 2>> pixel_at(const geometry::Geometry& g, double two_theta_rad,
                                              double chi_rad) {
  const auto R = geometry::rotation_matrix(g.rot1, g.rot2, g.rot3);
  const double u[3] = {std::sin(two_theta_rad) * std::sin(chi_rad),
                       std::sin(two_theta_rad) * std::cos(chi_rad), std::cos(two_theta_rad)};
  // Detector frame = Rᵀ · lab (R is a rotation).
  double v[3];
  for (int i = 0; i < 3; ++i) v[i] = R[0][i] * u[0] + R[1][i] * u[1] + R[2][i] * u[2];
  if (!(v[2] > 1e-12)) return std::nullopt;
  const double s = g.dist_m / v[2];
  double y = (s * v[0] + g.poni1_m) / g.detector.pixel1_m;
  double x = (s * v[1] + g.poni2_m) / g.detector.pixel2_m;
  if (g.detector.distortion) {
    const auto u = g.detector.distortion->undistort(y, x);
    y = u[0];
    x = u[1];
  }
  // Undo the flips of detector_point, back to pixel-index coordinates.
  using geometry::Orientation;
  const auto o = g.detector.orientation;
  if (o == Orientation::TopLeft || o == Orientation::TopRight)
    y = static_cast<double>(g.detector.shape.rows) - y;
  if (o == Orientation::TopLeft || o == Orientation::BottomLeft)
    x = static_cast<double>(g.detector.shape.cols) - x;
  return std::array<double, 2>{y - 0.5, x - 0.5};
}

geometry::Detector with_ring_distortion(const geometry::Detector& base, const RingDistortion& d) {
  if (d.is_zero()) return base;
  geometry::Detector out = base;
  const DistortionFrame frame(base);
  const double c[kDistortionParameterCount] = {d.k1, d.b1, d.b2};
  out.distortion =
      geometry::fit_spline_distortion(base.shape, base.pixel1_m, base.pixel2_m, [&](double y, double x) {
        double y0 = y, x0 = x;
        if (base.distortion) {
          const auto b = base.distortion->displacement(y, x);
          y0 += b[0];
          x0 += b[1];
        }
        double yd = 0, xd = 0;
        frame.displace(c, y0, x0, yd, xd);
        return std::array<double, 2>{yd - y, xd - x};
      });
  return out;
}

std::optional<std::array<double, 2>> beam_center_px(const geometry::Geometry& g) {
  return pixel_at(g, 0.0, 0.0);
}

geometry::Geometry untilted_geometry(const geometry::Detector& det, double wavelength_m, double dist_m,
                                     double center_d1, double center_d2) {
  geometry::Geometry g;
  g.detector = det;
  g.wavelength_m = wavelength_m;
  g.dist_m = dist_m;
  const DetectorPoint p = detector_point(det, center_d1, center_d2);
  g.poni1_m = p.y * det.pixel1_m;
  g.poni2_m = p.x * det.pixel2_m;
  return g;
}

}  // namespace anvil::calibration
