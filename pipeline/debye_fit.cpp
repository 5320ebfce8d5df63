#include "debye_fit.hpp"

#include <fmt/core.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <numbers>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "crystal/cif.hpp"
#include "crystal/reflections.hpp"
#include "io/results_file.hpp"
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
  for (const auto& s : pressure::pressure_standards())
    if (lower(s.material) == lower(name)) return &s;  // the first entry of a material is its default
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

// The pair sums' cache: one HDF5 array file per phase and cluster settings, named by the hash of
// a text that says everything the sums depend on (and stored in the file, to rule out a hash
// collision). kCacheVersion changes with the way the sums are computed.
constexpr int kCacheVersion = 1;

std::string cache_key(const crystal::Phase& p, const debye::ClusterSettings& c) {
  std::string key = fmt::format("anvil debye pair sums v{}\ncell {:.9g} {:.9g} {:.9g} {:.9g} {:.9g} {:.9g}\n",
                                kCacheVersion, p.cell.a, p.cell.b, p.cell.c, p.cell.alpha_deg,
                                p.cell.beta_deg, p.cell.gamma_deg);
  // The unit cell's atoms (the sites with their symmetry images): what the clusters are cut from.
  key += fmt::format("z {}\n", p.z);
  for (const auto& a : crystal::unit_cell_atoms(p))
    key += fmt::format("atom {} {:.9g} {:.9g} {:.9g} {:.9g}\n", a.element, a.fract[0], a.fract[1], a.fract[2],
                       a.occupancy);
  for (const auto& s : p.sites) key += fmt::format("b {} {:.9g}\n", s.element, s.b_iso);
  key +=
      fmt::format("clusters {} {:.9g} {:.9g} {} {} {:.9g} [{} {} {}] {:.9g} {:.9g}\n",
                  c.shape == debye::Shape::Sphere ? "sphere" : "cylinder", c.d_min_a, c.d_max_a, c.sizes,
                  c.centrings, c.aspect, c.axis_uvw[0], c.axis_uvw[1], c.axis_uvw[2], c.dr_a, c.q_max_inv_a);
  return key;
}

std::string stacking_cache_key(const debye::StackingModel& m, const debye::ClusterSettings& c) {
  return fmt::format(
      "anvil debye stacking sums v{}\n{} {} a {:.9g} layer {:.9g} u {:.9g} alpha {:.9g}\n"
      "clusters {:.9g} {:.9g} {} {} {:.9g} {:.9g}\n",
      kCacheVersion, m.cation, m.anion, m.a, m.layer_spacing, m.u, m.alpha, c.d_min_a, c.d_max_a, c.sizes,
      c.centrings, c.dr_a, c.q_max_inv_a);
}

io::ArrayFile to_array_file(const debye::PairSums& s, const std::string& key) {
  io::ArrayFile f;
  f.text["key"] = key;
  f.text["phase"] = s.phase;
  std::string species;
  for (const auto& e : s.species) species += (species.empty() ? "" : " ") + e;
  f.text["species"] = species;
  for (const auto& t : s.types) {
    f.arrays["types"].push_back(t[0]);
    f.arrays["types"].push_back(t[1]);
  }
  f.arrays["diameters_a"] = s.diameters_a;
  f.arrays["scalars"] = {s.dq, static_cast<double>(s.nq), s.atoms_per_formula_unit,
                         s.volume_per_formula_unit};
  for (std::size_t t = 0; t < s.sums.size(); ++t) f.arrays[fmt::format("sums_{}", t)] = s.sums[t];
  for (const auto& row : s.count) f.arrays["count"].insert(f.arrays["count"].end(), row.begin(), row.end());
  f.arrays["formula_units"] = s.formula_units;
  f.arrays["b_iso"] = s.b_iso;
  return f;
}

