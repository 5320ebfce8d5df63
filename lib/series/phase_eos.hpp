// Where a phase's cell is expected at a pressure: its equation of state (the cell volume) and,
// for a hexagonal phase, c/a as a straight line in P. Seeds every frame's refinement of a
// series (independent mode) and ties the cells of the parametric refinement.
#pragma once

#include <span>
#include <utility>

#include "powder/phase.hpp"
#include "pressure/eos.hpp"
#include "series/eos_fit.hpp"

namespace anvil::series {

struct PhaseEos {
  pressure::Eos eos;            // V0 (Å³ per cell), K0, K0′
  double c_over_a = 0.0;        // hexagonal: c/a at P = 0
  double c_over_a_slope = 0.0;  // hexagonal: d(c/a)/dP (GPa⁻¹)
};

// A starting EOS, matched on the phase name. A pressure standard of lib/pressure (Au, Pt,
// NaCl-B1, ...) gets that standard's EOS. Otherwise BM3 with V0 from the phase's (ambient)
// cell, K0′ = 4 and K0 rounded from bulk values: CdSe WZ/ZB 53 GPa, CdSe RS 74 GPa, CdS
// WZ/ZB 62 GPa, CdS RS 86 GPa, anything else 60 GPa. It only seeds the first pass: the
// series refines it (docs/series.md).
PhaseEos default_phase_eos(const powder::PowderPhase& phase);

// The cell (a, c) at `pressure_gpa` (c = 0 for cubic phases). Throws InputError when the EOS
// cannot reach that pressure.
std::pair<double, double> cell_at(const powder::PowderPhase& phase, const PhaseEos& eos, double pressure_gpa);

// c/a against P from (P, a, c) triples: weighted straight line when at least 3 points span
// ≥ 1 GPa, their mean otherwise; `fallback` when there is none.
struct CellPoint {
  double pressure_gpa, a, c;
};
std::pair<double, double> fit_c_over_a(std::span<const CellPoint> points, double fallback);

}  // namespace anvil::series
