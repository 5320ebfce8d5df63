// anvil fit-series PATTERNS.h5 --pressure P.csv --phases CdSe-WZ,CdSe-ZB,CdSe-RS -o OUTDIR:
// every frame of a pattern stack refined with the same phases (lib/series), then phase
// fractions, cells, equations of state and transition pressures as CSV tables and figures.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "calib_dirs.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "debye_fit.hpp"
#include "geometry/poni.hpp"
#include "io/pattern_io.hpp"
#include "io/pressure_table.hpp"
#include "io/results_file.hpp"
#include "phase_models.hpp"
#include "plots.hpp"
#include "pressure/direction.hpp"
#include "pressure/standard.hpp"
#include "scan_outputs.hpp"
#include "scan_outputs_nexus.hpp"
#include "series/parametric.hpp"
#include "series/series.hpp"
#include "series/transition.hpp"
#include "series_tables.hpp"
#include "waxs_fit.hpp"

namespace anvil::cli {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct FitSeriesArgs {
  std::string patterns;
  std::string pressure_file;
  std::string phases;
  std::string mode = "independent";
  bool reverse = false;
  bool parametric = false;
  bool fixed_c_over_a = false;
  std::string standard;
  std::string range;
  int threads = 0;
  std::optional<double> wavelength_a;
  std::string group;
  std::string size_profile = "sphere";
  std::string lp = "lorentz";
  std::string caglioti;
  std::optional<std::int64_t> first_frame;  // the pressure table's number of the stack's first frame
  int background_terms = 8;
  std::string criterion = "bic";
  std::string high_pressure_phase;
  std::string phase_dir;
  std::string output;
  bool no_plots = false;
  bool quiet = false;
  // --model debye: Debye-function clusters (docs/debye.md), as `anvil run` with model = "debye"
  DebyeOptions debye;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<double> numbers(const std::string& s, std::size_t n, const char* what) {
  std::vector<double> out;
  for (const auto& t : split(s, ',')) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end == t.c_str() || *end) throw InputError(what, fmt::format("'{}' is not a number", t));
    if (!std::isfinite(v)) throw InputError(what, fmt::format("'{}' is not a finite number", t));
    out.push_back(v);
  }
  if (out.size() != n)
    throw InputError(what, fmt::format("expected {} comma-separated numbers, got '{}'", n, s));
  return out;
}

std::filesystem::path phase_dir(const FitSeriesArgs& a) {
  if (!a.phase_dir.empty()) return a.phase_dir;
  return pipeline::phase_dir();
}

// The stack's frame numbers (/entry/<group>/frame_index) and the wavelength its provenance
// records (the .poni text of `anvil integrate` or `anvil run`), when there is one.
}  // namespace

// results.h5 of a fit-series run: its tables as NeXus, written by anvil run's writer (the layout
// of docs/formats.md, without the patterns, frames and instrument a scan description gives).
std::filesystem::path write_series_results(const std::filesystem::path& out,
                                           const pipeline::ScanTables& tables, const FitSeriesArgs& a,
                                           double lambda_a) {
  pipeline::NexusScan scan;
  scan.title = std::filesystem::path(a.patterns).stem().string();
  io::ResultsContent rc;
  rc.entry = pipeline::results_entry(tables, scan, &rc.default_group);
  rc.provenance = {{"program", "anvil fit-series"},
                   {"version", ANVIL_VERSION},
                   {"patterns", a.patterns},
                   {"phases", a.phases},
                   {"wavelength_A", fmt::format("{}", lambda_a)},
                   {"pressure_file", a.pressure_file},
                   {"model", a.debye.le_bail ? "le_bail" : a.debye.model},
                   {"mode", a.mode}};
  io::write_results_file(out / "results.h5", rc);
  return out / "results.h5";
}

