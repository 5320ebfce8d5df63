// A forward model of superlattice SAXS, for tests and benchmarks: powder-averaged lattice peaks
// (multiplicity × |F|² / q², Debye–Waller damping, pseudo-Voigt of Scherrer width) multiplied by a
// particle form factor, plus a power-law + constant background, with Poisson counting noise.
//   I(q) = counts · T(q) · [ P(q) · S(q) + B q^-α + C + parasitic(q) ],
//   S(q) = 1 + Σ_phases Σ_hkl peaks + extra peaks,  T(q) the beamstop edge's transmission
// A disordered assembly uses the Percus–Yevick hard-sphere S(q) instead of peaks
// (Wertheim, Phys. Rev. Lett. 10 (1963) 321; Ashcroft & Lekner, Phys. Rev. 145 (1966) 83).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/pattern.hpp"
#include "saxs/form_factor.hpp"
#include "saxs/lattice.hpp"

namespace anvil::saxs {

struct SimulatedPhase {
  Lattice lattice = Lattice::fcc;
  double a_nm = 8.66;
  double c_nm = 0;               // hcp (0 = ideal c/a), hex3d
  double peak_height = 30;       // height of the strongest reflection of S(q) above the diffuse 1
  double domain_nm = 100;        // Scherrer size: FWHM = 2π·K/L (K = scherrer_k)
  bool hide_first_peak = false;  // the lowest reflection suppressed (beamstop, form-factor zero)
  // Split or shouldered peaks: a second population of domains with a and c scaled by (1 + split_strain)
  // carries split_weight of the phase's peak intensity (non-hydrostatic stress, two domain families).
  double split_strain = 0;
  double split_weight = 0;
};

// A sharp peak that is no reflection of the superlattice (an impurity, a crystalline ligand, a spot
// of the cell), in units of the diffuse level like the lattice peaks.
struct ExtraPeak {
  double q = 0, fwhm = 0, height = 0;
};

// What the sample cell and the instrument add to a measured pattern (issue 15), all relative to
// P(0) = 1 and not multiplied by the form factor: the windows' and diamonds' steep scattering
// A·q⁻⁴, and a broad bump (a window's amorphous halo, the medium's correlation peak).
struct Parasitic {
  double power_law_amplitude = 0;
  double power_law_exponent = 4.0;
  double bump_q = 0, bump_fwhm = 0, bump_height = 0;
};

struct SimulationSettings {
  std::vector<SimulatedPhase> phases;  // empty with hard_sphere_fraction = 0: form factor only
  double q_min_inv_nm = 0.3;
  double q_max_inv_nm = 3.5;
  std::size_t points = 1000;
  double scherrer_k = 0.9;
  double instrument_fwhm_inv_nm = 0.0;  // added in quadrature to the Scherrer width
  double lorentzian_fraction = 0.3;     // pseudo-Voigt mixing η of every peak
  double debye_waller_nm = 0.3;         // rms displacement u: peaks damped by exp(−q²u²)
  std::optional<FormFactorModel> form_factor = FormFactorModel{};
  // Disordered assembly: PY hard-sphere S(q) at this volume fraction (0 = off), sphere radius =
  // hard_sphere_radius_nm.
  double hard_sphere_fraction = 0.0;
  double hard_sphere_radius_nm = 3.0;
  double background_amplitude = 1e-3;  // B, relative to P(0) = 1
  double background_exponent = 3.0;    // α
  double background_constant = 1e-3;   // C
  std::vector<ExtraPeak> extra_peaks;
  Parasitic parasitic;
  // Beamstop edge: the transmission rises from beamstop_transmission to 1 as an error function centred
  // at beamstop_edge_inv_nm with width beamstop_edge_width_inv_nm (0: no edge in the pattern).
  double beamstop_edge_inv_nm = 0;
  double beamstop_edge_width_inv_nm = 0.01;
  double beamstop_transmission = 0.02;
  double counts = 1e4;  // expected counts at P·S = 1
  bool poisson_noise = true;
  std::uint64_t seed = 1;
};

struct SimulatedPeak {
  Lattice lattice = Lattice::none;
  std::string hkl;
  double q = 0;
  double fwhm = 0;
  double height = 0;  // in S(q)
};

struct SimulatedPattern {
  Pattern1D pattern;  // q in nm⁻¹, intensity in counts, σ = √counts
  std::vector<SimulatedPeak> peaks;
};

SimulatedPattern simulate_saxs(const SimulationSettings& settings);

// Percus–Yevick structure factor of hard spheres of radius r at volume fraction φ.
double hard_sphere_structure_factor(double q, double radius, double volume_fraction);

}  // namespace anvil::saxs
