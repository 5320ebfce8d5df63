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
  const double y = (s * v[0] + g.poni1_m) / g.detector.pixel1_m;
  const double x = (s * v[1] + g.poni2_m) / g.detector.pixel2_m;
  // detector_point is its own inverse up to the half-pixel shift.
  const DetectorPoint raw = detector_point(g.detector, y - 0.5, x - 0.5);
  return std::array<double, 2>{raw.y - 0.5, raw.x - 0.5};
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
