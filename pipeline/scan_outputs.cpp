#include "scan_outputs.hpp"

#include <fmt/core.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>

#include "io/mask.hpp"
#include "io/pattern_io.hpp"
#include "io/pressure_table.hpp"
#include "io/results_file.hpp"
#include "plots.hpp"
#include "series/eos_fit.hpp"
#include "series/transition.hpp"
#include "series_tables.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

double number(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return NAN;
  return j.at(key).get<double>();
}

bool fitted(const FrameResult& r) {
  return r.waxs.ok && r.waxs.analysis.is_object() && r.waxs.analysis.value("status", "") == "converged";
}

const std::array<std::array<int, 3>, 8> kPalette = {{{0, 114, 178},
                                                     {213, 94, 0},
                                                     {0, 158, 115},
                                                     {204, 121, 167},
                                                     {230, 159, 0},
                                                     {86, 180, 233},
                                                     {120, 120, 120},
                                                     {0, 0, 0}}};

}  // namespace

const io::TableColumn& column(const std::vector<io::TableColumn>& table, const std::string& name) {
  for (const auto& c : table)
    if (c.name == name) return c;
  throw std::logic_error("no column " + name + " in a scan table");
}

fs::path write_other_phases_table(const fs::path& dir, const std::vector<FrameResult>& frames,
                                  const std::vector<std::string>& others, ScanTables* tables) {
  io::TableColumn frame{"frame", "1", {}, {}}, p{"pressure_gpa", "GPa", {}, {}},
      dirn{"direction", "", {}, {}}, phase{"phase", "", {}, {}}, a{"a_A", "angstrom", {}, {}},
      ae{"a_esd_A", "angstrom", {}, {}}, fw{"fwhm_inv_A", "1/angstrom", {}, {}},
      fs{"fwhm_slope", "1", {}, {}}, pm{"marker_pressure_gpa", "GPa", {}, {}},
      pme{"marker_pressure_esd_gpa", "GPa", {}, {}};
  for (const auto& r : frames) {
    if (!fitted(r)) continue;
    const json o = r.waxs.analysis.value("others", json::object());
    for (const auto& name : others) {
      const json g = o.value(name, json::object());
      frame.numbers.push_back(static_cast<double>(r.index));
      p.numbers.push_back(r.pressure_gpa.value_or(NAN));
      dirn.strings.push_back(std::string(pressure::direction_name(r.direction)));
      phase.strings.push_back(name);
      a.numbers.push_back(number(g, "a"));
      ae.numbers.push_back(number(g, "a_esd"));
      fw.numbers.push_back(number(g, "fwhm_inv_a"));
      fs.numbers.push_back(number(g, "fwhm_slope"));
      // A pressure marker's own pressure from its Le Bail cell (empty for a gasket).
      pm.numbers.push_back(number(g, "pressure_gpa"));
      pme.numbers.push_back(number(g, "pressure_esd_gpa"));
    }
  }
  std::vector<io::TableColumn> table = {frame, p, dirn, phase, a, ae, fw, fs, pm, pme};
  io::write_csv(dir / "other_phases.csv", table);
  if (tables) {
    tables->others = others;
    tables->other_phases = std::move(table);
  }
  return dir / "other_phases.csv";
}

