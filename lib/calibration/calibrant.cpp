// gemmi/smcif.hpp pulls in gemmi/sprintf.hpp, which wants stb_sprintf.h; Debian's gemmi-dev ships
// neither the bundled copy nor libstb-dev, so use the C library's snprintf (gemmi's own switch).
#define USE_STD_SNPRINTF 1
#include "calibration/calibrant.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <gemmi/cif.hpp>
#include <gemmi/small.hpp>
#include <gemmi/smcif.hpp>
#include <gemmi/symmetry.hpp>
#include <gemmi/unitcell.hpp>
#include <numbers>

#include "core/error.hpp"
#include "crystal/lattice.hpp"

namespace anvil::calibration {

namespace {

const gemmi::SpaceGroup& space_group_or_throw(const std::string& name, const std::string& source) {
  const gemmi::SpaceGroup* sg = gemmi::find_spacegroup_by_name(name);
  if (sg == nullptr) throw InputError(source, fmt::format("unknown space group '{}'", name));
  return *sg;
}

// Fill the lengths and angles a crystal system fixes (a cubic cell needs only a; hexagonal and
// trigonal in the hexagonal setting a and c, γ = 120°; tetragonal a and c).
std::array<double, 6> complete_cell(const gemmi::SpaceGroup& sg, std::optional<double> a,
                                    std::optional<double> b, std::optional<double> c,
                                    std::optional<double> alpha, std::optional<double> beta,
                                    std::optional<double> gamma, const std::string& source) {
  using CS = gemmi::CrystalSystem;
  if (!a) throw InputError(source, "the cell needs at least 'a'");
  const CS cs = sg.crystal_system();
  const bool hex_setting = cs == CS::Hexagonal || (cs == CS::Trigonal && sg.ext != 'R');
  std::array<double, 6> cell{
      *a, b.value_or(*a), c.value_or(*a), alpha.value_or(90.0), beta.value_or(90.0), gamma.value_or(90.0)};
  switch (cs) {
    case CS::Cubic:
      cell = {*a, *a, *a, 90.0, 90.0, 90.0};
      break;
    case CS::Tetragonal:
      if (!c) throw InputError(source, fmt::format("a tetragonal cell ({}) needs 'c'", sg.hm));
      cell = {*a, *a, *c, 90.0, 90.0, 90.0};
      break;
    case CS::Hexagonal:
    case CS::Trigonal:
      if (hex_setting) {
        if (!c) throw InputError(source, fmt::format("a hexagonal-setting cell ({}) needs 'c'", sg.hm));
        cell = {*a, *a, *c, 90.0, 90.0, 120.0};
      } else {
        if (!alpha) throw InputError(source, fmt::format("a rhombohedral cell ({}) needs 'alpha'", sg.hm));
        cell = {*a, *a, *a, *alpha, *alpha, *alpha};
      }
      break;
    default:
      break;
  }
  for (int i = 0; i < 3; ++i)
    if (!(cell[i] > 0.0)) throw InputError(source, fmt::format("cell length {} must be > 0", cell[i]));
  return cell;
}

// The geometric structure factor of one site's orbit, Σ exp(2πi h·x) over its distinct
// equivalent positions in the cell.
struct SiteOrbit {
  std::vector<std::array<double, 3>> positions;
};

SiteOrbit site_orbit(const gemmi::GroupOps& ops, const std::array<double, 3>& xyz) {
  SiteOrbit orbit;
  for (const gemmi::Op& op : ops) {
    auto p = op.apply_to_xyz(xyz);
    for (double& v : p) v -= std::floor(v);
    const bool seen = std::any_of(orbit.positions.begin(), orbit.positions.end(), [&](const auto& q) {
      for (int i = 0; i < 3; ++i) {
        double dv = std::fabs(p[i] - q[i]);
        dv = std::min(dv, 1.0 - dv);
        if (dv > 1e-6) return false;
      }
      return true;
    });
    if (!seen) orbit.positions.push_back(p);
  }
  return orbit;
}

bool orbit_cancels(const SiteOrbit& orbit, const std::array<int, 3>& hkl) {
  double re = 0.0, im = 0.0;
  for (const auto& p : orbit.positions) {
    const double phase = 2.0 * std::numbers::pi * (hkl[0] * p[0] + hkl[1] * p[1] + hkl[2] * p[2]);
    re += std::cos(phase);
    im += std::sin(phase);
  }
  return std::hypot(re, im) < 1e-6 * static_cast<double>(orbit.positions.size());
}

// The representative pyFAI writes: the reflection whose indices, read as a tuple, are largest.
bool preferred_hkl(const std::array<int, 3>& a, const std::array<int, 3>& b) { return a > b; }

template <class View>
std::optional<double> toml_double(const View& node) {
  if (!node) return std::nullopt;
  if (auto v = node.template value<double>()) return *v;
  return std::nullopt;
}

double parse_number(std::string_view text, std::string_view what) {
  double v = 0.0;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size())
    throw InputError(std::string(what), fmt::format("'{}' is not a number", text));
  return v;
}

}  // namespace

