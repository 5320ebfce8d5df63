// Where anvil's data lives — calib/ with the named phases (phases/*.cif) and calibrants
// (calibrants/*.toml) — found at run time, never compiled in: the binary (or Python module) looks
// from its own folder upward for an installed tree's share/anvil/calib or for the source tree's
// calib/ (build folders sit inside it), so a relocated install and a build tree both work.
#pragma once

#include <filesystem>
#include <string>

#include "calibration/calibrant.hpp"

namespace anvil::pipeline {

// The folder of the running executable (Linux: /proc/self/exe); empty when it cannot be read.
std::filesystem::path executable_dir();

// calib/: $ANVIL_CALIB_DIR when set; else the first folder, from `from` upward, holding
// share/anvil/calib/phases (an install) or calib/phases (the source tree). Throws InputError
// naming where it looked.
std::filesystem::path calib_dir(const std::filesystem::path& from = executable_dir());

// The named phases: $ANVIL_PHASE_DIR when set, else calib_dir(from)/phases.
std::filesystem::path phase_dir(const std::filesystem::path& from = executable_dir());

// A calibrant by library name (CeO2, LaB6, Si, alpha_Al2O3, AgBh, Au, Pt: `dir`/*.toml, any
// case), a .toml or .cif file, or a cell ("Fm-3m:4.0786", "lamellar:58.38"). InputError (source
// `what`) for an unknown name, listing the known ones.
calibration::Calibrant load_calibrant(const std::string& spec, const std::filesystem::path& dir,
                                      const std::string& what = "calibrant");

}  // namespace anvil::pipeline
