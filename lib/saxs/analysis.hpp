// One SAXS pattern (or a pressure series of them) to its superlattice: diffuse background and
// particle size, peaks, lattice with constants and σ, d-spacings, nearest-neighbour distance,
// volume per particle and domain size — or "no superlattice" with the reason.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/pattern.hpp"
#include "saxs/background.hpp"
#include "saxs/indexing.hpp"
#include "saxs/peaks.hpp"

namespace anvil::saxs {

struct SaxsSettings {
  double q_min_inv_nm = 0;  // 0 = from the pattern
  double q_max_inv_nm = 0;
  BackgroundSettings background;
  PeakSearchSettings peaks;
  IndexSettings index;  // q range filled in from the pattern
  // Scherrer: L = K·2π/Δq with Δq the FWHM after removing the instrument's FWHM in quadrature.
  double scherrer_k = 0.9;
  double instrument_fwhm_inv_nm = 0;
  std::size_t min_points = 20;
};

struct DomainSize {
  double size_nm = 0, size_esd_nm = 0;  // σ-weighted mean over the indexed peaks
  std::size_t peaks_used = 0;
  bool resolution_limited = false;  // some peaks no broader than the instrument
};

struct PhaseReport {
  LatticeSolution solution;
  double d_nn_nm = 0, d_nn_esd_nm = 0;
  std::optional<double> volume_per_particle_nm3;
  std::optional<double> area_per_column_nm2;  // hex2d
  DomainSize domain;
  std::vector<Reflection> reflections;  // d_hkl list inside the q range
  double area_fraction = 0;             // share of the indexed peak area (phase-fraction proxy)
};

struct SaxsResult {
  Lattice lattice = Lattice::none;
  std::string reason;   // for none
  std::string trimmed;  // what was cut at the ends (beamstop shadow, detector edge), empty if nothing
  double q_min_inv_nm = 0, q_max_inv_nm = 0;
  std::vector<PhaseReport> phases;  // empty for none
  IndexResult index;
  std::vector<Peak> peaks;
  BackgroundFit background;
  // The flattened curve the peaks were found on, I/B − 1, its σ, and the baseline B (for plots).
  std::vector<double> q, baseline, flattened, flattened_sigma;
};

// Converts the pattern to q in nm⁻¹ (q_A^-1 × 10); other radial units throw InputError.
Pattern1D to_q_inv_nm(const Pattern1D& pattern);

// Throws InputError for a malformed pattern (sizes, non-q axis, fewer than min_points points in
// range); a pattern with no positive intensity or no significant peak is lattice none.
SaxsResult analyse_saxs(const Pattern1D& pattern, const SaxsSettings& settings);

// The lattice decision taken again on an analysed pattern with other index settings (a series'
// prior): the flattening and the peaks, which do not depend on them, are kept. Equal to
// analyse_saxs(pattern, settings) when `analysed` came from analyse_saxs with the same background,
// peak and q-range settings.
SaxsResult reindex_saxs(SaxsResult analysed, const SaxsSettings& settings);

DomainSize domain_size(const std::vector<Peak>& peaks, const LatticeSolution& solution, double scherrer_k,
                       double instrument_fwhm);

struct SeriesSettings {
  double max_relative_jump = 0.05;  // a or c changing more than this between frames is flagged
  double prior_bonus = 3.0;         // BIC credit of a solution continuing the previous frame's
};

struct SeriesFrame {
  SaxsResult result;
  bool discontinuity = false;
  std::string change;  // "fcc → lamellar at 12.15 GPa", "a 8.71 → 9.40 nm (+7.9 %)"
  // A change of lattice (none included) from the previous frame, at this frame's pressure.
  bool transition = false;
  Lattice from = Lattice::none, to = Lattice::none;
  double pressure_gpa = NAN;  // NaN where none was given
  std::string error;          // the InputError that stopped this frame's analysis (lattice none)
};

// Each frame seeded with its predecessor's solution as a prior (a BIC credit for continuing it, and
// its constants as one more candidate), not a constraint: a slowly compressing lattice is followed
// through ambiguous frames and a scan does not flicker between answers, while a lattice that stops
// fitting still gives way. Lattice changes are reported as transitions with the frame's pressure
// (`pressure_gpa`, one per frame, or empty), jumps of a or c beyond max_relative_jump are flagged.
std::vector<SeriesFrame> analyse_series(const std::vector<Pattern1D>& frames, const SaxsSettings& settings,
                                        const SeriesSettings& series = {},
                                        const std::vector<double>& pressure_gpa = {});

// The same from patterns already analysed (analyse_saxs without a prior): only the lattice decisions
// are taken again, each with its predecessor's prior. A null entry is a frame to analyse afresh from
// frames[k].
std::vector<SeriesFrame> analyse_series(const std::vector<Pattern1D>& frames,
                                        const std::vector<const SaxsResult*>& analysed,
                                        const SaxsSettings& settings, const SeriesSettings& series = {},
                                        const std::vector<double>& pressure_gpa = {});

}  // namespace anvil::saxs
