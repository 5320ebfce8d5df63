// Per-pixel positions of the pyFAI reference geometry (shared/reference/pyfai/geometry.poni),
// computed here with pyFAI's formulas so that the integration tests do not depend on
// lib/geometry. pyFAI 0.21.3 geometry.py: calc_pos_zyx, rotation_matrix, tth, chi, qFunction,
// corner_array (corners stored as float32), cos_incidence, polarization (float32).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "integrate/integrator.hpp"

namespace anvil::test {

struct PoniGeometry {
  double dist_m = 0.2;
  double poni1_m = 0.0905;
  double poni2_m = 0.083;
  double rot1 = 0.012;
  double rot2 = -0.007;
  double rot3 = 0.0;
  double wavelength_m = 4.859e-11;
  double pixel1_m = 172e-6;
  double pixel2_m = 172e-6;
  std::size_t rows = 1043;
  std::size_t cols = 981;
};

struct LabPoint {
  double t1, t2, t3;  // pyFAI's laboratory coordinates (t3 along the beam)
};

// Point at (x, y) metres from the PONI on the detector (slow, fast axis).
inline LabPoint lab_point(const PoniGeometry& g, double x, double y) {
  const double c1 = std::cos(g.rot1), s1 = std::sin(g.rot1);
  const double c2 = std::cos(g.rot2), s2 = std::sin(g.rot2);
  const double c3 = std::cos(g.rot3), s3 = std::sin(g.rot3);
  const double z = g.dist_m;
  // R = rot3 · rot2 · rot1 (rot1, rot2 left-handed, rot3 right-handed).
  const double a1 = x, a2 = c1 * y + s1 * z, a3 = -s1 * y + c1 * z;      // rot1
  const double b1 = c2 * a1 - s2 * a3, b2 = a2, b3 = s2 * a1 + c2 * a3;  // rot2
  return {c3 * b1 - s3 * b2, s3 * b1 + c3 * b2, b3};                     // rot3
}

inline double two_theta(const LabPoint& t) { return std::atan2(std::sqrt(t.t1 * t.t1 + t.t2 * t.t2), t.t3); }
inline double chi(const LabPoint& t) { return std::atan2(t.t1, t.t2); }
inline double q_inv_nm(const PoniGeometry& g, double tth) {
  return 4.0e-9 * 3.14159265358979323846 / g.wavelength_m * std::sin(tth / 2.0);
}

// cos³ of the incidence angle, 1 at the PONI (pyFAI solidAngleArray, order 3); x, y from the PONI.
inline double solid_angle(const PoniGeometry& g, double x, double y) {
  const double cosa = g.dist_m / std::sqrt(g.dist_m * g.dist_m + x * x + y * y);
  return cosa * cosa * cosa;
}

inline float polarization(double tth, double chi_rad, double factor) {
  const double c2 = std::cos(tth) * std::cos(tth);
  return static_cast<float>(0.5 * (1.0 + c2 - factor * std::cos(2.0 * chi_rad) * (1.0 - c2)));
}

// Pixel-centre coordinate from the PONI along one axis. pyFAI computes it in float32
// (float32 index array: pixel size × (index + ½) − poni), which moves 2θ by up to ~5e-8 rad;
// corners are computed in double.
inline double center_position(double pixel_size_m, std::size_t index, double poni_m) {
  const float p = static_cast<float>(pixel_size_m) * (static_cast<float>(index) + 0.5f);
  return static_cast<double>(p - static_cast<float>(poni_m));
}

enum class RadialUnit { q_inv_nm, two_theta_rad };

struct ReferencePixels {
  integrate::PixelPositions positions;
  std::vector<float> solid_angle;
  std::vector<float> polarization;
};

inline ReferencePixels reference_pixels(const PoniGeometry& g, RadialUnit unit,
                                        double polarization_factor = 0.99) {
  ReferencePixels r;
  auto& p = r.positions;
  p.shape = {g.rows, g.cols};
  const std::size_t n = g.rows * g.cols;
  p.radial.resize(n);
  p.azimuth.resize(n);
  p.corner_radial.resize(4 * n);
  p.corner_azimuth.resize(4 * n);
  r.solid_angle.resize(n);
  r.polarization.resize(n);
  const auto radial = [&](double tth) { return unit == RadialUnit::q_inv_nm ? q_inv_nm(g, tth) : tth; };
  // Corner grid (rows+1)×(cols+1), values rounded to float32 as pyFAI's corner_array does.
  const std::size_t gc = g.cols + 1;
  std::vector<float> grid_rad((g.rows + 1) * gc), grid_chi((g.rows + 1) * gc);
  for (std::size_t i = 0; i <= g.rows; ++i)
    for (std::size_t j = 0; j <= g.cols; ++j) {
      const LabPoint t = lab_point(g, static_cast<double>(i) * g.pixel1_m - g.poni1_m,
                                   static_cast<double>(j) * g.pixel2_m - g.poni2_m);
      grid_rad[i * gc + j] = static_cast<float>(radial(two_theta(t)));
      grid_chi[i * gc + j] = static_cast<float>(chi(t));
    }
  for (std::size_t i = 0; i < g.rows; ++i)
    for (std::size_t j = 0; j < g.cols; ++j) {
      const std::size_t k = i * g.cols + j;
      const double p1 = center_position(g.pixel1_m, i, g.poni1_m),
                   p2 = center_position(g.pixel2_m, j, g.poni2_m);
      const LabPoint t = lab_point(g, p1, p2);
      const double tth = two_theta(t);
      p.radial[k] = radial(tth);
      p.azimuth[k] = chi(t);
      r.solid_angle[k] = static_cast<float>(solid_angle(g, p1, p2));
      r.polarization[k] = polarization(tth, p.azimuth[k], polarization_factor);
      // pyFAI corner order: (i,j), (i+1,j), (i+1,j+1), (i,j+1).
      const std::size_t c[4] = {i * gc + j, (i + 1) * gc + j, (i + 1) * gc + j + 1, i * gc + j + 1};
      for (int m = 0; m < 4; ++m) {
        p.corner_radial[4 * k + m] = grid_rad[c[m]];
        p.corner_azimuth[4 * k + m] = grid_chi[c[m]];
      }
    }
  return r;
}

}  // namespace anvil::test