// The sums of a cache file, or nothing when it is not the file for `key` or its arrays do not fit.
std::optional<debye::PairSums> from_array_file(const io::ArrayFile& f, const std::string& key) {
  const auto text = [&](const char* k) { return f.text.count(k) ? f.text.at(k) : std::string(); };
  const auto array = [&](const std::string& k) -> const std::vector<double>* {
    return f.arrays.count(k) ? &f.arrays.at(k) : nullptr;
  };
  if (text("key") != key) return std::nullopt;
  debye::PairSums s;
  s.phase = text("phase");
  std::stringstream species(text("species"));
  for (std::string e; species >> e;) s.species.push_back(e);
  const auto* types = array("types");
  const auto* scalars = array("scalars");
  const auto* diameters = array("diameters_a");
  const auto* count = array("count");
  const auto* fu = array("formula_units");
  const auto* b = array("b_iso");
  if (!types || !scalars || !diameters || !count || !fu || !b || scalars->size() != 4 || types->size() % 2)
    return std::nullopt;
  for (std::size_t k = 0; k + 1 < types->size(); k += 2) {
    const double a = (*types)[k], b = (*types)[k + 1];
    if (!(a >= 0 && b >= a && b < static_cast<double>(s.species.size()))) return std::nullopt;
    s.types.push_back({static_cast<int>(a), static_cast<int>(b)});
  }
  s.diameters_a = *diameters;
  s.dq = (*scalars)[0];
  s.nq = static_cast<std::size_t>((*scalars)[1]);
  s.atoms_per_formula_unit = (*scalars)[2];
  s.volume_per_formula_unit = (*scalars)[3];
  const std::size_t ns = s.species.size(), nk = s.diameters_a.size();
  if (count->size() != nk * ns || fu->size() != nk || b->size() != ns) return std::nullopt;
  for (std::size_t k = 0; k < nk; ++k)
    s.count.emplace_back(count->begin() + k * ns, count->begin() + (k + 1) * ns);
  s.formula_units = *fu;
  s.b_iso = *b;
  for (std::size_t t = 0; t < s.types.size(); ++t) {
    const auto* sums = array(fmt::format("sums_{}", t));
    if (!sums || sums->size() != s.nq * nk) return std::nullopt;
    s.sums.push_back(*sums);
  }
  return s;
}

}  // namespace

std::filesystem::path default_debye_cache_dir() {
  if (const char* dir = std::getenv("ANVIL_CACHE_DIR"))
    return std::string(dir) == "none" ? std::filesystem::path() : std::filesystem::path(dir);
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "anvil";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "anvil";
  return {};
}

