// anvil pressure: ruby fluorescence and internal-standard pressures, pressure tables and
// SPEC counters, from the command line.
#include <fmt/core.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/error.hpp"
#include "io/jcpds.hpp"
#include "io/pressure_table.hpp"
#include "io/spec.hpp"
#include "pressure/direction.hpp"
#include "pressure/ruby.hpp"
#include "pressure/standard.hpp"
#include "scan_pressure.hpp"

namespace anvil::cli {

namespace {

struct RubyArgs {
  std::vector<double> r1_nm;
  std::string scale = "shen2020";
  std::optional<double> lambda0_nm;
  std::optional<double> temperature_k;
};

struct StandardArgs {
  std::string name;
  std::string jcpds;
  std::optional<double> a, v, d, p;
  std::string hkl;
  bool list = false;
};

struct TableArgs {
  std::string file;
  double min_step_gpa = 0.05;
  double esd_factor = 2.0;
};

struct SpecArgs {
  std::string file;
  std::string scan;
  std::vector<std::string> counters;
  std::string ruby_scale;     // counter holds ruby R1 (nm): convert with this scale
  bool gpa = false;           // counter holds pressure in GPa
  std::string frame_counter;  // column giving each point's frame
  std::optional<double> lambda0_nm;
};

std::string scale_list() {
  std::string out;
  for (auto s : pressure::ruby_scales())
    out += fmt::format("{}{}", out.empty() ? "" : ", ", pressure::ruby_scale_name(s));
  return out;
}

void run_ruby(const RubyArgs& a) {
  std::vector<pressure::RubyScale> scales;
  if (a.scale == "all")
    scales = pressure::ruby_scales();
  else
    scales.push_back(pressure::parse_ruby_scale(a.scale));
  for (auto s : scales) {
    const double l0 = a.lambda0_nm.value_or(pressure::ruby_default_lambda0_nm(s));
    fmt::print(
        "# {}: {}; lambda0 {:.3f} nm{}\n", pressure::ruby_scale_name(s), pressure::ruby_scale_citation(s), l0,
        a.temperature_k
            ? fmt::format("; R1 corrected from {:.1f} K to 300 K (Vos & Schouten 1991)", *a.temperature_k)
            : std::string());
    for (double l : a.r1_nm) {
      const double p = a.temperature_k
                           ? pressure::ruby_pressure_gpa_at_temperature(l, *a.temperature_k, s, l0)
                           : pressure::ruby_pressure_gpa(l, s, l0);
      fmt::print("{:.3f} nm  {:8.3f} GPa\n", l, p);
    }
  }
}

void run_standard(const StandardArgs& a) {
  if (a.list) {
    fmt::print("{:<26} {:<8} {:>5} {:>9} {:>8} {:>7}  {}\n", "name", "EOS", "Z", "V0 (A^3)", "K0 (GPa)",
               "K0'", "source");
    for (const auto& s : pressure::pressure_standards())
      fmt::print("{:<26} {:<8} {:>5} {:>9.3f} {:>8.2f} {:>7.3f}  {}\n", s.name,
                 pressure::eos_form_name(s.eos.form), s.z, s.eos.v0, s.eos.k0_gpa, s.eos.k0_prime, s.source);
    return;
  }
  if (a.name.empty() == a.jcpds.empty())
    throw InputError("anvil pressure standard", "give either a standard name (see --list) or --jcpds FILE");
  const pressure::PressureStandard st = a.jcpds.empty()
                                            ? pressure::find_standard(a.name)
                                            : pressure::standard_from_jcpds(io::read_jcpds(a.jcpds));
  const int given = int(a.a.has_value()) + int(a.v.has_value()) + int(a.d.has_value()) + int(a.p.has_value());
  if (given != 1)
    throw InputError("anvil pressure standard",
                     "give exactly one of --a, --v, --d (with --hkl) or --pressure");
  if (a.d && a.hkl.empty())
    throw InputError("anvil pressure standard", "--d needs the reflection's --hkl, e.g. 111");
  fmt::print("# {}: {} {}, V0 {:.4f} A^3 (a0 {:.5f} A), K0 {} GPa, K0' {}; {}\n", st.name,
             pressure::eos_form_name(st.eos.form), st.structure, st.eos.v0, st.a0_angstrom(), st.eos.k0_gpa,
             st.eos.k0_prime, st.source);
  if (a.p) {
    const double lat = st.lattice_at(*a.p);
    fmt::print("P {:.3f} GPa  a {:.5f} A  V {:.4f} A^3  V/V0 {:.5f}", *a.p, lat, lat * lat * lat,
               lat * lat * lat / st.eos.v0);
    if (!a.hkl.empty()) {
      const auto hkl = pressure::parse_hkl(a.hkl);
      fmt::print("  d({}{}{}) {:.5f} A", hkl.h, hkl.k, hkl.l, st.d_at(*a.p, hkl));
    }
    fmt::print("\n");
    return;
  }
  double volume = 0.0;
  if (a.a) volume = *a.a * *a.a * *a.a;
  if (a.v) volume = *a.v;
  if (a.d) {
    const auto hkl = pressure::parse_hkl(a.hkl);
    const double lat = *a.d * std::sqrt(double(hkl.sum_of_squares()));
    fmt::print("d({}{}{}) {:.5f} A -> a {:.5f} A\n", hkl.h, hkl.k, hkl.l, *a.d, lat);
    volume = lat * lat * lat;
  }
  const double p = st.pressure_from_volume_gpa(volume);
  fmt::print("a {:.5f} A  V {:.4f} A^3  V/V0 {:.5f}  P {:.3f} GPa  K {:.1f} GPa\n", std::cbrt(volume), volume,
             volume / st.eos.v0, p, st.eos.bulk_modulus_gpa(volume));
}

void run_table(const TableArgs& a) {
  const auto t = io::read_pressure_table(a.file);
  for (const auto& w : t.warnings) fmt::print(stderr, "anvil: warning: {}: {}\n", t.source, w);
  const auto p = t.pressures_gpa();
  const auto esd = t.esds_gpa();
  const auto dir = pressure::tag_directions(p, esd, {a.min_step_gpa, a.esd_factor});
  fmt::print("{:>6}  {:>12}  {:>10}  {}\n", "frame", "pressure_gpa", "esd_gpa", "direction");
  for (std::size_t i = 0; i < t.points.size(); ++i) {
    const auto& pt = t.points[i];
    fmt::print("{:>6}  {:>12.3f}  {:>10}  {}\n", pt.frame, pt.pressure_gpa,
               pt.esd_gpa ? fmt::format("{:.3f}", *pt.esd_gpa) : std::string("-"),
               pressure::direction_name(dir[i]));
  }
}

void run_spec(const SpecArgs& a) {
  const auto f = io::read_spec(a.file);
  if (a.scan.empty()) {
    fmt::print("{:>8}  {:>6}  {:>6}  {}\n", "scan", "line", "points", "command");
    for (const auto& s : f.scans)
      fmt::print("{:>8}  {:>6}  {:>6}  {}\n", s.key(), s.line, s.point_count(), s.command);
    return;
  }
  const auto& s = f.scan(a.scan);
  if (a.counters.empty()) {
    fmt::print("# scan {} (#S {} {}), {} points; counters:\n", s.key(), s.number, s.command, s.point_count());
    for (const auto& l : s.labels) fmt::print("{}\n", l);
    return;
  }
  if (!a.ruby_scale.empty() || a.gpa) {
    if (a.counters.size() != 1) throw InputError(a.file, "--ruby-scale / --gpa take exactly one --counter");
    pipeline::PressureSource src;
    src.kind =
        a.gpa ? pipeline::PressureSource::Kind::SpecPressure : pipeline::PressureSource::Kind::SpecRuby;
    src.path = a.file;
    src.spec_scan = a.scan;
    src.spec_counter = a.counters.front();
    src.spec_frame_counter = a.frame_counter;
    if (!a.gpa) src.ruby_scale = pressure::parse_ruby_scale(a.ruby_scale);
    src.ruby_lambda0_nm = a.lambda0_nm;
    std::size_t frames = s.point_count();
    if (!a.frame_counter.empty())
      for (double fr : s.column(a.frame_counter))
        frames = std::max(frames, static_cast<std::size_t>(std::max(fr, 0.0)) + 1);
    const auto p = pipeline::load_scan_pressures(src, 0, frames);
    for (const auto& w : p.warnings) fmt::print(stderr, "warning: {}\n", w);
    fmt::print("# scan {} counter '{}'{}\n{:>6}  {:>12}  {}\n", s.key(), src.spec_counter,
               a.gpa
                   ? std::string(" (GPa)")
                   : fmt::format(" (ruby R1, nm) on the {} scale", pressure::ruby_scale_name(src.ruby_scale)),
               "frame", "pressure_gpa", "direction");
    for (std::size_t k = 0; k < frames; ++k) {
      if (!p.pressure_gpa[k]) continue;
      fmt::print("{:>6}  {:>12.3f}  {}\n", k, *p.pressure_gpa[k], pressure::direction_name(p.direction[k]));
    }
    return;
  }
  std::vector<const std::vector<double>*> cols;
  for (const auto& c : a.counters) cols.push_back(&s.column(c));
  fmt::print("# scan {} (#S {} {})\n{:>6}", s.key(), s.number, s.command, "point");
  for (const auto& c : a.counters) fmt::print("  {:>14}", c);
  fmt::print("\n");
  for (std::size_t i = 0; i < s.point_count(); ++i) {
    fmt::print("{:>6}", i);
    for (const auto* col : cols) fmt::print("  {:>14.8g}", (*col)[i]);
    fmt::print("\n");
  }
}

}  // namespace

void add_pressure_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("pressure",
                                 "Pressure from ruby fluorescence or an internal standard; pressure "
                                 "tables and SPEC counters");
  cmd->require_subcommand(1);
  cmd->footer(
      "Examples:\n"
      "  anvil pressure ruby 700.0                       (IPPS-Ruby2020, Shen et al. 2020)\n"
      "  anvil pressure ruby 700.0 --scale dewaele2008 --lambda0 694.24\n"
      "  anvil pressure ruby 700.0 --scale all\n"
      "  anvil pressure standard Au --a 4.00\n"
      "  anvil pressure standard Pt --d 2.20 --hkl 111\n"
      "  anvil pressure standard --list\n"
      "  anvil pressure table P.csv\n"
      "  anvil pressure spec scan.spec --scan 12 --counter \"ion chamber 0\"\n"
      "Scales, standards and their sources: docs/pressure.md");

