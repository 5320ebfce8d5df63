#include "geometry/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "core/constants.hpp"

namespace anvil::geometry {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kTwoPi = 2.0 * std::numbers::pi;

// The rotation, the PONI and the index flips of one geometry, prepared once for many pixels.
struct Frame {
  std::array<std::array<double, 3>, 3> R;
  double L, poni1, poni2, pixel1, pixel2;
  bool flip1, flip2;
  double rows, cols;
  const SplineDistortion* distortion;

  explicit Frame(const Geometry& g)
      : R(rotation_matrix(g.rot1, g.rot2, g.rot3)),
        L(g.dist_m),
        poni1(g.poni1_m),
        poni2(g.poni2_m),
        pixel1(g.detector.pixel1_m),
        pixel2(g.detector.pixel2_m),
        flip1(g.detector.orientation == Orientation::TopLeft ||
              g.detector.orientation == Orientation::TopRight),
        flip2(g.detector.orientation == Orientation::TopLeft ||
              g.detector.orientation == Orientation::BottomLeft),
        rows(static_cast<double>(g.detector.shape.rows)),
        cols(static_cast<double>(g.detector.shape.cols)),
        distortion(g.detector.distortion ? &*g.detector.distortion : nullptr) {
    if ((flip1 || flip2) && (rows == 0 || cols == 0)) {
      throw std::invalid_argument("geometry: a flipped detector orientation needs the detector shape");
    }
  }

  // Position relative to the PONI, in the detector plane, of a point at pixel-edge
  // coordinates (y, x) (pixel (i, j) spans [i, i+1) × [j, j+1)); pyFAI
  // _reorder_indexes_from_orientation then calc_cartesian_positions.
  // Valid only without a distortion (the positions are then separable in y and x).
  double p1(double y) const { return pixel1 * (flip1 ? rows - y : y) - poni1; }
  double p2(double x) const { return pixel2 * (flip2 ? cols - x : x) - poni2; }
  // Any detector: flips, then the spline displacement (pyFAI calc_cartesian_positions).
  std::array<double, 2> position(double y, double x) const {
    if (!distortion) return {p1(y), p2(x)};
    const double yf = flip1 ? rows - y : y, xf = flip2 ? cols - x : x;
    const auto d = distortion->displacement(yf, xf);
    return {pixel1 * (yf + d[0]) - poni1, pixel2 * (xf + d[1]) - poni2};
  }

  LabPosition lab(double p1v, double p2v) const {
    return {R[0][0] * p1v + R[0][1] * p2v + R[0][2] * L, R[1][0] * p1v + R[1][1] * p2v + R[1][2] * L,
            R[2][0] * p1v + R[2][1] * p2v + R[2][2] * L};
  }
};

double tth_of(const LabPosition& t) { return std::atan2(std::sqrt(t.t1 * t.t1 + t.t2 * t.t2), t.t3); }

double chi_of(const LabPosition& t, ChiDiscontinuity disc) {
  const double c = std::atan2(t.t1, t.t2);
  return disc == ChiDiscontinuity::AtPi ? c : std::fmod(c + kTwoPi, kTwoPi);
}

double q_of_tth(double tth, double wavelength_m) { return 4.0e-9 * kPi / wavelength_m * std::sin(0.5 * tth); }

double radial_of(const LabPosition& t, RadialUnit unit, double wavelength_m) {
  switch (unit) {
    case RadialUnit::TwoThetaRad:
      return tth_of(t);
    case RadialUnit::QInvNm:
      return q_of_tth(tth_of(t), wavelength_m);
    case RadialUnit::RM:
      return std::sqrt(t.t1 * t.t1 + t.t2 * t.t2);
  }
  return 0.0;
}

void require_shape(const Geometry& g) {
  if (g.detector.shape.pixel_count() == 0) {
    throw std::invalid_argument(
        "geometry: the detector shape is unknown; set Geometry::detector.shape from the image");
  }
}

// Calls f(t, p1, p2) for every pixel centre, row-major, writing f's result to the image.
template <class F>
Image<double> per_pixel(const Geometry& g, F&& f) {
  require_shape(g);
  const Frame fr(g);
  const Shape s = g.detector.shape;
  Image<double> out(s);
  if (fr.distortion) {
    for (std::size_t r = 0; r < s.rows; ++r)
      for (std::size_t c = 0; c < s.cols; ++c) {
        const auto p = fr.position(static_cast<double>(r) + 0.5, static_cast<double>(c) + 0.5);
        out.pixels[r * s.cols + c] = f(fr.lab(p[0], p[1]), p[0], p[1]);
      }
    return out;
  }
  std::vector<double> p2(s.cols), a1(s.cols), a2(s.cols), a3(s.cols);
  for (std::size_t c = 0; c < s.cols; ++c) {
    p2[c] = fr.p2(static_cast<double>(c) + 0.5);
    a1[c] = fr.R[0][1] * p2[c] + fr.R[0][2] * fr.L;
    a2[c] = fr.R[1][1] * p2[c] + fr.R[1][2] * fr.L;
    a3[c] = fr.R[2][1] * p2[c] + fr.R[2][2] * fr.L;
  }
  for (std::size_t r = 0; r < s.rows; ++r) {
    const double p1 = fr.p1(static_cast<double>(r) + 0.5);
    const double b1 = fr.R[0][0] * p1, b2 = fr.R[1][0] * p1, b3 = fr.R[2][0] * p1;
    double* row = out.pixels.data() + r * s.cols;
    for (std::size_t c = 0; c < s.cols; ++c) {
      row[c] = f(LabPosition{b1 + a1[c], b2 + a2[c], b3 + a3[c]}, p1, p2[c]);
    }
  }
  return out;
}

double cos_incidence_of(double L, double p1, double p2) { return L / std::sqrt(L * L + (p1 * p1 + p2 * p2)); }

double polarization_of(double tth, double chi_rad, double factor, double offset) {
  const double c = std::cos(tth);
  const double cos2 = c * c;
  return 0.5 * (1.0 + cos2 - factor * std::cos(2.0 * (chi_rad + offset)) * (1.0 - cos2));
}

}  // namespace