double d_spacing(const std::array<double, 6>& cell, const std::array<int, 3>& hkl) {
  return crystal::d_spacing({hkl[0], hkl[1], hkl[2]},
                            crystal::Lattice{cell[0], cell[1], cell[2], cell[3], cell[4], cell[5]});
}

std::vector<CalibrantLine> calibrant_lines(const Calibrant& calibrant, double d_min_angstrom,
                                           double merge_tolerance_angstrom) {
  if (!(d_min_angstrom > 0.0)) throw InputError(calibrant.name, "d_min must be > 0");
  struct Reflection {
    double d;
    std::array<int, 3> hkl;
  };
  std::vector<Reflection> refl;
  if (calibrant.lamellar_d001_angstrom) {
    const double d001 = *calibrant.lamellar_d001_angstrom;
    // pyFAI's lamellar lists count each order once (no Friedel mate): multiplicity 1.
    for (int l = 1; d001 / l >= d_min_angstrom; ++l) refl.push_back({d001 / l, {0, 0, l}});
  } else {
    const gemmi::SpaceGroup& sg = space_group_or_throw(calibrant.space_group, calibrant.name);
    const gemmi::GroupOps ops = sg.operations();
    std::vector<SiteOrbit> orbits;
    for (const auto& s : calibrant.sites) orbits.push_back(site_orbit(ops, s.xyz));
    const auto& c = calibrant.cell;
    const gemmi::UnitCell uc(c[0], c[1], c[2], c[3], c[4], c[5]);
    // |h| = |r*·a| <= |a| / d for every reflection with spacing d >= d_min.
    const int hmax = static_cast<int>(std::ceil(c[0] / d_min_angstrom));
    const int kmax = static_cast<int>(std::ceil(c[1] / d_min_angstrom));
    const int lmax = static_cast<int>(std::ceil(c[2] / d_min_angstrom));
    for (int h = -hmax; h <= hmax; ++h)
      for (int k = -kmax; k <= kmax; ++k)
        for (int l = -lmax; l <= lmax; ++l) {
          if (h == 0 && k == 0 && l == 0) continue;
          const gemmi::Op::Miller m{{h, k, l}};
          const double d = uc.calculate_d(m);
          if (d < d_min_angstrom) continue;
          if (ops.is_systematically_absent(m)) continue;
          if (!orbits.empty() && std::all_of(orbits.begin(), orbits.end(), [&](const SiteOrbit& o) {
                return orbit_cancels(o, {h, k, l});
              }))
            continue;
          refl.push_back({d, {h, k, l}});
        }
  }
  std::sort(refl.begin(), refl.end(), [](const Reflection& a, const Reflection& b) { return a.d > b.d; });
  std::vector<CalibrantLine> lines;
  for (const auto& r : refl) {
    if (!lines.empty() && lines.back().d_angstrom - r.d <= merge_tolerance_angstrom) {
      auto& line = lines.back();
      ++line.multiplicity;
      if (preferred_hkl(r.hkl, line.hkl)) line.hkl = r.hkl;
    } else {
      lines.push_back({r.d, r.hkl, 1});
    }
  }
  return lines;
}

std::vector<CalibrantLine> calibrant_lines_to_two_theta(const Calibrant& calibrant, double wavelength_m,
                                                        double max_two_theta_rad) {
  const double s = std::sin(0.5 * std::min(max_two_theta_rad, std::numbers::pi));
  return calibrant_lines(calibrant, wavelength_m * 1e10 / (2.0 * std::max(s, 1e-12)));
}

