// Debye-function phase models of nanocrystals: the powder pattern of a crystal of a few
// thousand atoms computed from its atoms, not from Bragg peaks.
//
// A 4.8-nm crystal holds ~1000 formula units. Its pattern has peak shifts, asymmetry and
// diffuse scattering between the peaks that a Bragg model with a size-broadened profile
// misses, and a phase-fraction fit pays for that misfit with the other phases. The field's
// answer (Debye-function analysis: DEBUSSY, Cervellino, Frison & Guagliardi, J. Appl. Cryst.
// 48, 2026 (2015); Scardi & Billinge, Acta Cryst. A 64, 2008) is the Debye scattering equation
// over atomistic clusters:
//
//   I(q) = Σ_i |f_i|² + Σ_{i≠j} f_i f_j* T_i T_j sin(q r_ij)/(q r_ij),   T_i = exp(−B_i s²), s = q/4π
//
// (Debye 1915; the self term carries no Debye–Waller factor: uncorrelated displacements leave
// |f|² and move the rest to thermal diffuse scattering). With the atoms sorted into element
// pairs and the distances r_ij into a histogram h_st(r), the double sum becomes, per pair type,
//
//   S_st(q) = Σ_r h_st(r) sin(q r)/(q r)  and  I(q) = Σ_s N_s |f_s|² + Σ_{s≤t} c_st Re(f_s f_t*) T_s T_t
//   S_st(q)
//
// (c_ss = 2, c_st = 2 for s ≠ t with unordered pairs counted once). On a uniform grid
// r_j = (j+1)Δr the sum over r is a discrete sine transform, so S_st is computed for every q of
// a uniform grid q_k = (k+1)Δq, Δq = π/((n+1)Δr), by one FFTW RODFT00 of length n: a few ms
// per size and pair type (docs/debye.md derives it and measures the binning error).
//
// Distances are split linearly between their two neighbouring grid points (second-order
// accurate: the error of sin(qr)/(qr) is ≤ (qΔr)²/8 ≈ 5·10⁻⁴ at q = 6 Å⁻¹, Δr = 0.01 Å).
//
// Strain: a lattice scaled by λ = a/a₀ scales every r_ij by λ, so S_st(q; λ) = S_st(λq; 1): the
// unstrained sums are computed once and a refinement only interpolates them at λq (the f's are
// evaluated at q itself). Hexagonal phases keep the c/a of the cell the clusters were cut from.
//
// Sizes: spheres of a grid of diameters, cut around several centres (averaged), all from one
// largest cluster per centre in one pass over its pairs (a pair belongs to every sphere that
// holds both atoms); a refined log-normal number distribution of diameters weights them.
#pragma once

#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crystal/phase.hpp"
#include "crystal/scattering.hpp"