StackInfo stack_info(const std::string& path, const std::string& group) {
  StackInfo out;
  out.frame_index = io::pattern_stack_frame_index(path, group);
  for (const std::string& key : std::vector<std::string>{"poni", group + "_poni", "waxs_poni"}) {
    const std::string text = io::pattern_stack_process_text(path, key);
    if (text.empty()) continue;
    try {
      out.wavelength_a = geometry::parse_poni(text, path + ":/entry/process/" + key).wavelength_m * 1e10;
      break;
    } catch (const InputError&) {
      // Not a .poni anvil can read: the next key is tried, and without any, --wavelength is asked for.
    }
  }
  return out;
}

namespace {

// The Debye model over the stack: each frame fitted as `anvil run` fits it (pipeline::DebyeFitter,
// cells seeded from each phase's EOS at the frame's pressure), frames in parallel, and the tables
// and figures written by the same writers as `anvil run`'s.
int run_debye_series(const FitSeriesArgs& a, const std::vector<series::SeriesFrame>& frames, double lambda,
                     std::vector<std::string>& warnings) {
  namespace fs = std::filesystem;
  if (!a.standard.empty())
    throw InputError("--standard",
                     "with --model debye a pressure marker is one of --others (Le Bail); "
                     "pressures come from --pressure");
  if (a.mode != "independent" || a.parametric)
    throw InputError("--mode",
                     "the Debye model fits frames independently (no --mode sequential, --parametric)");
  pipeline::DebyeFitSettings ds;
  ds.phases = split(a.phases, ',');
  if (ds.phases.empty()) throw InputError("--phases", "name at least one phase");
  apply_debye_options(a.debye, ds);
  ds.phase_dir = phase_dir(a);
  ds.wavelength_a = lambda;
  if (!a.range.empty()) {
    const auto r = numbers(a.range, 2, "--range");
    ds.range_deg = integrate::Range{r[0], r[1]};
  }
  ds.fit.background_terms = a.background_terms;
  tbb::task_arena arena(a.threads > 0 ? a.threads : tbb::task_arena::automatic);
  std::unique_ptr<pipeline::DebyeFitter> fitter;
  arena.execute([&] { fitter = std::make_unique<pipeline::DebyeFitter>(ds); });
  if (!a.quiet)
    fmt::print("{}: {} frames, phases {}, others {}, Debye-function clusters built in {:.2f} s\n", a.patterns,
               frames.size(), fmt::join(ds.phases, ","),
               ds.others.empty() ? "none" : fmt::format("{}", fmt::join(ds.others, ",")),
               fitter->setup_seconds());
  std::vector<double> pressures, esds;
  bool all_pressures = true;
  for (const auto& f : frames) {
    all_pressures = all_pressures && std::isfinite(f.pressure_gpa);
    pressures.push_back(f.pressure_gpa);
    esds.push_back(f.pressure_esd_gpa);
  }
  const auto directions =
      all_pressures ? pressure::tag_directions(pressures, esds) : std::vector<pressure::Direction>{};
  std::vector<pipeline::FrameResult> results(frames.size());
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, frames.size(), [&](std::size_t k) {
      const auto& f = frames[k];
      auto& r = results[k];
      r.index = f.frame;
      if (std::isfinite(f.pressure_gpa)) r.pressure_gpa = f.pressure_gpa;
      r.pressure_esd_gpa = f.pressure_esd_gpa;
      if (!directions.empty()) r.direction = directions[k];
      r.waxs.detector = "waxs";
      r.waxs.present = r.waxs.ok = true;
      r.waxs.source = fmt::format("{} frame {}", a.patterns, f.frame);
      r.waxs.pattern.unit = RadialUnit::TwoThetaDeg;
      r.waxs.pattern.x = f.pattern.two_theta_deg;
      r.waxs.pattern.intensity = f.pattern.intensity;
      r.waxs.pattern.sigma = f.pattern.sigma;
      const auto cells = r.pressure_gpa ? pipeline::eos_cells(fitter->powder_phases(), *r.pressure_gpa)
                                        : std::vector<std::pair<double, double>>{};
      try {
        r.waxs.analysis = fitter->fit(r.waxs.pattern, cells, r.pressure_gpa);
      } catch (const std::exception& e) {  // one frame's failure is that frame's (as anvil run)
        r.waxs.analysis = {{"status", "failed"}, {"reason", e.what()}};
      }
    });
  });
  fs::create_directories(a.output);
  const fs::path out(a.output);
  std::vector<fs::path> written;
  pipeline::ScanTables tables;               // what the CSVs hold, for results.h5
  if (!fitter->settings().phases.empty()) {  // (--le-bail: no sample phases, no fractions)
    written = pipeline::write_phase_tables(out, results, fitter->settings().phases, &tables);
    for (auto& f : pipeline::write_series_tables(out, results, fitter->settings().phases,
                                                 series::densest_phase(fitter->powder_phases()), &tables))
      written.push_back(f);
  }
  if (!ds.others.empty())
    written.push_back(pipeline::write_other_phases_table(out, results, ds.others, &tables));
  written.push_back(write_series_results(out, tables, a, lambda));
  if (!a.no_plots)
    for (auto& f : pipeline::write_scan_plots(out, results, fitter->settings().phases)) written.push_back(f);
  std::size_t ok = 0;
  for (const auto& r : results) ok += r.ok() ? 1 : 0;
  if (!a.quiet) {
    fmt::print("{} of {} frames fitted\n", ok, results.size());
    for (const auto& r : results)
      if (!r.ok()) fmt::print("  frame {}: {}\n", r.index, r.error());
    for (const auto& f : written) fmt::print("  {}\n", f.string());
  }
  for (const auto& w : warnings) fmt::print(stderr, "anvil: warning: {}\n", w);
  return ok > 0 ? 0 : 1;
}