Calibrant parse_calibrant(std::string_view toml_text, const std::string& source) {
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    throw InputError(source, fmt::format("not a valid calibrant file (TOML): {} at line {}", e.description(),
                                         e.source().begin.line));
  }
  Calibrant cal;
  cal.name = tbl["name"].value_or(std::string());
  if (cal.name.empty()) throw InputError(source, "missing 'name'");
  cal.description = tbl["description"].value_or(std::string());
  cal.standard = tbl["standard"].value_or(std::string());
  cal.citation = tbl["citation"].value_or(std::string());
  if (auto d = tbl["lamellar_d001"].value<double>()) {
    if (!(*d > 0.0)) throw InputError(source, "lamellar_d001 must be > 0");
    cal.lamellar_d001_angstrom = *d;
    cal.cell = {
        std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), *d, 90, 90, 90};
    return cal;
  }
  cal.space_group = tbl["space_group"].value_or(std::string());
  if (cal.space_group.empty()) throw InputError(source, "missing 'space_group' (or 'lamellar_d001')");
  const auto& sg = space_group_or_throw(cal.space_group, source);
  const auto cell = tbl["cell"];
  if (!cell.is_table()) throw InputError(source, "missing 'cell' table ({a = ..., c = ...})");
  cal.cell = complete_cell(sg, toml_double(cell["a"]), toml_double(cell["b"]), toml_double(cell["c"]),
                           toml_double(cell["alpha"]), toml_double(cell["beta"]), toml_double(cell["gamma"]),
                           source);
  if (const auto* sites = tbl["sites"].as_array()) {
    for (const auto& node : *sites) {
      const auto* t = node.as_table();
      const auto* xyz = t ? (*t)["xyz"].as_array() : nullptr;
      if (!xyz || xyz->size() != 3) throw InputError(source, "each site needs xyz = [x, y, z]");
      CalibrantSite site;
      site.label = (*t)["label"].value_or(std::string("?"));
      for (std::size_t i = 0; i < 3; ++i) {
        const auto v = (*xyz)[i].value<double>();
        if (!v) throw InputError(source, fmt::format("site {}: xyz must hold numbers", site.label));
        site.xyz[i] = *v;
      }
      cal.sites.push_back(site);
    }
  }
  return cal;
}

Calibrant calibrant_from_cif(std::string_view cif_text, const std::string& source) {
  gemmi::SmallStructure st;
  try {
    const gemmi::cif::Document doc = gemmi::cif::read_string(std::string(cif_text));
    bool found = false;
    for (const auto& block : doc.blocks) {
      if (block.find_value("_cell_length_a")) {
        st = gemmi::make_small_structure_from_block(block);
        found = true;
        break;
      }
    }
    if (!found) throw InputError(source, "no CIF block with _cell_length_a");
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(source, fmt::format("cannot read CIF: {}", e.what()));
  }
  const gemmi::SpaceGroup* sg = st.find_spacegroup();
  if (sg == nullptr && st.spacegroup_hm.find(" 3") != std::string::npos) {
    // Old cubic notation without the bar ('F m 3 m' for F m -3 m), as some COD files write it.
    std::string name = st.spacegroup_hm;
    name.replace(name.find(" 3"), 2, " -3");
    sg = gemmi::find_spacegroup_by_name(name);
  }
  if (sg == nullptr) throw InputError(source, fmt::format("unknown space group '{}'", st.spacegroup_hm));
  Calibrant cal;
  cal.name = st.name.empty() ? source : st.name;
  cal.description = "from CIF " + source;
  cal.citation = source;
  cal.space_group = sg->xhm();
  cal.cell = {st.cell.a, st.cell.b, st.cell.c, st.cell.alpha, st.cell.beta, st.cell.gamma};
  for (const auto& s : st.sites) cal.sites.push_back({s.label, {s.fract.x, s.fract.y, s.fract.z}});
  return cal;
}

Calibrant calibrant_from_cell_spec(std::string_view spec) {
  const std::string src = "calibrant '" + std::string(spec) + "'";
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos)
    throw InputError(src, "expected SPACEGROUP:a[,c] (e.g. Fm-3m:4.0786) or lamellar:d001");
  const std::string sg_name(spec.substr(0, colon));
  std::vector<double> v;
  std::string_view rest = spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    v.push_back(parse_number(rest.substr(0, comma), src));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  Calibrant cal;
  cal.name = std::string(spec);
  cal.description = "given as a cell";
  if (sg_name == "lamellar") {
    if (v.size() != 1 || !(v[0] > 0.0)) throw InputError(src, "lamellar needs one d001 > 0");
    cal.lamellar_d001_angstrom = v[0];
    return cal;
  }
  const auto& sg = space_group_or_throw(sg_name, src);
  cal.space_group = sg.xhm();
  auto opt = [&](std::size_t i) { return i < v.size() ? std::optional<double>(v[i]) : std::nullopt; };
  if (v.size() == 2)
    cal.cell = complete_cell(sg, v[0], std::nullopt, v[1], std::nullopt, std::nullopt, std::nullopt, src);
  else if (v.size() == 1 || v.size() == 6)
    cal.cell = complete_cell(sg, opt(0), opt(1), opt(2), opt(3), opt(4), opt(5), src);
  else
    throw InputError(src, "give a (cubic), a,c (tetragonal/hexagonal) or a,b,c,alpha,beta,gamma");
  return cal;
}

}  // namespace anvil::calibration
