// Internal pressure standards: a cubic material whose room-temperature EOS is calibrated,
// so that its measured lattice parameter gives the pressure in the cell.
//
// Parameters (300 K isotherms) are those tabulated by pytheos (SHDShim/pytheos,
// pytheos/scales/*.py); sources are cited per entry in standard.cpp and docs/pressure.md.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pressure/eos.hpp"
#include "pressure/jcpds_card.hpp"

namespace anvil::pressure {

struct Hkl {
  int h = 0, k = 0, l = 0;
  int sum_of_squares() const { return h * h + k * k + l * l; }
  friend bool operator==(const Hkl&, const Hkl&) = default;
};

// "111", "200", "1 1 1", "1,1,1", "(2 2 0)", "10 0 0": single digits may be run together,
// larger indices need a separator. Throws InputError for anything else or for (000).
Hkl parse_hkl(std::string_view text);

// A cubic pressure standard: V = a^3 per unit cell, P = eos(V).
struct PressureStandard {
  std::string name;       // unique key, e.g. "Au-Fei2007-Vinet"
  std::string material;   // "Au", "Pt", "NaCl-B1", "NaCl-B2", "Ne"
  std::string structure;  // "fcc", "B1 (rock salt)", "B2 (CsCl)"
  int z = 0;              // formula units per cubic cell
  Eos eos;                // v0 in A^3 per cubic cell
  std::string source;     // citation of the EOS parameters

  double a0_angstrom() const;                               // cbrt(V0)
  double pressure_from_volume_gpa(double volume_a3) const;  // V per cubic cell
  double pressure_from_lattice_gpa(double a_angstrom) const;
  // Cubic: a = d * sqrt(h^2 + k^2 + l^2).
  double pressure_from_d_gpa(double d_angstrom, Hkl hkl) const;
  // The inverse: lattice parameter (A) and d-spacing (A) at `pressure_gpa`.
  double lattice_at(double pressure_gpa) const;
  double d_at(double pressure_gpa, Hkl hkl) const;
};

// Every built-in standard. The first entry for a material is its default (see find_standard).
std::span<const PressureStandard> pressure_standards();

// Looks a standard up by name, case-insensitively: a full key ("Au-Fei2007-BM3",
// "Pt-Dorfman2012") or a material alone ("Au", "Pt", "NaCl-B1", "NaCl-B2", "NaCl", "Ne"),
// which gives that material's default:
//   Au, Pt, NaCl-B2, Ne -> Fei et al. 2007 Vinet;  NaCl-B1 -> Dorogokupets & Dewaele 2007 Vinet.
// Unknown names throw InputError listing every valid name.
const PressureStandard& find_standard(std::string_view name);

// Every valid name for find_standard (keys, then material aliases).
std::vector<std::string> standard_names();

// A cubic standard from a JCPDS card, as Dioptas uses it: BM3 with the card's K0 and K0',
// V0 = A^3 (the card's VOLUME if given). Throws InputError for a non-cubic card or a card
// without K0 / A.
PressureStandard standard_from_jcpds(const JcpdsCard& card);

}  // namespace anvil::pressure