std::vector<fs::path> write_phase_tables(const fs::path& dir, const std::vector<FrameResult>& frames,
                                         const std::vector<std::string>& phases, ScanTables* tables) {
  std::vector<FractionsRow> fraction_rows;
  std::vector<LatticeRow> lattice_rows;
  for (const auto& r : frames) {
    if (!r.waxs.present) continue;
    const json& a = r.waxs.analysis;
    const bool ok = fitted(r);
    FractionsRow fr;
    fr.frame = r.index;
    fr.pressure_gpa = r.pressure_gpa.value_or(NAN);
    fr.direction = std::string(pressure::direction_name(r.direction));
    fr.status = !r.waxs.ok ? "no pattern" : a.is_object() ? a.value("status", "failed") : "not fitted";
    fr.reason = !r.waxs.ok ? r.waxs.error : r.waxs.analysis_reason();
    fr.rwp = ok ? number(a, "rwp") : NAN;
    for (const auto& name : phases) {
      const json ph = ok && a["phases"].contains(name) ? a["phases"][name] : json();
      fr.fraction.push_back(number(ph, "fraction"));
      fr.fraction_esd.push_back(number(ph, "fraction_esd"));
      if (!ok || ph.value("absent", false)) continue;
      LatticeRow lr;
      lr.frame = r.index;
      lr.pressure_gpa = fr.pressure_gpa;
      lr.direction = fr.direction;
      lr.phase = name;
      lr.a = number(ph, "a"), lr.a_esd = number(ph, "a_esd");
      lr.c = number(ph, "c"), lr.c_esd = number(ph, "c_esd");
      lr.volume = number(ph, "volume"), lr.volume_esd = number(ph, "volume_esd");
      // The crystallite size (Scherrer size of the Bragg model, median cluster diameter of the Debye
      // model) and a faulted WZ/ZB phase's stacking-fault probability.
      lr.size_nm = number(ph, "size_nm"), lr.size_esd_nm = number(ph, "size_nm_esd");
      lr.alpha = number(ph, "alpha"), lr.alpha_esd = number(ph, "alpha_esd");
      const json lines = ph.value("main_lines", json::array());
      for (std::size_t l = 0; l < 3 && l < lines.size(); ++l) {
        const auto& h = lines[l]["hkl"];
        lr.lines[l] = {fmt::format("{} {} {}", h[0].get<int>(), h[1].get<int>(), h[2].get<int>()),
                       number(lines[l], "d_a"), number(lines[l], "d_esd")};
      }
      lattice_rows.push_back(std::move(lr));
    }
    fraction_rows.push_back(std::move(fr));
  }
  auto pf = write_fractions_csv(dir, phases, fraction_rows);
  auto lat = write_lattice_csv(dir / "lattice.csv", lattice_rows);
  if (tables) {
    tables->phases = phases;
    tables->fractions = std::move(pf);
    tables->lattice = std::move(lat);
  }
  return {dir / "phase_fractions.csv", dir / "phase_fractions_long.csv", dir / "lattice.csv"};
}

std::vector<fs::path> write_series_tables(const fs::path& dir, const std::vector<FrameResult>& frames,
                                          const std::vector<std::string>& phases, std::size_t hp,
                                          ScanTables* tables) {
  // The frames as lib/series sees them: fitted frames with a pressure, each phase's fraction.
  std::vector<series::FrameResult> fitted_frames;
  std::vector<series::PhaseSeriesEos> eos;
  for (const auto& r : frames) {
    if (!fitted(r) || !r.pressure_gpa) continue;
    series::FrameResult s;
    s.frame = r.index;
    s.pressure_gpa = *r.pressure_gpa;
    s.pressure_esd_gpa = r.pressure_esd_gpa;
    s.direction = r.direction;
    s.status = powder::FitStatus::Converged;
    for (const auto& name : phases) {
      const json ph = r.waxs.analysis["phases"].value(name, json());
      series::PhaseInFrame p;
      p.name = name;
      p.present = !ph.value("absent", true);
      p.fraction = number(ph, "fraction");
      p.fraction_esd = number(ph, "fraction_esd");
      p.volume = number(ph, "volume");
      p.volume_esd = number(ph, "volume_esd");
      s.phases.push_back(std::move(p));
    }
    fitted_frames.push_back(std::move(s));
  }
  // EOS per phase from the frames where it is present.
  for (std::size_t k = 0; k < phases.size(); ++k) {
    std::vector<series::PvPoint> pts;
    for (const auto& s : fitted_frames) {
      const auto& p = s.phases[k];
      if (p.present && std::isfinite(p.volume))
        pts.push_back(
            {s.pressure_gpa, s.pressure_esd_gpa, p.volume, std::isfinite(p.volume_esd) ? p.volume_esd : 0.0});
    }
    eos.push_back(series::fit_series_eos(phases[k], std::move(pts)));
  }
  auto eos_columns = write_eos_csv(dir / "eos.csv", eos);
  if (tables) tables->eos = std::move(eos_columns);
  if (hp < phases.size()) {
    auto tr = write_transitions_csv(dir / "transitions.csv", series::analyse_transitions(fitted_frames, hp));
    if (tables) tables->transitions = std::move(tr);
    return {dir / "eos.csv", dir / "transitions.csv"};
  }
  return {dir / "eos.csv"};
}

