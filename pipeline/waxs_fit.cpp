#include "waxs_fit.hpp"

#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <numbers>

#include "core/error.hpp"
#include "phase_models.hpp"
#include "plots.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

void read_instrument(const fs::path& path, WaxsFitSettings& s) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), fs::exists(path) ? "cannot open" : "file not found");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw InputError(path.string(), std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path.string(), "expected a JSON object");
  for (const auto& [k, v] : j.items()) {
    auto number = [&]() {
      if (!v.is_number()) throw InputError(path.string(), fmt::format("'{}' must be a number", k));
      return v.get<double>();
    };
    if (k == "u")
      s.model.instrument.u = number();
    else if (k == "v")
      s.model.instrument.v = number();
    else if (k == "w")
      s.model.instrument.w = number();
    else if (k == "wavelength_a")
      s.wavelength_a = number();
    else if (k == "background_terms")
      s.model.background_terms = static_cast<int>(number());
    else if (k == "size_nm")
      s.size_nm = number();
    else if (k == "lp" && v.is_string()) {
      const auto t = v.get<std::string>();
      if (t == "lorentz")
        s.model.lp = crystal::LpModel::PolarisationCorrected;
      else if (t == "unpolarised" || t == "unpolarized")
        s.model.lp = crystal::LpModel::Unpolarised;
      else if (t == "none")
        s.model.lp = crystal::LpModel::None;
      else
        throw InputError(path.string(), "'lp' must be lorentz, unpolarised or none");
    } else if (k == "size_profile" && v.is_string()) {
      const auto t = v.get<std::string>();
      if (t == "sphere")
        s.model.size_profile = powder::SizeProfile::Sphere;
      else if (t == "lorentzian")
        s.model.size_profile = powder::SizeProfile::Lorentzian;
      else if (t == "none")
        s.model.size_profile = powder::SizeProfile::None;
      else
        throw InputError(path.string(), "'size_profile' must be sphere, lorentzian or none");
    } else {
      throw InputError(path.string(), fmt::format("unknown or mistyped key '{}'", k));
    }
  }
}

powder::PowderPattern to_two_theta(const Pattern1D& p, double wavelength_a) {
  powder::PowderPattern out;
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    double tth = p.x[i];
    switch (p.unit) {
      case RadialUnit::TwoThetaDeg:
        break;
      case RadialUnit::QInvNm:
      case RadialUnit::QInvA: {
        const double q_a = p.unit == RadialUnit::QInvNm ? p.x[i] / 10.0 : p.x[i];
        const double s = q_a * wavelength_a / (4 * std::numbers::pi);
        if (!(s < 1)) continue;
        tth = 2 * std::asin(s) * 180 / std::numbers::pi;
        break;
      }
      case RadialUnit::DSpacingA: {
        const double s = wavelength_a / (2 * p.x[i]);
        if (!(s < 1)) continue;
        tth = 2 * std::asin(s) * 180 / std::numbers::pi;
        break;
      }
      case RadialUnit::RMm:
        throw InputError("", "a pattern in r (mm) cannot be fitted: integrate in 2θ or q");
    }
    out.two_theta_deg.push_back(tth);
    out.intensity.push_back(p.intensity[i]);
    out.sigma.push_back(i < p.sigma.size() && p.sigma[i] > 0 ? p.sigma[i]
                                                             : std::sqrt(std::max(p.intensity[i], 1.0)));
  }
  if (out.two_theta_deg.size() > 1 && out.two_theta_deg.front() > out.two_theta_deg.back()) {
    std::reverse(out.two_theta_deg.begin(), out.two_theta_deg.end());
    std::reverse(out.intensity.begin(), out.intensity.end());
    std::reverse(out.sigma.begin(), out.sigma.end());
  }
  return out;
}

powder::PowderPattern fit_pattern_data(const Pattern1D& pattern, double wavelength_a,
                                       const std::optional<integrate::Range>& range_deg) {
  auto data = to_two_theta(pattern, wavelength_a);
  if (range_deg) data = powder::select_range(data, range_deg->min, range_deg->max);
  powder::validate_pattern(data);
  return data;
}

WaxsFitter::WaxsFitter(WaxsFitSettings settings) : settings_(std::move(settings)) {
  if (settings_.refine_instrument && settings_.model.size_profile == powder::SizeProfile::Sphere)
    settings_.model.size_profile = powder::SizeProfile::None;  // U, V, W need the pseudo-Voigt
  if (!(settings_.wavelength_a > 0))
    throw InputError("", "no wavelength: give --wavelength (Å) or an instrument file");
  if (settings_.phases.empty()) throw InputError("", "no phases to fit");
  settings_.model.instrument.wavelength_a = settings_.wavelength_a;
  const auto r = settings_.range_deg.value_or(integrate::Range{1.0, 60.0});
  phases_ = load_powder_phases(settings_.phases, settings_.phase_dir, settings_.wavelength_a, r.min, r.max);
}

powder::FitResult WaxsFitter::fit(const Pattern1D& pattern) const { return fit(pattern, {}); }

