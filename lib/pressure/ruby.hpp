// Ruby R1 fluorescence pressure scales: R1 peak wavelength (nm) -> pressure (GPa), and back.
//
// Mao form (Mao, Xu & Bell 1986 and its re-calibrations): P = (A/B) [(lambda/lambda0)^B - 1].
// IPPS-Ruby2020 (Shen et al. 2020):  P = A (dl/l0) [1 + B (dl/l0)],  dl = lambda - lambda0.
// Piermarini et al. 1975 (linear):   P = 2.740 GPa/nm * (lambda - lambda0).
// Constants: pRuby `pruby/constants.py` and the papers cited in ruby.cpp (see docs/pressure.md).
// All room temperature; `ruby_r1_temperature_shift_nm` corrects a measurement at another T.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::pressure {

enum class RubyScale {
  Mao1986,         // Mao, Xu & Bell 1986, quasi-hydrostatic (Ar medium)
  Mao1978,         // Mao et al. 1978, non-hydrostatic
  Dewaele2008,     // Dewaele et al. 2008
  Jacobsen2008,    // Jacobsen et al. 2008 (He medium)
  Liu2013,         // Liu et al. 2013
  Shen2020,        // Shen et al. 2020, IPPS-Ruby2020 (lambda0 694.25 nm)
  Piermarini1975,  // Piermarini et al. 1975, linear
};

// Ambient R1 wavelength used by the Mao-form scales (pRuby R1_0 = 694.24(1) nm).
inline constexpr double kRubyR1Lambda0Nm = 694.24;
// Ambient R1 wavelength of the IPPS-Ruby2020 scale (Shen et al. 2020).
inline constexpr double kRuby2020Lambda0Nm = 694.25;

// Every scale, in the order of the enum.
const std::vector<RubyScale>& ruby_scales();

// Canonical lower-case name ("mao1986", "dewaele2008", "shen2020", ...).
std::string_view ruby_scale_name(RubyScale scale);
// One-line citation: authors, year, journal, DOI.
std::string_view ruby_scale_citation(RubyScale scale);
// The reference (ambient) R1 wavelength the scale was calibrated with.
double ruby_default_lambda0_nm(RubyScale scale);

// Parses a scale name, case-insensitively. Accepts the canonical names plus aliases
// ("ruby2020", "ipps2020", "mao", "piermarini", "liu2013", ...). Throws InputError listing
// the valid names for anything else.
RubyScale parse_ruby_scale(std::string_view name);

// Pressure (GPa) from the measured R1 peak wavelength (nm). `lambda0_nm` overrides the
// scale's ambient wavelength (use the R1 position measured on the same spectrometer at
// 1 bar). Throws InputError for non-positive or non-finite wavelengths.
double ruby_pressure_gpa(double r1_nm, RubyScale scale, std::optional<double> lambda0_nm = std::nullopt);

// The inverse: the R1 wavelength (nm) the scale predicts at `pressure_gpa`.
// Throws InputError where the scale has no solution (pressure far below 0).
double ruby_r1_nm(double pressure_gpa, RubyScale scale, std::optional<double> lambda0_nm = std::nullopt);

// Temperature shift of R1 relative to 300 K at 1 bar, in nm (Vos & Schouten 1991, J. Appl.
// Phys. 69, 6744; as implemented in pRuby `strategies/correcting.py`):
//   d_lambda = 0.1 * (6.591e-2 dT + 7.624e-5 dT^2 - 1.733e-7 dT^3) nm,  dT = T - 300 K.
// Fitted for 15-600 K; throws InputError outside 0-900 K.
double ruby_r1_temperature_shift_nm(double temperature_k);

// Pressure from an R1 wavelength measured at `temperature_k`: the thermal shift is removed
// before the (room-temperature) scale is applied.
double ruby_pressure_gpa_at_temperature(double r1_nm, double temperature_k, RubyScale scale,
                                        std::optional<double> lambda0_nm = std::nullopt);

}  // namespace anvil::pressure
