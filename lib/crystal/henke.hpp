// Henke, Gullikson & Davis, At. Data Nucl. Data Tables 54, 181 (1993): f1, f2 of S, Se and Cd
// between 20.09 and 30 keV (the upper end of the tables), the rows of the CXRO/LBL tables (the same
// numbers cctbx compiles in as `henke`). f′ = f1 − Z and f″ = f2, linearly interpolated in energy
// between table points as cctbx does. Elsewhere (other elements, other energies) anvil falls back to
// Cromer–Liberman (scattering.hpp).
#pragma once

#include <optional>
#include <utility>

namespace anvil::crystal {

// {f′, f″} for atomic number z at energy_ev, or nullopt when z or the energy is not covered.
std::optional<std::pair<double, double>> henke_fp_fdp(int z, double energy_ev);

// Atomic numbers with compiled-in Henke data.
bool henke_has(int z);

}  // namespace anvil::crystal
