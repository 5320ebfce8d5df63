#include "crystal/reflections.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <gemmi/symmetry.hpp>
#include <stdexcept>

#include "core/error.hpp"

namespace anvil::crystal {

namespace {

// Preferred name of a family: most non-negative indices, then lexicographically largest.
bool better_name(const Miller& x, const Miller& y) {
  auto nonneg = [](const Miller& m) { return (m[0] >= 0) + (m[1] >= 0) + (m[2] >= 0); };
  if (nonneg(x) != nonneg(y)) return nonneg(x) > nonneg(y);
  return x > y;
}

}  // namespace

std::vector<Miller> equivalent_reflections(const gemmi::SpaceGroup& space_group, const Miller& hkl) {
  const gemmi::GroupOps ops = space_group.operations();
  std::vector<Miller> orbit;
  orbit.reserve(2 * ops.sym_ops.size());
  for (const gemmi::Op& op : ops.sym_ops) {
    const Miller r = op.apply_to_hkl(hkl);
    for (const Miller& m : {r, Miller{-r[0], -r[1], -r[2]}})
      if (std::find(orbit.begin(), orbit.end(), m) == orbit.end()) orbit.push_back(m);
  }
  return orbit;
}

std::vector<Reflection> hkl_families(const Phase& phase, double d_min_angstrom, double d_max_angstrom) {
  if (!phase.space_group) throw std::invalid_argument("phase " + phase.name + " has no space group");
  if (!(d_min_angstrom > 0.0))
    throw InputError("phase " + phase.name, fmt::format("d_min {} Å is not positive", d_min_angstrom));
  const gemmi::GroupOps ops = phase.space_group->operations();
  const Lattice& L = phase.cell;
  const int hmax = static_cast<int>(std::floor(L.a / d_min_angstrom));
  const int kmax = static_cast<int>(std::floor(L.b / d_min_angstrom));
  const int lmax = static_cast<int>(std::floor(L.c / d_min_angstrom));
  const double inv_d2_max = 1.0 / (d_min_angstrom * d_min_angstrom);
  const double inv_d2_min = std::isfinite(d_max_angstrom) ? 1.0 / (d_max_angstrom * d_max_angstrom) : 0.0;
  // Laue-class rotations, applied to hkl (gemmi's Op::apply_to_hkl uses the transposed rotation).
  std::vector<gemmi::Op> laue;
  for (const gemmi::Op& op : ops.sym_ops) {
    laue.push_back(op);
    laue.push_back(gemmi::Op{op.negated_rot(), op.tran});
  }

  std::vector<Reflection> out;
  std::vector<Miller> orbit;
  for (int h = -hmax; h <= hmax; ++h)
    for (int k = -kmax; k <= kmax; ++k)
      for (int l = -lmax; l <= lmax; ++l) {
        const Miller hkl{h, k, l};
        if (h == 0 && k == 0 && l == 0) continue;
        const double inv_d2 = one_over_d_squared(hkl, L);
        if (inv_d2 > inv_d2_max * (1 + 1e-12) || inv_d2 < inv_d2_min * (1 - 1e-12)) continue;
        orbit.clear();
        bool is_name = true;
        for (const gemmi::Op& op : laue) {
          const Miller m = op.apply_to_hkl(hkl);
          if (better_name(m, hkl)) {
            is_name = false;
            break;
          }
          if (std::find(orbit.begin(), orbit.end(), m) == orbit.end()) orbit.push_back(m);
        }
        if (!is_name || ops.is_systematically_absent(hkl)) continue;
        out.push_back(Reflection{hkl, static_cast<int>(orbit.size()), 1.0 / std::sqrt(inv_d2), 0.0});
      }
  std::sort(out.begin(), out.end(), [](const Reflection& x, const Reflection& y) {
    return x.d_angstrom != y.d_angstrom ? x.d_angstrom > y.d_angstrom : better_name(x.hkl, y.hkl);
  });
  return out;
}

ScatteringModel make_scattering_model(const Phase& phase, double wavelength_angstrom, Dispersion dispersion) {
  if (!(wavelength_angstrom > 0.0) || !std::isfinite(wavelength_angstrom))
    throw InputError("phase " + phase.name,
                     fmt::format("wavelength {} Å is not positive", wavelength_angstrom));
  ScatteringModel m;
  m.energy_kev = energy_kev_from_wavelength(wavelength_angstrom);
  m.dispersion = dispersion;
  m.atoms = unit_cell_atoms(phase);
  for (const CellAtom& a : m.atoms) {
    auto it = std::find_if(m.scatterers.begin(), m.scatterers.end(),
                           [&](const AtomScattering& s) { return s.element == a.element; });
    if (it == m.scatterers.end()) {
      m.scatterers.push_back(atom_scattering(a.element, m.energy_kev, dispersion));
      it = m.scatterers.end() - 1;
    }
    m.scatterer_of_atom.push_back(static_cast<int>(it - m.scatterers.begin()));
  }
  return m;
}

std::complex<double> structure_factor(const ScatteringModel& model, const Miller& hkl, double one_over_d2) {
  const double stol2 = 0.25 * one_over_d2;
  std::vector<std::complex<double>> f(model.scatterers.size());
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = model.scatterers[i].f(stol2);
  std::complex<double> sum = 0.0;
  for (std::size_t j = 0; j < model.atoms.size(); ++j) {
    const CellAtom& a = model.atoms[j];
    const double phase = 2.0 * M_PI * (hkl[0] * a.fract[0] + hkl[1] * a.fract[1] + hkl[2] * a.fract[2]);
    sum += a.occupancy * std::exp(-a.b_iso * stol2) * f[model.scatterer_of_atom[j]] * std::polar(1.0, phase);
  }
  return sum;
}

double mean_f_squared(const ScatteringModel& model, const Miller& hkl, double one_over_d2) {
  const double plus = std::norm(structure_factor(model, hkl, one_over_d2));
  const double minus = std::norm(structure_factor(model, Miller{-hkl[0], -hkl[1], -hkl[2]}, one_over_d2));
  return 0.5 * (plus + minus);
}

std::vector<Reflection> reflection_list(const Phase& phase, double wavelength_angstrom,
                                        double two_theta_min_deg, double two_theta_max_deg,
                                        Dispersion dispersion) {
  if (!(two_theta_max_deg > 0.0 && two_theta_max_deg <= 180.0) || two_theta_min_deg >= two_theta_max_deg)
    throw InputError("phase " + phase.name,
                     fmt::format("2θ range {}–{}° is not a range", two_theta_min_deg, two_theta_max_deg));
  const ScatteringModel model = make_scattering_model(phase, wavelength_angstrom, dispersion);
  const double d_min = d_from_two_theta(two_theta_max_deg, wavelength_angstrom);
  const double d_max = two_theta_min_deg > 0.0 ? d_from_two_theta(two_theta_min_deg, wavelength_angstrom)
                                               : std::numeric_limits<double>::infinity();
  std::vector<Reflection> list;
  for (Reflection& r : hkl_families(phase, d_min, d_max)) {
    r.f_squared = mean_f_squared(model, r.hkl, 1.0 / (r.d_angstrom * r.d_angstrom));
    if (r.f_squared >= kExtinctFSquared) list.push_back(r);
  }
  return list;
}

std::vector<Reflection> merge_equal_d(const std::vector<Reflection>& reflections, double rel_tol) {
  std::vector<Reflection> out;
  for (const Reflection& r : reflections) {
    if (!out.empty() && std::fabs(out.back().d_angstrom - r.d_angstrom) <= rel_tol * r.d_angstrom) {
      Reflection& m = out.back();
      const double sum = m.multiplicity * m.f_squared + r.multiplicity * r.f_squared;
      m.multiplicity += r.multiplicity;
      m.f_squared = sum / m.multiplicity;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace anvil::crystal
