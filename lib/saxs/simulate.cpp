#include "saxs/simulate.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

namespace anvil::saxs {

namespace {

constexpr double kPi = std::numbers::pi;

// Pseudo-Voigt of unit height.
double pseudo_voigt_unit_height(double dq, double fwhm, double eta) {
  const double t = 2.0 * dq / fwhm;
  const double lorentz = 1.0 / (1.0 + t * t);
  const double gauss = std::exp(-std::numbers::ln2 * t * t);
  return eta * lorentz + (1.0 - eta) * gauss;
}

}  // namespace

double hard_sphere_structure_factor(double q, double radius, double phi) {
  if (phi <= 0) return 1.0;
  const double a = 2.0 * q * radius;
  const double d4 = std::pow(1.0 - phi, 4);
  const double alpha = (1 + 2 * phi) * (1 + 2 * phi) / d4;
  const double beta = -6 * phi * (1 + phi / 2) * (1 + phi / 2) / d4;
  const double gamma = phi * alpha / 2;
  if (a < 1e-4) {
    // S(0) = (1−φ)⁴ / (1+2φ)², the PY compressibility limit.
    return d4 / ((1 + 2 * phi) * (1 + 2 * phi));
  }
  const double s = std::sin(a), c = std::cos(a);
  const double a2 = a * a, a3 = a2 * a, a4 = a3 * a, a5 = a4 * a;
  const double g = alpha / a2 * (s - a * c) + beta / a3 * (2 * a * s + (2 - a2) * c - 2) +
                   gamma / a5 * (-a4 * c + 4 * ((3 * a2 - 6) * c + (a3 - 6 * a) * s + 6));
  return 1.0 / (1.0 + 24.0 * phi * g / a);
}

SimulatedPattern simulate_saxs(const SimulationSettings& s) {
  SimulatedPattern out;
  auto& p = out.pattern;
  p.unit = RadialUnit::QInvNm;
  const std::size_t n = std::max<std::size_t>(s.points, 2);
  p.x.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    p.x[i] = s.q_min_inv_nm + (s.q_max_inv_nm - s.q_min_inv_nm) * static_cast<double>(i) / (n - 1);

  std::vector<double> structure(n, 1.0);
  if (s.hard_sphere_fraction > 0)
    for (std::size_t i = 0; i < n; ++i)
      structure[i] = hard_sphere_structure_factor(p.x[i], s.hard_sphere_radius_nm, s.hard_sphere_fraction);

  for (const auto& ph : s.phases) {
    const double c = ph.lattice == Lattice::hcp && ph.c_nm <= 0 ? ph.a_nm * kIdealHcpCOverA : ph.c_nm;
    const double fwhm_domain = 2 * kPi * s.scherrer_k / ph.domain_nm;
    const double fwhm = std::hypot(fwhm_domain, s.instrument_fwhm_inv_nm);
    auto refl = reflections(ph.lattice, ph.a_nm, c, s.q_max_inv_nm + 5 * fwhm);
    if (ph.hide_first_peak && !refl.empty()) refl.erase(refl.begin());
    // Powder intensity of a reflection ∝ multiplicity·|F|² / q² (Lorentz), damped by Debye–Waller.
    std::vector<double> weight(refl.size());
    double w_max = 0;
    for (std::size_t j = 0; j < refl.size(); ++j) {
      const double q = refl[j].q;
      weight[j] = refl[j].strength / (q * q) * std::exp(-q * q * s.debye_waller_nm * s.debye_waller_nm);
      if (refl[j].q >= s.q_min_inv_nm) w_max = std::max(w_max, weight[j]);
    }
    if (!(w_max > 0)) continue;
    const double split = std::clamp(ph.split_weight, 0.0, 1.0);
    for (std::size_t j = 0; j < refl.size(); ++j) {
      const double h = ph.peak_height * weight[j] / w_max;
      out.peaks.push_back({ph.lattice, refl[j].hkl, refl[j].q, fwhm, h * (1 - split)});
      // The strained population: every reflection at q/(1 + δ).
      const double q_split = refl[j].q / (1 + ph.split_strain);
      if (split > 0) out.peaks.push_back({ph.lattice, refl[j].hkl, q_split, fwhm, h * split});
      const double reach = 12 * fwhm;
      for (std::size_t i = 0; i < n; ++i) {
        const double dq = p.x[i] - refl[j].q;
        if (std::abs(dq) > reach && s.lorentzian_fraction == 0) continue;
        structure[i] += (1 - split) * h * pseudo_voigt_unit_height(dq, fwhm, s.lorentzian_fraction);
        if (split > 0)
          structure[i] += split * h * pseudo_voigt_unit_height(p.x[i] - q_split, fwhm, s.lorentzian_fraction);
      }
    }
  }
  for (const auto& e : s.extra_peaks)
    for (std::size_t i = 0; i < n; ++i)
      structure[i] += e.height * pseudo_voigt_unit_height(p.x[i] - e.q, e.fwhm, s.lorentzian_fraction);

  std::vector<double> ff(n, 1.0);
  if (s.form_factor) ff = form_factor(*s.form_factor, p.x);

  std::mt19937_64 rng(s.seed);
  p.intensity.resize(n);
  p.sigma.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double q = p.x[i];
    const auto& par = s.parasitic;
    double model = ff[i] * structure[i] + s.background_amplitude * std::pow(q, -s.background_exponent) +
                   s.background_constant + par.power_law_amplitude * std::pow(q, -par.power_law_exponent);
    if (par.bump_height > 0 && par.bump_fwhm > 0)
      model += par.bump_height * pseudo_voigt_unit_height(q - par.bump_q, par.bump_fwhm, 0.0);
    if (s.beamstop_edge_inv_nm > 0) {
      const double t = s.beamstop_transmission;
      const double w = std::max(s.beamstop_edge_width_inv_nm, 1e-9);
      model *= t + (1 - t) * 0.5 * (1 + std::erf((q - s.beamstop_edge_inv_nm) / w));
    }
    const double mean = std::max(model * s.counts, 0.0);
    double value = mean;
    if (s.poisson_noise) {
      if (mean < 1e7) {
        std::poisson_distribution<long long> dist(mean);
        value = static_cast<double>(dist(rng));
      } else {
        std::normal_distribution<double> dist(mean, std::sqrt(mean));
        value = dist(rng);
      }
    }
    p.intensity[i] = value;
    p.sigma[i] = std::sqrt(std::max(value, 1.0));
  }
  std::sort(out.peaks.begin(), out.peaks.end(),
            [](const SimulatedPeak& l, const SimulatedPeak& r) { return l.q < r.q; });
  return out;
}

}  // namespace anvil::saxs
