// Synthetic superlattice patterns for the SAXS tests: one generator, so every test and the
// success-rate sweep describe their cases the same way.
#pragma once

#include <cmath>
#include <random>

#include "saxs/form_factor.hpp"
#include "saxs/lattice.hpp"
#include "saxs/simulate.hpp"

namespace anvil::saxs::test {

struct SyntheticCase {
  SimulationSettings settings;
  SimulatedPhase phase;
  bool beamstop_hides_first = false;
};

// Case k of a lattice: nearest-neighbour distance 5–20 nm, domains of 12/20/35/60 particles,
// 10³/10⁴/10⁵ counts, peak heights 10–50 × the diffuse level, sphere form factor with
// d_nn/2R = 1.15–1.5 (ligand shell), Debye–Waller u = 0.04 d_nn, and every third case with its
// first reflection behind the beamstop (q_min between the first two reflections).
inline SyntheticCase synthetic_case(Lattice lattice, int k) {
  std::mt19937_64 rng(1000 * static_cast<int>(lattice) + k);
  std::uniform_real_distribution<double> u(0, 1);
  SyntheticCase c;
  auto& ph = c.phase;
  ph.lattice = lattice;
  const double dnn = 5 + 15 * u(rng);
  ph.a_nm = lattice == Lattice::fcc   ? dnn * std::sqrt(2.0)
            : lattice == Lattice::bcc ? dnn * 2 / std::sqrt(3.0)
                                      : dnn;
  if (lattice == Lattice::hex3d) ph.c_nm = ph.a_nm * (1.2 + 3.0 * u(rng));
  if (lattice == Lattice::hcp) ph.c_nm = ph.a_nm * kIdealHcpCOverA * (0.98 + 0.04 * u(rng));
  const double particles[] = {12, 20, 35, 60};
  ph.domain_nm = particles[k % 4] * dnn;
  ph.peak_height = 10 + 40 * u(rng);
  c.beamstop_hides_first = k % 3 == 2;
  auto& s = c.settings;
  const double counts[] = {1e3, 1e4, 1e5};
  s.counts = counts[(k / 4) % 3];
  s.seed = 1000 + k;
  const auto refl = reflections(lattice, ph.a_nm, ph.c_nm, 60.0 / ph.a_nm);
  const double q1 = refl.front().q;
  double q_ref = q1;
  if (lattice == Lattice::hex3d)
    for (const auto& r : refl)
      if (r.hkl == "100") q_ref = r.q;
  s.q_min_inv_nm = 0.5 * q1;
  if (c.beamstop_hides_first)
    for (const auto& r : refl)
      if (r.q > q1 * 1.0001) {
        s.q_min_inv_nm = q1 + 0.5 * (r.q - q1);
        break;
      }
  s.q_max_inv_nm = (lattice == Lattice::lamellar ? 4.6 : lattice == Lattice::hex3d ? 2.2 : 3.2) * q_ref;
  s.points = 1000;
  s.form_factor->radius_nm = dnn / (2.0 * (1.15 + 0.35 * u(rng)));
  s.debye_waller_nm = 0.04 * dnn;
  s.phases = {ph};
  return c;
}

// What a measured pattern carries beside the sample's scattering (issue 15), drawn per case:
// the cell's parasitic scattering (a q⁻⁴ rise reaching 1–10 × the sample at q_min; in half the cases
// a broad halo 0.2–1 × the diffuse level, FWHM 15–40 % of the range), a beamstop edge at the low-q
// end in half the cases, and `extra` weak sharp peaks that are no reflection (5–15 % of the strongest
// reflection's height, at random places) with the width `fwhm`.
inline void add_measured_features(SimulationSettings& s, std::mt19937_64& rng, int extra, double fwhm,
                                  double height) {
  std::uniform_real_distribution<double> u(0, 1);
  const double span = s.q_max_inv_nm - s.q_min_inv_nm;
  double p_min = 1;
  if (s.form_factor) p_min = form_factor(*s.form_factor, s.q_min_inv_nm);
  s.parasitic.power_law_amplitude = (1 + 9 * u(rng)) * p_min * std::pow(s.q_min_inv_nm, 4.0);
  if (u(rng) < 0.5) {
    s.parasitic.bump_q = s.q_min_inv_nm + span * (0.2 + 0.6 * u(rng));
    s.parasitic.bump_fwhm = span * (0.15 + 0.25 * u(rng));
    double p_bump = 1;
    if (s.form_factor) p_bump = form_factor(*s.form_factor, s.parasitic.bump_q);
    s.parasitic.bump_height = (0.2 + 0.8 * u(rng)) * p_bump;
  }
  if (u(rng) < 0.5) {
    s.beamstop_edge_inv_nm = s.q_min_inv_nm + span * (0.005 + 0.02 * u(rng));
    s.beamstop_edge_width_inv_nm = span * 0.005;
  }
  for (int e = 0; e < extra; ++e)
    s.extra_peaks.push_back(
        {s.q_min_inv_nm + span * (0.05 + 0.9 * u(rng)), fwhm, (0.05 + 0.10 * u(rng)) * height});
}

// Case k of a lattice as measured (issue 15): synthetic_case with c/a of hex3d over 1–6, split peaks
// (a second domain population 0.4–1.0 % larger carrying 20–40 % of the intensity) in every third case,
// and add_measured_features with one to three extra peaks.
inline SyntheticCase measured_case(Lattice lattice, int k) {
  auto c = synthetic_case(lattice, k);
  std::mt19937_64 rng(7919 * static_cast<int>(lattice) + 31 * k + 5);
  std::uniform_real_distribution<double> u(0, 1);
  auto& ph = c.phase;
  if (lattice == Lattice::hex3d) {
    ph.c_nm = ph.a_nm * (1.0 + 5.0 * u(rng));
    const auto refl = reflections(lattice, ph.a_nm, ph.c_nm, c.settings.q_max_inv_nm);
    const double q1 = refl.front().q;
    c.settings.q_min_inv_nm = 0.5 * q1;
    if (c.beamstop_hides_first)
      for (const auto& r : refl)
        if (r.q > q1 * 1.0001) {
          c.settings.q_min_inv_nm = q1 + 0.5 * (r.q - q1);
          break;
        }
  }
  if (k % 3 == 1) {
    ph.split_strain = 0.004 + 0.006 * u(rng);
    ph.split_weight = 0.2 + 0.2 * u(rng);
  }
  c.settings.phases = {ph};
  const double fwhm = 2 * std::numbers::pi * c.settings.scherrer_k / ph.domain_nm;
  add_measured_features(c.settings, rng, 1 + k % 3, fwhm, ph.peak_height);
  return c;
}

// Case k of a disordered assembly as measured: a Percus–Yevick liquid (φ 0.2–0.5, sphere radius
// 2–8 nm, the particles' own polydisperse form factor) with add_measured_features and zero or one
// extra peak (two sharp peaks at random places fall in a 1 : 2 or 1 : 3 ratio often enough to be a
// lamellar pattern by any test: no longer a disordered one).
inline SimulationSettings disordered_case(int k) {
  std::mt19937_64 rng(104729 + 17 * k);
  std::uniform_real_distribution<double> u(0, 1);
  SimulationSettings s;
  s.hard_sphere_fraction = 0.2 + 0.3 * u(rng);
  s.hard_sphere_radius_nm = 2 + 6 * u(rng);
  s.form_factor->radius_nm = s.hard_sphere_radius_nm / (1.0 + 0.3 * u(rng));
  s.q_min_inv_nm = 0.5 / s.hard_sphere_radius_nm;
  s.q_max_inv_nm = 12.0 / s.hard_sphere_radius_nm;
  const double counts[] = {1e3, 1e4, 1e5};
  s.counts = counts[k % 3];
  s.seed = 5000 + k;
  // An extra peak as sharp as a 30-particle domain's reflection, 1–3 × the diffuse level.
  const double fwhm = 2 * std::numbers::pi * 0.9 / (30 * 2 * s.hard_sphere_radius_nm);
  add_measured_features(s, rng, k % 2, fwhm, 20.0);
  return s;
}

}  // namespace anvil::saxs::test
