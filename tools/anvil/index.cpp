// anvil index PATTERN: superlattice peaks of a SAXS pattern, indexed (fcc, bcc, sc, hcp, hex2d,
// hex3d, lamellar or none), with lattice constants, d-spacings, nearest-neighbour distance and
// domain size; RESULT.json, a summary table and optionally a plot.
#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "core/error.hpp"
#include "io/pattern_io.hpp"
#include "saxs/analysis.hpp"
#include "saxs/q_calibration.hpp"
#include "saxs_json.hpp"
#include "saxs_plot.hpp"
#include "scan_pressure.hpp"

namespace anvil::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct IndexArgs {
  std::string pattern, output, plot, lattices, q_unit, dataset = "integrated", form_factor = "none",
                                                       distribution = "schulz";
  std::optional<double> q_min, q_max;
  std::vector<double> range;  // --range min,max: the same as --qmin/--qmax
  std::string calibrate_q, pressure_table;
  std::optional<double> standard_d;
  std::size_t frame = 0;
  bool all_frames = false;
  double instrument_fwhm = 0, scherrer_k = 0.9, cylinder_length = 20, max_jump = 0.05;
};

bool is_hdf5(const std::string& path) {
  auto ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".h5" || ext == ".hdf5" || ext == ".nxs" || ext == ".nx5";
}

std::optional<RadialUnit> q_unit_of(const std::string& name) {
  if (name.empty()) return std::nullopt;
  const auto u = io::parse_radial_unit(name);
  if (u != RadialUnit::QInvNm && u != RadialUnit::QInvA)
    throw InputError("--q-unit", "expected nm^-1 or A^-1, not '" + name + "'");
  return u;
}

saxs::SaxsSettings settings_of(const IndexArgs& a) {
  saxs::SaxsSettings s;
  double scale = 1.0;  // --qmin/--qmax are in --q-unit (nm⁻¹ unless A^-1)
  if (const auto u = q_unit_of(a.q_unit); u && *u == RadialUnit::QInvA) scale = 10.0;
  if (a.q_min) s.q_min_inv_nm = *a.q_min * scale;
  if (a.q_max) s.q_max_inv_nm = *a.q_max * scale;
  if (a.range.size() == 2) {
    if (!(a.range[1] > a.range[0])) throw InputError("--range", "the upper end must exceed the lower");
    s.q_min_inv_nm = a.range[0] * scale;
    s.q_max_inv_nm = a.range[1] * scale;
  }
  if (!a.lattices.empty()) {
    s.index.lattices.clear();
    std::stringstream ss(a.lattices);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name.empty()) continue;
      const auto l = saxs::parse_lattice(name);
      if (!l || *l == saxs::Lattice::none)
        throw InputError("--lattices",
                         "unknown lattice '" + name + "' (use fcc, bcc, sc, hcp, hex2d, hex3d, lamellar)");
      s.index.lattices.push_back(*l);
    }
    if (s.index.lattices.empty()) throw InputError("--lattices", "no lattice given");
  }
  if (a.form_factor == "sphere")
    s.background.model = saxs::DiffuseModel::sphere;
  else if (a.form_factor == "cylinder")
    s.background.model = saxs::DiffuseModel::cylinder;
  else if (a.form_factor != "none")
    throw InputError("--form-factor", "expected none, sphere or cylinder, not '" + a.form_factor + "'");
  if (a.distribution == "gaussian")
    s.background.distribution = saxs::SizeDistribution::gaussian;
  else if (a.distribution != "schulz")
    throw InputError("--distribution", "expected schulz or gaussian, not '" + a.distribution + "'");
  s.background.cylinder_length_nm = a.cylinder_length;
  s.instrument_fwhm_inv_nm = a.instrument_fwhm * scale;
  s.scherrer_k = a.scherrer_k;
  return s;
}

