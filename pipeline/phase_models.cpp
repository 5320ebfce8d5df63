#include "phase_models.hpp"

#include <fmt/core.h>

#include <cmath>

#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "crystal/lattice.hpp"
#include "crystal/reflections.hpp"
#include "series/phase_eos.hpp"

namespace anvil::pipeline {

powder::PowderPhase powder_phase(const crystal::Phase& phase, double wavelength_a, double tth_min_deg,
                                 double tth_max_deg, double strain_margin) {
  const auto& c = phase.cell;
  const std::string who = phase.source.empty() ? phase.name : phase.source;
  powder::PowderPhase out;
  out.name = phase.name;
  const bool right = std::abs(c.alpha_deg - 90) < 1e-6 && std::abs(c.beta_deg - 90) < 1e-6;
  if (right && std::abs(c.gamma_deg - 90) < 1e-6 && std::abs(c.a - c.b) < 1e-9 &&
      std::abs(c.a - c.c) < 1e-9) {
    out.kind = powder::CellKind::Cubic;
  } else if (right && std::abs(c.gamma_deg - 120) < 1e-6 && std::abs(c.a - c.b) < 1e-9) {
    out.kind = powder::CellKind::Hexagonal;
  } else {
    throw InputError(
        who, fmt::format("cell a={} b={} c={} α={} β={} γ={} is neither cubic nor hexagonal; the powder "
                         "model refines cubic and hexagonal phases",
                         c.a, c.b, c.c, c.alpha_deg, c.beta_deg, c.gamma_deg));
  }
  out.a = c.a;
  out.c = c.c;
  out.z = phase.z;
  out.formula_mass = phase.formula_mass;
  if (!(tth_max_deg > tth_min_deg) || tth_min_deg < 0 || tth_max_deg >= 180)
    throw InputError(who, fmt::format("bad 2θ range {}..{}°", tth_min_deg, tth_max_deg));
  // Lines that a ±margin change of the cell can bring into the range.
  const double d_lo = crystal::d_from_two_theta(tth_max_deg, wavelength_a) * (1.0 - strain_margin);
  const double d_hi =
      crystal::d_from_two_theta(std::max(tth_min_deg, 1e-3), wavelength_a) * (1.0 + strain_margin);
  const double t_lo = crystal::two_theta_deg(d_hi, wavelength_a);
  const double t_hi = wavelength_a / (2 * d_lo) < 1 ? crystal::two_theta_deg(d_lo, wavelength_a) : 179.9;
  for (const auto& r : crystal::reflection_list(phase, wavelength_a, t_lo, t_hi)) {
    powder::PowderReflection pr;
    pr.h = r.hkl[0];
    pr.k = r.hkl[1];
    pr.l = r.hkl[2];
    pr.multiplicity = r.multiplicity;
    pr.f2 = r.f_squared;
    out.reflections.push_back(pr);
  }
  if (out.reflections.empty())
    throw InputError(who, fmt::format("no reflection of {} between 2θ = {}° and {}° at λ = {} Å", phase.name,
                                      tth_min_deg, tth_max_deg, wavelength_a));
  return out;
}

std::vector<powder::PowderPhase> load_powder_phases(const std::vector<std::string>& names,
                                                    const std::filesystem::path& phase_dir,
                                                    double wavelength_a, double tth_min_deg,
                                                    double tth_max_deg) {
  std::vector<powder::PowderPhase> out;
  for (const auto& n : names) {
    auto p = crystal::load_phase(n, phase_dir);
    auto pp = powder_phase(p, wavelength_a, tth_min_deg, tth_max_deg);
    pp.name = n;  // keyed by the name the user gave
    out.push_back(std::move(pp));
  }
  return out;
}

std::vector<std::pair<double, double>> eos_cells(const std::vector<powder::PowderPhase>& phases,
                                                 std::optional<double> pressure_gpa) {
  std::vector<std::pair<double, double>> cells;
  if (!pressure_gpa) return cells;
  for (const auto& ph : phases) {
    try {
      cells.push_back(series::cell_at(ph, series::default_phase_eos(ph), *pressure_gpa));
    } catch (const InputError&) {
      cells.emplace_back(0.0, 0.0);  // out of the EOS's reach: keep the ambient cell
    }
  }
  return cells;
}

}  // namespace anvil::pipeline