int run_fit_series(const FitSeriesArgs& a) {
  namespace fs = std::filesystem;
  // The stack.
  std::string group = a.group;
  std::size_t n_frames = 0;
  if (group.empty()) {
    for (const char* g : {"integrated", "waxs"}) {
      try {
        n_frames = io::pattern_stack_size(a.patterns, g);
        group = g;
        break;
      } catch (const InputError&) {
        // No stack of that name: the next is tried; none at all is the error below.
      }
    }
    if (group.empty())
      throw InputError(a.patterns,
                       "no pattern stack /entry/integrated or /entry/waxs (name one with --group)");
  } else {
    n_frames = io::pattern_stack_size(a.patterns, group);
  }
  if (n_frames == 0) throw InputError(a.patterns, "the pattern stack holds no frame");
  const StackInfo info = stack_info(a.patterns, group);
  const double lambda = a.wavelength_a ? *a.wavelength_a : info.wavelength_a.value_or(0.0);
  if (!(lambda > 0.0))
    throw InputError(a.patterns, "no wavelength in the file's provenance: give --wavelength (Å)");

  std::vector<std::string> warnings;
  // Patterns in 2θ (degrees), restricted to --range.
  std::vector<series::SeriesFrame> frames;
  double lo = -1, hi = 1e9;
  if (!a.range.empty()) {
    const auto r = numbers(a.range, 2, "--range");
    lo = r[0], hi = r[1];
    if (!(hi > lo)) throw InputError("--range", "the upper end must exceed the lower");
  }
  for (std::size_t k = 0; k < n_frames; ++k) {
    Pattern1D p = io::read_pattern_stack(a.patterns, group, k);
    powder::PowderPattern in_tth;
    try {
      in_tth = pipeline::to_two_theta(p, lambda);  // the conversion anvil fit and anvil run use
    } catch (const InputError& e) {
      throw InputError(a.patterns, e.problem());  // name the stack the pattern came from
    }
    series::SeriesFrame f;
    f.frame = k < info.frame_index.size() ? info.frame_index[k] : k;
    const auto& tth = in_tth.two_theta_deg;
    for (std::size_t i = 0; i < tth.size(); ++i) {
      if (!std::isfinite(tth[i]) || tth[i] < lo || tth[i] > hi || tth[i] <= 0) continue;
      if (!f.pattern.two_theta_deg.empty() && !(tth[i] > f.pattern.two_theta_deg.back())) continue;
      f.pattern.two_theta_deg.push_back(tth[i]);
      f.pattern.intensity.push_back(in_tth.intensity[i]);
      f.pattern.sigma.push_back(in_tth.sigma[i]);
    }
    if (f.pattern.two_theta_deg.size() < 20)
      throw InputError(a.patterns, fmt::format("{} points of frame {} in the 2θ range",
                                               f.pattern.two_theta_deg.size(), k));
    frames.push_back(std::move(f));
  }
  const double tmin = frames.front().pattern.two_theta_deg.front(),
               tmax = frames.front().pattern.two_theta_deg.back();

  // Pressures.
  if (!a.pressure_file.empty()) {
    const io::PressureTable table = io::read_pressure_table(a.pressure_file, io::RepeatedFrames::KeepFirst);
    for (const auto& w : table.warnings) warnings.push_back(a.pressure_file + ": " + w);
    // The table's frame numbers against the stack's (io::match_frame_numbers: a 1-based table is
    // said so, any other mismatch is an error naming the frames).
    std::vector<std::size_t> log_frames;
    for (const auto& pt : table.points) log_frames.push_back(pt.frame);
    std::size_t lo_frame = frames.front().frame, hi_frame = frames.front().frame;
    for (const auto& f : frames)
      lo_frame = std::min(lo_frame, f.frame), hi_frame = std::max(hi_frame, f.frame);
    const auto numbering =
        io::match_frame_numbers(log_frames, lo_frame, hi_frame, a.first_frame, false, a.pressure_file);
    if (!a.quiet && !numbering.note.empty()) fmt::print("note: {}\n", numbering.note);
    for (const auto& w : numbering.warnings) warnings.push_back(w);
    for (auto& f : frames) {
      const std::int64_t t = static_cast<std::int64_t>(f.frame) + numbering.offset;
      if (t < 0) continue;
      if (const auto* pt = table.find(static_cast<std::size_t>(t))) {
        f.pressure_gpa = pt->pressure_gpa;
        f.pressure_esd_gpa = pt->esd_gpa.value_or(0.0);
      }
    }
  } else if (a.standard.empty()) {
    warnings.push_back("no --pressure and no --standard: frames have no pressure (no EOS, no transitions)");
  }

  if (a.debye.model == "debye" || a.debye.le_bail) return run_debye_series(a, frames, lambda, warnings);

  // Phases.
  std::vector<std::string> names = split(a.phases, ',');
  if (names.empty()) throw InputError("--phases", "name at least one phase");
  const pressure::PressureStandard* standard = nullptr;
  int standard_index = -1;
  if (!a.standard.empty()) {
    standard = &pressure::find_standard(a.standard);
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == standard->material || names[k] == a.standard) standard_index = static_cast<int>(k);
    if (standard_index < 0) {
      standard_index = static_cast<int>(names.size());
      names.push_back(standard->material);
    }
  }
  const auto phases = pipeline::load_powder_phases(names, phase_dir(a), lambda, tmin, tmax);
  powder::ModelSettings settings;
  settings.instrument.wavelength_a = lambda;
  if (!a.caglioti.empty()) {
    const auto uvw = numbers(a.caglioti, 3, "--caglioti");
    settings.instrument.u = uvw[0], settings.instrument.v = uvw[1], settings.instrument.w = uvw[2];
  } else {
    settings.instrument.w = 0.002;
  }
  if (a.size_profile == "sphere") {
    settings.size_profile = powder::SizeProfile::Sphere;
  } else if (a.size_profile == "lorentzian") {
    settings.size_profile = powder::SizeProfile::Lorentzian;
  } else if (a.size_profile == "none") {
    settings.size_profile = powder::SizeProfile::None;
  } else {
    throw InputError("--size-profile",
                     fmt::format("'{}' (expected sphere, lorentzian or none)", a.size_profile));
  }
  settings.lp =
      a.lp == "unpolarised" ? crystal::LpModel::Unpolarised : crystal::LpModel::PolarisationCorrected;
  settings.background_terms = a.background_terms;
  auto start = powder::default_parameters(phases, settings, 5.0);
  if (standard_index >= 0) start.phases[standard_index].size_nm.value = 30.0;

  series::SeriesOptions opt;
  if (a.mode == "sequential") {
    opt.mode = series::SeriesMode::Sequential;
  } else if (a.mode != "independent") {
    throw InputError("--mode", fmt::format("'{}' (expected independent or sequential)", a.mode));
  }
  opt.reverse = a.reverse;
  opt.num_threads = a.threads;
  opt.standard_phase = standard_index;
  opt.standard = standard;
  if (a.criterion == "aic") {
    opt.presence.criterion = series::InformationCriterion::AIC;
  } else if (a.criterion == "none") {
    opt.presence.criterion = series::InformationCriterion::None;
  } else if (a.criterion != "bic") {
    throw InputError("--criterion", fmt::format("'{}' (expected bic, aic or none)", a.criterion));
  }

  if (!a.quiet)
    fmt::print("{}: {} frames, {} points each ({:.2f}–{:.2f}° 2θ, λ = {} Å), phases {}, {} mode\n",
               a.patterns, frames.size(), frames.front().pattern.two_theta_deg.size(), tmin, tmax, lambda,
               fmt::join(names, ", "), a.mode);
  const series::SeriesResult res = series::refine_series(frames, phases, settings, start, {}, opt);
  for (const auto& w : res.warnings) warnings.push_back(w);

  fs::create_directories(a.output);
  const fs::path out(a.output);
  std::vector<std::size_t> sample;
  for (std::size_t p = 0; p < phases.size(); ++p)
    if (static_cast<int>(p) != standard_index) sample.push_back(p);

  pipeline::ScanTables tables;  // what the CSVs hold, for results.h5
  // phase_fractions.csv and lattice.csv, in anvil run's layout; the pressure's σ, source and
  // standard and the sequential fit's notes as extra columns.
  {
    std::vector<std::string> sample_names;
    for (std::size_t p : sample) sample_names.push_back(names[p]);
    std::vector<pipeline::FractionsRow> rows;
    io::TableColumn pesd{"pressure_esd_gpa", "GPa"}, psrc{"pressure_source"},
        pstd{"standard_pressure_gpa", "GPa"}, notes{"notes"};
    std::vector<pipeline::LatticeRow> lattice;
    for (const auto& f : res.frames) {
      pipeline::FractionsRow r;
      r.frame = f.frame;
      r.pressure_gpa = f.pressure_gpa;
      r.direction = std::string(pressure::direction_name(f.direction));
      for (std::size_t p : sample) {
        r.fraction.push_back(f.phases[p].fraction);
        r.fraction_esd.push_back(f.phases[p].fraction_esd);
      }
      r.rwp = f.rwp;
      r.status = powder::status_name(f.status);
      r.reason = f.reason;
      rows.push_back(std::move(r));
      pesd.numbers.push_back(f.pressure_esd_gpa);
      psrc.strings.emplace_back(series::pressure_origin_name(f.pressure_origin));
      pstd.numbers.push_back(f.standard_pressure_gpa);
      std::string n;
      for (const auto& x : f.notes) n += (n.empty() ? "" : "; ") + x;
      for (const auto& x : f.at_bound) n += (n.empty() ? "" : "; ") + x + " at its bound (frozen from here)";
      notes.strings.push_back(n);
      if (!f.ok()) continue;
      for (std::size_t p = 0; p < phases.size(); ++p) {
        const auto& ph = f.phases[p];
        if (!ph.present) continue;
        const bool hex = phases[p].kind == powder::CellKind::Hexagonal;
        pipeline::LatticeRow l;
        l.frame = f.frame;
        l.pressure_gpa = f.pressure_gpa;
        l.direction = std::string(pressure::direction_name(f.direction));
        l.phase = names[p];
        l.a = ph.a, l.a_esd = ph.a_esd;
        l.c = hex ? ph.c : kNaN, l.c_esd = hex ? ph.c_esd : kNaN;
        l.volume = ph.volume, l.volume_esd = ph.volume_esd;
        l.size_nm = ph.size_nm, l.size_esd_nm = ph.size_esd;
        for (std::size_t k = 0; k < 3 && k < ph.main_lines.size(); ++k) {
          const auto& line = ph.main_lines[k];
          l.lines[k] = {fmt::format("{} {} {}", line.h, line.k, line.l), line.d_a, line.d_esd};
        }
        lattice.push_back(std::move(l));
      }
    }
    tables.fractions = pipeline::write_fractions_csv(out, sample_names, rows, {pesd, psrc, pstd, notes});
    tables.phases = sample_names;
    tables.lattice = pipeline::write_lattice_csv(out / "lattice.csv", lattice);
  }
  // Parametric refinement.
  std::optional<series::ParametricResult> par;
  if (a.parametric) {
    series::ParametricOptions po;
    po.c_over_a_per_frame = !a.fixed_c_over_a;
    try {
      par = series::refine_parametric(frames, res, phases, settings, opt, po);
      io::TableColumn frame{"frame"}, pres{"pressure_gpa"}, phase{"phase"}, ca{"a"}, cc{"c"}, v{"volume"},
          r{"c_over_a"};
      for (const auto& ph : par->phases)
        for (std::size_t k = 0; k < ph.frames.size(); ++k) {
          frame.numbers.push_back(static_cast<double>(ph.frames[k]));
          pres.numbers.push_back(ph.pressure_gpa[k]);
          phase.strings.push_back(ph.phase);
          ca.numbers.push_back(ph.a[k]);
          const bool hex = phases[ph.index].kind == powder::CellKind::Hexagonal;
          cc.numbers.push_back(hex ? ph.c[k] : kNaN);
          v.numbers.push_back(ph.volume[k]);
          r.numbers.push_back(hex ? ph.c_over_a[k] : kNaN);
        }
      io::write_csv(out / "lattice_parametric.csv", {frame, pres, phase, ca, cc, v, r});
    } catch (const InputError& e) {
      warnings.push_back(std::string("parametric refinement not done: ") + e.what());
    }
  }
  // eos.csv
  tables.eos = pipeline::write_eos_csv(out / "eos.csv", res.eos,
                                       par ? par->phases : std::vector<series::ParametricPhase>{});
  // transitions.csv
  series::TransitionAnalysis tr;
  std::size_t hp = phases.size();
  if (!a.high_pressure_phase.empty()) {
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (names[p] == a.high_pressure_phase) hp = p;
    if (hp == phases.size())
      throw InputError("--high-pressure-phase",
                       fmt::format("'{}' is not among --phases", a.high_pressure_phase));
  } else if (sample.size() > 1) {
    hp = series::densest_phase(phases, standard_index);
  }
  if (hp < phases.size()) {
    tr = series::analyse_transitions(res.frames, hp, standard_index);
    tables.transitions = pipeline::write_transitions_csv(out / "transitions.csv", tr);
  }
  write_series_results(out, tables, a, lambda);

  // Figures.
  if (!a.no_plots) {
    const std::vector<std::array<int, 3>> colours{{31, 119, 180},  {214, 39, 40},  {44, 160, 44},
                                                  {148, 103, 189}, {255, 127, 14}, {140, 86, 75}};
    pipeline::XYPlot fp;
    fp.title = "Phase fractions";
    fp.x_label = "Pressure (GPa)";
    fp.y_label = "Fraction (formula units)";
    for (std::size_t k = 0; k < sample.size(); ++k) {
      const std::size_t p = sample[k];
      for (const auto dir : {pressure::Direction::Compression, pressure::Direction::Decompression}) {
        pipeline::Series s;
        for (const auto& f : res.frames)
          if (f.ok() && std::isfinite(f.pressure_gpa) && f.direction == dir) {
            s.x.push_back(f.pressure_gpa);
            s.y.push_back(f.phases[p].fraction);
            s.y_err.push_back(f.phases[p].fraction_esd);
          }
        if (s.x.empty()) continue;
        const bool up = dir == pressure::Direction::Compression;
        s.label = names[p] + (up ? " compression" : " decompression");
        s.rgb = colours[k % colours.size()];
        s.symbol = up ? 850 : 840;  // filled / open circles
        s.dashed = !up;
        fp.series.push_back(std::move(s));
      }
    }
    if (!fp.series.empty()) pipeline::draw_plot(out / "phase_fractions.png", fp);

    pipeline::XYPlot vp;
    vp.title = "V/V0 and equations of state";
    vp.x_label = "Pressure (GPa)";
    vp.y_label = "V/V0";
    for (std::size_t k = 0; k < phases.size(); ++k) {
      const auto& e = res.eos[k];
      const auto* fit = e.bm3 && e.bm3->converged ? &*e.bm3 : (e.bm2 && e.bm2->converged ? &*e.bm2 : nullptr);
      if (!fit || e.points.empty()) continue;
      const auto ratios = series::volume_ratios(e.points, fit->eos.v0, fit->v0_esd);
      pipeline::Series pts;
      double pmax = 0;
      for (const auto& r : ratios) {
        pts.x.push_back(r.pressure_gpa);
        pts.y.push_back(r.ratio);
        pts.y_err.push_back(r.ratio_esd);
        pmax = std::max(pmax, r.pressure_gpa);
      }
      pts.line = false;
      pts.symbol = 850;
      pts.rgb = colours[k % colours.size()];
      pts.label = names[k];
      pipeline::Series curve;
      for (int i = 0; i <= 100; ++i) {
        const double pr = pmax * i / 100.0;
        try {
          curve.y.push_back(fit->eos.volume_at(pr) / fit->eos.v0);
          curve.x.push_back(pr);
        } catch (const InputError&) {
          // Beyond where this EOS has a volume (a spinodal): the drawn curve stops there.
        }
      }
      curve.rgb = pts.rgb;
      curve.width = 2.5;  // the fit, distinct from the data's symbols
      curve.label = fmt::format("{} {} K0 = {:.1f} GPa", names[k], pressure::eos_form_name(fit->eos.form),
                                fit->eos.k0_gpa);
      vp.series.push_back(std::move(pts));
      vp.series.push_back(std::move(curve));
    }
    if (!vp.series.empty()) pipeline::draw_plot(out / "volume_eos.png", vp);
  }

  // Summary.
  int ok = 0;
  for (const auto& f : res.frames) ok += f.ok();
  if (!a.quiet) {
    fmt::print("{} frames, {} converged, {} not ({:.2f} s)\n", res.frames.size(), ok, res.frames.size() - ok,
               res.seconds);
    for (const auto& e : res.eos)
      if (e.bm3 && e.bm3->converged)
        fmt::print(
            "  {:10s} BM3  V0 {:.3f} ± {:.3f} Å³  K0 {:.1f} ± {:.1f} GPa  K0' {:.2f} ± {:.2f}  ({} frames)\n",
            e.phase, e.bm3->eos.v0, e.bm3->v0_esd, e.bm3->eos.k0_gpa, e.bm3->k0_esd, e.bm3->eos.k0_prime,
            e.bm3->k0_prime_esd, e.points.size());
    for (const auto* t : {&tr.compression, &tr.decompression})
      if (t->detected)
        fmt::print("  {:13s} {} → {}: onset {:.2f} ± {:.2f} GPa, midpoint {:.2f} ± {:.2f} GPa\n",
                   pressure::direction_name(t->direction), t->from, t->to, t->fit.onset_gpa, t->fit.onset_esd,
                   t->fit.midpoint_gpa, t->fit.midpoint_esd);
    if (std::isfinite(tr.hysteresis_gpa))
      fmt::print("  hysteresis {:.2f} ± {:.2f} GPa\n", tr.hysteresis_gpa, tr.hysteresis_esd);
    if (std::isfinite(tr.retained_fraction))
      fmt::print("  retained {} fraction {:.3f} ± {:.3f} at {:.2f} GPa (frame {})\n", tr.high_pressure_phase,
                 tr.retained_fraction, tr.retained_esd, tr.retained_at_gpa, tr.retained_frame);
    if (par)
      fmt::print("  parametric: ΔBIC (tied − free cells) = {:.1f} over {} frames\n", par->delta_bic,
                 par->num_frames);
    fmt::print("tables and figures in {}\n", a.output);
  }
  for (const auto& w : warnings) fmt::print(stderr, "anvil: warning: {}\n", w);
  return ok > 0 ? 0 : 1;
}

}  // namespace

