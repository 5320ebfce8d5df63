// The direct lattice of a phase: a, b, c (Å), α, β, γ (degrees), its volume and the
// d-spacing of a reflection. The d-spacing is a template so that a refinement can
// differentiate it (Ceres Jets): pass `Lattice` as `BasicLattice<ceres::Jet<...>>`.
#pragma once

#include <array>
#include <cmath>

#include "core/constants.hpp"

namespace anvil::crystal {

// Miller indices h, k, l (three-index form also for hexagonal cells; i = -(h+k)).
using Miller = std::array<int, 3>;

// E [keV] ↔ λ [Å] through h c (core/constants.hpp).
inline double energy_kev_from_wavelength(double wavelength_angstrom) {
  return energy_kev_from_wavelength_angstrom(wavelength_angstrom);
}
inline double wavelength_angstrom_from_energy(double energy_kev) {
  return wavelength_angstrom_from_energy_kev(energy_kev);
}

template <typename T>
struct BasicLattice {
  T a, b, c;                         // Å
  T alpha_deg, beta_deg, gamma_deg;  // degrees
};
using Lattice = BasicLattice<double>;

// Cell volume V = abc·sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ)  (Å³).
template <typename T>
T cell_volume(const BasicLattice<T>& L) {
  using std::cos;
  using std::sqrt;
  const double deg = M_PI / 180.0;
  const T ca = cos(L.alpha_deg * deg), cb = cos(L.beta_deg * deg), cg = cos(L.gamma_deg * deg);
  return L.a * L.b * L.c * sqrt(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg);
}

// 1/d² = hᵀ G* h with G* the reciprocal metric tensor (International Tables Vol. B, 1.1.3),
// written out for a triclinic cell; exact for every crystal system.
template <typename T>
T one_over_d_squared(const Miller& hkl, const BasicLattice<T>& L) {
  using std::cos;
  using std::sin;
  const double deg = M_PI / 180.0;
  const T ca = cos(L.alpha_deg * deg), cb = cos(L.beta_deg * deg), cg = cos(L.gamma_deg * deg);
  const T sa = sin(L.alpha_deg * deg), sb = sin(L.beta_deg * deg), sg = sin(L.gamma_deg * deg);
  const T v = cell_volume(L);
  // Reciprocal lengths and cosines of the reciprocal angles.
  const T as = L.b * L.c * sa / v, bs = L.a * L.c * sb / v, cs = L.a * L.b * sg / v;
  const T cas = (cb * cg - ca) / (sb * sg), cbs = (ca * cg - cb) / (sa * sg),
          cgs = (ca * cb - cg) / (sa * sb);
  const double h = hkl[0], k = hkl[1], l = hkl[2];
  return h * h * as * as + k * k * bs * bs + l * l * cs * cs + 2.0 * k * l * bs * cs * cas +
         2.0 * h * l * as * cs * cbs + 2.0 * h * k * as * bs * cgs;
}

// The two cells the pipeline refines, written out (hot paths): cubic (h²+k²+l²)/a², hexagonal
// 4/3·(h²+hk+k²)/a² + l²/c² (International Tables A). Equal to the general form above.
inline double one_over_d_squared_cubic(int h, int k, int l, double a) {
  return (h * h + k * k + l * l) / (a * a);
}
inline double one_over_d_squared_hexagonal(int h, int k, int l, double a, double c) {
  return 4.0 / 3.0 * (h * h + h * k + k * k) / (a * a) + l * l / (c * c);
}

template <typename T>
T d_spacing(const Miller& hkl, const BasicLattice<T>& L) {
  using std::sqrt;
  return 1.0 / sqrt(one_over_d_squared(hkl, L));
}

// Hill & Howard (1987): a phase's weight in a mixture is S·Z·M·V (Rietveld scale, formula units per
// cell, formula mass, cell volume); W_p = S_p Z_p M_p V_p / Σ_i S_i Z_i M_i V_i. The factor Z·M·V:
inline double hill_howard_zmv(double z, double formula_mass, double cell_volume) {
  return z * formula_mass * cell_volume;
}

// Bragg's law: 2θ (degrees) of a d-spacing (Å); NaN where λ > 2d (no reflection).
inline double two_theta_deg(double d_angstrom, double wavelength_angstrom) {
  const double s = wavelength_angstrom / (2.0 * d_angstrom);
  return s > 1.0 ? NAN : 2.0 * std::asin(s) * 180.0 / M_PI;
}

inline double d_from_two_theta(double two_theta_deg, double wavelength_angstrom) {
  return wavelength_angstrom / (2.0 * std::sin(two_theta_deg * M_PI / 360.0));
}

}  // namespace anvil::crystal
