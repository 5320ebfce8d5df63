// eos.csv and transitions.csv: one layout, written by both `anvil run` and `anvil fit-series`.
//
// eos.csv — one row per phase and form: BM3, Vinet and BM2 always (a form that could not be
// fitted has empty numbers and says why in `status`), then F-f (the normalised-pressure line:
// k0_gpa = intercept, k0p from its slope, v0 of the BM3 fit) when fitted, then
// "<form>-parametric" rows of a parametric refinement:
//   phase, form, v0_A3, v0_esd_A3, k0_gpa, k0_esd_gpa, k0p, k0p_esd, chi2_red, n_points, status
// (v0 per unit cell, Å³)
// transitions.csv — long format, one quantity per row:
//   quantity, direction, from_phase, to_phase, value, esd, unit, note
// quantities: onset_gpa, midpoint_gpa, width_gpa, low_plateau, high_plateau per direction (or
// one "transformation" row saying why none was found), hysteresis_gpa, retained_fraction.
#pragma once

#include <array>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io/results_file.hpp"
#include "series/parametric.hpp"
#include "series/series.hpp"
#include "series/transition.hpp"

namespace anvil::pipeline {

// The tables as columns (with their units), as the CSV files and results.h5 both take them.
std::vector<io::TableColumn> eos_table(const std::vector<series::PhaseSeriesEos>& eos,
                                       const std::vector<series::ParametricPhase>& parametric = {});
std::vector<io::TableColumn> transitions_table(const series::TransitionAnalysis& t);

// write_csv of the tables above; they return the columns written.
std::vector<io::TableColumn> write_eos_csv(const std::filesystem::path& path,
                                           const std::vector<series::PhaseSeriesEos>& eos,
                                           const std::vector<series::ParametricPhase>& parametric = {});
std::vector<io::TableColumn> write_transitions_csv(const std::filesystem::path& path,
                                                   const series::TransitionAnalysis& t);

// phase_fractions.csv and lattice.csv: one layout, written by `anvil run` and `anvil fit-series` alike.
//
// phase_fractions.csv — one row per frame: frame, pressure_gpa, direction, then per sample phase
// <phase>, <phase>_esd, then rwp, status, reason, then the caller's `extra` columns (fit-series: the
// pressure's σ, source and standard, and the notes of its sequential fit).
// lattice.csv — one row per frame and phase present: frame, pressure_gpa, direction, phase, a_A,
// a_esd_A, c_A, c_esd_A, volume_A3, volume_esd_A3, d1..d3 (_hkl "h k l", _spacing_A,
// _spacing_esd_A), size_nm, size_esd_nm, and alpha, alpha_esd when any row has a stacking-fault
// probability.
struct FractionsRow {
  std::size_t frame = 0;
  double pressure_gpa = NAN;
  std::string direction;
  std::vector<double> fraction, fraction_esd;  // per sample phase
  double rwp = NAN;
  std::string status, reason;
};
struct LatticeLine {
  std::string hkl;  // "h k l"
  double d_a = NAN, d_esd_a = NAN;
};
struct LatticeRow {
  std::size_t frame = 0;
  double pressure_gpa = NAN;
  std::string direction, phase;
  double a = NAN, a_esd = NAN, c = NAN, c_esd = NAN, volume = NAN, volume_esd = NAN;
  std::array<LatticeLine, 3> lines;
  double size_nm = NAN, size_esd_nm = NAN, alpha = NAN, alpha_esd = NAN;
};

// Writes phase_fractions.csv and phase_fractions_long.csv in `dir`; returns the wide table's columns.
std::vector<io::TableColumn> write_fractions_csv(const std::filesystem::path& dir,
                                                 const std::vector<std::string>& phases,
                                                 const std::vector<FractionsRow>& rows,
                                                 const std::vector<io::TableColumn>& extra = {});
// Writes lattice.csv at `path`; returns its columns.
std::vector<io::TableColumn> write_lattice_csv(const std::filesystem::path& path,
                                               const std::vector<LatticeRow>& rows);

// phase_fractions_long.csv: the fractions in long ("tidy") form beside the wide table, one row
// per frame and sample phase — frame, pressure_gpa, direction, phase, fraction, fraction_esd —
// as plotting libraries (pandas/seaborn, ggplot2) take them. `frame`, `pressure_gpa` and
// `direction` are the wide table's columns, `fraction[k]` and `fraction_esd[k]` phase k's.
void write_fractions_long_csv(const std::filesystem::path& path, const io::TableColumn& frame,
                              const io::TableColumn& pressure_gpa, const io::TableColumn& direction,
                              const std::vector<std::string>& phases,
                              const std::vector<io::TableColumn>& fraction,
                              const std::vector<io::TableColumn>& fraction_esd);

}  // namespace anvil::pipeline
