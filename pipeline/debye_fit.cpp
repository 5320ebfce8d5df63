#include "debye_fit.hpp"

#include <fmt/core.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "crystal/reflections.hpp"
#include "phase_models.hpp"
#include "pressure/standard.hpp"
#include "waxs_fit.hpp"

namespace anvil::pipeline {

using json = nlohmann::json;

namespace {

bool is_hexagonal(const crystal::Phase& p) { return std::abs(p.cell.gamma_deg - 120.0) < 1e-6; }

// The pressure standard of a Le Bail phase named after its material ("Au", "Pt", "NaCl-B1",
// "Ne"; case ignored), or null.
const pressure::PressureStandard* marker_standard(const std::string& name) {
  for (const auto& s : pressure::pressure_standards()) {
    std::string a = s.material, b = name;
    for (auto& ch : a) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (auto& ch : b) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (a == b) return &s;  // the first entry of a material is its default
  }
  return nullptr;
}

// The phase's lines (the ones Bragg's model would find strongest) at a cell scaled by λ.
json main_lines(const powder::PowderPhase& pp, double a, double c, double a_esd, double wavelength_a) {
  std::vector<std::pair<double, const powder::PowderReflection*>> strength;
  for (const auto& r : pp.reflections) strength.emplace_back(r.multiplicity * r.f2, &r);
  std::sort(strength.begin(), strength.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  json lines = json::array();
  for (std::size_t k = 0; k < strength.size() && k < 3; ++k) {
    const auto& r = *strength[k].second;
    const double inv_d2 = powder::one_over_d_squared(pp.kind, r, a, c > 0 ? c : a);
    const double d = 1.0 / std::sqrt(inv_d2);
    const double s = wavelength_a / (2.0 * d);
    lines.push_back({{"hkl", {r.h, r.k, r.l}},
                     {"two_theta_deg", s < 1 ? 2.0 * std::asin(s) * 180.0 / std::numbers::pi : NAN},
                     {"d_a", d},
                     {"d_esd", a > 0 ? d * a_esd / a : 0.0}});
  }
  return lines;
}

}  // namespace

DebyeFitter::DebyeFitter(DebyeFitSettings s) : settings_(std::move(s)) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!(settings_.wavelength_a > 0))
    throw InputError("", "no wavelength: the Debye model needs the beam energy");
  if (settings_.phases.empty() && settings_.others.empty()) throw InputError("", "no phases to fit");
  settings_.fit.wavelength_a = settings_.wavelength_a;
  for (const auto& n : settings_.phases) {
    auto p = crystal::load_phase(n, settings_.phase_dir);
    p.name = n;
    crystal_.push_back(std::move(p));
  }
  sums_.resize(crystal_.size());
  // Each phase's clusters in parallel; each phase's pair loop is parallel too.
  tbb::parallel_for(std::size_t{0}, crystal_.size(),
                    [&](std::size_t k) { sums_[k] = debye::pair_sums(crystal_[k], settings_.clusters); });
  const double energy = crystal::energy_kev_from_wavelength(settings_.wavelength_a);
  for (const auto& s : sums_) f_.push_back(debye::species_scattering(s, energy, crystal::Dispersion::Henke));
  const auto r = settings_.range_deg.value_or(integrate::Range{1.0, 60.0});
  if (!settings_.phases.empty())
    powder_ = load_powder_phases(settings_.phases, settings_.phase_dir, settings_.wavelength_a, r.min, r.max);
  for (const auto& n : settings_.others) {
    const auto p = crystal::load_phase(n, settings_.phase_dir);
    debye::PeaksPhase g;
    g.name = n;
    g.hexagonal = is_hexagonal(p);
    g.a = p.cell.a;
    g.c = p.cell.c;
    // Lines within the fitted range (with room for the cell to move).
    const double s_max = std::sin(0.5 * r.max * std::numbers::pi / 180.0);
    const double d_min = settings_.wavelength_a / (2.0 * s_max) * 0.95;
    for (const auto& refl : crystal::hkl_families(p, d_min)) g.hkl.push_back(refl.hkl);
    if (g.hkl.empty()) throw InputError(n, "no line of this phase falls in the fitted range");
    if (g.hkl.size() > 40) g.hkl.resize(40);
    others_.push_back(std::move(g));
  }
  setup_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

debye::FitResult DebyeFitter::fit_raw(const Pattern1D& pattern,
                                      const std::vector<std::pair<double, double>>& cells) const {
  const auto data = fit_pattern_data(pattern, settings_.wavelength_a, settings_.range_deg);
  std::vector<double> q, y, sigma;
  for (std::size_t i = 0; i < data.two_theta_deg.size(); ++i) {
    const double th = 0.5 * data.two_theta_deg[i] * std::numbers::pi / 180.0;
    q.push_back(4.0 * std::numbers::pi * std::sin(th) / settings_.wavelength_a);
    y.push_back(data.intensity[i]);
    sigma.push_back(data.sigma[i] > 0 ? data.sigma[i] : 1.0);
  }
  std::vector<debye::SamplePhase> phases;
  for (std::size_t k = 0; k < crystal_.size(); ++k) {
    debye::SamplePhase sp;
    sp.name = settings_.phases[k];
    sp.sums = &sums_[k];
    sp.f = f_[k];
    sp.a0 = crystal_[k].cell.a;
    // Seeded by an EOS at the frame's pressure, a cell stays within 1 % of it — about three times
    // the uncertainty of a from the EOS parameters of these phases below 20 GPa — so that a phase
    // cannot turn into a filler with a nonsense cell; without a pressure it may move 8 %.
    sp.lambda_margin = 0.08;
    if (k < cells.size() && cells[k].first > 0) {
      sp.start_lambda = cells[k].first / sp.a0;
      sp.lambda_margin = 0.01;
    }
    phases.push_back(std::move(sp));
  }
  return debye::fit_pattern(q, y, sigma, phases, others_, settings_.fit);
}

json DebyeFitter::fit(const Pattern1D& pattern, const std::vector<std::pair<double, double>>& cells) const {
  const auto r = fit_raw(pattern, cells);
  json j;
  j["model"] = "debye";
  j["status"] = r.converged ? "converged" : "failed";
  if (!r.converged) j["reason"] = r.message;
  const auto num = [&](double v) -> json {
    return r.converged && std::isfinite(v) ? json(v) : json(nullptr);
  };
  j["rwp"] = num(r.rwp);
  j["gof"] = num(r.gof);
  j["points"] = r.points;
  j["size_nm"] = num(r.median_d_a / 10.0);
  j["size_nm_esd"] = num(r.median_d_esd / 10.0);
  j["size_sigma_ln"] = num(r.sigma_ln);
  j["b_iso"] = num(r.b_iso);
  j["absorption_m"] = num(r.absorption_m);
  json phases = json::object();
  for (std::size_t k = 0; k < r.phases.size(); ++k) {
    const auto& p = r.phases[k];
    const auto& cp = crystal_[k];
    json q;
    q["fraction"] = num(p.fraction);
    q["fraction_esd"] = num(p.fraction_esd);
    q["absent"] = p.absent;
    q["a"] = num(p.a);
    q["a_esd"] = num(p.a_esd);
    double c = 0, volume = p.lambda * p.lambda * p.lambda * crystal::cell_volume(cp.cell);
    if (is_hexagonal(cp)) {
      c = p.lambda * cp.cell.c;
      q["c"] = num(c);
      q["c_esd"] = num(p.lambda_esd * cp.cell.c);
    }
    q["volume"] = num(volume);
    q["volume_esd"] = num(3.0 * volume * p.lambda_esd / std::max(p.lambda, 1e-9));
    q["size_nm"] = num(p.median_d_a / 10.0);
    q["size_nm_esd"] = num(p.median_d_esd / 10.0);
    q["main_lines"] = main_lines(powder_[k], p.a, c, p.a_esd, settings_.wavelength_a);
    phases[settings_.phases[k]] = q;
  }
  j["phases"] = phases;
  json others = json::object();
  for (std::size_t k = 0; k < r.peaks.size(); ++k) {
    const auto& g = r.peaks[k];
    json o = {{"a", num(g.a)},
              {"a_esd", num(g.a_esd)},
              {"fwhm_inv_a", num(g.fwhm_inv_a)},
              {"fwhm_slope", num(g.fwhm_slope)}};
    if (others_[k].hexagonal) o["c"] = num(g.c);
    if (g.cell_at_bound)
      o["warning"] = fmt::format("the cell ended on the edge of its ±{:.0f} % window: its lines were not found",
                                 100 * others_[k].cell_margin);
    json lines = json::array();
    for (std::size_t j = 0; j < g.heights.size() && j < others_[k].hkl.size(); ++j) {
      const auto& hkl = others_[k].hkl[j];
      lines.push_back({{"hkl", {hkl[0], hkl[1], hkl[2]}}, {"height", num(g.heights[j])}});
    }
    o["lines"] = lines;
    // A pressure marker (a cubic standard of lib/pressure: Au, Pt, NaCl, Ne) gives the pressure
    // from its Le Bail cell, σ from the cell's: dP = |dP/da| σ_a.
    if (const auto* standard = marker_standard(g.name); standard && r.converged && g.a > 0) {
      const double p = standard->pressure_from_lattice_gpa(g.a);
      const double h = 1e-5 * g.a;
      const double slope =
          (standard->pressure_from_lattice_gpa(g.a + h) - standard->pressure_from_lattice_gpa(g.a - h)) /
          (2 * h);
      o["pressure_gpa"] = num(p);
      o["pressure_esd_gpa"] = num(std::abs(slope) * g.a_esd);
      o["pressure_standard"] = standard->name;
    }
    others[g.name] = o;
  }
  j["others"] = others;
  return j;
}

}  // namespace anvil::pipeline