DebyeFitter::DebyeFitter(DebyeFitSettings s) : settings_(std::move(s)) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!(settings_.wavelength_a > 0))
    throw InputError("", "no wavelength: the Debye model needs the beam energy");
  if (settings_.phases.empty() && settings_.others.empty()) throw InputError("", "no phases to fit");
  settings_.fit.wavelength_a = settings_.wavelength_a;
  {
    // The pair sums must reach the largest q the fit interpolates at (λq, λ up to 1.08).
    const auto r = settings_.range_deg.value_or(integrate::Range{1.0, 60.0});
    const double q_max =
        4.0 * std::numbers::pi * std::sin(0.5 * r.max * std::numbers::pi / 180.0) / settings_.wavelength_a;
    settings_.clusters.q_max_inv_a = std::max(settings_.clusters.q_max_inv_a, 1.1 * q_max + 0.1);
  }
  for (const auto& n : settings_.phases) {
    auto p = crystal::load_phase(n, settings_.phase_dir);
    p.name = n;
    crystal_.push_back(std::move(p));
  }
  // Faulted WZ ↔ ZB: the hexagonal polymorph and its cubic partner (same elements) become one
  // phase, "WZ/ZB", cut as stacked double layers from the hexagonal cell (a, c/2, u) on a grid
  // of fault probabilities α; its fraction counts both, α says which stacking.
  std::vector<std::string> powder_names = settings_.phases;
  if (settings_.faulted) {
    std::optional<std::size_t> hex, cubic;
    for (std::size_t k = 0; k < crystal_.size(); ++k) {
      if (is_hexagonal(crystal_[k]) && !hex) hex = k;
    }
    if (!hex) throw InputError("faulted", "no hexagonal (wurtzite-type) phase among the phases");
    for (std::size_t k = 0; k < crystal_.size(); ++k)
      if (k != *hex && crystal_[k].formula == crystal_[*hex].formula && crystal_[k].cell.gamma_deg == 90.0 &&
          crystal::space_group_number(crystal_[k]) == 216)
        cubic = k;
    const auto& wz = crystal_[*hex];
    if (wz.sites.size() != 2)
      throw InputError(settings_.phases[*hex], "a faulted phase is built from a two-site wurtzite cell");
    // Both sites on one (x, y) column of two elements; u the anion's height above its cation, the
    // polarity with u < ½ (a CIF of the other polarity has the roles of the sites swapped).
    const auto &s0 = wz.sites[0], &s1 = wz.sites[1];
    if (s0.element == s1.element || std::abs(s0.fract[0] - s1.fract[0]) > 1e-3 ||
        std::abs(s0.fract[1] - s1.fract[1]) > 1e-3)
      throw InputError(settings_.phases[*hex],
                       "a faulted phase needs a wurtzite cell: two elements on one "
                       "(x, y) column, cation at z and anion at z + u");
    const double u = std::fmod(s1.fract[2] - s0.fract[2] + 1.0, 1.0);
    fault_model_.name = settings_.phases[*hex];
    fault_model_.cation = u <= 0.5 ? s0.element : s1.element;
    fault_model_.anion = u <= 0.5 ? s1.element : s0.element;
    fault_model_.u = u <= 0.5 ? u : 1.0 - u;
    fault_model_.a = wz.cell.a;
    fault_model_.layer_spacing = 0.5 * wz.cell.c;
    faulted_index_ = *hex;
    settings_.phases[*hex] += "/" + (cubic ? settings_.phases[*cubic] : std::string("faults"));
    if (cubic) {
      settings_.phases.erase(settings_.phases.begin() + static_cast<std::ptrdiff_t>(*cubic));
      powder_names.erase(powder_names.begin() + static_cast<std::ptrdiff_t>(*cubic));
      crystal_.erase(crystal_.begin() + static_cast<std::ptrdiff_t>(*cubic));
      if (*cubic < *faulted_index_) --*faulted_index_;
    }
    for (int k = 0; k <= 10; ++k) fault_alpha_.push_back(0.1 * k);
  }
  // What to build: each phase's sums, and a faulted phase's α grid; each in parallel (each pair
  // loop is parallel too), or read from the cache.
  struct Job {
    std::string name, key;
    std::function<debye::PairSums()> build;
    debye::PairSums* out;
  };
  sums_.resize(crystal_.size());
  fault_sums_.resize(fault_alpha_.size());
  std::vector<Job> jobs;
  for (std::size_t k = 0; k < crystal_.size(); ++k) {
    if (faulted_index_ && k == *faulted_index_) continue;
    jobs.push_back({settings_.phases[k], cache_key(crystal_[k], settings_.clusters),
                    [this, k] { return debye::pair_sums(crystal_[k], settings_.clusters); }, &sums_[k]});
  }
  for (std::size_t j = 0; j < fault_alpha_.size(); ++j) {
    auto m = fault_model_;
    m.alpha = fault_alpha_[j];
    jobs.push_back({fmt::format("{} α {:.1f}", settings_.phases[*faulted_index_], m.alpha),
                    stacking_cache_key(m, settings_.clusters),
                    [this, m] { return debye::stacking_sums(m, settings_.clusters); }, &fault_sums_[j]});
  }
  std::vector<char> from_cache(jobs.size(), 0);
  std::vector<std::string> cache_errors(jobs.size());
  tbb::parallel_for(std::size_t{0}, jobs.size(), [&](std::size_t k) {
    const auto& job = jobs[k];
    const auto file = settings_.cache_dir.empty()
                          ? std::filesystem::path()
                          : settings_.cache_dir / fmt::format("debye-{:016x}.h5", fnv1a(job.key));
    std::error_code ec;  // the cache is an optimisation: a folder that cannot be looked at is no cache
    if (!file.empty() && std::filesystem::exists(file, ec)) {
      try {
        if (auto cached = from_array_file(io::read_array_file(file), job.key)) {
          *job.out = std::move(*cached);
          from_cache[k] = 1;
          return;
        }
        cache_errors[k] = "a cache file of other contents under its name: rebuilt";
      } catch (const InputError& e) {
        cache_errors[k] = fmt::format("unreadable, rebuilt: {}", e.what());  // and written again below
      }
    }
    *job.out = job.build();
    if (file.empty()) return;
    try {
      std::filesystem::create_directories(settings_.cache_dir);
      io::write_array_file(file, to_array_file(*job.out, job.key));
    } catch (const std::filesystem::filesystem_error& e) {
      cache_errors[k] = fmt::format("not kept: {}", e.what());
    } catch (const InputError& e) {
      cache_errors[k] = fmt::format("not kept: {}", e.what());
    }
  });
  if (faulted_index_) sums_[*faulted_index_] = fault_sums_.front();
  const auto cached = static_cast<std::size_t>(std::count(from_cache.begin(), from_cache.end(), 1));
  if (settings_.cache_dir.empty())
    cache_note_ = "pair sums not cached";
  else
    cache_note_ = fmt::format("{} of {} pair sums from the cache {}", cached, jobs.size(),
                              settings_.cache_dir.string());
  for (std::size_t k = 0; k < cache_errors.size(); ++k)
    if (!cache_errors[k].empty()) cache_note_ += fmt::format("; {}: {}", jobs[k].name, cache_errors[k]);
  const double energy = crystal::energy_kev_from_wavelength(settings_.wavelength_a);
  for (const auto& s : sums_) f_.push_back(debye::species_scattering(s, energy, crystal::Dispersion::Henke));
  const auto r = settings_.range_deg.value_or(integrate::Range{1.0, 60.0});
  if (!settings_.phases.empty())
    powder_ = load_powder_phases(powder_names, settings_.phase_dir, settings_.wavelength_a, r.min, r.max);
  for (const auto& n : settings_.others) {
    const auto p = crystal::load_phase(n, settings_.phase_dir);
    debye::PeaksPhase g;
    g.name = n;
    g.hexagonal = is_hexagonal(p);
    const bool cubic = std::abs(p.cell.a - p.cell.b) < 1e-6 && std::abs(p.cell.a - p.cell.c) < 1e-6 &&
                       std::abs(p.cell.alpha_deg - 90) < 1e-6 && std::abs(p.cell.beta_deg - 90) < 1e-6 &&
                       std::abs(p.cell.gamma_deg - 90) < 1e-6;
    if (!g.hexagonal && !cubic)
      throw InputError(n, "Le Bail phases are cubic or hexagonal (one cell constant refined, c/a kept)");
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
                                      const std::vector<std::pair<double, double>>& cells,
                                      std::optional<double> pressure_gpa) const {
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
    if (faulted_index_ && k == *faulted_index_) {
      for (const auto& fs : fault_sums_) sp.alpha_sums.push_back(&fs);
      sp.alpha_grid = fault_alpha_;
    }
    phases.push_back(std::move(sp));
  }
  // A pressure marker's window around its EOS at the frame's pressure: the ±3 % around its
  // ambient cell would stop Au near 20 GPa, NaCl near 3.
  auto others = others_;
  if (pressure_gpa && std::isfinite(*pressure_gpa))
    for (auto& g : others)
      if (const auto* standard = marker_standard(g.name)) {
        const double a = standard->lattice_at(*pressure_gpa);
        if (std::isfinite(a) && a > 0) {
          if (g.hexagonal) g.c *= a / g.a;  // (markers are cubic; c/a kept all the same)
          g.a = a;
        }
      }
  return debye::fit_pattern(q, y, sigma, phases, others, settings_.fit);
}