void add_fit_series_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<FitSeriesArgs>();
  auto* cmd =
      app.add_subcommand("fit-series",
                         "Refine every frame of a pattern stack: phase fractions, cells, equations of state "
                         "and transition pressures vs pressure");
  cmd->add_option("patterns", a->patterns,
                  "Pattern stack (anvil integrate -o x.h5, or anvil run's results.h5)")
      ->required();
  cmd->add_option("--pressure", a->pressure_file,
                  "Pressure table (CSV: frame, pressure_gpa[, pressure_esd_gpa])");
  cmd->add_option("--phases", a->phases, "Comma-separated phases, e.g. CdSe-WZ,CdSe-ZB,CdSe-RS")->required();
  cmd->add_option("--mode", a->mode, "independent (parallel, EOS-seeded) or sequential")
      ->capture_default_str();
  cmd->add_flag("--reverse", a->reverse, "Sequential mode: last frame first");
  cmd->add_flag("--parametric", a->parametric, "Also tie each phase's cells to one EOS across frames");
  cmd->add_flag("--fixed-c-over-a", a->fixed_c_over_a,
                "Parametric: c/a of hexagonal phases fixed (not per frame)");
  cmd->add_option("--standard", a->standard,
                  "Internal pressure standard fitted as a phase (Au, Pt, ...): P for frames without one");
  cmd->add_option("--range", a->range, "2θ range in degrees, e.g. 6,22");
  cmd->add_option("--threads", a->threads, "Threads (0: all)")->capture_default_str();
  cmd->add_option("--wavelength", a->wavelength_a, "Wavelength (Å) when the file does not record it")
      ->check(positive_number());
  cmd->add_option("--group,--dataset", a->group,
                  "Pattern stack under /entry (default: integrated, else waxs)");
  cmd->add_option("--size-profile", a->size_profile, "sphere, lorentzian or none")->capture_default_str();
  cmd->add_option("--lp", a->lp, "lorentz (integrated + polarisation-corrected) or unpolarised")
      ->capture_default_str();
  cmd->add_option("--caglioti", a->caglioti, "Instrument U,V,W (deg²), from a calibrant fit");
  cmd->add_option("--first-frame", a->first_frame,
                  "The pressure table's frame number of the stack's first frame (default: decided from the "
                  "numbers; a table numbered 1..N for frames 0..N-1 is read as 1-based)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--background", a->background_terms, "Chebyshev background terms")->capture_default_str();
  cmd->add_option("--criterion", a->criterion, "Phase presence: bic, aic or none (significance only)")
      ->capture_default_str();
  cmd->add_option("--high-pressure-phase", a->high_pressure_phase,
                  "Phase whose fraction defines the transitions "
                  "(default: the densest)");
  cmd->add_option("--phase-dir", a->phase_dir, "Where named phases are found (default: calib/phases)");
  cmd->add_option("-o,--output", a->output, "Output folder")->required();
  cmd->add_flag("--no-plots", a->no_plots, "Tables only");
  cmd->add_flag("-q,--quiet", a->quiet, "No summary");
  add_debye_options(cmd, a->debye);
  cmd->footer(
      "Writes phase_fractions.csv, lattice.csv, eos.csv, transitions.csv, results.h5 (the same numbers as "
      "NeXus), phase_fractions.png, volume_eos.png\n"
      "(and lattice_parametric.csv with --parametric). Modes, presence rule, definitions: docs/series.md\n"
      "Example:\n"
      "  anvil fit-series scan.h5 --pressure P.csv --phases CdSe-WZ,CdSe-ZB,CdSe-RS --range 6,22 -o series/");
  cmd->callback([a, &ctx] { ctx.exit_code = run_fit_series(*a); });
}

}  // namespace anvil::cli