std::vector<fs::path> write_superlattice_outputs(const fs::path& dir, const std::vector<FrameResult>& frames,
                                                 ScanTables* tables) {
  std::vector<io::TableColumn> t = {
      {"frame", "1", {}, {}},           {"pressure_gpa", "GPa", {}, {}}, {"direction", "", {}, {}},
      {"lattice", "", {}, {}},          {"a_nm", "nm", {}, {}},          {"a_esd_nm", "nm", {}, {}},
      {"c_nm", "nm", {}, {}},           {"c_esd_nm", "nm", {}, {}},      {"d_first_nm", "nm", {}, {}},
      {"d_nn_nm", "nm", {}, {}},        {"domain_nm", "nm", {}, {}},     {"score", "1", {}, {}},
      {"status", "", {}, {}},           {"change", "", {}, {}},          {"runner_up", "", {}, {}},
      {"runner_up_a_nm", "nm", {}, {}}, {"runner_up_score", "1", {}, {}}};
  // d of the first indexed peak vs P, per lattice type and direction (true: decompression)
  std::map<std::pair<std::string, bool>, Series> by_lattice;
  for (const auto& r : frames) {
    if (!r.saxs.present) continue;
    const json& a = r.saxs.analysis;
    t[0].numbers.push_back(static_cast<double>(r.index));
    t[1].numbers.push_back(r.pressure_gpa.value_or(NAN));
    t[2].strings.push_back(std::string(pressure::direction_name(r.direction)));
    const std::string lattice = a.is_object() ? a.value("lattice", "none") : "none";
    t[3].strings.push_back(r.saxs.ok ? lattice : "");
    for (std::size_t c : {4u, 5u, 6u, 7u}) t[c].numbers.push_back(number(a, t[c].name.c_str()));
    double d_first = NAN;
    if (a.is_object() && a.contains("peaks"))
      for (const auto& p : a["peaks"])
        if (!p["hkl"].is_null()) {
          d_first = number(p, "d_nm");
          break;
        }
    t[8].numbers.push_back(d_first);
    for (std::size_t c : {9u, 10u, 11u}) t[c].numbers.push_back(number(a, t[c].name.c_str()));
    t[12].strings.push_back(
        !r.saxs.ok       ? "no pattern"
        : !a.is_object() ? "not indexed"
                         : a.value("status", std::string(lattice == "none" ? "no superlattice" : "indexed")));
    t[13].strings.push_back(a.is_object() ? a.value("change", std::string()) : std::string());
    // The next-best lattice the indexing weighed (its score: BIC evidence, as `score`).
    const json ru = a.is_object() ? a.value("runner_up", json()) : json();
    t[14].strings.push_back(ru.is_object() ? ru.value("lattice", std::string()) : std::string());
    t[15].numbers.push_back(number(ru, "a_nm"));
    t[16].numbers.push_back(number(ru, "score"));
    if (r.pressure_gpa && std::isfinite(d_first) && lattice != "none") {
      auto& s = by_lattice[{lattice, r.direction == pressure::Direction::Decompression}];
      s.x.push_back(*r.pressure_gpa);
      s.y.push_back(d_first);
    }
  }
  std::vector<fs::path> out;
  io::write_csv(dir / "superlattice.csv", t);
  out.push_back(dir / "superlattice.csv");
  if (tables) tables->superlattice = t;
  if (!by_lattice.empty()) {
    XYPlot p;
    p.title = "Superlattice: d of the first peak (□ compression, ○ decompression)";
    p.x_label = "Pressure (GPa)";
    p.y_label = "d (nm)";
    std::map<std::string, std::size_t> colour;  // one colour per lattice type
    for (auto& [key, s] : by_lattice) {
      const auto& [name, down] = key;
      colour.emplace(name, colour.size());
      s.label = fmt::format("{} ({})", name, down ? "down" : "up");
      s.rgb = kPalette[colour[name] % kPalette.size()];
      s.line = false;
      s.symbol = down ? 840 : 841;  // squares on compression, circles on decompression
      p.series.push_back(s);
    }
    for (const char* ext : {".png", ".svg", ".pdf"}) {
      draw_plot(dir / (std::string("superlattice_vs_pressure") + ext), p);
      out.push_back(dir / (std::string("superlattice_vs_pressure") + ext));
    }
  }
  return out;
}