json DebyeFitter::fit(const Pattern1D& pattern, const std::vector<std::pair<double, double>>& cells,
                      std::optional<double> pressure_gpa) const {
  return result_json(fit_raw(pattern, cells, pressure_gpa));
}

json DebyeFitter::result_json(const debye::FitResult& r) const {
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
    if (p.alpha >= 0) {  // a faulted WZ ↔ ZB phase: P(cubic stacking step)
      q["alpha"] = num(p.alpha);
      q["alpha_esd"] = num(p.alpha_esd);
    }
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
      o["warning"] =
          fmt::format("the cell ended on the edge of its ±{:.0f} % window: its lines were not found",
                      100 * others_[k].cell_margin);
    json lines = json::array();
    for (std::size_t j = 0; j < g.heights.size() && j < others_[k].hkl.size(); ++j) {
      const auto& hkl = others_[k].hkl[j];
      lines.push_back({{"hkl", {hkl[0], hkl[1], hkl[2]}}, {"height", num(g.heights[j])}});
    }
    o["lines"] = lines;
    // A pressure marker (a cubic standard of lib/pressure: Au, Pt, NaCl, Ne) gives the pressure
    // from its Le Bail cell, σ from the cell's: dP = |dP/da| σ_a.
    // (A cell on the edge of its window is no measurement: no pressure from it.)
    if (const auto* standard = marker_standard(g.name);
        standard && r.converged && g.a > 0 && !g.cell_at_bound) {
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
