// A crystal phase as the WAXS model needs it: lattice, space group, the sites of the
// asymmetric unit (element, fractional xyz, occupancy, B_iso), and the cell contents
// (Z formula units of mass M) that Hill–Howard phase fractions need.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "crystal/lattice.hpp"

namespace gemmi {
struct SpaceGroup;
}

namespace anvil::crystal {

// One site of the asymmetric unit, as in a CIF `_atom_site_` loop.
struct Site {
  std::string label;              // "Cd1"
  std::string element;            // element symbol, "Cd" (charge stripped)
  std::array<double, 3> fract{};  // fractional x, y, z
  double occupancy = 1.0;         // chemical occupancy (not divided by the site multiplicity)
  double b_iso = 0.0;             // Å²; B = 8π² U
};

struct Phase {
  std::string name;    // "CdSe-WZ"; the CIF data block name when read from a file
  std::string source;  // file it was read from, or empty
  Lattice cell;
  const gemmi::SpaceGroup* space_group = nullptr;  // gemmi's static table entry, never null in a valid Phase
  std::vector<Site> sites;                         // asymmetric unit
  std::string formula;                             // one formula unit, Hill order: "Cd Se"
  int z = 0;                                       // formula units per cell
  double formula_mass = 0.0;                       // g/mol of one formula unit
};

// An atom of the full unit cell (all symmetry images of all sites, special positions counted once).
struct CellAtom {
  std::string element;
  std::array<double, 3> fract{};  // wrapped into [0, 1)
  double occupancy = 1.0;
  double b_iso = 0.0;
  int site = 0;  // index into Phase::sites
};

// Builds a phase and derives formula, Z and formula mass from the cell contents: Z is the
// greatest common divisor of the per-element atom counts (occupancy-weighted); where those
// are not whole numbers, Z = 1 and the formula is the cell content. `z_hint` (a CIF's
// `_cell_formula_units_Z`, 0 when absent) is used instead when it divides the contents.
// Throws InputError (naming the phase) on a non-positive cell, an unknown element, or no sites.
Phase make_phase(std::string name, const Lattice& cell, const gemmi::SpaceGroup& space_group,
                 std::vector<Site> sites, int z_hint = 0);

// Looks up a space group by Hermann–Mauguin symbol ("P 63 m c", "F -4 3 m", "Fm-3m") or
// by number ("186"); nullptr when gemmi does not know it.
const gemmi::SpaceGroup* find_space_group(const std::string& hm_or_number);

// Hermann–Mauguin symbol and number of the phase's space group ("P 63 m c", 186).
std::string space_group_name(const Phase& phase);
int space_group_number(const Phase& phase);

// Every atom of the unit cell: each site moved by every operation of the space group
// (centring included), wrapped into [0, 1), duplicates on special positions removed
// (images closer than `tolerance_angstrom` are one atom).
std::vector<CellAtom> unit_cell_atoms(const Phase& phase, double tolerance_angstrom = 0.01);

// Mass of the unit cell contents, Z·M, in atomic mass units (g/mol per cell).
double cell_mass(const Phase& phase);

// Hill & Howard, J. Appl. Cryst. 20, 467 (1987): weight fraction W_p = S_p (ZMV)_p / Σ_i S_i (ZMV)_i,
// with S the Rietveld scale of a pattern computed from |F|² per cell. Returns Z·M·V (amu·Å³).
double hill_howard_zmv(const Phase& phase);

// Weight fractions from Rietveld scales and Z·M·V (same order); throws std::invalid_argument (a bug) when
// the sizes differ or all products are zero.
std::vector<double> weight_fractions(const std::vector<double>& scales, const std::vector<double>& zmv);

// Fractions of formula units, n_p ∝ S_p Z_p V_p (= weight fractions for polymorphs of one compound).
std::vector<double> formula_unit_fractions(const std::vector<double>& scales,
                                           const std::vector<Phase>& phases);

}  // namespace anvil::crystal
