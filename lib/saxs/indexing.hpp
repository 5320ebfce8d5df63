// Automatic indexing of superlattice peaks (SAXS_INDEXING.md §1.6–1.7), decided on the whole pattern.
//
// 1. Candidates: every pair of strong peaks taken as every pair of low-order reflections of each lattice
//    whose q ratio they match (for hcp and hex3d the pair fixes a and c); each candidate is matched to
//    all peaks and refined by weighted least squares ((q/2π)² = x/a² + y/c², linear in 1/a², 1/c²),
//    re-matched and refined again.
// 2. Whole-pattern check (whole_pattern.hpp, a Le Bail fit): the flattened curve modelled by the
//    candidate's reflections at their computed positions, one width law FWHM² = W₀² + (W₁q)² from the
//    peaks it explains, free non-negative intensities, and free peaks for the peaks it leaves
//    unexplained. BIC = χ²/s² + k ln n with k = constants + width law + positive intensities + 3 per
//    free peak. "No lattice" is every peak free.
// 3. Decision: the lattice of lowest BIC, if it beats "no lattice" by min_evidence (positive evidence,
//    reported as weak below strong_evidence: two orders rarely give more), explains at least
//    constants + 1 peaks and at least min_explained of the fitted peak intensity (the strong peaks, not
//    the number of bumps); "ambiguous" when another lattice is within ambiguity_margin; a second phase
//    when the peaks the first leaves unexplained are a lattice of their own that lowers the BIC again.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "saxs/lattice.hpp"
#include "saxs/peaks.hpp"
#include "saxs/whole_pattern.hpp"

namespace anvil::saxs {

struct LatticePrior {
  Lattice lattice = Lattice::none;
  double a_nm = 0, c_nm = 0;
  double max_jump = 0.05;  // relative change in a (and c) still counted as the same solution
  double bonus = 3.0;      // BIC units (−2 ln prior odds) credited to a solution continuing the prior
};

struct IndexSettings {
  std::vector<Lattice> lattices = all_lattices();
  double q_min = 0, q_max = 0;        // range of the pattern
  int pair_peaks = 8;                 // the most significant peaks pair up into candidates
  int pair_lines = 10;                // … as any two of the first 10 distinct reflections
  int candidates_per_lattice = 5;     // refined candidates per lattice given the whole-pattern check
  double relative_systematic = 1e-3;  // added in quadrature to σ(q): calibration, peak shape
  double width_systematic = 0.05;     // × FWHM, added in quadrature: asymmetry, overlaps
  double tolerance_sigmas = 4.0;
  double min_relative_tolerance = 0.003;
  double merge_fraction = 0.5;  // reflections closer than this × FWHM are one line
  double hcp_c_over_a_min = 1.50, hcp_c_over_a_max = 1.78;
  double hex3d_c_over_a_min = 0.4, hex3d_c_over_a_max = 8.0;
  // BIC units. 6 is "strong" evidence on the scale of Kass & Raftery, J. Am. Stat. Assoc. 90 (1995) 773.
  double min_evidence = 2.0;         // a lattice must beat "no lattice" by this ("positive")
  double strong_evidence = 6.0;      // below this the answer is reported as weak ("strong" above)
  double ambiguity_margin = 4.0;     // two lattices closer than this are not told apart
  double min_explained = 0.5;        // share of the fitted peak intensity the lattice(s) must carry
  double min_phase_explained = 0.3;  // … and each phase on its own
  // A solution carrying this much more of the peak intensity than the best one claims is preferred to
  // it; a lattice with a second constant (hcp, hex3d) that only adds peaks to a one-constant lattice's
  // must add min_extra_nested of the intensity.
  double min_extra_explained = 0.05;
  double min_extra_nested = 0.02;
  // The peaks a lattice explains must be sharper than this (median FWHM/q): liquid-like order gives broad
  // peaks in nearly lattice-like ratios, and domains of fewer than about eight periods are no lattice.
  double max_relative_fwhm = 0.12;
  double min_spacing_nm = 1.0;  // smallest nearest-neighbour distance taken for a superlattice
  double detection_snr = 4.0;   // significance at which the peak search finds a peak (for unseen lines)
  // A reflection no peak was found at but significant to this level at its computed place is seen.
  double predicted_line_snr = 3.0;
  bool mixtures = true;
  double min_second_phase = 0.05;  // a second phase is looked for when more than this is left unexplained
  WholePatternSettings whole;
  std::optional<LatticePrior> prior;
};

struct PeakAssignment {
  std::size_t peak = 0;  // index into the peak list
  std::string hkl;       // "311/222" where reflections overlap within a peak width
  double q_calc = 0;
};

// A reflection line of a solution with its Le Bail intensity (area on the flattened curve).
struct FittedLine {
  std::string hkl;
  double q = 0;
  double intensity = 0, intensity_esd = 0;
  int peak = -1;  // the peak it explains, −1 for none
};

struct LatticeSolution {
  Lattice lattice = Lattice::none;
  double a_nm = 0, a_esd_nm = 0;
  double c_nm = 0, c_esd_nm = 0;  // hcp, hex3d
  double bic = INFINITY;
  double score = -INFINITY;  // evidence: BIC(no lattice) − BIC(this), prior included
  int matched = 0, observed = 0;
  int predicted_seen = 0;  // reflections the blind search missed, significant where the lattice puts them
  double explained_fraction = 0;            // share of the fitted peak intensity on this lattice's lines
  double rms_relative = 0;                  // RMS of (q_obs − q_calc)/q_calc over the explained peaks
  double reduced_chi2 = 0;                  // of the peak positions
  double fwhm0 = 0, fwhm1 = 0;              // width law FWHM² = fwhm0² + (fwhm1·q)²
  std::vector<PeakAssignment> assignments;  // explained peaks
  std::vector<std::size_t> unexplained;     // peaks left to free components
  std::vector<FittedLine> lines;
  std::vector<std::string> missing;  // reflections in range the whole-pattern fit gives no intensity
};

struct IndexResult {
  Lattice lattice = Lattice::none;
  std::optional<LatticeSolution> best;
  std::optional<LatticeSolution> runner_up;  // best solution of another lattice type
  bool ambiguous = false;
  std::string ambiguity;
  // How strongly the data prefer the lattice to free peaks: "weak" (ΔBIC 2–6), "strong" (6–10),
  // "very strong" (> 10), after Kass & Raftery (1995); empty for none.
  std::string confidence;
  std::vector<LatticeSolution> phases;       // best first; a second for a two-phase pattern
  std::vector<LatticeSolution> per_lattice;  // best solution of every lattice tried, by BIC
  double no_lattice_bic = 0;                 // the free-peak model
  double bic_scale = 1;                      // s²
  std::string reason;                        // why none, when none
  std::string notes;                         // choices made that a user may want to know about
};

// The weight u ∈ [0.15, 1] of each peak when ranking candidates: significance (SNR/10), height relative
// to the strongest peak (1 above 10 %, 0 at 0.1 %) and a width like the others'.
std::vector<double> peak_weights(const std::vector<Peak>& peaks);

// Indexes the peaks found on `curve` (the flattened pattern). settings.q_min/q_max bound the lines.
IndexResult index_pattern(const FlatCurve& curve, const std::vector<Peak>& peaks,
                          const IndexSettings& settings);

// Refines and checks one given hypothesis: for a seeded frame or a user's guess.
LatticeSolution refine_lattice(const FlatCurve& curve, const std::vector<Peak>& peaks,
                               const IndexSettings& settings, Lattice lattice, double a_nm, double c_nm);

}  // namespace anvil::saxs
