// Synthetic superlattice patterns for the SAXS tests: one generator, so every test and the
// success-rate sweep describe their cases the same way.
#pragma once

#include <cmath>
#include <random>

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

}  // namespace anvil::saxs::test