void print_summary(const std::string& source, const saxs::SaxsResult& r) {
  fmt::print("{}  q {:.4g}–{:.4g} nm⁻¹, {} peaks\n", source, r.q_min_inv_nm, r.q_max_inv_nm, r.peaks.size());
  if (r.background.particle)
    fmt::print("  particles    R = {:.3f} ± {:.3f} nm, polydispersity {:.3f} ± {:.3f}\n",
               r.background.particle->radius_nm, r.background.radius_esd_nm,
               r.background.particle->polydispersity, r.background.polydispersity_esd);
  if (r.phases.empty()) {
    fmt::print("  lattice      none — {}\n", r.reason);
    return;
  }
  for (std::size_t k = 0; k < r.phases.size(); ++k) {
    const auto& ph = r.phases[k];
    const auto& s = ph.solution;
    fmt::print("  {} {:<8} a = {:.4f} ± {:.4f} nm", k == 0 ? "lattice  " : "2nd phase",
               saxs::lattice_name(s.lattice), s.a_nm, s.a_esd_nm);
    if (k == 0) fmt::print(" ({} evidence)", r.index.confidence);
    if (saxs::has_c_axis(s.lattice))
      fmt::print(", c = {:.4f} ± {:.4f} nm (c/a {:.3f})", s.c_nm, s.c_esd_nm, s.c_nm / s.a_nm);
    fmt::print("\n             d_nn = {:.4f} nm", ph.d_nn_nm);
    if (ph.volume_per_particle_nm3) fmt::print(", V/particle = {:.1f} nm³", *ph.volume_per_particle_nm3);
    if (ph.domain.peaks_used)
      fmt::print(", domain = {:.0f} ± {:.0f} nm", ph.domain.size_nm, ph.domain.size_esd_nm);
    fmt::print(
        "\n             ΔBIC {:.1f} over free peaks, {}/{} peaks explained, {:.0f} % of the peak intensity, "
        "rms "
        "misfit {:.2f} %\n",
        s.score, s.matched, s.observed, 100 * s.explained_fraction, 100 * s.rms_relative);
  }
  if (r.index.runner_up)
    fmt::print("  runner-up    {} a = {:.4f} nm{} (score {:.1f})\n",
               saxs::lattice_name(r.index.runner_up->lattice), r.index.runner_up->a_nm,
               r.index.runner_up->c_nm > 0 ? fmt::format(", c = {:.4f} nm", r.index.runner_up->c_nm) : "",
               r.index.runner_up->score);
  if (r.index.ambiguous) fmt::print("  AMBIGUOUS    {}\n", r.index.ambiguity);
  if (!r.index.notes.empty()) fmt::print("  note         {}\n", r.index.notes);
  if (!r.trimmed.empty()) fmt::print("  range        {}\n", r.trimmed);
  fmt::print("\n  {:>9} {:>9} {:>8} {:>8} {:>10} {:>7}  {}\n", "q/nm⁻¹", "σ(q)", "d/nm", "FWHM", "area",
             "SNR", "hkl");
  for (std::size_t i = 0; i < r.peaks.size(); ++i) {
    const auto& p = r.peaks[i];
    std::string hkl = "-";
    for (std::size_t k = 0; k < r.phases.size(); ++k)
      for (const auto& a : r.phases[k].solution.assignments)
        if (a.peak == i)
          hkl = a.hkl + (r.phases.size() > 1
                             ? fmt::format(" ({})", saxs::lattice_name(r.phases[k].solution.lattice))
                             : "");
    fmt::print("  {:9.5f} {:9.5f} {:8.4f} {:8.5f} {:10.4g} {:7.1f}  {}\n", p.q, p.q_esd, 2 * M_PI / p.q,
               p.fwhm, p.area, p.snr, hkl);
  }
}

void write_json(const std::string& path, const json& j) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path);
  if (!out) throw InputError(path, "cannot write the result");
  out << j.dump(2) << "\n";
}

Pattern1D read_input(const IndexArgs& a, std::size_t frame) {
  Pattern1D p = is_hdf5(a.pattern) ? io::read_pattern_stack(a.pattern, a.dataset, frame)
                                   : io::read_pattern_text(a.pattern, q_unit_of(a.q_unit));
  // An explicit --q-unit wins over what the file says (e.g. a bare two-column file in Å⁻¹).
  if (const auto u = q_unit_of(a.q_unit)) p.unit = *u;
  return p;
}

// --calibrate-q STANDARD --standard-d D: the q map from the lamellar standard, printed and returned.
std::optional<saxs::QCalibration> q_calibration_of(const IndexArgs& a, const saxs::SaxsSettings& settings) {
  if (a.calibrate_q.empty()) {
    if (a.standard_d) throw InputError("--standard-d", "given without --calibrate-q STANDARD");
    return std::nullopt;
  }
  if (!a.standard_d)
    throw InputError("--calibrate-q", "needs --standard-d (the standard's lamellar period in nm)");
  Pattern1D standard = io::read_pattern_text(a.calibrate_q, q_unit_of(a.q_unit));
  if (const auto u = q_unit_of(a.q_unit)) standard.unit = *u;
  saxs::QCalibration c;
  try {
    c = saxs::calibrate_q_lamellar(standard, *a.standard_d, settings);
  } catch (const InputError& e) {
    throw InputError(a.calibrate_q, e.what());
  }
  fmt::print(
      "q calibration from {} (lamellar, d = {:.5g} nm): q_true = {:.6f}(±{:.6f}) · q {:+.5f}(±{:.5f}) nm⁻¹\n",
      a.calibrate_q, c.d_nm, c.scale, c.scale_esd, c.offset_inv_nm, c.offset_esd_inv_nm);
  std::string orders;
  for (std::size_t k = 0; k < c.orders.size(); ++k)
    orders += fmt::format("{}00{} {:.5f}→{:.5f}", k ? ", " : "", c.orders[k], c.q_measured[k], c.q_true[k]);
  fmt::print("  orders {}; rms residual {:.5f} nm⁻¹; uncalibrated d = {:.5f} nm\n\n", orders,
             c.rms_residual_inv_nm, c.d_measured_nm);
  return c;
}

