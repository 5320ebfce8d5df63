// anvil phase NAME|CIF: the reflection list of a crystal phase at a beam energy — d, 2θ, q,
// multiplicity, |F|² (with f′, f″ at that energy) and the relative line intensity.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "calib_dirs.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "crystal/lorentz_polarisation.hpp"
#include "crystal/reflections.hpp"

namespace anvil::cli {

namespace {

struct PhaseArgs {
  std::string phase;
  std::optional<double> wavelength_angstrom;
  std::optional<double> energy_kev;
  double tth_min_deg = 0.0;
  double tth_max_deg = 30.0;
  std::string dispersion = "henke";
  std::string lp = "lorentz";
  std::string phase_dir;
  bool merge = true;
  bool list = false;
};

// --phase-dir, else $ANVIL_PHASE_DIR, else calib/phases (pipeline/calib_dirs.hpp).
std::filesystem::path phase_dir(const PhaseArgs& a) {
  if (!a.phase_dir.empty()) return a.phase_dir;
  return pipeline::phase_dir();
}

std::string hkl_text(const crystal::Miller& h, bool hexagonal) {
  if (hexagonal) return fmt::format("{:3d}{:3d}{:3d}{:3d}", h[0], h[1], -(h[0] + h[1]), h[2]);
  return fmt::format("{:3d}{:3d}{:3d}", h[0], h[1], h[2]);
}

int run_phase(const PhaseArgs& a) {
  const auto dir = phase_dir(a);
  if (a.list) {
    for (const auto& n : crystal::phase_names(dir)) {
      const crystal::Phase p = crystal::load_phase(n, dir);
      fmt::print("{:10s} {:10s} {:12s} a {:.4f} c {:.4f} Å\n", n, p.formula, crystal::space_group_name(p),
                 p.cell.a, p.cell.c);
    }
    return 0;
  }
  if (a.phase.empty())
    throw InputError("anvil phase", "name a phase (CdSe-WZ, ...) or a CIF file, or give --list");
  const crystal::Phase p = crystal::load_phase(a.phase, dir);
  if (a.wavelength_angstrom && a.energy_kev)
    throw InputError("anvil phase", "give --wavelength or --energy, not both");
  if (!a.wavelength_angstrom && !a.energy_kev)
    throw InputError("anvil phase", "no beam: give --wavelength Å or --energy keV");
  const double lambda = a.wavelength_angstrom ? *a.wavelength_angstrom
                                              : crystal::wavelength_angstrom_from_energy(*a.energy_kev);
  if (!(lambda > 0.0) || !std::isfinite(lambda))
    throw InputError("anvil phase", fmt::format("wavelength {} Å is not positive", lambda));
  const crystal::Dispersion disp = crystal::parse_dispersion(a.dispersion);
  const crystal::LpModel lp =
      a.lp == "unpolarised" ? crystal::LpModel::Unpolarised : crystal::LpModel::PolarisationCorrected;

  std::vector<crystal::Reflection> lines =
      crystal::reflection_list(p, lambda, a.tth_min_deg, a.tth_max_deg, disp);
  if (a.merge) lines = crystal::merge_equal_d(lines);
  if (lines.empty())
    throw InputError(a.phase, fmt::format("no reflection between 2θ = {}° and {}° at λ = {} Å", a.tth_min_deg,
                                          a.tth_max_deg, lambda));

  const auto& L = p.cell;
  const bool hex = std::fabs(L.gamma_deg - 120.0) < 1e-6 && std::fabs(L.a - L.b) < 1e-9;
  const double energy = crystal::energy_kev_from_wavelength(lambda);
  fmt::print("# {}  ({})\n", p.name, p.source);
  fmt::print("# {} (No. {})  a {:.5f}  b {:.5f}  c {:.5f} Å  α {:g}  β {:g}  γ {:g}°  V {:.4f} Å³\n",
             crystal::space_group_name(p), crystal::space_group_number(p), L.a, L.b, L.c, L.alpha_deg,
             L.beta_deg, L.gamma_deg, crystal::cell_volume(L));
  fmt::print("# {}  Z = {}  M = {:.3f} g/mol  Z·M·V = {:.1f} amu·Å³ (Hill–Howard)\n", p.formula, p.z,
             p.formula_mass, crystal::hill_howard_zmv(p));
  const auto model = crystal::make_scattering_model(p, lambda, disp);
  std::string fprime;
  for (const auto& s : model.scatterers)
    fprime += fmt::format("  {} f′ {:+.3f} f″ {:.3f}", s.element, s.fp, s.fpp);
  fmt::print("# λ {:.5f} Å ({:.4f} keV); f0 ITC 1992; dispersion {}:{}\n", lambda, energy,
             crystal::dispersion_name(disp), fprime);
  fmt::print("# I = m·|F|²·{}; |F|² is the mean over Friedel mates (e² per cell)\n",
             lp == crystal::LpModel::Unpolarised ? "(1+cos²2θ)/(sin²θ cosθ) (unpolarised)"
                                                 : "1/(sin²θ cosθ) (polarisation-corrected pattern)");
  std::vector<double> intensity;
  double max = 0.0;
  for (const auto& r : lines) {
    intensity.push_back(r.multiplicity * r.f_squared *
                        crystal::lp_factor(crystal::two_theta_deg(r.d_angstrom, lambda), lp));
    max = std::max(max, intensity.back());
  }
  fmt::print("# {:>{}s}  {:>8s}  {:>8s}  {:>8s}  {:>3s}  {:>11s}  {:>7s}\n", hex ? "h  k  i  l" : "h  k  l",
             hex ? 12 : 9, "d (Å)", "2θ (°)", "q (Å⁻¹)", "m", "|F|²", "I_rel");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& r = lines[i];
    fmt::print("  {}  {:8.5f}  {:8.4f}  {:8.4f}  {:3d}  {:11.2f}  {:7.2f}\n", hkl_text(r.hkl, hex),
               r.d_angstrom, crystal::two_theta_deg(r.d_angstrom, lambda), 2 * M_PI / r.d_angstrom,
               r.multiplicity, r.f_squared, 100.0 * intensity[i] / max);
  }
  return 0;
}

}  // namespace