namespace {

// SASprocess/date: now (UTC, ISO 8601), or SOURCE_DATE_EPOCH's time when set (reproducible files).
std::string process_date() {
  std::time_t t = std::time(nullptr);
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"))
    t = static_cast<std::time_t>(std::strtoll(e, nullptr, 10));
  char buf[32] = {};
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Pattern1D integrate_image(const std::string& file, const DetectorConfig& c,
                          const DetectorIntegrator& integrator) {
  const io::OpenOptions flips{.flip_up_down = c.flip_ud, .flip_left_right = c.flip_lr};
  io::Frame f;
  f.image = io::read_mean_frame(file, integrator.static_mask().shape, flips, &f.invalid);
  f.origin = file;
  return integrator.integrate(f);
}

saxs::AbsoluteScale glassy_carbon_scale(const DetectorConfig& c, const DetectorIntegrator& integrator) {
  const auto& gc = *c.normalization->glassy_carbon;
  const RadialUnit unit = integrator.settings().unit;
  if (unit != RadialUnit::QInvNm && unit != RadialUnit::QInvA)
    throw InputError(gc.frames, fmt::format("a glassy-carbon scale needs the SAXS patterns in q, not {} "
                                            "([saxs.integration] unit)",
                                            unit_name(unit)));
  const Pattern1D standard = integrate_image(gc.frames, c, integrator),
                  empty = integrate_image(gc.empty, c, integrator);
  const double to_nm = unit == RadialUnit::QInvA ? 10.0 : 1.0;
  std::vector<double> q, measured;
  for (std::size_t i = 0; i < standard.x.size(); ++i) {
    q.push_back(standard.x[i] * to_nm);
    // Per monitor, the standard's own transmission out, the empty holder off, per cm.
    measured.push_back(
        (standard.intensity[i] / (gc.monitor * gc.transmission) - empty.intensity[i] / gc.monitor) /
        (gc.thickness_mm * 0.1));
  }
  const Pattern1D ref = io::read_pattern_text(gc.reference, gc.reference_unit);
  std::vector<double> ref_q;
  const double ref_to_nm = ref.unit == RadialUnit::QInvA ? 10.0 : 1.0;
  for (double x : ref.x) ref_q.push_back(x * ref_to_nm);
  std::optional<std::pair<double, double>> range;
  if (gc.q_range) range = std::pair{gc.q_range->min, gc.q_range->max};
  try {
    return saxs::absolute_scale_factor(q, measured, ref_q, ref.intensity, range);
  } catch (const InputError& e) {
    throw InputError(gc.reference, e.problem());
  }
}

fs::path write_saxs_nxcansas(const fs::path& dir, const std::vector<FrameResult>& frames,
                             const SaxsDescription& d, std::vector<std::string>& warnings) {
  const auto& c = *d.config;
  const auto& norm = c.normalization;
  io::CanSasRun run;
  run.sample_name = d.sample.name.empty() ? d.scan_name : d.sample.name;
  if (!d.sample.medium.empty()) run.sample_details = "pressure medium: " + d.sample.medium;
  if (!d.sample.description.empty())
    run.sample_details += (run.sample_details.empty() ? "" : "; ") + d.sample.description;
  run.wavelength_a = d.geometry.wavelength_m * 1e10;
  run.detector_name = d.geometry.detector.name;
  run.distance_m = d.geometry.dist_m;
  run.pixel_x_m = d.geometry.detector.pixel2_m;
  run.pixel_y_m = d.geometry.detector.pixel1_m;
  run.process_name = "anvil " ANVIL_VERSION;
  run.process_date = process_date();
  std::string normalisation = "none: I as integrated (arbitrary units)";
  double factor = 1.0;  // absolute_scale / thickness (cm)
  if (norm) {
    normalisation = norm->monitor.empty() ? "I" : fmt::format("I / monitor ('{}' counts)", norm->monitor);
    if (!norm->transmitted.empty())
      normalisation += fmt::format(" / T, T = ('{}' / '{}') / {} (empty cell)", norm->transmitted,
                                   norm->monitor, norm->empty_ratio);
    if (d.empty)
      normalisation +=
          fmt::format(" - I_empty / {} ('{}', integrated as the frames)", norm->empty_monitor, norm->empty);
    if (norm->thickness_mm) {
      run.thickness_mm = *norm->thickness_mm;
      normalisation += fmt::format(" / thickness {} mm", *norm->thickness_mm);
      factor /= *norm->thickness_mm * 0.1;
    }
    if (norm->absolute_scale) {
      normalisation += fmt::format(" x absolute scale {}", *norm->absolute_scale);
      factor *= *norm->absolute_scale;
    }
    if (d.glassy_carbon) {
      const auto& gc = *norm->glassy_carbon;
      const auto& s = *d.glassy_carbon;
      normalisation += fmt::format(
          " x absolute scale {:.6g} (± {:.1f} % over q) from glassy carbon {} (empty {}, thickness {} mm, "
          "T {}, monitor {}) against {}, median ratio of {} points at q {:.4g}-{:.4g} 1/nm",
          s.factor, 100 * s.relative_spread, gc.frames, gc.empty, gc.thickness_mm, gc.transmission,
          gc.monitor, gc.reference, s.points, s.q_min_inv_nm, s.q_max_inv_nm);
      factor *= s.factor;
      run.process_notes.push_back({"absolute_scale", fmt::format("{}", s.factor)});
      run.process_notes.push_back({"glassy_carbon", gc.frames});
    }
    if (!norm->monitor.empty()) normalisation += "; counters from " + d.counters_source;
    if ((norm->absolute_scale || d.glassy_carbon) && norm->thickness_mm) run.intensity_units = "1/cm";
  }
  run.process_description =
      fmt::format("azimuthal integration of the SAXS frames ({}); {}", d.integration, normalisation);
  const std::vector<std::pair<std::string, std::string>> notes = {
      {"anvil_version", ANVIL_VERSION},
      {"poni", c.poni},
      {"frames", c.frames.empty() ? std::string() : c.frames.front()},
      {"mask", c.mask.empty() ? "none (detector gaps only)" : c.mask},
      {"dark", c.dark.empty() ? "none" : c.dark + " (subtracted)"},
      {"flat", c.flat.empty() ? "none" : c.flat + " (divided)"},
      {"corrections", d.integration},
      {"normalization", normalisation},
      {"empty_cell", d.empty ? c.normalization->empty + " (subtracted)" : "not subtracted"}};
  run.process_notes.insert(run.process_notes.begin(), notes.begin(), notes.end());
  std::vector<io::CanSasFrame> out;
  std::vector<std::size_t> no_counts;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto& r = frames[k];
    if (!r.saxs.ok || (r.saxs.pattern.unit != RadialUnit::QInvNm && r.saxs.pattern.unit != RadialUnit::QInvA))
      continue;
    io::CanSasFrame f;
    f.frame = static_cast<std::int64_t>(r.index);
    f.title = r.pressure_gpa ? fmt::format("{} frame {}, {:.2f} GPa, {}", d.scan_name, r.index,
                                           *r.pressure_gpa, pressure::direction_name(r.direction))
                             : fmt::format("{} frame {}", d.scan_name, r.index);
    if (r.pressure_gpa) {
      f.pressure_gpa = *r.pressure_gpa;
      f.pressure_esd_gpa = r.pressure_esd_gpa;
      f.direction = std::string(pressure::direction_name(r.direction));
    }
    const double qk = r.saxs.pattern.unit == RadialUnit::QInvA ? 10.0 : 1.0;
    for (double q : r.saxs.pattern.x) f.q_inv_nm.push_back(q * qk);
    f.intensity = r.saxs.pattern.intensity;
    f.sigma = r.saxs.pattern.sigma;
    if (norm) {
      const double m = norm->monitor.empty() ? 1.0 : k < d.monitor.size() ? d.monitor[k] : NAN;
      double t = 1.0;
      if (!norm->transmitted.empty()) {
        const double it = k < d.transmitted.size() ? d.transmitted[k] : NAN;
        t = it / m / norm->empty_ratio;
        f.transmission = t;
      }
      if (!(m > 0) || !(t > 0) || !std::isfinite(t)) {
        no_counts.push_back(r.index);
        continue;
      }
      if (!norm->monitor.empty()) f.monitor = m;
      const double s = factor / (m * t);
      for (auto& v : f.intensity) v *= s;
      for (auto& v : f.sigma) v *= s;
      if (d.empty) {  // less the empty cell per its monitor, on the same scale; σ in quadrature
        const double se = factor / norm->empty_monitor;
        for (std::size_t i = 0; i < f.intensity.size() && i < d.empty->intensity.size(); ++i) {
          f.intensity[i] -= se * d.empty->intensity[i];
          if (i < f.sigma.size() && i < d.empty->sigma.size())
            f.sigma[i] = std::hypot(f.sigma[i], se * d.empty->sigma[i]);
        }
      }
    }
    out.push_back(std::move(f));
  }
  if (!no_counts.empty())
    warnings.push_back(
        fmt::format("saxs_nxcansas.h5: frames {} left out: no positive monitor/transmission counts in {}",
                    io::frame_ranges(no_counts), d.counters_source));
  if (out.empty()) return {};
  io::write_nxcansas(dir / "saxs_nxcansas.h5", out, run);
  return dir / "saxs_nxcansas.h5";
}

std::vector<fs::path> write_scan_plots(const fs::path& dir, const std::vector<FrameResult>& frames,
                                       const std::vector<std::string>& phases) {
  std::vector<fs::path> out;
  auto both = [&](const std::string& stem, const XYPlot& plot) {
    for (const char* ext : {".png", ".svg", ".pdf"}) {
      draw_plot(dir / (stem + ext), plot);
      out.push_back(dir / (stem + ext));
    }
  };
  for (const bool waxs : {true, false}) {
    std::vector<std::vector<double>> xs, ys;
    std::vector<std::string> labels;
    std::vector<std::array<int, 3>> colours;
    std::string x_label;
    for (const auto& r : frames) {
      const auto& o = waxs ? r.waxs : r.saxs;
      if (!o.ok) continue;
      xs.push_back(o.pattern.x);
      ys.push_back(o.pattern.intensity);
      labels.push_back(r.pressure_gpa ? fmt::format("{:.1f} GPa", *r.pressure_gpa)
                                      : fmt::format("#{}", r.index));
      x_label = o.pattern.unit == RadialUnit::TwoThetaDeg ? "2θ (°)"
                : o.pattern.unit == RadialUnit::QInvNm    ? "q (nm⁻¹)"
                : o.pattern.unit == RadialUnit::QInvA     ? "q (Å⁻¹)"
                                                          : unit_name(o.pattern.unit);
      std::array<int, 3> c = r.direction == pressure::Direction::Decompression
                                 ? std::array<int, 3>{200, 60, 40}
                                 : std::array<int, 3>{40, 70, 180};
      if (waxs && fitted(r)) {  // colour by the dominant phase
        double best = -1;
        for (std::size_t k = 0; k < phases.size(); ++k) {
          const double f = number(r.waxs.analysis["phases"].value(phases[k], json()), "fraction");
          if (f > best) best = f, c = kPalette[k % kPalette.size()];
        }
      }
      colours.push_back(c);
    }
    if (xs.empty()) continue;
    const std::string title = waxs ? (phases.empty() ? "WAXS (blue: compression, red: decompression)"
                                                     : "WAXS, coloured by the dominant phase")
                                   : "SAXS (blue: compression, red: decompression)";
    XYPlot w = waterfall(xs, ys, labels, colours, !waxs, x_label, title);
    // A legend for the colours: the phases (WAXS with fits) or the directions.
    const auto key = [&](const std::string& label, std::array<int, 3> rgb) {
      Series e;
      e.label = label;
      e.rgb = rgb;
      w.series.push_back(std::move(e));
    };
    if (waxs && !phases.empty()) {
      for (std::size_t k = 0; k < phases.size(); ++k) key(phases[k], kPalette[k % kPalette.size()]);
    } else {
      key("compression", {40, 70, 180});
      key("decompression", {200, 60, 40});
    }
    both(waxs ? "waterfall_waxs" : "waterfall_saxs", w);
  }
  if (!phases.empty()) {
    XYPlot f;
    f.title = "Phase fractions (□ compression, ○ decompression)";
    f.x_label = "Pressure (GPa)";
    f.y_label = "Fraction";
    XYPlot v;
    v.title = "V/V0 (□ compression, ○ decompression) and BM3 fits (thick lines)";
    v.x_label = "Pressure (GPa)";
    v.y_label = "V/V0";
    std::vector<Series> volumes;  // this phase's volumes, per direction
    for (std::size_t k = 0; k < phases.size(); ++k) {
      for (const auto direction : {pressure::Direction::Compression, pressure::Direction::Decompression}) {
        Series s, sv;
        s.label =
            fmt::format("{} ({})", phases[k], direction == pressure::Direction::Compression ? "up" : "down");
        s.rgb = sv.rgb = kPalette[k % kPalette.size()];
        s.symbol = sv.symbol = direction == pressure::Direction::Compression ? 841 : 840;
        s.dashed = sv.dashed = direction == pressure::Direction::Decompression;
        sv.label = s.label;
        sv.line = false;  // data as symbols; the lines are the fits
        for (const auto& r : frames) {
          if (r.direction != direction || !fitted(r) || !r.pressure_gpa) continue;
          const json ph = r.waxs.analysis["phases"].value(phases[k], json());
          s.x.push_back(*r.pressure_gpa);
          s.y.push_back(number(ph, "fraction"));
          s.y_err.push_back(number(ph, "fraction_esd"));
          if (!ph.value("absent", true)) {
            sv.x.push_back(*r.pressure_gpa);
            sv.y.push_back(number(ph, "volume"));
            sv.y_err.push_back(number(ph, "volume_esd"));
          }
        }
        if (!s.x.empty()) f.series.push_back(s);
        if (!sv.x.empty()) volumes.push_back(sv);
      }
      // V/V0 of this phase against its BM3 fit over both directions; a phase whose EOS cannot
      // be fitted (too few frames) is left out of this figure (eos.csv says why).
      std::vector<series::PvPoint> pts;
      for (const auto& sv : volumes)
        for (std::size_t i = 0; i < sv.x.size(); ++i)
          pts.push_back({sv.x[i], 0.0, sv.y[i], std::isfinite(sv.y_err[i]) ? sv.y_err[i] : 0.0});
      if (pts.size() >= 4) {
        try {
          const auto fit = series::fit_eos(pts, pressure::EosForm::BM3);
          if (fit.converged && fit.eos.v0 > 0) {
            double pmin = INFINITY, pmax = -INFINITY;
            for (auto& sv : volumes) {
              for (std::size_t i = 0; i < sv.x.size(); ++i) {
                sv.y[i] /= fit.eos.v0;
                sv.y_err[i] /= fit.eos.v0;
                pmin = std::min(pmin, sv.x[i]);
                pmax = std::max(pmax, sv.x[i]);
              }
              v.series.push_back(sv);
            }
            Series curve;  // the fit: a thick line, the data symbols only
            curve.rgb = kPalette[k % kPalette.size()];
            curve.width = 2.5;
            curve.label = phases[k] + " BM3";
            for (int i = 0; i <= 50; ++i) {
              const double pr = pmin + (pmax - pmin) * i / 50.0;
              curve.x.push_back(pr);
              curve.y.push_back(fit.eos.volume_at(pr) / fit.eos.v0);
            }
            v.series.push_back(curve);
          }
        } catch (const std::exception&) {
          // no curve: the EOS does not reach these pressures
        }
      }
      volumes.clear();
    }
    if (!f.series.empty()) both("phase_fractions", f);
    if (!v.series.empty()) both("volume_vs_pressure", v);
  }
  return out;
}

namespace {

std::string html_escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A CSV file as an HTML table (the small summary tables only).
std::string csv_table(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return {};
  std::string html = "<table>\n", line;
  bool header = true;
  while (std::getline(in, line)) {
    html += "<tr>";
    std::string cell;
    bool quoted = false;
    auto flush = [&] {
      std::string shown = cell;
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (!cell.empty() && end && *end == '\0') shown = fmt::format("{:.4g}", v);
      html += header ? "<th>" + html_escape(shown) + "</th>" : "<td>" + html_escape(shown) + "</td>";
      cell.clear();
    };
    for (char c : line) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted)
        flush();
      else
        cell += c;
    }
    flush();
    html += "</tr>\n";
    header = false;
  }
  return html + "</table>\n";
}

}  // namespace