namespace anvil::debye {

// Cartesian atom positions (Å) of a cluster, by species index.
struct Cluster {
  std::vector<std::string> species;  // element symbols
  std::vector<int> species_of;       // per atom
  std::vector<std::array<double, 3>> xyz;
  std::vector<double> occupancy;        // per atom (1 for ordered sites)
  std::array<double, 3> axis{0, 0, 1};  // a cylinder's axis (unit vector)
  std::size_t size() const { return xyz.size(); }
};

enum class Shape { Sphere, Cylinder };

struct ClusterSettings {
  Shape shape = Shape::Sphere;
  // Diameters (Å) of the size grid: log-spaced from d_min to d_max with `sizes` values.
  // The grid must be fine (≈ 4 % steps) for a narrow distribution: with 10 % steps the
  // reproduction of dac_dev's pure-phase curves is 2–3.5 % RMS, with 3.7 % steps 0.6–1 %.
  double d_min_a = 28.0, d_max_a = 72.0;
  int sizes = 24;
  int centrings = 4;  // cluster centres averaged (quasi-random points of the cell)
  // Cylinders (rods, platelets): length / diameter and the axis as a lattice direction [uvw].
  double aspect = 1.0;
  std::array<int, 3> axis_uvw{0, 0, 1};
  double dr_a = 0.01;        // histogram step
  double q_max_inv_a = 8.0;  // largest q kept (Å⁻¹)
};

// The Cartesian matrix of a cell (columns a, b, c; a along x, b in the xy plane).
std::array<std::array<double, 3>, 3> cartesian_matrix(const crystal::Lattice& cell);

// Every atom of `phase` whose position lies within the shape around `centre_fractional`
// (diameter `diameter_a`; a cylinder of length aspect·diameter along the axis).
// Throws InputError naming the phase for a phase without atoms or an absurd cell/size.
Cluster cut_cluster(const crystal::Phase& phase, const ClusterSettings& settings, double diameter_a,
                    const std::array<double, 3>& centre_fractional);

// The Debye sums of one phase for a grid of sizes, unstrained, on a uniform q grid.
struct PairSums {
  std::string phase;
  std::vector<std::string> species;
  std::vector<std::array<int, 2>> types;  // (s, t), s <= t
  std::vector<double> diameters_a;        // size grid
  double dq = 0.0;                        // q_k = (k+1)·dq, Å⁻¹
  std::size_t nq = 0;
  // sums[type][k·sizes + size] = S_st(q_k) of one cluster of that size (averaged over
  // centrings): the sizes of one grid point side by side, as a pattern evaluation reads them.
  std::vector<std::vector<double>> sums;
  double sum(std::size_t size, std::size_t type, std::size_t k) const {
    return sums[type][k * diameters_a.size() + size];
  }
  std::vector<std::vector<double>> count;  // count[size][species] = Σ occupancy of atoms
  std::vector<double> formula_units;       // per size: atoms / atoms per formula unit
  std::vector<double> b_iso;               // per species, from the CIF sites (Å²)
  double atoms_per_formula_unit = 0.0;
  // Volume of one formula unit in the cell the clusters were cut from (Å³): particles of one
  // number of formula units have diameters ∝ its cube root in each polymorph.
  double volume_per_formula_unit = 0.0;
};

// Cuts the clusters of every size and centring and computes their Debye sums. Throws
// InputError naming the phase for a phase without atoms, a size grid out of range
// (diameters outside 5–500 Å, fewer than 1 size) or a cluster with fewer than 2 atoms.
PairSums pair_sums(const crystal::Phase& phase, const ClusterSettings& settings);

// Close-packed stacking with faults (WZ ↔ ZB): cation–anion double layers of an in-plane
// hexagonal lattice (a), `layer_spacing` apart (c/2 of the wurtzite cell), the anion u·c above
// its cation, stacked on positions A, B, C with a cubic step (keep the direction: A→B→C, zinc
// blende) of probability α and a hexagonal step (reverse it: A→B→A, wurtzite) otherwise. α = 0
// is WZ, α = 1 ZB; in between WZ's 102/103 lines fade and broaden first. One random sequence and
// centre per centring (averaged), as DEBUSSY-style faulted-cluster populations are built.
struct StackingModel {
  std::string name = "stacking";
  std::string cation = "Cd", anion = "Se";
  double a = 4.299;              // Å, in-plane
  double layer_spacing = 3.505;  // Å
  double u = 0.375;
  double alpha = 0.0;  // probability of a cubic stacking step
};

// A sphere of `diameter_a` cut from one random stacking sequence (`seed`).
Cluster stacked_cluster(const StackingModel& model, double diameter_a, std::uint64_t seed);

// The pair sums of faulted spheres (settings.centrings random sequences), as pair_sums.
PairSums stacking_sums(const StackingModel& model, const ClusterSettings& settings);

// Scattering factors of a phase's species at a beam energy.
std::vector<crystal::AtomScattering> species_scattering(const PairSums& sums, double energy_kev,
                                                        crystal::Dispersion dispersion);

// The parameters a pattern of one phase depends on.
struct PhaseState {
  double lambda = 1.0;       // lattice scale a/a₀ (the cell the clusters were cut from)
  double median_d_a = 48.0;  // median diameter of the log-normal number distribution
  double sigma_ln = 0.1;     // its width (of ln d)
  double b_iso = -1.0;       // Å², one for every atom; < 0: each site's from the CIF
};

// Weights of the size grid for a log-normal number distribution (normalised to sum 1).
std::vector<double> size_weights(const PairSums& sums, double median_d_a, double sigma_ln);

// Intensity per formula unit (electrons²) at each q (Å⁻¹) for a population of clusters:
// Σ_k w_k I_k(q) / Σ_k w_k N_fu,k.
std::vector<double> intensity_per_formula_unit(const PairSums& sums,
                                               const std::vector<crystal::AtomScattering>& f,
                                               const PhaseState& state, const std::vector<double>& q);

// The scattering factors f0 + f′ + i f″ of each species at each q, computed once for a
// refinement (they do not depend on its parameters): f_at_q[species][point].
using FactorsAtQ = std::vector<std::vector<std::complex<double>>>;
FactorsAtQ factors_at_q(const std::vector<crystal::AtomScattering>& f, const std::vector<double>& q);

// The same intensity with the factors precomputed for these q.
std::vector<double> intensity_per_formula_unit(const PairSums& sums, const FactorsAtQ& f_at_q,
                                               const PhaseState& state, const std::vector<double>& q);

// One phase's population pattern at fixed q, with its analytic derivatives along λ, the median
// diameter, σ of ln d and B, for a refinement (docs/debye.md derives them):
//   I = v/N,  v = Σ_e n_e |f_e|² + Σ_t c_t(q) T_t(q) A_t(λq),  N = Σ_k g_k N_fu,k
// with the unnormalised log-normal weights g_k = exp(−z_k²/2), z_k = ln(d_k/μ)/σ (their norm
// cancels in v/N), A_t = Σ_k g_k S_kt, n_e = Σ_k g_k n_ke. Then
//   ∂g_k/∂μ = g_k z_k/(σ μ),  ∂g_k/∂σ = g_k z_k²/σ,  ∂I/∂θ = (∂v/∂θ − I ∂N/∂θ)/N,
//   ∂I/∂λ = Σ_t c_t T_t q A′_t(λq)/N  (A′ from the derivative of the Catmull–Rom interpolant),
//   ∂I/∂B = −2 s² Σ_t c_t T_t A_t/N  (one B for every atom; T_t = exp(−2 B s²)).
// The per-q products c_t = 2 Re(f_s f_t*) and |f_e|² are computed once here; `evaluate` writes
// only into its output (the workspace), so one PopulationAtQ serves any number of threads.
class PopulationAtQ {
 public:
  PopulationAtQ(const PairSums& sums, const FactorsAtQ& f_at_q, const std::vector<double>& q);

  struct Curves {
    std::vector<double> value;  // per formula unit
    std::vector<double> d_lambda, d_median_d, d_sigma_ln, d_b_iso;
  };
  // `slopes`: also the derivatives (else they are left empty). With state.b_iso < 0 (each
  // site's B from the CIF) d_b_iso is zero.
  void evaluate(const PhaseState& state, Curves& out, bool slopes) const;

 private:
  const PairSums* sums_;
  std::vector<double> q_, stol2_;
  double q_min_ = 0.0, q_max_ = 0.0;
  std::vector<std::vector<double>> self_;   // self_[species][i] = |f|²
  std::vector<std::vector<double>> cross_;  // cross_[type][i] = 2 Re(f_s f_t*)
};

}  // namespace anvil::debye
