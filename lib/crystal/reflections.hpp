// Powder reflections of a phase: the hkl families inside a d (or 2θ) range with their
// multiplicities and d-spacings, and their structure factors at a given X-ray energy.
//
// A family is the set of reflections equivalent under the Laue class (the point group
// plus the inversion), i.e. Friedel mates are in the same powder line. Its multiplicity
// is the size of that set. With anomalous scattering |F(hkl)|² ≠ |F(−h−k−l)|² in a
// non-centrosymmetric group (WZ, ZB), so the line's strength is the multiplicity times the
// MEAN |F|² over the set, (|F(h)|² + |F(−h)|²)/2 (reflections related by the point group
// itself have equal |F|).
#pragma once

#include <complex>
#include <limits>
#include <vector>

#include "crystal/lattice.hpp"
#include "crystal/phase.hpp"
#include "crystal/scattering.hpp"

namespace anvil::crystal {

struct Reflection {
  Miller hkl{};             // representative (most non-negative indices, then the largest)
  int multiplicity = 0;     // Laue-class count, Friedel mates included
  double d_angstrom = 0.0;  // from Phase::cell
  double f_squared = 0.0;   // mean |F|² over the family, electrons² per cell (0 until computed)
};

// All hkl families with d_min ≤ d ≤ d_max that the space group allows (systematic absences
// removed via its centring and glide/screw translations), sorted by decreasing d.
std::vector<Reflection> hkl_families(const Phase& phase, double d_min_angstrom,
                                     double d_max_angstrom = std::numeric_limits<double>::infinity());

// Orbit of hkl under the Laue class of the space group (hkl itself included).
std::vector<Miller> equivalent_reflections(const gemmi::SpaceGroup& space_group, const Miller& hkl);

// What |F|² needs, built once per phase and energy: the unit-cell atoms and one scattering
// factor per element.
struct ScatteringModel {
  std::vector<CellAtom> atoms;             // full unit cell
  std::vector<AtomScattering> scatterers;  // one per element present
  std::vector<int> scatterer_of_atom;      // atoms[i] scatters with scatterers[scatterer_of_atom[i]]
  double energy_kev = 0.0;
  Dispersion dispersion = Dispersion::Henke;
};

ScatteringModel make_scattering_model(const Phase& phase, double wavelength_angstrom,
                                      Dispersion dispersion = Dispersion::Henke);

// F(hkl) = Σ_j occ_j [f0_j(s) + f′_j + i f″_j] exp(−B_j s²) exp(2πi h·x_j) over the unit cell,
// with s² = (sin θ/λ)² = one_over_d2 / 4 (electrons).
std::complex<double> structure_factor(const ScatteringModel& model, const Miller& hkl, double one_over_d2);

// (|F(h)|² + |F(−h)|²) / 2: the mean over a powder line's Laue family.
double mean_f_squared(const ScatteringModel& model, const Miller& hkl, double one_over_d2);

// Below this mean |F|² (e²) a family is extinct by the atoms' positions rather than by the space
// group (e.g. WZ h−k = 3n, l odd, with every atom at (1/3, 2/3, z)).
inline constexpr double kExtinctFSquared = 1e-6;

// The reflection list of a phase for a pattern: families with 2θ ≤ two_theta_max_deg
// (and ≥ two_theta_min_deg) at the wavelength, with f_squared filled in; families with
// f_squared < kExtinctFSquared are left out.
std::vector<Reflection> reflection_list(const Phase& phase, double wavelength_angstrom,
                                        double two_theta_min_deg, double two_theta_max_deg,
                                        Dispersion dispersion = Dispersion::Henke);

// Merges families of equal d (|Δd|/d ≤ rel_tol; e.g. cubic 333 and 511, or 600 and 442) into one
// line: multiplicities add, f_squared becomes the multiplicity-weighted mean, so that
// multiplicity·f_squared is the line's Σ|F|². The first family's hkl names the line.
std::vector<Reflection> merge_equal_d(const std::vector<Reflection>& reflections, double rel_tol = 1e-6);

}  // namespace anvil::crystal