double wavelength_m_from_energy_kev(double energy_kev) {
  return wavelength_angstrom_from_energy_kev(energy_kev) * 1e-10;
}
double energy_kev_from_wavelength_m(double wavelength_m) {
  return energy_kev_from_wavelength_angstrom(wavelength_m * 1e10);
}

double q_inv_nm_from_two_theta(double two_theta_rad, double wavelength_m) {
  return q_of_tth(two_theta_rad, wavelength_m);
}
double d_spacing_angstrom_from_two_theta(double two_theta_rad, double wavelength_m) {
  return wavelength_m * 1e10 / (2.0 * std::sin(0.5 * two_theta_rad));
}
double two_theta_from_d_spacing(double d_angstrom, double wavelength_m) {
  const double s = wavelength_m * 1e10 / (2.0 * d_angstrom);
  return s > 1.0 ? std::nan("") : 2.0 * std::asin(s);
}
double two_theta_from_q(double q_inv_nm, double wavelength_m) {
  const double s = q_inv_nm * wavelength_m / (4.0e-9 * kPi);
  return s > 1.0 ? std::nan("") : 2.0 * std::asin(s);
}

std::array<std::array<double, 3>, 3> rotation_matrix(double rot1, double rot2, double rot3) {
  const double c1 = std::cos(rot1), s1 = std::sin(rot1);
  const double c2 = std::cos(rot2), s2 = std::sin(rot2);
  const double c3 = std::cos(rot3), s3 = std::sin(rot3);
  // R3(rot3) · R2(rot2) · R1(rot1), pyFAI Geometry.rotation_matrix; the same products as
  // _geometry.pyx f_t1 / f_t2 / f_t3.
  return {{{c2 * c3, c3 * s1 * s2 - c1 * s3, -(c1 * c3 * s2 + s1 * s3)},
           {c2 * s3, c1 * c3 + s1 * s2 * s3, -(-(c3 * s1) + c1 * s2 * s3)},
           {s2, -c2 * s1, c1 * c2}}};
}

LabPosition lab_position(const Geometry& g, double d1, double d2) {
  const Frame fr(g);
  const auto p = fr.position(d1 + 0.5, d2 + 0.5);
  return fr.lab(p[0], p[1]);
}

double two_theta(const Geometry& g, double d1, double d2) { return tth_of(lab_position(g, d1, d2)); }

double chi(const Geometry& g, double d1, double d2, ChiDiscontinuity disc) {
  return chi_of(lab_position(g, d1, d2), disc);
}

