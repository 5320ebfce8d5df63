#include "series/standard_pressure.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace anvil::series {

StandardPressure pressure_from_standard(const pressure::PressureStandard& standard, double a_angstrom,
                                        double a_esd) {
  if (!(a_angstrom > 0.0) || !std::isfinite(a_angstrom))
    throw InputError(standard.name, fmt::format("lattice parameter {} Å is not positive", a_angstrom));
  StandardPressure out;
  const double v = a_angstrom * a_angstrom * a_angstrom;
  out.pressure_gpa = standard.pressure_from_volume_gpa(v);
  const double dp_da = 3.0 * a_angstrom * a_angstrom * standard.eos.bulk_modulus_gpa(v) / v;
  out.pressure_esd_gpa = std::isfinite(a_esd) ? std::fabs(dp_da) * a_esd : 0.0;
  return out;
}

}  // namespace anvil::series
