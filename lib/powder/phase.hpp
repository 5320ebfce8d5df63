// What the powder model needs to know about one crystalline phase: its cell, the reflections
// with multiplicity and |F|² (dispersion included, Debye–Waller at B = 0), and the constants
// of the Hill–Howard weight fraction. It links no part of lib/crystal (an adapter from
// crystal::Phase fills this struct) and shares its header-only concepts (d-spacing, LP).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "crystal/lattice.hpp"

namespace anvil::powder {

enum class CellKind { Cubic, Hexagonal };

// One reflection (or one family of reflections sharing d): Miller indices in three-index form
// (hexagonal h k i l → h k l), total multiplicity, and |F|² of ONE member in electrons²
// (so the line strength is multiplicity · f2).
struct PowderReflection {
  int h = 0, k = 0, l = 0;
  int multiplicity = 1;
  double f2 = 0.0;  // e², f0 + f′ + i f″ at the beam energy, B = 0
};

struct PowderPhase {
  std::string name;
  CellKind kind = CellKind::Cubic;
  double a = 0.0;             // Å
  double c = 0.0;             // Å (hexagonal only)
  int z = 1;                  // formula units per cell
  double formula_mass = 0.0;  // g/mol (amu) per formula unit
  std::vector<PowderReflection> reflections;
  double b_iso = 0.0;  // Å², starting value of the refined isotropic B
};

// 1/d² (Å⁻²) of a cubic or hexagonal cell (crystal/lattice.hpp).
inline double one_over_d_squared(CellKind kind, const PowderReflection& r, double a, double c) {
  return kind == CellKind::Cubic ? crystal::one_over_d_squared_cubic(r.h, r.k, r.l, a)
                                 : crystal::one_over_d_squared_hexagonal(r.h, r.k, r.l, a, c);
}

inline double d_spacing(CellKind kind, const PowderReflection& r, double a, double c) {
  return 1.0 / std::sqrt(one_over_d_squared(kind, r, a, c));
}

// Cell volume (Å³): a³, or (√3/2)·a²·c.
inline double cell_volume(CellKind kind, double a, double c) {
  return kind == CellKind::Cubic ? a * a * a : 0.5 * std::sqrt(3.0) * a * a * c;
}

// Z·M·V of the Hill–Howard weight fraction (crystal/lattice.hpp) at cell a (and c when hexagonal).
inline double hill_howard_zmv(const PowderPhase& ph, double a, double c) {
  return crystal::hill_howard_zmv(ph.z, ph.formula_mass,
                                  cell_volume(ph.kind, a, ph.kind == CellKind::Hexagonal ? c : a));
}

}  // namespace anvil::powder