double q_inv_nm(const Geometry& g, double d1, double d2) {
  return q_of_tth(two_theta(g, d1, d2), g.wavelength_m);
}

double r_m(const Geometry& g, double d1, double d2) {
  return radial_of(lab_position(g, d1, d2), RadialUnit::RM, g.wavelength_m);
}

double d_spacing_angstrom(const Geometry& g, double d1, double d2) {
  return d_spacing_angstrom_from_two_theta(two_theta(g, d1, d2), g.wavelength_m);
}

double cos_incidence(const Geometry& g, double d1, double d2) {
  const Frame fr(g);
  const auto p = fr.position(d1 + 0.5, d2 + 0.5);
  return cos_incidence_of(fr.L, p[0], p[1]);
}

double solid_angle(const Geometry& g, double d1, double d2) {
  const double c = cos_incidence(g, d1, d2);
  return c * c * c;
}

double polarization(const Geometry& g, double d1, double d2, double factor, double axis_offset_rad) {
  const LabPosition t = lab_position(g, d1, d2);
  return polarization_of(tth_of(t), chi_of(t, ChiDiscontinuity::AtPi), factor, axis_offset_rad);
}

Image<double> two_theta_array(const Geometry& g) {
  return per_pixel(g, [](const LabPosition& t, double, double) { return tth_of(t); });
}

Image<double> chi_array(const Geometry& g, ChiDiscontinuity disc) {
  return per_pixel(g, [disc](const LabPosition& t, double, double) { return chi_of(t, disc); });
}

Image<double> q_array(const Geometry& g) {
  const double wl = g.wavelength_m;
  return per_pixel(g, [wl](const LabPosition& t, double, double) { return q_of_tth(tth_of(t), wl); });
}

Image<double> r_array(const Geometry& g) {
  return per_pixel(g,
                   [](const LabPosition& t, double, double) { return std::sqrt(t.t1 * t.t1 + t.t2 * t.t2); });
}

Image<double> radial_array(const Geometry& g, RadialUnit unit) {
  switch (unit) {
    case RadialUnit::TwoThetaRad:
      return two_theta_array(g);
    case RadialUnit::QInvNm:
      return q_array(g);
    case RadialUnit::RM:
      return r_array(g);
  }
  return {};
}

Image<double> d_spacing_array(const Geometry& g) {
  const double wl_a = g.wavelength_m * 1e10;
  return per_pixel(
      g, [wl_a](const LabPosition& t, double, double) { return wl_a / (2.0 * std::sin(0.5 * tth_of(t))); });
}

Image<double> cos_incidence_array(const Geometry& g) {
  const double L = g.dist_m;
  return per_pixel(g, [L](const LabPosition&, double p1, double p2) { return cos_incidence_of(L, p1, p2); });
}

Image<double> solid_angle_array(const Geometry& g) {
  const double L = g.dist_m;
  return per_pixel(g, [L](const LabPosition&, double p1, double p2) {
    const double c = cos_incidence_of(L, p1, p2);
    return c * c * c;
  });
}

Image<double> polarization_array(const Geometry& g, double factor, double axis_offset_rad) {
  return per_pixel(g, [factor, axis_offset_rad](const LabPosition& t, double, double) {
    return polarization_of(tth_of(t), chi_of(t, ChiDiscontinuity::AtPi), factor, axis_offset_rad);
  });
}

CornerGrid corner_grid(const Geometry& g, RadialUnit unit, ChiDiscontinuity disc) {
  require_shape(g);
  const Frame fr(g);
  CornerGrid grid;
  grid.pixels = g.detector.shape;
  grid.rows_reversed = fr.flip1;
  grid.cols_reversed = fr.flip2;
  const std::size_t nr = grid.pixels.rows + 1, nc = grid.pixels.cols + 1;
  grid.radial.resize(nr * nc);
  grid.chi.resize(nr * nc);
  for (std::size_t r = 0; r < nr; ++r) {
    for (std::size_t c = 0; c < nc; ++c) {
      const auto p = fr.position(static_cast<double>(r), static_cast<double>(c));
      const LabPosition t = fr.lab(p[0], p[1]);
      grid.radial[r * nc + c] = radial_of(t, unit, g.wavelength_m);
      grid.chi[r * nc + c] = chi_of(t, disc);
    }
  }
  return grid;
}

