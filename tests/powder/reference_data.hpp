// Test-only readers for ../shared/reference/phases: reflection tables (|F|² with dispersion,
// the cctbx Waasmaier–Kirfel + Henke column) and the simulated pattern columns.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "powder/phase.hpp"
#include "powder/refine.hpp"

namespace anvil::powder::test {

inline constexpr double kReferenceWavelength = 0.4859;  // Å (25.516 keV)

// "CdSe_WZ" etc. → a PowderPhase with the README's cell, Z, formula mass and the reflections of
// out/reflections/<name>_B0.csv (f2 = sumMF2_cctbx_wk_henke / mult).
PowderPhase load_reference_phase(const std::string& name);

// Columns of a CSV with a header line, by name.
std::map<std::string, std::vector<double>> load_csv_columns(const std::filesystem::path& path);

// Column `column` of out/patterns/<file> against tth_deg, as a pattern without σ.
PowderPattern load_reference_pattern(const std::string& file, const std::string& column);

std::filesystem::path phases_dir();

}  // namespace anvil::powder::test
