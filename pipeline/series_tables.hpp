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

#include <filesystem>
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