  auto ruby = std::make_shared<RubyArgs>();
  auto* r = cmd->add_subcommand("ruby", "Pressure (GPa) from the ruby R1 fluorescence peak wavelength (nm)");
  r->add_option("r1_nm", ruby->r1_nm, "R1 peak wavelength(s) in nm, e.g. 700.0")
      ->required()
      ->check(positive_number());
  r->add_option("--scale", ruby->scale,
                "Ruby scale: " + scale_list() + " (aliases ruby2020, mao, dewaele, ...), or 'all'")
      ->capture_default_str();
  r->add_option("--lambda0", ruby->lambda0_nm,
                "Ambient R1 wavelength (nm) measured on your spectrometer; default: the scale's own "
                "(694.24, 694.25 for shen2020)")
      ->check(positive_number());
  r->add_option("--temperature", ruby->temperature_k,
                "Sample temperature (K): remove the R1 thermal shift (Vos & Schouten 1991) first")
      ->check(positive_number());
  r->callback([ruby, &ctx] {
    run_ruby(*ruby);
    ctx.exit_code = 0;
  });

  auto std_args = std::make_shared<StandardArgs>();
  auto* s =
      cmd->add_subcommand("standard",
                          "Pressure from the lattice of an internal standard (Au, Pt, NaCl-B1, NaCl-B2, Ne), "
                          "or the lattice at a pressure");
  s->add_option("name", std_args->name,
                "Standard: Au, Pt, NaCl-B1, NaCl-B2, Ne, or a full name such as "
                "Au-Fei2007-BM3 (see --list)");
  s->add_option("--jcpds", std_args->jcpds,
                "Use a cubic JCPDS card (K0, K0', A) as the standard, BM3 as Dioptas does");
  s->add_option("--a", std_args->a, "Cubic lattice parameter a (Angstrom)")->check(positive_number());
  s->add_option("--v", std_args->v, "Unit-cell volume (Angstrom^3)")->check(positive_number());
  s->add_option("--d", std_args->d, "d-spacing (Angstrom) of the reflection --hkl")->check(positive_number());
  s->add_option("--hkl", std_args->hkl, "Miller indices for --d (or --pressure), e.g. 111 or \"2 0 0\"");
  s->add_option("--pressure", std_args->p, "Inverse: print a (and d for --hkl) at this pressure (GPa)")
      ->check(finite_number());
  s->add_flag("--list", std_args->list, "List the built-in standards with their EOS parameters and sources");
  s->callback([std_args, &ctx] {
    run_standard(*std_args);
    ctx.exit_code = 0;
  });

