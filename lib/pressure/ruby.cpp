#include "pressure/ruby.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.hpp"

namespace anvil::pressure {
namespace {

struct ScaleInfo {
  RubyScale scale;
  std::string_view name;
  std::string_view citation;
  // Mao form constants; a linear or Ruby2020 scale uses them as documented below.
  double a_gpa;
  double b;
  double lambda0_nm;
};

// Constants as tabulated in pRuby `pruby/constants.py` (checked against the papers).
constexpr ScaleInfo kScales[] = {
    // Mao, Xu & Bell 1986, J. Geophys. Res. 91(B5) 4673, doi 10.1029/JB091iB05p04673.
    {RubyScale::Mao1986, "mao1986",
     "Mao, Xu & Bell 1986, quasi-hydrostatic (JGR 91, 4673; doi 10.1029/JB091iB05p04673)", 1904.0, 7.665,
     kRubyR1Lambda0Nm},
    // Mao, Bell, Shaner & Steinberg 1978, J. Appl. Phys. 49, 3276, doi 10.1063/1.325277.
    {RubyScale::Mao1978, "mao1978", "Mao et al. 1978, non-hydrostatic (JAP 49, 3276; doi 10.1063/1.325277)",
     1904.0, 5.0, kRubyR1Lambda0Nm},
    // Dewaele, Torrent, Loubeyre & Mezouar 2008, Phys. Rev. B 78, 104102: A = 1920(20), B = 9.61(5).
    {RubyScale::Dewaele2008, "dewaele2008",
     "Dewaele et al. 2008 (PRB 78, 104102; doi 10.1103/PhysRevB.78.104102)", 1920.0, 9.61, kRubyR1Lambda0Nm},
    // Jacobsen et al. 2008, Am. Mineral. 93, 1823 (He medium): A = 1904, B = 10.32(7).
    {RubyScale::Jacobsen2008, "jacobsen2008",
     "Jacobsen et al. 2008, He medium (Am. Mineral.; doi 10.2138/am.2008.2988)", 1904.0, 10.32,
     kRubyR1Lambda0Nm},
    // Liu et al. 2013, Chin. Phys. B 22, 056201: A = 1904, B = 9.827.
    {RubyScale::Liu2013, "liu2013",
     "Liu et al. 2013 (Chin. Phys. B 22, 056201; doi 10.1088/1674-1056/22/5/056201)", 1904.0, 9.827,
     kRubyR1Lambda0Nm},
    // Shen et al. 2020, High Press. Res. 40, 299 (IPPS-Ruby2020): P = A x (1 + B x), x = dl/l0,
    // A = 1870(10) GPa, B = 5.63(3), lambda0 = 694.25 nm.
    {RubyScale::Shen2020, "shen2020",
     "Shen et al. 2020, IPPS-Ruby2020 (High Press. Res. 40, 299; doi 10.1080/08957959.2020.1791107)", 1870.0,
     5.63, kRuby2020Lambda0Nm},
    // Piermarini, Block, Barnett & Forman 1975, J. Appl. Phys. 46, 2774: dP/dlambda = 2.740 GPa/nm
    // (0.274 kbar/pm); `a_gpa` holds the slope in GPa/nm.
    {RubyScale::Piermarini1975, "piermarini1975",
     "Piermarini et al. 1975, linear 2.740 GPa/nm (JAP 46, 2774; doi 10.1063/1.321957)", 2.740, 0.0,
     kRubyR1Lambda0Nm},
};

struct Alias {
  std::string_view alias;
  RubyScale scale;
};
constexpr Alias kAliases[] = {
    {"mao", RubyScale::Mao1986},
    {"mao86", RubyScale::Mao1986},
    {"mao1986hydrostatic", RubyScale::Mao1986},
    {"mao78", RubyScale::Mao1978},
    {"dewaele", RubyScale::Dewaele2008},
    {"dewaele08", RubyScale::Dewaele2008},
    {"jacobsen", RubyScale::Jacobsen2008},
    {"jacobsen08", RubyScale::Jacobsen2008},
    {"liu", RubyScale::Liu2013},
    {"liu13", RubyScale::Liu2013},
    {"shen", RubyScale::Shen2020},
    {"ruby2020", RubyScale::Shen2020},
    {"ipps2020", RubyScale::Shen2020},
    {"ipps-ruby2020", RubyScale::Shen2020},
    {"piermarini", RubyScale::Piermarini1975},
    {"piermarini75", RubyScale::Piermarini1975},
    {"linear", RubyScale::Piermarini1975},
};

const ScaleInfo& info(RubyScale scale) {
  for (const auto& s : kScales)
    if (s.scale == scale) return s;
  throw InputError("ruby scale", fmt::format("unknown scale id {}", static_cast<int>(scale)));
}

std::string squashed_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  // Tolerate "Dewaele 2008", "dewaele_2008".
  std::erase_if(out, [](char c) { return c == ' ' || c == '_'; });
  return out;
}

double lambda0_or_default(RubyScale scale, std::optional<double> lambda0_nm) {
  const double l0 = lambda0_nm.value_or(info(scale).lambda0_nm);
  if (!std::isfinite(l0) || l0 <= 0.0)
    throw InputError("ruby",
                     fmt::format("reference wavelength lambda0 must be a positive number of nm, got {}", l0));
  return l0;
}

}  // namespace

