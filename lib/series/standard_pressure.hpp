// Pressure from an internal standard refined as a phase of the same pattern (Au, Pt lines):
// P = EOS_standard(a³), σ_P = |dP/da| σ_a with dP/da = −3a² K(V)/V.
#pragma once

#include "pressure/standard.hpp"

namespace anvil::series {

struct StandardPressure {
  double pressure_gpa = 0.0;
  double pressure_esd_gpa = 0.0;
};

// `a_angstrom`: the refined cubic lattice parameter of the standard, `a_esd` its σ. Throws
// InputError when a is not positive.
StandardPressure pressure_from_standard(const pressure::PressureStandard& standard, double a_angstrom,
                                        double a_esd = 0.0);

}  // namespace anvil::series
