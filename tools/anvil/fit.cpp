// anvil fit PATTERN --phases ... -o RESULT.json: WZ/ZB/RS phase fractions and cells of one pattern.
#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "calib_dirs.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "debye_fit.hpp"
#include "io/pattern_io.hpp"
#include "phase_models.hpp"
#include "waxs_fit.hpp"

namespace anvil::cli {

namespace fs = std::filesystem;

namespace {

struct FitArgs {
  std::string pattern, output, plot, instrument, x_unit, phase_dir;
  std::string phases;
  DebyeOptions debye;
  std::optional<double> wavelength_a;
  std::optional<double> pressure_gpa;
  std::vector<double> range;
  std::size_t frame = 0;
  bool refine_instrument = false, verbose = false;
  std::string write_instrument;
};

// "Wavelength: 4.859e-11 m" as anvil integrate (and pyFAI) write in headers and .poni text.
std::optional<double> wavelength_in_text(const std::string& text) {
  static const std::regex re(R"(Wavelength:\s*([0-9.eE+-]+)\s*m?)");
  std::smatch m;
  if (std::regex_search(text, m, re)) {
    const double v = std::stod(m[1]);
    if (v > 0 && v < 1e-8) return v * 1e10;  // metres → Å
  }
  return std::nullopt;
}

}  // namespace

void add_debye_options(CLI::App* cmd, DebyeOptions& o) {
  cmd->add_option("--model", o.model,
                  "bragg (Rietveld: Bragg peaks with size broadening) or debye (Debye-function clusters: "
                  "nanocrystals, docs/debye.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"bragg", "debye"}));
  cmd->add_option("--others", o.others,
                  "With --model debye: gasket / pressure-marker phases fitted apart (Le Bail), e.g. Fe-fcc");
  cmd->add_option("--sizes", o.sizes_nm, "With --model debye: cluster diameters min,max (nm)")
      ->delimiter(',')
      ->expected(2)
      ->check(number_in(0.5, 50.0));
  cmd->add_flag(
      "--le-bail", o.le_bail,
      "Profile matching (Le Bail): every phase's lines at its cell with free intensities and a "
      "Williamson–Hall width — textured, coarse-grained phases (markers, gasket, bulk metals): cells, "
      "and the pressure of a marker (Au, Pt, NaCl-B1, Ne); no fractions");
  cmd->add_flag("--faulted", o.faulted,
                "With --model debye: the wurtzite phase and its zinc-blende partner fitted as one faulted "
                "phase (random h/c stacking) with a refined fault probability α (0: WZ, 1: ZB)");
  cmd->add_flag("--own-sizes", o.own_sizes,
                "With --model debye: each phase its own size distribution (different particles), not one "
                "shared by the polymorphs");
}

void apply_debye_options(const DebyeOptions& o, pipeline::DebyeFitSettings& settings) {
  std::stringstream others(o.others);
  for (std::string p; std::getline(others, p, ',');)
    if (!p.empty()) settings.others.push_back(p);
  if (o.sizes_nm.size() == 2) {
    settings.clusters.d_min_a = 10.0 * o.sizes_nm[0];
    settings.clusters.d_max_a = 10.0 * o.sizes_nm[1];
  }
  settings.fit.shared_size = !o.own_sizes;
  settings.faulted = o.faulted;
  if (o.le_bail && o.faulted)
    throw InputError("--faulted", "profile matching (--le-bail) has no stacking faults to refine");
  settings.cache_dir = pipeline::default_debye_cache_dir();
  if (o.le_bail) {  // every phase profile-matched: cells and widths, free intensities
    settings.others.insert(settings.others.begin(), settings.phases.begin(), settings.phases.end());
    settings.phases.clear();
  }
}

void add_fit_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<FitArgs>();
  auto* cmd =
      app.add_subcommand("fit", "Rietveld-style fit of one WAXS pattern: phase fractions, cells, sizes");
  cmd->add_option(
         "pattern", a->pattern,
         "Pattern: .xy/.xye/.chi/.dat text (2θ or q columns), or an anvil HDF5 pattern file (--frame)")
      ->required();
  cmd->add_option("--phases", a->phases,
                  "Comma-separated phases: short names (CdSe-WZ, CdSe-ZB, CdSe-RS, Au) or CIFs")
      ->required();
  cmd->add_option("-o,--output", a->output, "Result JSON")->required();
  cmd->add_option("--wavelength", a->wavelength_a, "Wavelength (Å); default: the pattern file's header")
      ->check(positive_number());
  cmd->add_option("--instrument", a->instrument,
                  "Instrument profile JSON (Caglioti u, v, w; lp; size_profile)");
  cmd->add_option("--range", a->range, "2θ range fitted, degrees: min,max")
      ->delimiter(',')
      ->expected(2)
      ->check(number_in(0.0, 180.0));
  cmd->add_option("--x-unit,--unit", a->x_unit,
                  "x unit when the text file does not name it: 2th_deg, q_nm^-1, q_A^-1");
  cmd->add_option("--frame", a->frame, "Frame (row) of an HDF5 pattern file")->capture_default_str();
  cmd->add_option("--plot", a->plot, "Draw data, model, difference and tick marks (.png, .svg, .pdf)");
  cmd->add_option("--phase-dir", a->phase_dir, "Folder of named phases (default: calib/phases)");
  add_debye_options(cmd, a->debye);
  cmd->add_option("--pressure", a->pressure_gpa,
                  "With --model debye: the frame's pressure (GPa): cells start from each phase's EOS there")
      ->check(number_in(-5.0, 1000.0));
  cmd->add_flag("-v,--verbose", a->verbose, "With --model debye: print each step of the refinement");
  cmd->add_flag("--refine-instrument", a->refine_instrument,
                "Calibrant mode: refine the Caglioti U, V, W of the instrument (e.g. --phases CeO2)");
  cmd->add_option("--write-instrument", a->write_instrument,
                  "With --refine-instrument: write the refined instrument (JSON) for --instrument");
  add_threads_option(cmd, ctx);
  cmd->callback([a, &ctx] {
    pipeline::WaxsFitSettings s;
    std::stringstream ss(a->phases);
    for (std::string p; std::getline(ss, p, ',');)
      if (!p.empty()) s.phases.push_back(p);
    s.phase_dir = !a->phase_dir.empty() ? fs::path(a->phase_dir) : pipeline::phase_dir();
    if (!a->instrument.empty()) pipeline::read_instrument(a->instrument, s);
    if (a->range.size() == 2) s.range_deg = integrate::Range{a->range[0], a->range[1]};
    s.refine_instrument = a->refine_instrument;

    Pattern1D pattern;
    std::string header_text;
    const auto ext = fs::path(a->pattern).extension().string();
    if (ext == ".h5" || ext == ".nxs" || ext == ".hdf5") {
      std::string group = "integrated";
      for (const char* g : {"integrated", "waxs"}) {
        try {
          io::pattern_stack_size(a->pattern, g);
          group = g;
          break;
        } catch (const InputError&) {
          // No stack of that name: the next is tried, then the read below names the file.
        }
      }
      pattern = io::read_pattern_stack(a->pattern, group, a->frame);
      if (!a->wavelength_a) a->wavelength_a = stack_info(a->pattern, group).wavelength_a;
    } else {
      std::optional<RadialUnit> unit;
      if (!a->x_unit.empty()) unit = io::parse_radial_unit(a->x_unit);
      pattern = io::read_pattern_text(a->pattern, unit);
      std::ifstream in(a->pattern);
      std::string line;
      for (int i = 0; i < 40 && std::getline(in, line); ++i) header_text += line + "\n";
    }
    if (a->wavelength_a)
      s.wavelength_a = *a->wavelength_a;
    else if (auto w = wavelength_in_text(header_text))
      s.wavelength_a = *w;
    if (!(s.wavelength_a > 0))
      throw InputError(a->pattern, "no wavelength in the file: give --wavelength (Å) or an instrument file");

    if (a->debye.model == "debye" || a->debye.le_bail) {
      if (a->refine_instrument)
        throw InputError("--refine-instrument", "calibrant mode uses the Bragg model");
      pipeline::DebyeFitSettings ds;
      ds.phases = s.phases;
      apply_debye_options(a->debye, ds);
      ds.phase_dir = s.phase_dir;
      ds.wavelength_a = s.wavelength_a;
      ds.range_deg = s.range_deg;
      if (a->verbose) ds.fit.log = [](const std::string& line) { fmt::print(stderr, "  {}\n", line); };
      const pipeline::DebyeFitter fitter(ds);
      const auto j =
          fitter.fit(pattern, pipeline::eos_cells(fitter.powder_phases(), a->pressure_gpa), a->pressure_gpa);
      {
        std::ofstream out(a->output);
        out << j.dump(2) << "\n";
        if (!out) throw InputError(a->output, "cannot write");
      }
      fmt::print("{}: {} ({}, set-up {:.2f} s; {})\n", a->pattern, j.value("status", ""),
                 a->debye.le_bail ? "Le Bail profile matching" : "Debye-function clusters",
                 fitter.setup_seconds(), fitter.cache_note());
      if (j.contains("reason")) fmt::print("  {}\n", j["reason"].get<std::string>());
      if (a->debye.le_bail)
        fmt::print("  Rwp {:.2f} %  GoF {:.2f}\n", 100 * j.value("rwp", 0.0), j.value("gof", 0.0));
      else
        fmt::print("  Rwp {:.2f} %  GoF {:.2f}  median size {:.2f} nm (σ_ln {:.3f})\n",
                   100 * j.value("rwp", 0.0), j.value("gof", 0.0), j.value("size_nm", 0.0),
                   j.value("size_sigma_ln", 0.0));
      for (const auto& name : fitter.settings().phases) {
        const auto& p = j["phases"][name];
        fmt::print("  {:<12} {:>8.4f} ± {:<6.4f}  a {:>9.5f} ± {:<7.5f}{}", name, p.value("fraction", 0.0),
                   p.value("fraction_esd", 0.0), p.value("a", 0.0), p.value("a_esd", 0.0),
                   p.value("absent", false) ? "  (absent)" : "");
        if (p.contains("alpha") && p["alpha"].is_number())
          fmt::print("  α {:.3f} ± {:.3f}", p["alpha"].get<double>(), p.value("alpha_esd", 0.0));
        fmt::print("\n");
      }

      for (const auto& [name, g] : j["others"].items()) {
        fmt::print("  {:<12} {}  a {:>9.5f} ± {:<7.5f}", name, a->debye.le_bail ? "Le Bail" : "(apart)",
                   g.value("a", 0.0), g.value("a_esd", 0.0));
        if (g.contains("pressure_gpa") && g["pressure_gpa"].is_number())
          fmt::print("  P {:.2f} ± {:.2f} GPa ({})", g["pressure_gpa"].get<double>(),
                     g.value("pressure_esd_gpa", 0.0), g.value("pressure_standard", ""));
        fmt::print("\n");
        if (g.contains("warning")) fmt::print("    warning: {}\n", g["warning"].get<std::string>());
      }
      ctx.exit_code = j.value("status", "") == "converged" ? 0 : 3;
      return;
    }
    const pipeline::WaxsFitter fitter(s);
    const auto r = fitter.fit(pattern);
    const auto j = pipeline::fit_result_json(r, s.phases);
    {
      std::ofstream out(a->output);
      out << j.dump(2) << "\n";
      if (!out) throw InputError(a->output, "cannot write");
    }
    fmt::print("{}: {} ({} points, {} free parameters, {:.0f} ms)\n", a->pattern,
               powder::status_name(r.status), r.num_points, r.num_free, r.seconds * 1e3);
    if (!r.reason.empty()) fmt::print("  {}\n", r.reason);
    fmt::print("  Rp {:.2f} %  Rwp {:.2f} %  Rexp {:.2f} %  GoF {:.2f}\n", 100 * r.rp, 100 * r.rwp,
               100 * r.rexp, r.gof);
    fmt::print("  {:<12} {:>16} {:>20} {:>20} {:>12} {:>9}\n", "phase", "fraction", "a (Å)", "c (Å)",
               "V (Å³)", "size (nm)");
    for (std::size_t k = 0; k < r.phases.size(); ++k) {
      const auto& p = r.phases[k];
      fmt::print("  {:<12} {:>8.4f} ± {:<6.4f} {:>10.5f} ± {:<7.5f} {:>20} {:>12.3f} {:>9.2f}{}\n",
                 s.phases[k], p.fraction, p.fraction_esd, p.a, p.a_esd,
                 p.c > 0 ? fmt::format("{:>10.5f} ± {:<7.5f}", p.c, p.c_esd) : std::string("-"), p.volume,
                 p.size_nm, p.absent ? "  (absent)" : "");
    }
    if (a->refine_instrument)
      fmt::print("  instrument: U {:.6g}  V {:.6g}  W {:.6g} deg²\n", r.parameters.caglioti_u.value,
                 r.parameters.caglioti_v.value, r.parameters.caglioti_w.value);
    if (!a->write_instrument.empty()) pipeline::write_instrument(a->write_instrument, r, fitter.settings());
    if (!a->plot.empty()) pipeline::plot_fit(a->plot, r, fs::path(a->pattern).filename().string());
    ctx.exit_code = r.status == powder::FitStatus::Converged ? 0 : 3;
  });
}

}  // namespace anvil::cli
