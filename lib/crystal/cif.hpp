// Reading phases from CIF files (through gemmi), and finding the default phases by short name.
// This is the only part of anvil_crystal that touches files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "crystal/phase.hpp"

namespace anvil::crystal {

// Reads the first data block of a CIF that has a unit cell: cell, space group (from the H-M
// symbol, else the symmetry-operator loop, else the space-group number), `_atom_site_` sites
// (U_iso converted to B_iso = 8π²U; occupancy defaults to 1), `_cell_formula_units_Z`.
// The phase is named after the file's stem. Throws anvil::InputError naming the file when the
// file cannot be read or parsed, has no cell, no symmetry, no sites or an unknown element.
Phase read_phase_cif(const std::filesystem::path& path);

// The same from CIF text already in memory; `source` names it in errors and becomes the name.
Phase phase_from_cif_text(const std::string& text, const std::string& source);

// Short names of the phases in a phase folder (the stems of its *.cif files), sorted.
std::vector<std::string> phase_names(const std::filesystem::path& phase_dir);

// A phase named by file (an existing path) or by short name ("CdSe-WZ", case-insensitive,
// "_" and "-" alike) looked up as <phase_dir>/<name>.cif. Throws anvil::InputError listing
// the known names when neither exists.
std::filesystem::path resolve_phase_path(const std::string& name_or_path,
                                         const std::filesystem::path& phase_dir);

// resolve_phase_path + read_phase_cif.
Phase load_phase(const std::string& name_or_path, const std::filesystem::path& phase_dir);

}  // namespace anvil::crystal