json calibration_json(const saxs::QCalibration& c, const std::string& source) {
  return {{"standard", source},
          {"d_nm", c.d_nm},
          {"scale", c.scale},
          {"scale_esd", c.scale_esd},
          {"offset_inv_nm", c.offset_inv_nm},
          {"offset_esd_inv_nm", c.offset_esd_inv_nm},
          {"orders", c.orders},
          {"q_measured", c.q_measured},
          {"q_true", c.q_true},
          {"rms_residual_inv_nm", c.rms_residual_inv_nm},
          {"d_measured_nm", c.d_measured_nm}};
}

int run_index(const IndexArgs& a) {
  const auto settings = settings_of(a);
  const auto calibration = q_calibration_of(a, settings);
  auto calibrated = [&](Pattern1D p) { return calibration ? saxs::apply_q_calibration(p, *calibration) : p; };
  if (a.all_frames) {
    if (!is_hdf5(a.pattern)) throw InputError(a.pattern, "--all-frames needs an anvil HDF5 pattern stack");
    const std::size_t n = io::pattern_stack_size(a.pattern, a.dataset);
    std::vector<Pattern1D> frames;
    for (std::size_t k = 0; k < n; ++k) frames.push_back(calibrated(read_input(a, k)));
    saxs::SeriesSettings series;
    series.max_relative_jump = a.max_jump;
    std::vector<double> pressures;
    if (!a.pressure_table.empty()) {
      pipeline::PressureSource src;
      src.kind = pipeline::PressureSource::Kind::Table;
      src.path = a.pressure_table;
      const auto sp = pipeline::load_scan_pressures(src, 0, n);
      for (const auto& p : sp.pressure_gpa) pressures.push_back(p.value_or(NAN));
      if (!sp.numbering.empty()) fmt::print("note: {}\n", sp.numbering);
    }
    const auto results = saxs::analyse_series(frames, settings, series, pressures);
    json all = json::array();
    fmt::print("{:>6} {:>7} {:<9} {:>10} {:>10} {:>9} {:>8}  {}\n", "frame", "P/GPa", "lattice", "a/nm",
               "c/nm", "d_nn/nm", "ΔBIC", "change");
    for (std::size_t k = 0; k < results.size(); ++k) {
      const auto& r = results[k].result;
      json j = pipeline::saxs_result_json(r, settings);
      j["frame"] = k;
      j["discontinuity"] = results[k].discontinuity;
      j["change"] = results[k].change;
      j["transition"] = results[k].transition;
      j["pressure_gpa"] = std::isnan(results[k].pressure_gpa) ? json(nullptr) : json(results[k].pressure_gpa);
      if (!results[k].error.empty()) j["error"] = results[k].error;
      all.push_back(j);
      const auto* ph = r.phases.empty() ? nullptr : &r.phases.front();
      fmt::print("{:>6} {:>7} {:<9} {:>10} {:>10} {:>9} {:>8}  {}\n", k,
                 std::isnan(results[k].pressure_gpa) ? std::string("-")
                                                     : fmt::format("{:.2f}", results[k].pressure_gpa),
                 saxs::lattice_name(r.lattice), ph ? fmt::format("{:.4f}", ph->solution.a_nm) : "-",
                 ph && ph->solution.c_nm > 0 ? fmt::format("{:.4f}", ph->solution.c_nm) : "-",
                 ph ? fmt::format("{:.4f}", ph->d_nn_nm) : "-",
                 ph ? fmt::format("{:.1f}", ph->solution.score) : "-",
                 results[k].transition      ? "TRANSITION " + results[k].change
                 : results[k].discontinuity ? "JUMP " + results[k].change
                                            : "");
    }
    json transitions = json::array();
    for (const auto& f : results)
      if (f.transition) {
        transitions.push_back(
            {{"from", saxs::lattice_name(f.from)},
             {"to", saxs::lattice_name(f.to)},
             {"pressure_gpa", std::isnan(f.pressure_gpa) ? json(nullptr) : json(f.pressure_gpa)},
             {"change", f.change}});
        fmt::print("transition: {}\n", f.change);
      }
    json out = {{"source", a.pattern}, {"frames", all}, {"transitions", transitions}};
    if (calibration) out["q_calibration"] = calibration_json(*calibration, a.calibrate_q);
    write_json(a.output, out);
    return 0;
  }
  const auto pattern = calibrated(read_input(a, a.frame));
  const auto result = saxs::analyse_saxs(pattern, settings);
  json j = pipeline::saxs_result_json(result, settings);
  j["source"] = a.pattern;
  if (calibration) j["q_calibration"] = calibration_json(*calibration, a.calibrate_q);
  if (is_hdf5(a.pattern)) j["frame"] = a.frame;
  write_json(a.output, j);
  print_summary(a.pattern + (is_hdf5(a.pattern) ? fmt::format(" frame {}", a.frame) : ""), result);
  if (!a.plot.empty())
    plot_saxs_index(a.plot, saxs::to_q_inv_nm(pattern), result, fs::path(a.pattern).filename().string());
  return 0;
}

}  // namespace