fs::path write_report(const fs::path& dir, const std::string& scan_name,
                      const std::vector<FrameResult>& frames, const std::vector<std::string>& phases,
                      const std::vector<fs::path>& outputs, const std::string& command_line) {
  std::size_t ok = 0;
  std::map<std::string, std::vector<std::size_t>> reasons;  // reason -> frames
  double pmin = INFINITY, pmax = -INFINITY;
  for (const auto& r : frames) {
    if (r.ok()) ++ok;
    for (const auto* o : {&r.waxs, &r.saxs}) {
      if (o->present && !o->ok) reasons[o->detector + ": " + o->error_reason()].push_back(r.index);
      if (o->analysis_failed())
        reasons[fmt::format("{} {} failed: {}", o->detector, o->analysis_name(), o->analysis_reason())]
            .push_back(r.index);
    }
    if (r.pressure_gpa) pmin = std::min(pmin, *r.pressure_gpa), pmax = std::max(pmax, *r.pressure_gpa);
  }
  std::string h;
  h += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>anvil: " + html_escape(scan_name) +
       "</title>\n";
  h += "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #bbb;padding:3px 8px;"
       "text-align:right}th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}"
       "code{background:#f4f4f4;padding:1px 4px}</style></head><body>\n";
  h += "<h1>Scan " + html_escape(scan_name) + "</h1>\n";
  h += fmt::format("<p>{} frames: {} succeeded, {} failed.", frames.size(), ok, frames.size() - ok);
  if (std::isfinite(pmin)) h += fmt::format(" Pressure {:.2f}–{:.2f} GPa.", pmin, pmax);
  if (!phases.empty()) {
    h += " Phases fitted: ";
    for (std::size_t k = 0; k < phases.size(); ++k) h += (k ? ", " : "") + html_escape(phases[k]);
    h += ".";
  }
  h += "</p>\n<p>Made by anvil " ANVIL_VERSION ": <code>" + html_escape(command_line) + "</code></p>\n";
  if (!reasons.empty()) {
    h += "<h2>Failed frames</h2>\n<table><tr><th>count</th><th>frames</th><th>reason</th></tr>\n";
    for (const auto& [reason, which] : reasons)
      h += fmt::format("<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>\n", which.size(),
                       html_escape(io::frame_ranges(which)), html_escape(reason));
    h += "</table>\n";
  }
  for (const auto& [file, title] : {std::pair{"transitions.csv", "Transitions of the high-pressure phase"},
                                    {"eos.csv", "Equations of state"},
                                    {"superlattice_summary.csv", "Superlattice"}})
    if (fs::exists(dir / file)) h += std::string("<h2>") + title + "</h2>\n" + csv_table(dir / file);
  h += "<h2>Figures</h2>\n";
  for (const auto& f : outputs)
    if (f.extension() == ".png")
      h += "<p><img src=\"" + html_escape(f.filename().string()) + "\" alt=\"" +
           html_escape(f.stem().string()) + "\"></p>\n";
  h += "<h2>Files</h2>\n<ul>\n";
  for (const auto& f : outputs)
    h += "<li><a href=\"" + html_escape(f.filename().string()) + "\">" + html_escape(f.filename().string()) +
         "</a></li>\n";
  h += "</ul>\n</body></html>\n";
  const fs::path path = dir / "report.html";
  {
    std::ofstream out(fs::path(path).concat(".part"));
    out << h;
  }
  fs::rename(fs::path(path).concat(".part"), path);
  return path;
}

}  // namespace anvil::pipeline
