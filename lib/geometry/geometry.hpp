// The pyFAI detector geometry (PONI model) and every per-pixel quantity derived from it.
//
// Conventions are pyFAI's (pyFAI/geometry.py, pyFAI/ext/_geometry.pyx, 0.21 and 2024.x):
//   * A pixel's position on the detector: p1 = (i + 0.5)·pixel1 − poni1 along the rows (slow
//     axis, "y", dim1), p2 = (j + 0.5)·pixel2 − poni2 along the columns (fast axis, "x",
//     dim2); the detector plane is at p3 = dist from the sample.
//   * Lab coordinates (t1, t2, t3) = R·(p1, p2, dist) with R = R3(rot3)·R2(rot2)·R1(rot1):
//     R1 and R2 are left-handed rotations about axes 1 and 2, R3 right-handed about the beam.
//     t3 runs along the beam, t1 along dim1 ("vertical"), t2 along dim2 ("horizontal").
//   * 2θ = atan2(√(t1² + t2²), t3);  χ = atan2(t1, t2), in [−π, π] (discontinuity at π, the
//     pyFAI default) or [0, 2π) with ChiDiscontinuity::AtZero;  q = 4π·sin(θ)/λ in nm⁻¹;
//     r = √(t1² + t2²) in m (distance from the beam in the plane normal to it);  d = λ/(2 sin θ).
//   * Solid angle (relative, 1 at the PONI) = cos³(incidence), cos(incidence) =
//     dist / √(dist² + p1² + p2²) (pyFAI solidAngleArray, order 3).
//   * Polarisation P = ½·(1 + cos²2θ − f·cos(2(χ + offset))·(1 − cos²2θ)) (pyFAI polarization);
//     intensities are divided by P. f = 0 unpolarised, f → 1 horizontal linear polarisation.
//   * The detector orientation (pyFAI >= 2024, .poni v2.1) flips pixel indices before all of
//     this: orientation 2 = rows reversed, 4 = columns reversed, 1 = both, 3 = none (default).
//
// Scalar functions take pixel indices d1 (row), d2 (column) as pyFAI's tth(d1, d2) does: the
// centre of pixel (i, j) is at (i, j), its corners at (i ± 0.5, j ± 0.5). Array functions cover
// every pixel of `detector.shape` (row-major) and need that shape to be known.
#pragma once

#include <array>
#include <vector>

#include "core/image.hpp"
#include "geometry/detector.hpp"

