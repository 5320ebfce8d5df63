#include "crystal/phase.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <gemmi/elem.hpp>
#include <gemmi/symmetry.hpp>
#include <gemmi/unitcell.hpp>
#include <map>
#include <numeric>
#include <stdexcept>

#include "core/error.hpp"

namespace anvil::crystal {

namespace {

gemmi::UnitCell to_gemmi(const Lattice& L) {
  return gemmi::UnitCell(L.a, L.b, L.c, L.alpha_deg, L.beta_deg, L.gamma_deg);
}

double wrap01(double x) {
  double w = x - std::floor(x);
  return w >= 1.0 ? 0.0 : w;
}

// Hill order: C, H, then alphabetical; without carbon, purely alphabetical.
std::vector<std::string> hill_order(std::vector<std::string> elements) {
  const bool has_c = std::find(elements.begin(), elements.end(), "C") != elements.end();
  auto rank = [&](const std::string& e) { return has_c ? (e == "C" ? 0 : e == "H" ? 1 : 2) : 2; };
  std::sort(elements.begin(), elements.end(), [&](const std::string& x, const std::string& y) {
    return rank(x) != rank(y) ? rank(x) < rank(y) : x < y;
  });
  return elements;
}

std::string format_count(double n) {
  if (std::fabs(n - 1.0) < 1e-6) return "";
  if (std::fabs(n - std::round(n)) < 1e-6) return fmt::format("{}", static_cast<long>(std::round(n)));
  return fmt::format("{:.4g}", n);
}

}  // namespace

const gemmi::SpaceGroup* find_space_group(const std::string& hm_or_number) {
  if (hm_or_number.empty()) return nullptr;
  if (std::all_of(hm_or_number.begin(), hm_or_number.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return gemmi::find_spacegroup_by_number(std::stoi(hm_or_number));
  return gemmi::find_spacegroup_by_name(hm_or_number);
}

std::string space_group_name(const Phase& phase) { return phase.space_group ? phase.space_group->hm : ""; }
int space_group_number(const Phase& phase) { return phase.space_group ? phase.space_group->number : 0; }

std::vector<CellAtom> unit_cell_atoms(const Phase& phase, double tolerance_angstrom) {
  if (!phase.space_group) throw std::invalid_argument("phase " + phase.name + " has no space group");
  const gemmi::UnitCell uc = to_gemmi(phase.cell);
  const gemmi::GroupOps ops = phase.space_group->operations();
  const double tol2 = tolerance_angstrom * tolerance_angstrom;
  std::vector<CellAtom> atoms;
  for (std::size_t s = 0; s < phase.sites.size(); ++s) {
    const Site& site = phase.sites[s];
    const std::size_t first = atoms.size();
    for (const gemmi::Op& op : ops.all_ops_sorted()) {
      const std::array<double, 3> x = op.apply_to_xyz(site.fract);
      const std::array<double, 3> w{wrap01(x[0]), wrap01(x[1]), wrap01(x[2])};
      bool duplicate = false;
      for (std::size_t j = first; j < atoms.size() && !duplicate; ++j) {
        gemmi::Fractional d(w[0] - atoms[j].fract[0], w[1] - atoms[j].fract[1], w[2] - atoms[j].fract[2]);
        d.x -= std::round(d.x);
        d.y -= std::round(d.y);
        d.z -= std::round(d.z);
        duplicate = uc.orthogonalize_difference(d).length_sq() < tol2;
      }
      if (!duplicate)
        atoms.push_back(CellAtom{site.element, w, site.occupancy, site.b_iso, static_cast<int>(s)});
    }
  }
  return atoms;
}

Phase make_phase(std::string name, const Lattice& cell, const gemmi::SpaceGroup& space_group,
                 std::vector<Site> sites, int z_hint) {
  for (double v : {cell.a, cell.b, cell.c, cell.alpha_deg, cell.beta_deg, cell.gamma_deg})
    if (!(v > 0.0) || !std::isfinite(v))
      throw InputError("phase " + name,
                       fmt::format("unit cell {} {} {} {} {} {} is not a cell", cell.a, cell.b, cell.c,
                                   cell.alpha_deg, cell.beta_deg, cell.gamma_deg));
  if (!(cell_volume(cell) > 0.0)) throw InputError("phase " + name, "unit cell angles give no volume");
  if (sites.empty()) throw InputError("phase " + name, "no atom sites");
  for (const Site& s : sites) {
    const gemmi::Element el(s.element);
    if (el.elem == gemmi::El::X || el.elem == gemmi::El::END)
      throw InputError("phase " + name, fmt::format("site {}: unknown element '{}'", s.label, s.element));
    if (!(s.occupancy >= 0.0) || !std::isfinite(s.b_iso))
      throw InputError("phase " + name, fmt::format("site {}: occupancy {} or B_iso {} is not valid", s.label,
                                                    s.occupancy, s.b_iso));
  }

  Phase p;
  p.name = std::move(name);
  p.cell = cell;
  p.space_group = &space_group;
  p.sites = std::move(sites);

  std::map<std::string, double> count;
  for (const CellAtom& a : unit_cell_atoms(p)) count[a.element] += a.occupancy;
  long g = 0;
  bool whole = true;
  for (const auto& [el, n] : count) {
    if (std::fabs(n - std::round(n)) > 1e-6 || std::round(n) < 1)
      whole = false;
    else
      g = std::gcd(g, static_cast<long>(std::round(n)));
  }
  int z = whole && g > 0 ? static_cast<int>(g) : 1;
  if (z_hint > 0) {
    bool divides = true;
    for (const auto& [el, n] : count) {
      const double per = n / z_hint;
      (void)el;
      if (std::fabs(per - std::round(per)) > 1e-6 && whole) divides = false;
    }
    if (divides) z = z_hint;
  }
  p.z = z;
  std::vector<std::string> elements;
  for (const auto& [el, n] : count) elements.push_back(el);
  std::string formula;
  double mass = 0.0;
  for (const std::string& el : hill_order(elements)) {
    const double n = count[el] / z;
    formula += (formula.empty() ? "" : " ") + el + format_count(n);
    mass += n * gemmi::Element(el).weight();
  }
  p.formula = formula;
  p.formula_mass = mass;
  return p;
}

double cell_mass(const Phase& phase) { return phase.z * phase.formula_mass; }

double hill_howard_zmv(const Phase& phase) {
  return crystal::hill_howard_zmv(phase.z, phase.formula_mass, cell_volume(phase.cell));
}

std::vector<double> weight_fractions(const std::vector<double>& scales, const std::vector<double>& zmv) {
  if (scales.size() != zmv.size())
    throw std::invalid_argument(fmt::format("{} scales for {} phases", scales.size(), zmv.size()));
  std::vector<double> w(scales.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) sum += w[i] = scales[i] * zmv[i];
  if (!(sum > 0.0)) throw std::invalid_argument("all phase scales are zero");
  for (double& x : w) x /= sum;
  return w;
}

std::vector<double> formula_unit_fractions(const std::vector<double>& scales,
                                           const std::vector<Phase>& phases) {
  std::vector<double> zv(phases.size());
  for (std::size_t i = 0; i < phases.size(); ++i) zv[i] = phases[i].z * cell_volume(phases[i].cell);
  return weight_fractions(scales, zv);
}

}  // namespace anvil::crystal
