// Equations of state fitted to (P, V) points of one phase across a pressure series, and the
// diagnostics that go with them: the F–f plot (normalised pressure vs Eulerian strain) and
// V/V0 vs P.
//
// Weighted least squares on the pressure residual with the effective-variance method
// (Orear 1982, Am. J. Phys. 50, 912; as EosFit7, Angel et al. 2014, Z. Kristallogr. 229, 405):
//   r_i = [P_i − P(V_i; V0, K0, K0′)] / σ_i,   σ_i² = σP_i² + (∂P/∂V)_i² σV_i²,
// with ∂P/∂V = −K(V)/V recomputed from the current parameters between solver cycles (the
// weights are held fixed inside each Ceres solve, then updated, until V0, K0 and K0′ change
// by less than 1e-6 of their σ or 8 cycles). Points without any uncertainty take the smallest
// σ given for another point; when no point has one the fit is unweighted. Standard
// uncertainties come from the Ceres covariance scaled by χ²_ν (when N > number of free
// parameters), as for a Rietveld fit.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pressure/eos.hpp"

namespace anvil::series {

// One measurement of a phase: pressure (GPa) and unit-cell volume (Å³, or any unit used
// consistently), each with its standard uncertainty (0 = not known).
struct PvPoint {
  double pressure_gpa = 0.0;
  double pressure_esd_gpa = 0.0;
  double volume = 0.0;
  double volume_esd = 0.0;
};

struct EosFitOptions {
  // Start values; unset ones are estimated from the points (V0 from the lowest-pressure point,
  // K0 from the slope of ln V vs P, K0′ = 4).
  std::optional<double> v0, k0_gpa, k0_prime;
  bool fix_v0 = false;        // keep V0 at its start value (e.g. measured at ambient)
  bool fix_k0_prime = false;  // keep K0′ at its start value (BM2 always fixes K0′ = 4)
  int max_cycles = 8;         // effective-variance weight updates
};

struct EosFit {
  pressure::Eos eos;                                      // the refined equation of state
  double v0_esd = 0.0, k0_esd = 0.0, k0_prime_esd = 0.0;  // 0 for fixed parameters
  // Covariance of (V0, K0, K0′), scaled as the esd (rows/columns of fixed parameters are 0).
  std::array<std::array<double, 3>, 3> covariance{};
  double chi2 = 0.0;          // Σ r_i² at the solution
  double chi2_reduced = 0.0;  // χ²/(N − free), NaN when N ≤ free
  int num_points = 0;
  int num_free = 0;
  bool converged = false;
  std::string message;  // why not converged, or empty
};

// Fits `form` to the points. Throws InputError when there are fewer points than free
// parameters or a point is not finite / has V ≤ 0.
EosFit fit_eos(std::span<const PvPoint> points, pressure::EosForm form, const EosFitOptions& options = {});

// Eulerian finite strain f = [(V0/V)^(2/3) − 1]/2 and normalised pressure
// F = P / [3 f (1 + 2f)^(5/2)] (Angel 2000, Rev. Mineral. Geochem. 41, 35). For BM3 F is linear
// in f: F = K0 + (3K0/2)(K0′ − 4) f; a horizontal F–f line means K0′ = 4 (BM2).
struct FfPoint {
  double f = 0.0, f_esd = 0.0;
  double normalised_pressure_gpa = 0.0, normalised_pressure_esd = 0.0;
};

// Points with |f| < 1e-4 (P ≈ 0, where F is 0/0) are left out. σ_f from σV and σV0
// (σ_η/η = √[(σV/V)² + (σV0/V0)²], σ_f = η^(−5/3) σ_η / 3 with η = V/V0), and
// σ_F = F √[(σP/P)² + (d ln F/df · σ_f)²], d ln F/df = −[1/f + 5/(1 + 2f)] (Angel 2000).
std::vector<FfPoint> normalised_pressure(std::span<const PvPoint> points, double v0, double v0_esd = 0.0);

// Weighted straight line through the F–f points (weights 1/σ_F², unweighted when no σ),
// σ from the normal matrix scaled by χ²_ν.
struct FfLine {
  double intercept_gpa = 0.0, intercept_esd = 0.0;  // = K0
  double slope_gpa = 0.0, slope_esd = 0.0;          // = 3 K0 (K0′ − 4) / 2
  double k0_prime = 4.0, k0_prime_esd = 0.0;        // 4 + 2 slope / (3 K0), propagated
  int num_points = 0;
};
FfLine fit_ff_line(std::span<const FfPoint> points);

// V/V0 with σ (from σV and σV0), one per point, in the points' order.
struct VolumeRatio {
  double pressure_gpa = 0.0, pressure_esd_gpa = 0.0;
  double ratio = 0.0, ratio_esd = 0.0;
};
std::vector<VolumeRatio> volume_ratios(std::span<const PvPoint> points, double v0, double v0_esd = 0.0);

}  // namespace anvil::series