powder::FitResult WaxsFitter::fit(const Pattern1D& pattern,
                                  const std::vector<std::pair<double, double>>& cells) const {
  const auto data = fit_pattern_data(pattern, settings_.wavelength_a, settings_.range_deg);
  auto start = powder::default_parameters(phases_, settings_.model, settings_.size_nm);
  if (settings_.refine_instrument) {
    for (auto* p : {&start.caglioti_u, &start.caglioti_v, &start.caglioti_w}) p->refine = true;
    if (start.caglioti_u.value == 0 && start.caglioti_v.value == 0 && start.caglioti_w.value == 0)
      start.caglioti_w.value = 1e-3;  // deg²: a width to start from
  }
  for (std::size_t k = 0; k < cells.size() && k < start.phases.size(); ++k) {
    auto& ph = start.phases[k];
    if (cells[k].first > 0) {
      ph.a.value = cells[k].first;
      ph.a.lower = std::min(ph.a.lower, 0.9 * cells[k].first);
      ph.a.upper = std::max(ph.a.upper, 1.1 * cells[k].first);
    }
    if (cells[k].second > 0) {
      ph.c.value = cells[k].second;
      ph.c.lower = std::min(ph.c.lower, 0.9 * cells[k].second);
      ph.c.upper = std::max(ph.c.upper, 1.1 * cells[k].second);
    }
  }
  auto result = powder::refine(data, phases_, settings_.model, start);
  if (result.status == powder::FitStatus::Converged)
    for (const auto& ph : result.phases)
      if (!std::isfinite(ph.fraction) || !std::isfinite(ph.fraction_esd)) {
        // A number that looks like a result and is not: the fit failed, with its reason.
        result.status = powder::FitStatus::Failed;
        result.reason = "the refinement gave non-finite phase fractions (a pattern without usable signal?)";
        break;
      }
  return result;
}

void write_instrument(const fs::path& path, const powder::FitResult& r, const WaxsFitSettings& s) {
  if (r.status != powder::FitStatus::Converged)
    throw InputError(path.string(), "the fit did not converge: no instrument written");
  json j;
  j["u"] = r.parameters.caglioti_u.value;
  j["v"] = r.parameters.caglioti_v.value;
  j["w"] = r.parameters.caglioti_w.value;
  j["wavelength_a"] = s.wavelength_a;
  j["lp"] = s.model.lp == crystal::LpModel::PolarisationCorrected ? "lorentz"
            : s.model.lp == crystal::LpModel::Unpolarised         ? "unpolarised"
                                                                  : "none";
  j["size_profile"] = "sphere";  // for the samples measured with this instrument
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw InputError(path.string(), "cannot write");
}

json fit_result_json(const powder::FitResult& r, const std::vector<std::string>& names) {
  json j;
  j["status"] = powder::status_name(r.status);
  if (!r.reason.empty()) j["reason"] = r.reason;
  const bool ok = r.status == powder::FitStatus::Converged;
  auto num = [&](double v) -> json { return ok && std::isfinite(v) ? json(v) : json(nullptr); };
  j["rp"] = num(r.rp);
  j["rwp"] = num(r.rwp);
  j["rexp"] = num(r.rexp);
  j["gof"] = num(r.gof);
  j["points"] = r.num_points;
  j["free_parameters"] = r.num_free;
  j["iterations"] = r.iterations;
  j["seconds"] = r.seconds;
  json phases = json::object();
  for (std::size_t k = 0; k < r.phases.size(); ++k) {
    const auto& p = r.phases[k];
    json q;
    q["fraction"] = num(p.fraction);
    q["fraction_esd"] = num(p.fraction_esd);
    q["absent"] = p.absent;
    q["a"] = num(p.a);
    q["a_esd"] = num(p.a_esd);
    if (p.c > 0) {
      q["c"] = num(p.c);
      q["c_esd"] = num(p.c_esd);
    }
    q["volume"] = num(p.volume);
    q["volume_esd"] = num(p.volume_esd);
    q["size_nm"] = num(p.size_nm);
    q["size_nm_esd"] = num(p.size_esd);
    json lines = json::array();
    for (const auto& l : p.main_lines)
      lines.push_back(
          {{"hkl", {l.h, l.k, l.l}}, {"two_theta_deg", l.two_theta_deg}, {"d_a", l.d_a}, {"d_esd", l.d_esd}});
    q["main_lines"] = lines;
    phases[k < names.size() ? names[k] : p.name] = q;
  }
  j["phases"] = phases;
  return j;
}

void plot_fit(const fs::path& file, const powder::FitResult& r, const std::string& title) {
  XYPlot p;
  p.title = title;
  p.x_label = "2θ (°)";
  p.y_label = "Intensity";
  p.height_px = 800;
  double lo = 0, hi = 0;
  for (std::size_t i = 0; i < r.observed.size(); ++i) {
    lo = std::min(lo, r.observed[i]);
    hi = std::max(hi, r.observed[i]);
  }
  Series obs{r.two_theta_deg, r.observed, {}, "observed", {110, 110, 110}, true, 0};
  Series calc{r.two_theta_deg, r.model, {}, "model", {220, 30, 30}, true, 0};
  Series bkg{r.two_theta_deg, r.background, {}, "background", {120, 120, 120}, true, 0, true};
  Series diff{r.two_theta_deg, {}, {}, "difference", {30, 90, 200}, true, 0};
  const double span = hi - lo;
  for (std::size_t i = 0; i < r.observed.size() && i < r.model.size(); ++i)
    diff.y.push_back(r.observed[i] - r.model[i] + lo - 0.15 * span);
  p.series = {obs, calc, bkg, diff};
  static const std::array<std::array<int, 3>, 6> colours = {
      {{0, 130, 0}, {200, 120, 0}, {150, 0, 150}, {0, 150, 150}, {120, 60, 0}, {80, 80, 200}}};
  for (std::size_t k = 0; k < r.phases.size(); ++k) {
    Series t;
    t.label = r.phases[k].name;
    t.rgb = colours[k % colours.size()];
    const double y0 = lo - 0.3 * span - 0.06 * span * static_cast<double>(k);
    for (const auto& l : r.phases[k].main_lines) {
      t.x.insert(t.x.end(), {l.two_theta_deg, l.two_theta_deg, NAN});
      t.y.insert(t.y.end(), {y0, y0 + 0.04 * span, NAN});
    }
    p.series.push_back(t);
  }
  draw_plot(file, p);
}

}  // namespace anvil::pipeline
