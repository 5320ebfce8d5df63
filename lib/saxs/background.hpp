// The diffuse part of a SAXS pattern: a power law + constant (Porod-like tail, DAC and solvent
// background) and optionally a polydisperse particle form factor, fitted with Ceres to the points
// outside the peaks; and the flattened curve I/B − 1 on which superlattice peaks are found.
#pragma once

#include <optional>
#include <vector>

#include "saxs/form_factor.hpp"

namespace anvil::saxs {

// SNIP baseline (Ryan et al., Nucl. Instrum. Methods B 34 (1988) 396; Morháč, NIM A 401 (1997) 113):
// v_i ← min(v_i, (v_{i−p} + v_{i+p})/2) for p = 1 … half_width, which clips every bump narrower than
// about 2·half_width points and follows everything broader.
std::vector<double> snip_baseline(const std::vector<double>& y, int half_width);

// σ(I) for a pattern without one: a scaled-Poisson model σ² = g·Ī (Ī a local mean), with g from the
// median of squared second differences (robust to peaks).
std::vector<double> estimate_sigma(const std::vector<double>& intensity);

enum class DiffuseModel { power_law, sphere, cylinder };

struct BackgroundSettings {
  DiffuseModel model = DiffuseModel::power_law;
  SizeDistribution distribution = SizeDistribution::schulz;
  double cylinder_length_nm = 20.0;  // fixed length of cylinders (the radius is fitted)
  // Initial radius; 0 = from a grid search over π/q_max … π/q_min.
  double initial_radius_nm = 0.0;
};

struct BackgroundFit {
  // I_diffuse(q) = scale·P(q; R, p) + B·q^−α + C
  double amplitude = 0, exponent = 0, constant = 0;
  double amplitude_esd = 0, exponent_esd = 0, constant_esd = 0;
  std::optional<FormFactorModel> particle;  // fitted radius and polydispersity
  double particle_scale = 0;
  double radius_esd_nm = 0, polydispersity_esd = 0;
  double reduced_chi2 = 0;
  std::size_t points_used = 0;

  double evaluate(double q) const;
  std::vector<double> evaluate(const std::vector<double>& q) const;
};

// Fits the diffuse model to the points with include[i] (peaks excluded), weighted by 1/σ².
BackgroundFit fit_background(const std::vector<double>& q, const std::vector<double>& intensity,
                             const std::vector<double>& sigma, const std::vector<bool>& include,
                             const BackgroundSettings& settings);

}  // namespace anvil::saxs