namespace anvil::geometry {

struct Geometry {
  double dist_m = 0.1;   // sample to PONI, along the detector normal
  double poni1_m = 0.0;  // point of normal incidence, from the first pixel's corner, along rows
  double poni2_m = 0.0;  // ... along columns
  double rot1 = 0.0;     // rad
  double rot2 = 0.0;     // rad
  double rot3 = 0.0;     // rad
  double wavelength_m = 1e-10;
  Detector detector;
  friend bool operator==(const Geometry&, const Geometry&) = default;
};

enum class ChiDiscontinuity { AtPi, AtZero };  // χ in [−π, π] (pyFAI default) or [0, 2π)
enum class RadialUnit { TwoThetaRad, QInvNm, RM };

// hc = 12.398419843320026 keV·Å (CODATA, as pyFAI.units.hc).
double wavelength_m_from_energy_kev(double energy_kev);
double energy_kev_from_wavelength_m(double wavelength_m);

// q (nm⁻¹) and d (Å) for a scattering angle 2θ (rad), and back.
double q_inv_nm_from_two_theta(double two_theta_rad, double wavelength_m);
double d_spacing_angstrom_from_two_theta(double two_theta_rad, double wavelength_m);
double two_theta_from_d_spacing(double d_angstrom, double wavelength_m);  // NaN if d < λ/2
double two_theta_from_q(double q_inv_nm, double wavelength_m);

// pyFAI rotation_matrix(): lab = R · detector, rows/columns in (1, 2, 3) order.
std::array<std::array<double, 3>, 3> rotation_matrix(double rot1, double rot2, double rot3);

struct LabPosition {
  double t1 = 0.0;  // along dim1 (vertical for an upright detector), m
  double t2 = 0.0;  // along dim2 (horizontal), m
  double t3 = 0.0;  // along the beam, m
};

// --- one point, pixel-index coordinates (centre of pixel (i, j) at (i, j)) -----------------
LabPosition lab_position(const Geometry& g, double d1, double d2);
double two_theta(const Geometry& g, double d1, double d2);
double chi(const Geometry& g, double d1, double d2, ChiDiscontinuity disc = ChiDiscontinuity::AtPi);
double q_inv_nm(const Geometry& g, double d1, double d2);
double r_m(const Geometry& g, double d1, double d2);
double d_spacing_angstrom(const Geometry& g, double d1, double d2);
double cos_incidence(const Geometry& g, double d1, double d2);
double solid_angle(const Geometry& g, double d1, double d2);  // relative: 1 at the PONI
double polarization(const Geometry& g, double d1, double d2, double factor, double axis_offset_rad = 0.0);

// --- every pixel centre of g.detector.shape -------------------------------------------------
Image<double> two_theta_array(const Geometry& g);
Image<double> chi_array(const Geometry& g, ChiDiscontinuity disc = ChiDiscontinuity::AtPi);
Image<double> q_array(const Geometry& g);  // nm⁻¹
Image<double> r_array(const Geometry& g);  // m
Image<double> radial_array(const Geometry& g, RadialUnit unit);
Image<double> d_spacing_array(const Geometry& g);  // Å (infinite at 2θ = 0)
Image<double> cos_incidence_array(const Geometry& g);
Image<double> solid_angle_array(const Geometry& g);  // cos³(incidence), 1 at the PONI
// The absolute solid angle of each pixel is pixel1·pixel2/dist² times solid_angle_array.
Image<double> polarization_array(const Geometry& g, double factor, double axis_offset_rad = 0.0);

// --- pixel corners, for pixel splitting ----------------------------------------------------
// Radial value and χ at the (rows + 1) × (cols + 1) pixel-corner nodes: node (r, c) is the
// corner shared by pixels (r−1..r, c−1..c). Pixel (i, j) has, in pyFAI's corner order,
// A = node (i, j), B = (i+1, j), C = (i+1, j+1), D = (i, j+1) — for the default orientation.
// A flipped orientation names the corners as on the image flipped back (orientation 2: A =
// (i+1, j), B = (i, j), C = (i, j+1), D = (i+1, j+1)), so that every pixel keeps the corner
// order, and the winding, full splitting relies on (pyFAI issues #2003, #2224: pyFAI itself does
// not reorder them yet): a flipped orientation then integrates exactly as the flipped image.
struct CornerGrid {
  Shape pixels;                // the image shape; the grid is one node larger each way
  std::vector<double> radial;  // in the requested unit (rad, nm⁻¹ or m)
  std::vector<double> chi;     // rad
  bool rows_reversed = false;  // orientation 1 or 2
  bool cols_reversed = false;  // orientation 1 or 4
  std::size_t node(std::size_t r, std::size_t c) const { return r * (pixels.cols + 1) + c; }
  // Corner k (0..3 = A, B, C, D) of pixel (i, j).
  std::size_t corner_node(std::size_t i, std::size_t j, int k) const {
    static constexpr std::size_t di[4] = {0, 1, 1, 0};
    static constexpr std::size_t dj[4] = {0, 0, 1, 1};
    return node(i + (rows_reversed ? 1 - di[k] : di[k]), j + (cols_reversed ? 1 - dj[k] : dj[k]));
  }
};
CornerGrid corner_grid(const Geometry& g, RadialUnit unit, ChiDiscontinuity disc = ChiDiscontinuity::AtPi);
// pyFAI's corner_array(shape, unit, scale=False) layout: [rows][cols][4 corners][radial, χ].
std::vector<double> corner_array(const Geometry& g, RadialUnit unit,
                                 ChiDiscontinuity disc = ChiDiscontinuity::AtPi);

// --- Fit2D --------------------------------------------------------------------------------
// Fit2D's geometry (Hammersley et al. 1996, High Pressure Research 14, 235): direct-beam
// distance, beam centre in pixels (X along columns, Y along rows), tilt and tilt-plane rotation.
struct Fit2dGeometry {
  double direct_dist_mm = 0.0;
  double center_x_px = 0.0;
  double center_y_px = 0.0;
  double tilt_deg = 0.0;
  double tilt_plan_rotation_deg = 0.0;
  double pixel_x_um = 0.0;  // = pixel2 · 1e6
  double pixel_y_um = 0.0;  // = pixel1 · 1e6
};
// pyFAI convert_to_Fit2d / getFit2D (rot3 has no Fit2D equivalent and is ignored).
Fit2dGeometry to_fit2d(const Geometry& g);
// pyFAI convert_from_Fit2d: the detector's pixel sizes are taken from f. rot3 comes out as
// pyFAI computes it (small, non-zero for a tilted detector).
Geometry from_fit2d(const Fit2dGeometry& f, double wavelength_m, Detector detector = {});

}  // namespace anvil::geometry
