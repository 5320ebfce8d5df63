// Physical constants anvil uses, in one place, each with its source.
#pragma once

namespace anvil {

// h c in keV·Å: 12.398419843320026 (CODATA 2018; pyFAI.units.hc with scipy ≥ 1.4), so that
// E [keV] = kHcKevAngstrom / λ [Å].
inline constexpr double kHcKevAngstrom = 12.398419843320026;

inline double energy_kev_from_wavelength_angstrom(double wavelength_angstrom) {
  return kHcKevAngstrom / wavelength_angstrom;
}
inline double wavelength_angstrom_from_energy_kev(double energy_kev) { return kHcKevAngstrom / energy_kev; }

}  // namespace anvil