const std::vector<RubyScale>& ruby_scales() {
  static const std::vector<RubyScale> all = [] {
    std::vector<RubyScale> v;
    for (const auto& s : kScales) v.push_back(s.scale);
    return v;
  }();
  return all;
}

std::string_view ruby_scale_name(RubyScale scale) { return info(scale).name; }
std::string_view ruby_scale_citation(RubyScale scale) { return info(scale).citation; }
double ruby_default_lambda0_nm(RubyScale scale) { return info(scale).lambda0_nm; }

RubyScale parse_ruby_scale(std::string_view name) {
  const std::string key = squashed_lower(name);
  for (const auto& s : kScales)
    if (key == s.name) return s.scale;
  for (const auto& a : kAliases)
    if (key == a.alias) return a.scale;
  std::string valid;
  for (const auto& s : kScales) valid += fmt::format("{}{}", valid.empty() ? "" : ", ", s.name);
  throw InputError("ruby scale", fmt::format("unknown scale '{}'; valid names: {} (aliases: ruby2020, mao, "
                                             "dewaele, jacobsen, liu, piermarini)",
                                             name, valid));
}

double ruby_pressure_gpa(double r1_nm, RubyScale scale, std::optional<double> lambda0_nm) {
  if (!std::isfinite(r1_nm) || r1_nm <= 0.0)
    throw InputError("ruby", fmt::format("R1 wavelength must be a positive number of nm, got {}", r1_nm));
  const double l0 = lambda0_or_default(scale, lambda0_nm);
  const ScaleInfo& s = info(scale);
  switch (scale) {
    case RubyScale::Piermarini1975:
      return s.a_gpa * (r1_nm - l0);
    case RubyScale::Shen2020: {
      const double x = (r1_nm - l0) / l0;
      return s.a_gpa * x * (1.0 + s.b * x);
    }
    default:
      return s.a_gpa / s.b * (std::pow(r1_nm / l0, s.b) - 1.0);
  }
}

double ruby_r1_nm(double pressure_gpa, RubyScale scale, std::optional<double> lambda0_nm) {
  if (!std::isfinite(pressure_gpa))
    throw InputError("ruby", fmt::format("pressure must be a finite number of GPa, got {}", pressure_gpa));
  const double l0 = lambda0_or_default(scale, lambda0_nm);
  const ScaleInfo& s = info(scale);
  switch (scale) {
    case RubyScale::Piermarini1975:
      return l0 + pressure_gpa / s.a_gpa;
    case RubyScale::Shen2020: {
      // B x^2 + x - P/A = 0, root continuous with x = 0 at P = 0.
      const double disc = 1.0 + 4.0 * s.b * pressure_gpa / s.a_gpa;
      if (disc < 0.0)
        throw InputError("ruby",
                         fmt::format("{} GPa is below the range of the {} scale", pressure_gpa, s.name));
      const double x = 2.0 * pressure_gpa / s.a_gpa / (1.0 + std::sqrt(disc));
      return l0 * (1.0 + x);
    }
    default: {
      const double base = 1.0 + s.b * pressure_gpa / s.a_gpa;
      if (base <= 0.0)
        throw InputError("ruby",
                         fmt::format("{} GPa is below the range of the {} scale", pressure_gpa, s.name));
      return l0 * std::pow(base, 1.0 / s.b);
    }
  }
}

double ruby_r1_temperature_shift_nm(double temperature_k) {
  if (!std::isfinite(temperature_k) || temperature_k <= 0.0 || temperature_k > 900.0)
    throw InputError("ruby", fmt::format("temperature must be within 0-900 K for the Vos & Schouten 1991 "
                                         "correction, got {} K",
                                         temperature_k));
  // Vos & Schouten 1991: shift in Angstrom, times 0.1 for nm.
  const double dt = temperature_k - 300.0;
  return 0.1 * (6.591e-2 * dt + 7.624e-5 * dt * dt - 1.733e-7 * dt * dt * dt);
}

double ruby_pressure_gpa_at_temperature(double r1_nm, double temperature_k, RubyScale scale,
                                        std::optional<double> lambda0_nm) {
  return ruby_pressure_gpa(r1_nm - ruby_r1_temperature_shift_nm(temperature_k), scale, lambda0_nm);
}

}  // namespace anvil::pressure