  auto table = std::make_shared<TableArgs>();
  auto* t = cmd->add_subcommand(
      "table",
      "Read a frame,pressure_gpa[,pressure_esd_gpa] CSV and tag each frame as compression "
      "or decompression");
  t->add_option("file", table->file, "CSV with a header line naming frame, pressure_gpa[, pressure_esd_gpa]")
      ->required();
  t->add_option("--min-step", table->min_step_gpa,
                "Smallest pressure change (GPa) that counts as a direction change")
      ->capture_default_str()
      ->check(non_negative_number());
  t->add_option("--esd-factor", table->esd_factor, "A change must also exceed this many combined esd")
      ->capture_default_str()
      ->check(non_negative_number());
  t->callback([table, &ctx] {
    run_table(*table);
    ctx.exit_code = 0;
  });

  auto spec = std::make_shared<SpecArgs>();
  auto* sp = cmd->add_subcommand("spec",
                                 "Print counters of a SPEC scan (without --scan: list the scans; without "
                                 "--counter: list the scan's columns)");
  sp->add_option("file", spec->file, "SPEC data file")->required();
  sp->add_option("--scan", spec->scan, "Scan number, or n.k for the k-th scan numbered n");
  sp->add_option("--counter", spec->counters, "Column label (repeatable), e.g. --counter \"ion chamber 0\"");
  sp->add_option("--ruby-scale", spec->ruby_scale,
                 "The counter holds ruby R1 wavelengths (nm): print per-frame pressure on this scale "
                 "(mao1986, dewaele2008, jacobsen2008, shen2020, ...) with compression/decompression");
  sp->add_option("--lambda0", spec->lambda0_nm, "Ambient R1 wavelength (nm) for --ruby-scale")
      ->check(positive_number());
  sp->add_flag("--gpa", spec->gpa,
               "The counter holds pressure in GPa: print it per frame with the direction");
  sp->add_option("--frame-counter", spec->frame_counter,
                 "Column giving the frame number of each point (default: point k is frame k)");
  sp->callback([spec, &ctx] {
    run_spec(*spec);
    ctx.exit_code = 0;
  });
}

}  // namespace anvil::cli