std::vector<double> corner_array(const Geometry& g, RadialUnit unit, ChiDiscontinuity disc) {
  const CornerGrid grid = corner_grid(g, unit, disc);
  const Shape s = grid.pixels;
  std::vector<double> out(s.pixel_count() * 8);
  for (std::size_t i = 0; i < s.rows; ++i) {
    for (std::size_t j = 0; j < s.cols; ++j) {
      double* px = out.data() + (i * s.cols + j) * 8;
      for (int k = 0; k < 4; ++k) {
        const std::size_t n = grid.corner_node(i, j, k);
        px[2 * k] = grid.radial[n];
        px[2 * k + 1] = grid.chi[n];
      }
    }
  }
  return out;
}

Fit2dGeometry to_fit2d(const Geometry& g) {
  // pyFAI geometry/fit2d.py convert_to_Fit2d.
  double cos_tilt = std::cos(g.rot1) * std::cos(g.rot2);
  double sin_tilt = std::sqrt(1.0 - cos_tilt * cos_tilt);
  const double tan_tilt = sin_tilt / cos_tilt;
  double cos_tpr = 1.0, sin_tpr = 0.0;
  if (sin_tilt == 0.0) {
    cos_tilt = 1.0;
    sin_tilt = 0.0;
  } else {
    cos_tpr = std::clamp(-std::cos(g.rot2) * std::sin(g.rot1) / sin_tilt, -1.0, 1.0);
    sin_tpr = std::sin(g.rot2) / sin_tilt;
  }
  Fit2dGeometry f;
  f.direct_dist_mm = 1.0e3 * g.dist_m / cos_tilt;
  f.tilt_deg = 180.0 * std::acos(cos_tilt) / kPi;
  const double tpr_deg = 180.0 * std::acos(cos_tpr) / kPi;
  f.tilt_plan_rotation_deg = sin_tpr < 0 ? -tpr_deg : tpr_deg;
  f.center_x_px = (g.poni2_m + g.dist_m * tan_tilt * cos_tpr) / g.detector.pixel2_m;
  if (std::abs(f.tilt_deg) < 1e-5) {
    f.center_y_px = g.poni1_m / g.detector.pixel1_m;
  } else {
    f.center_y_px = (g.poni1_m + g.dist_m * tan_tilt * sin_tpr) / g.detector.pixel1_m;
  }
  f.pixel_x_um = g.detector.pixel2_m * 1e6;
  f.pixel_y_um = g.detector.pixel1_m * 1e6;
  return f;
}

Geometry from_fit2d(const Fit2dGeometry& f, double wavelength_m, Detector detector) {
  // pyFAI geometry/fit2d.py convert_from_Fit2d.
  const double tilt = f.tilt_deg * kPi / 180.0;
  const double tpr = f.tilt_plan_rotation_deg * kPi / 180.0;
  const double cos_tilt = std::cos(tilt), sin_tilt = std::sin(tilt);
  const double cos_tpr = std::cos(tpr), sin_tpr = std::sin(tpr);
  Geometry g;
  detector.pixel1_m = f.pixel_y_um * 1e-6;
  detector.pixel2_m = f.pixel_x_um * 1e-6;
  g.detector = std::move(detector);
  g.wavelength_m = wavelength_m;
  g.dist_m = f.direct_dist_mm * cos_tilt * 1.0e-3;
  g.poni1_m = f.center_y_px * g.detector.pixel1_m - f.direct_dist_mm * sin_tilt * sin_tpr * 1.0e-3;
  g.poni2_m = f.center_x_px * g.detector.pixel2_m - f.direct_dist_mm * sin_tilt * cos_tpr * 1.0e-3;
  g.rot2 = std::asin(sin_tilt * sin_tpr);
  const double st_sp = sin_tpr * sin_tilt;
  double rot1 = std::acos(std::clamp(cos_tilt / std::sqrt(1.0 - st_sp * st_sp), -1.0, 1.0));
  if (cos_tpr * sin_tilt > 0) rot1 = -rot1;
  g.rot1 = rot1;
  if (f.tilt_deg == 0.0) {
    g.rot3 = 0.0;
  } else {
    const double arg = (cos_tilt * cos_tpr * sin_tpr - cos_tpr * sin_tpr) / std::sqrt(1.0 - st_sp * st_sp);
    g.rot3 = kPi / 2.0 - std::acos(std::clamp(arg, -1.0, 1.0));
  }
  return g;
}

}  // namespace anvil::geometry
