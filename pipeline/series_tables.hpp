// eos.csv and transitions.csv: one layout, written by both `anvil run` and `anvil fit-series`.
//
// eos.csv — one row per phase and form: BM3, Vinet and BM2 always (a form that could not be
// fitted has empty numbers and says why in `status`), then F-f (the normalised-pressure line:
// k0_gpa = intercept, k0p from its slope, v0 of the BM3 fit) when fitted, then
// "<form>-parametric" rows of a parametric refinement:
//   phase, form, v0, v0_esd, k0_gpa, k0_esd, k0p, k0p_esd, chi2_red, n_points, status
// transitions.csv — long format, one quantity per row:
//   quantity, direction, from_phase, to_phase, value, esd, unit, note
// quantities: onset_gpa, midpoint_gpa, width_gpa, low_plateau, high_plateau per direction (or
// one "transformation" row saying why none was found), hysteresis_gpa, retained_fraction.
#pragma once

#include <filesystem>
#include <vector>

#include "series/parametric.hpp"
#include "series/series.hpp"
#include "series/transition.hpp"

namespace anvil::pipeline {

void write_eos_csv(const std::filesystem::path& path, const std::vector<series::PhaseSeriesEos>& eos,
                   const std::vector<series::ParametricPhase>& parametric = {});

void write_transitions_csv(const std::filesystem::path& path, const series::TransitionAnalysis& t);

}  // namespace anvil::pipeline