void add_phase_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<PhaseArgs>();
  auto* cmd = app.add_subcommand("phase",
                                 "Reflection list of a crystal phase (d, 2θ, multiplicity, |F|², intensity)");
  cmd->add_option("phase", a->phase, "Phase short name (CdSe-WZ, CdS-RS, Au, CeO2, ...) or a CIF file");
  auto* wl = cmd->add_option("--wavelength", a->wavelength_angstrom, "X-ray wavelength (Å)")
                 ->check(positive_number());
  cmd->add_option("--energy", a->energy_kev, "X-ray energy (keV)")->excludes(wl)->check(positive_number());
  cmd->add_option("--tth-min", a->tth_min_deg, "Smallest 2θ (degrees)")
      ->capture_default_str()
      ->check(number_in(0.0, 180.0));
  cmd->add_option("--tth-max", a->tth_max_deg, "Largest 2θ (degrees)")
      ->capture_default_str()
      ->check(number_in(0.0, 180.0));
  cmd->add_option("--dispersion", a->dispersion,
                  "f′, f″ source: henke (Cromer–Liberman where not tabulated), "
                  "cromer-liberman, none")
      ->capture_default_str();
  cmd->add_option("--lp", a->lp, "lorentz (polarisation-corrected data) or unpolarised")
      ->check(CLI::IsMember({"lorentz", "unpolarised"}))
      ->capture_default_str();
  cmd->add_flag("!--no-merge", a->merge, "List families of equal d (333 and 511) separately");
  cmd->add_option("--phase-dir", a->phase_dir,
                  "Folder of the named phases (default $ANVIL_PHASE_DIR or calib/phases)");
  cmd->add_flag("--list", a->list, "List the named phases and exit");
  cmd->callback([a, &ctx] { ctx.exit_code = run_phase(*a); });
}

}  // namespace anvil::cli
