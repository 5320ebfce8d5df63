// Lorentz and polarisation factors of a powder line in Debye–Scherrer geometry with an area
// detector, for a pattern made by azimuthal integration (intensity per solid angle).
//
// Which one applies:
//  * anvil's (and pyFAI's integrate1d with `polarization_factor`) patterns are already divided by
//    the polarisation factor pixel by pixel: only the Lorentz factor 1/(sin²θ cos θ) remains.
//    This is anvil's default (LpModel::PolarisationCorrected).
//  * A pattern integrated WITHOUT polarisation correction, from an unpolarised source, or the
//    full-ring azimuthal average of a linearly polarised synchrotron beam (the cos 2χ term
//    averages to zero over a complete ring): (1 + cos² 2θ)/(sin²θ cos θ), the "LP" column of the
//    reference tables. With a partial ring of a polarised beam neither is exact: correct the
//    polarisation in the integration instead.
// Both omit constant factors (they only set the scale).
#pragma once

#include <cmath>

namespace anvil::crystal {

enum class LpModel {
  PolarisationCorrected,  // Lorentz only: 1/(sin²θ cos θ)
  Unpolarised,            // (1 + cos² 2θ)/(sin²θ cos θ)
  None,                   // 1: a pattern already divided by both (or a test of the profile alone)
};

// Lorentz factor of a Debye–Scherrer ring, per unit solid angle, 2θ in degrees: the single-crystal
// factor 1/sin 2θ × the fraction of crystallites in reflecting position (∝ cos θ) × 1/sin 2θ for the
// line spread over a ring of circumference ∝ sin 2θ = cos θ/sin² 2θ ∝ 1/(sin²θ cos θ).
inline double lorentz_factor(double two_theta_deg) {
  const double th = two_theta_deg * M_PI / 360.0;
  const double s = std::sin(th);
  return 1.0 / (s * s * std::cos(th));
}

// Polarisation factor of an unpolarised beam (or the full-ring average of a polarised one):
// (1 + cos² 2θ)/2.
inline double polarisation_factor_unpolarised(double two_theta_deg) {
  const double c = std::cos(two_theta_deg * M_PI / 180.0);
  return 0.5 * (1.0 + c * c);
}

// pyFAI's polarisation factor for a beam of polarisation degree `factor` (−1..1; 0.99 at most
// synchrotrons, horizontal plane) at azimuth χ: ((1 + cos²2θ) − factor·cos 2χ·sin²2θ)/2.
inline double polarisation_factor(double two_theta_deg, double chi_deg, double factor) {
  const double c = std::cos(two_theta_deg * M_PI / 180.0);
  const double s2 = 1.0 - c * c;
  return 0.5 * ((1.0 + c * c) - factor * std::cos(2.0 * chi_deg * M_PI / 180.0) * s2);
}

// The factor multiplying multiplicity·|F|² for a line at Bragg angle θ (radians), and where asked
// d ln(factor)/dθ (for a refinement that moves the line): the one place the powder model, the
// Rietveld refinement and the reflection tables take it from.
inline double lp_factor_theta(double theta_rad, LpModel model, double* dln_dtheta = nullptr) {
  double f = 1.0, dln = 0.0;
  if (model != LpModel::None) {
    const double s = std::sin(theta_rad), c = std::cos(theta_rad);
    f = 1.0 / (s * s * c);
    dln = -2.0 * c / s + s / c;
    if (model == LpModel::Unpolarised) {
      const double c2 = std::cos(2 * theta_rad), s2 = std::sin(2 * theta_rad);
      f *= 1.0 + c2 * c2;
      dln += -4.0 * c2 * s2 / (1.0 + c2 * c2);
    }
  }
  if (dln_dtheta) *dln_dtheta = dln;
  return f;
}

// The same for a line at 2θ (degrees).
inline double lp_factor(double two_theta_deg, LpModel model = LpModel::PolarisationCorrected) {
  return lp_factor_theta(two_theta_deg * M_PI / 360.0, model);
}

}  // namespace anvil::crystal