void add_index_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<IndexArgs>();
  auto* cmd = app.add_subcommand(
      "index",
      "Find and index superlattice peaks in a SAXS pattern (fcc, bcc, sc, hcp, hex2d, hex3d, lamellar)");
  cmd->add_option("pattern", a->pattern,
                  "I(q): text (q, I[, σ]; .xy/.xye/.chi/.dat, a '#' header may name the unit) or an anvil "
                  "HDF5 pattern stack")
      ->required();
  cmd->add_option("-o,--output", a->output, "RESULT.json")->required();
  cmd->add_option("--plot", a->plot, "PNG of the pattern, the peaks and the indexed reflections");
  cmd->add_option("--lattices", a->lattices, "Lattices to try, e.g. fcc,hcp (default: all seven)");
  auto* qmin = cmd->add_option("--qmin", a->q_min, "Lowest q used (in --q-unit, default nm^-1)")
                   ->check(non_negative_number());
  auto* qmax = cmd->add_option("--qmax", a->q_max, "Highest q used (in --q-unit, default nm^-1)")
                   ->check(positive_number());
  // The names anvil integrate, fit and the scan description use: --range, --unit, --group.
  cmd->add_option("--range", a->range, "q range used, min,max (in --q-unit; the same as --qmin/--qmax)")
      ->delimiter(',')
      ->expected(2)
      ->check(non_negative_number())
      ->excludes(qmin)
      ->excludes(qmax);
  cmd->add_option("--q-unit,--unit", a->q_unit,
                  "q_nm^-1 (nm^-1) or q_A^-1 (A^-1): unit of the file's q (overrides its header) and of "
                  "--qmin/--qmax/--range");
  cmd->add_option(
      "--calibrate-q", a->calibrate_q,
      "Lamellar q standard (e.g. cholesteryl palmitate, silver behenate; text or .pdh): the q axis is "
      "mapped so its 00l orders fall at 2πl/d (scale, and offset with ≥ 3 orders)");
  cmd->add_option("--standard-d", a->standard_d,
                  "Lamellar period of the --calibrate-q standard in nm (CholPal 5.2498)")
      ->check(positive_number());
  cmd->add_option("--frame", a->frame, "Frame of an HDF5 pattern stack (0-based)")->capture_default_str();
  cmd->add_flag("--all-frames", a->all_frames,
                "Index every frame of an HDF5 stack, each seeded from the previous; flags lattice changes");
  cmd->add_option("--dataset,--group", a->dataset, "Pattern group in the HDF5 stack")->capture_default_str();
  cmd->add_option("--form-factor", a->form_factor,
                  "Diffuse model beside the power law: none, sphere or cylinder")
      ->capture_default_str();
  cmd->add_option("--distribution", a->distribution,
                  "Size distribution of the form factor: schulz or gaussian")
      ->capture_default_str();
  cmd->add_option("--cylinder-length", a->cylinder_length, "Cylinder length in nm (fixed)")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--instrument-fwhm", a->instrument_fwhm,
                  "Instrumental FWHM in q (in --q-unit), removed in quadrature before Scherrer")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--scherrer-k", a->scherrer_k, "Scherrer constant K (FWHM)")
      ->capture_default_str()
      ->check(positive_number());
  cmd->add_option(
      "--pressure", a->pressure_table,
      "With --all-frames: CSV frame,pressure_GPa (numbered from 0 or 1, as the beamline wrote it); "
      "lattice changes are reported at their pressure");
  cmd->add_option("--max-jump", a->max_jump, "With --all-frames: relative change of a or c flagged")
      ->capture_default_str()
      ->check(positive_number());
  add_threads_option(cmd, ctx);
  cmd->callback([a, &ctx] { ctx.exit_code = run_index(*a); });
}

}  // namespace anvil::cli
