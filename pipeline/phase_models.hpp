// From crystal phases (lib/crystal: CIF, space group, |F|² with dispersion) to the powder
// model's input (lib/powder): the two libraries do not know each other, this joins them.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crystal/phase.hpp"
#include "powder/phase.hpp"

namespace anvil::pipeline {

// Reflections of `phase` that can fall within [tth_min, tth_max] degrees at `wavelength_a`
// while its cell changes by up to ±`strain_margin` (compression moves lines to higher angle),
// with multiplicity and |F|² at this wavelength. Throws InputError for cells other than cubic
// or hexagonal, and when no reflection falls in the range.
powder::PowderPhase powder_phase(const crystal::Phase& phase, double wavelength_a, double tth_min_deg,
                                 double tth_max_deg, double strain_margin = 0.12);

// Starting cells (a, c) of `phases` at `pressure_gpa` from each phase's default EOS (lib/series);
// (0, 0) — keep the ambient cell — for a phase out of its EOS's reach, and none without a pressure.
std::vector<std::pair<double, double>> eos_cells(const std::vector<powder::PowderPhase>& phases,
                                                 std::optional<double> pressure_gpa);

// Loads each named phase ("CdSe-WZ" from `phase_dir`, or a CIF path) as a powder phase.
std::vector<powder::PowderPhase> load_powder_phases(const std::vector<std::string>& names,
                                                    const std::filesystem::path& phase_dir,
                                                    double wavelength_a, double tth_min_deg,
                                                    double tth_max_deg);

}  // namespace anvil::pipeline
