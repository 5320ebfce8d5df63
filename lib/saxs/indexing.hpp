// Automatic indexing of superlattice peaks (SAXS_INDEXING.md §1.6–1.7).
//
// Hypotheses: every significant peak taken as each of the first few allowed reflections of every
// lattice (pairs of peaks for hex3d, whose c/a is free), so a missing first peak costs nothing.
// Each hypothesis is matched to the observed peaks, refined by weighted least squares
// ((q/2π)² = x/a² + y/c², linear in 1/a², 1/c²), re-matched, and scored as a log-likelihood ratio
// against "the peaks are unrelated":
//   score = Σ_explained u_i [ln(Δq_range / (√(2π) σ_i)) − z_i²/2]          (position evidence)
//         − ½ Σ_explained u_i min(r_i/σ_ln, 3)²                              (intensity misfit)
//         + Σ_missing ln(1 − 0.9 v_j)                                        (completeness)
//         − 3 Σ_unexplained u_i                                              (spurious peaks are rare)
//         − Σ_explained u_i · ln max(1, K_visible / Σu)                      (dense line lists)
//         − ½ ln n − [hcp, hex3d: ln(range of ln(c/a) / (√(2π) σ(ln c/a)))]  (Occam: BIC for the
//                                                                            scale, the full Occam
//                                                                            factor for c/a)
// u_i ∈ [0.15, 1] weighs a peak by significance, relative height and width (peak_weights); r_i is the misfit
// of ln(area) against multiplicity·|F|²/q²·exp(−βq²) (β fitted ≥ 0: Debye–Waller and disorder damping); v_j
// is how surely a predicted but unobserved reflection would have been detected, from its predicted area over
// the detection limit of the pattern at that q.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "saxs/lattice.hpp"
#include "saxs/peaks.hpp"

namespace anvil::saxs {

// The smallest peak area (on the flattened curve) the peak search would find at q: the matched-filter
// significance threshold × σ of the flattened curve around q.
struct DetectionLimit {
  std::vector<double> q;      // grid of the flattened curve
  std::vector<double> sigma;  // its σ
  double threshold = 4.0;
  double area(double at_q, double fwhm) const;
};

struct LatticePrior {
  Lattice lattice = Lattice::none;
  double a_nm = 0, c_nm = 0;
  double max_jump = 0.05;  // relative change in a (and c) still counted as the same solution
  double bonus = 1.5;      // score added to solutions continuing the prior
};

struct IndexSettings {
  std::vector<Lattice> lattices = all_lattices();
  double q_min = 0, q_max = 0;        // range of the pattern (completeness is counted inside it)
  int max_seed_order = 6;             // an observed peak may be any of the first 6 reflections
  int max_seed_peaks = 8;             // the most significant peaks seed hypotheses
  double relative_systematic = 1e-3;  // added in quadrature to σ(q): calibration, peak shape
  double width_systematic = 0.05;     // × FWHM, added in quadrature: asymmetry, overlaps
  double tolerance_sigmas = 4.0;
  double min_relative_tolerance = 0.003;
  double merge_fraction = 0.5;  // reflections closer than this × FWHM are one observed peak
  double hcp_c_over_a_min = 1.50, hcp_c_over_a_max = 1.78;
  double hex3d_c_over_a_min = 0.4, hex3d_c_over_a_max = 8.0;
  double intensity_sigma_ln = 0.7;
  double unexplained_penalty = 3.0;  // per significant peak a solution leaves unexplained (−ln 0.05)
  double min_score = 4.0;
  double min_explained = 0.6;
  // A solution resting on ≤ 3 peaks must have them sharper than this (median FWHM/q): liquid-like
  // order gives 2–3 broad peaks in nearly lamellar ratios.
  double max_relative_fwhm_few_peaks =
      0.12;                       // fraction (significance-weighted) of peaks a solution must explain
  double ambiguity_margin = 2.0;  // score difference below which two lattices are not told apart
  bool mixtures = true;
  std::optional<LatticePrior> prior;
};

struct PeakAssignment {
  std::size_t peak = 0;  // index into the peak list
  std::string hkl;       // "311/222" where reflections overlap within a peak width
  double q_calc = 0;
};

struct LatticeSolution {
  Lattice lattice = Lattice::none;
  double a_nm = 0, a_esd_nm = 0;
  double c_nm = 0, c_esd_nm = 0;  // hcp, hex3d
  double score = -INFINITY;
  int matched = 0, observed = 0;
  double explained_fraction = 0;  // significance-weighted
  double completeness = 0;        // visibility-weighted share of predicted reflections observed
  double rms_relative = 0;        // RMS of (q_obs − q_calc)/q_calc
  double reduced_chi2 = 0;
  double intensity_decay = 0;  // β of exp(−βq²), nm²
  std::vector<PeakAssignment> assignments;
  std::vector<std::string> missing;  // predicted reflections that should have been seen but were not
};

struct IndexResult {
  Lattice lattice = Lattice::none;
  std::optional<LatticeSolution> best;
  std::optional<LatticeSolution> runner_up;  // best solution of another lattice type
  bool ambiguous = false;
  std::string ambiguity;
  std::vector<LatticeSolution> phases;       // best first; a second for a two-phase pattern
  std::vector<LatticeSolution> per_lattice;  // best solution of every lattice tried, by score
  std::string reason;                        // why none, when none
};

// The weight u ∈ [0.15, 1] of each peak in the score: significance (SNR/10), height relative to the
// strongest peak (1 above 10 %, 0 at 0.1 %) and a width like the others'.
std::vector<double> peak_weights(const std::vector<Peak>& peaks);

IndexResult index_peaks(const std::vector<Peak>& peaks, const DetectionLimit& limit,
                        const IndexSettings& settings);

// Refines (and scores) one given hypothesis: for a seeded frame or a user's guess.
LatticeSolution refine_lattice(const std::vector<Peak>& peaks, const DetectionLimit& limit,
                               const IndexSettings& settings, Lattice lattice, double a_nm, double c_nm);

}  // namespace anvil::saxs
