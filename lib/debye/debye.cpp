#include "debye/debye.hpp"

#include <fftw3.h>
#include <fmt/core.h>
#include <tbb/combinable.h>
#include <tbb/parallel_for.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <numbers>
#include <numeric>
#include <random>

#include "core/error.hpp"

namespace anvil::debye {

namespace {

using Vec3 = std::array<double, 3>;

Vec3 mul(const std::array<std::array<double, 3>, 3>& m, const Vec3& v) {
  return {m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2], m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
          m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2]};
}

double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

// The i-th point of the R3 low-discrepancy sequence (Roberts 2018): cluster centres that cover
// the cell evenly, the same on every run.
Vec3 centring(int i) {
  const double g = 1.22074408460575947536;  // Roberts' φ₃: g⁴ = g + 1
  const Vec3 alpha{1.0 / g, 1.0 / (g * g), 1.0 / (g * g * g)};
  Vec3 c{};
  for (int k = 0; k < 3; ++k) c[k] = std::fmod(0.5 + alpha[k] * i, 1.0);
  return c;
}

// Where an atom at `xyz` (relative to the centre) first belongs in the size grid: the smallest
// diameter whose shape holds it; sizes.size() when none does.
std::size_t shell_of(const Vec3& xyz, const ClusterSettings& s, const Vec3& axis,
                     const std::vector<double>& d) {
  double need = 0.0;  // the smallest diameter that holds the atom
  if (s.shape == Shape::Sphere) {
    need = 2.0 * norm(xyz);
  } else {
    const double along = xyz[0] * axis[0] + xyz[1] * axis[1] + xyz[2] * axis[2];
    const Vec3 perp{xyz[0] - along * axis[0], xyz[1] - along * axis[1], xyz[2] - along * axis[2]};
    need = std::max(2.0 * norm(perp), 2.0 * std::abs(along) / s.aspect);
  }
  const auto it = std::lower_bound(d.begin(), d.end(), need * (1.0 - 1e-12));
  return static_cast<std::size_t>(it - d.begin());
}

// FFTW's planner (creating and destroying plans) is not thread-safe (FFTW manual §5.4): one lock
// for every plan this library makes or destroys, whichever thread builds which phase.
std::mutex& fftw_planner() {
  static std::mutex m;
  return m;
}

// The size grid and histogram settings, for a crystal's clusters or a stacking model's.
void check_grid(const std::string& name, const ClusterSettings& s) {
  const auto fail = [&](const std::string& what) { throw InputError(name, what); };
  if (!(s.d_min_a >= 5.0 && s.d_max_a <= 500.0 && s.d_min_a <= s.d_max_a))
    fail(fmt::format("cluster sizes {}–{} Å: the size grid must lie within 5–500 Å", s.d_min_a, s.d_max_a));
  if (s.sizes < 1 || s.sizes > 200) fail(fmt::format("{} sizes: 1..200 allowed", s.sizes));
  if (s.centrings < 1 || s.centrings > 64) fail(fmt::format("{} centrings: 1..64 allowed", s.centrings));
  if (!(s.dr_a > 0.0005 && s.dr_a <= 0.05))
    fail(fmt::format("histogram step {} Å: 0.0005–0.05 allowed", s.dr_a));
  if (s.shape == Shape::Cylinder && !(s.aspect >= 0.05 && s.aspect <= 20))
    fail(fmt::format("cylinder aspect {}: 0.05–20 allowed", s.aspect));
  if (s.shape == Shape::Cylinder && s.axis_uvw == std::array<int, 3>{0, 0, 0}) fail("cylinder axis [000]");
}

void check_settings(const crystal::Phase& phase, const ClusterSettings& s) {
  const auto fail = [&](const std::string& what) { throw InputError(phase.name, what); };
  check_grid(phase.name, s);
  if (phase.sites.empty()) fail("the phase has no atoms: no cluster can be cut from it");
  const auto& c = phase.cell;
  if (!(c.a > 0.5 && c.b > 0.5 && c.c > 0.5 && c.a < 100 && c.b < 100 && c.c < 100))
    fail(fmt::format("cell {} {} {} Å: not a crystal cell anvil can build clusters from", c.a, c.b, c.c));
  // Atoms per volume: a cell in nm, or a wrong occupancy, would fill a 72-Å sphere with 10⁹ atoms.
  double atoms = 0;
  for (const auto& a : crystal::unit_cell_atoms(phase)) atoms += a.occupancy;
  const double per_atom = crystal::cell_volume(c) / std::max(atoms, 1e-9);
  if (!(per_atom >= 2.0 && per_atom <= 500.0))
    fail(fmt::format(
        "{:.3g} Å³ per atom (cell volume {:.4g} Å³, {:.4g} atoms): not a crystal (is the cell in Å?)",
        per_atom, crystal::cell_volume(c), atoms));
}

}  // namespace

std::array<std::array<double, 3>, 3> cartesian_matrix(const crystal::Lattice& L) {
  const double deg = std::numbers::pi / 180.0;
  const double ca = std::cos(L.alpha_deg * deg), cb = std::cos(L.beta_deg * deg),
               cg = std::cos(L.gamma_deg * deg);
  const double sg = std::sin(L.gamma_deg * deg);
  const double v = crystal::cell_volume(L);
  std::array<std::array<double, 3>, 3> m{};
  m[0] = {L.a, L.b * cg, L.c * cb};
  m[1] = {0.0, L.b * sg, L.c * (ca - cb * cg) / sg};
  m[2] = {0.0, 0.0, v / (L.a * L.b * sg)};
  return m;
}

Cluster cut_cluster(const crystal::Phase& phase, const ClusterSettings& s, double diameter_a,
                    const Vec3& centre) {
  check_settings(phase, s);
  const auto m = cartesian_matrix(phase.cell);
  const auto atoms = crystal::unit_cell_atoms(phase);
  Cluster out;
  for (const auto& a : atoms)
    if (std::find(out.species.begin(), out.species.end(), a.element) == out.species.end())
      out.species.push_back(a.element);
  Vec3 axis{0, 0, 1};
  if (s.shape == Shape::Cylinder) {
    axis = mul(m, {double(s.axis_uvw[0]), double(s.axis_uvw[1]), double(s.axis_uvw[2])});
    const double n = norm(axis);
    for (auto& x : axis) x /= n;
  }
  out.axis = axis;
  // The farthest atom: the radius of a sphere, half the diagonal of a cylinder.
  const double reach = 0.5 * diameter_a * (s.shape == Shape::Cylinder ? std::hypot(1.0, s.aspect) : 1.0);
  // Cells far enough out along every axis: the heights of the cell bound the reach.
  const double v = crystal::cell_volume(phase.cell);
  const auto cross = [](const Vec3& a, const Vec3& b) {
    return Vec3{a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
  };
  const Vec3 ca{m[0][0], m[1][0], m[2][0]}, cb{m[0][1], m[1][1], m[2][1]}, cc{m[0][2], m[1][2], m[2][2]};
  const std::array<double, 3> height{v / norm(cross(cb, cc)), v / norm(cross(cc, ca)),
                                     v / norm(cross(ca, cb))};
  std::array<int, 3> n{};
  for (int k = 0; k < 3; ++k) n[k] = static_cast<int>(std::ceil(reach / height[k])) + 1;
  const std::vector<double> one{diameter_a};
  for (int i = -n[0]; i <= n[0]; ++i)
    for (int j = -n[1]; j <= n[1]; ++j)
      for (int k = -n[2]; k <= n[2]; ++k)
        for (const auto& a : atoms) {
          const Vec3 f{a.fract[0] + i - centre[0], a.fract[1] + j - centre[1], a.fract[2] + k - centre[2]};
          const Vec3 x = mul(m, f);
          if (shell_of(x, s, axis, one) != 0) continue;
          out.xyz.push_back(x);
          out.occupancy.push_back(a.occupancy);
          out.species_of.push_back(static_cast<int>(
              std::find(out.species.begin(), out.species.end(), a.element) - out.species.begin()));
        }
  return out;
}

namespace {

// The sums of a size grid from the largest cluster of each centring (`largest(c)`), whatever
// made it: a crystal's cell, or a stacking sequence.
PairSums sums_of(const std::string& name, const ClusterSettings& s, double atoms_per_formula_unit,
                 double volume_per_formula_unit, const std::function<Cluster(int)>& largest,
                 const std::function<double(const std::string&)>& b_iso_of) {
  PairSums out;
  out.phase = name;
  for (int k = 0; k < s.sizes; ++k)
    out.diameters_a.push_back(
        s.sizes == 1 ? s.d_max_a : s.d_min_a * std::pow(s.d_max_a / s.d_min_a, double(k) / (s.sizes - 1)));
  out.atoms_per_formula_unit = atoms_per_formula_unit;
  out.volume_per_formula_unit = volume_per_formula_unit;

  const std::size_t nsizes = out.diameters_a.size();
  // The longest distance: a sphere's diameter, a cylinder's diagonal.
  const double reach = s.d_max_a * (s.shape == Shape::Cylinder ? std::hypot(1.0, s.aspect) : 1.0);
  // The sine transform's length: r up to the largest distance, zero-padded so that the q grid
  // is fine enough to interpolate (Δq = π/((n+1)Δr) ≈ 0.005 Å⁻¹ for Δr = 0.01 Å).
  std::size_t n_fft = 1;
  while (n_fft < static_cast<std::size_t>(std::max(reach, 600.0) / s.dr_a) + 2) n_fft *= 2;
  const std::size_t n = n_fft - 1;  // RODFT00 of length n has the grid π/(n+1)
  out.dq = std::numbers::pi / (static_cast<double>(n + 1) * s.dr_a);
  out.nq = std::min(n, static_cast<std::size_t>(s.q_max_inv_a / out.dq) + 4);
  const std::size_t nbins = static_cast<std::size_t>(reach * 1.01 / s.dr_a) + 4;

  std::vector<std::vector<std::vector<double>>> hist;  // [size][type][bin], per shell first
  std::vector<std::vector<double>> count;
  for (int c = 0; c < s.centrings; ++c) {
    const Cluster cl = largest(c);
    if (cl.size() < 2)
      throw InputError(name,
                       fmt::format("a {:.0f}-Å cluster holds {} atom(s): too small", s.d_max_a, cl.size()));
    if (out.species.empty()) {
      out.species = cl.species;
      for (int a = 0; a < static_cast<int>(out.species.size()); ++a)
        for (int b = a; b < static_cast<int>(out.species.size()); ++b) out.types.push_back({a, b});
      hist.assign(nsizes,
                  std::vector<std::vector<double>>(out.types.size(), std::vector<double>(nbins, 0.0)));
      count.assign(nsizes, std::vector<double>(out.species.size(), 0.0));
    }
    const std::size_t ns = out.species.size();
    std::vector<int> type_of(ns * ns);
    for (std::size_t t = 0; t < out.types.size(); ++t) {
      type_of[out.types[t][0] * ns + out.types[t][1]] = static_cast<int>(t);
      type_of[out.types[t][1] * ns + out.types[t][0]] = static_cast<int>(t);
    }
    const Vec3 axis = cl.axis;
    std::vector<std::size_t> shell(cl.size());
    for (std::size_t i = 0; i < cl.size(); ++i) {
      shell[i] = shell_of(cl.xyz[i], s, axis, out.diameters_a);
      if (shell[i] < nsizes) count[shell[i]][cl.species_of[i]] += cl.occupancy[i];
    }
    // Every pair once, into the histogram of the smallest size holding both atoms.
    using Local = std::vector<std::vector<std::vector<double>>>;
    tbb::combinable<Local> local([&] {
      return Local(nsizes,
                   std::vector<std::vector<double>>(out.types.size(), std::vector<double>(nbins, 0.0)));
    });
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, cl.size(), 64), [&](const tbb::blocked_range<std::size_t>& r) {
          Local& h = local.local();
          for (std::size_t i = r.begin(); i != r.end(); ++i) {
            if (shell[i] >= nsizes) continue;
            const Vec3& xi = cl.xyz[i];
            for (std::size_t j = i + 1; j < cl.size(); ++j) {
              if (shell[j] >= nsizes) continue;
              const double dx = xi[0] - cl.xyz[j][0], dy = xi[1] - cl.xyz[j][1], dz = xi[2] - cl.xyz[j][2];
              const double u = std::sqrt(dx * dx + dy * dy + dz * dz) / s.dr_a - 1.0;  // grid r_j = (j+1)Δr
              if (u < 0) continue;                                                     // coincident atoms
              const auto j0 = static_cast<std::size_t>(u);
              if (j0 + 1 >= nbins) continue;  // cannot happen: nbins covers the longest distance
              const double w1 = u - static_cast<double>(j0), w = cl.occupancy[i] * cl.occupancy[j];
              auto& row = h[std::max(shell[i], shell[j])][type_of[cl.species_of[i] * ns + cl.species_of[j]]];
              row[j0] += w * (1.0 - w1);
              row[j0 + 1] += w * w1;
            }
          }
        });
    local.combine_each([&](const Local& h) {
      for (std::size_t k = 0; k < nsizes; ++k)
        for (std::size_t t = 0; t < out.types.size(); ++t)
          for (std::size_t b = 0; b < nbins; ++b) hist[k][t][b] += h[k][t][b];
    });
  }
  // Shells to clusters: size k holds every shell up to k. Averages over the centrings.
  for (std::size_t k = 1; k < nsizes; ++k) {
    for (std::size_t t = 0; t < out.types.size(); ++t)
      for (std::size_t b = 0; b < nbins; ++b) hist[k][t][b] += hist[k - 1][t][b];
    for (std::size_t e = 0; e < out.species.size(); ++e) count[k][e] += count[k - 1][e];
  }
  const double inv_c = 1.0 / s.centrings;
  out.count = count;
  for (auto& row : out.count)
    for (auto& v : row) v *= inv_c;
  for (std::size_t k = 0; k < nsizes; ++k) {
    double atoms = 0;
    for (double v : out.count[k]) atoms += v;
    if (atoms < 2)
      throw InputError(name, fmt::format("a {:.1f}-Å cluster holds {:.1f} atoms: raise the smallest size",
                                         out.diameters_a[k], atoms));
    out.formula_units.push_back(atoms / out.atoms_per_formula_unit);
  }
  // The sums by one sine transform per size and pair type.
  std::vector<double> in(n, 0.0), res(n, 0.0);
  fftw_plan plan;
  {
    std::lock_guard lock(fftw_planner());
    plan = fftw_plan_r2r_1d(static_cast<int>(n), in.data(), res.data(), FFTW_RODFT00, FFTW_ESTIMATE);
  }
  out.sums.assign(out.types.size(), std::vector<double>(out.nq * nsizes, 0.0));
  for (std::size_t k = 0; k < nsizes; ++k)
    for (std::size_t t = 0; t < out.types.size(); ++t) {
      std::fill(in.begin(), in.end(), 0.0);
      for (std::size_t b = 0; b < nbins && b < n; ++b) in[b] = hist[k][t][b] * inv_c / ((b + 1) * s.dr_a);
      fftw_execute(plan);
      for (std::size_t q = 0; q < out.nq; ++q)
        out.sums[t][q * nsizes + k] = res[q] / (2.0 * (q + 1) * out.dq);
    }
  {
    std::lock_guard lock(fftw_planner());
    fftw_destroy_plan(plan);
  }
  out.b_iso.clear();
  for (const auto& e : out.species) out.b_iso.push_back(b_iso_of(e));
  return out;
}

}  // namespace

PairSums pair_sums(const crystal::Phase& phase, const ClusterSettings& s) {
  check_settings(phase, s);
  const auto cell_atoms = crystal::unit_cell_atoms(phase);
  double atoms_in_cell = 0;
  for (const auto& a : cell_atoms) atoms_in_cell += a.occupancy;
  // Debye–Waller factors of the sites (species share the first site's B).
  const auto b_of = [&](const std::string& e) {
    for (const auto& site : phase.sites)
      if (site.element == e) return site.b_iso;
    return 0.0;
  };
  return sums_of(
      phase.name, s, atoms_in_cell / std::max(phase.z, 1),
      crystal::cell_volume(phase.cell) / std::max(phase.z, 1),
      [&](int c) { return cut_cluster(phase, s, s.d_max_a, centring(c)); }, b_of);
}

Cluster stacked_cluster(const StackingModel& m, double diameter_a, std::uint64_t seed) {
  if (!(m.a > 0.5 && m.layer_spacing > 0.5 && m.alpha >= 0 && m.alpha <= 1))
    throw InputError(m.name,
                     fmt::format("stacking model a {} Å, layer spacing {} Å, α {}: not a close-packed "
                                 "stacking anvil can build",
                                 m.a, m.layer_spacing, m.alpha));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  Cluster out;
  out.species = {m.cation, m.anion};
  const double r = 0.5 * diameter_a;
  const int layers = static_cast<int>(std::ceil(r / m.layer_spacing)) + 2;
  const Vec3 a1{m.a, 0, 0}, a2{-0.5 * m.a, 0.5 * std::sqrt(3.0) * m.a, 0};
  // A random centre: in-plane fractional offset and height within one layer.
  const double f1 = uni(rng), f2 = uni(rng), z0 = uni(rng) * m.layer_spacing;
  const Vec3 centre{f1 * a1[0] + f2 * a2[0], f1 * a1[1] + f2 * a2[1], z0};
  // The sequence: a cubic step (probability α) keeps the direction A→B→C, a hexagonal step
  // reverses it (A→B→A).
  std::vector<int> position(2 * layers + 1);
  position[0] = static_cast<int>(uni(rng) * 3) % 3;
  int dir = uni(rng) < 0.5 ? 1 : -1;
  for (std::size_t k = 1; k < position.size(); ++k) {
    if (k > 1 && !(uni(rng) < m.alpha)) dir = -dir;
    position[k] = ((position[k - 1] + dir) % 3 + 3) % 3;
  }
  const double shift[3][2] = {{0, 0}, {1.0 / 3, 2.0 / 3}, {2.0 / 3, 1.0 / 3}};
  const int n = static_cast<int>(std::ceil(r / (0.5 * m.a))) + 2;
  for (int k = -layers; k <= layers; ++k) {
    const int p = position[k + layers];
    for (int species = 0; species < 2; ++species) {
      const double z = k * m.layer_spacing + (species ? m.u * 2.0 * m.layer_spacing : 0.0);
      for (int i = -n; i <= n; ++i)
        for (int j = -n; j <= n; ++j) {
          const double u1 = i + shift[p][0], u2 = j + shift[p][1];
          const Vec3 x{u1 * a1[0] + u2 * a2[0] - centre[0], u1 * a1[1] + u2 * a2[1] - centre[1],
                       z - centre[2]};
          if (norm(x) > r) continue;
          out.xyz.push_back(x);
          out.occupancy.push_back(1.0);
          out.species_of.push_back(species);
        }
    }
  }
  return out;
}

PairSums stacking_sums(const StackingModel& m, const ClusterSettings& s) {
  if (s.shape != Shape::Sphere) throw InputError(m.name, "stacking-fault clusters are spheres");
  check_grid(m.name, s);
  return sums_of(
      m.name, s, 2.0, 0.5 * std::sqrt(3.0) * m.a * m.a * m.layer_spacing,  // one Cd–Se pair per layer site
      [&](int c) { return stacked_cluster(m, s.d_max_a, 0x5eed0000u + static_cast<std::uint64_t>(c)); },
      [](const std::string&) { return 0.0; });
}

std::vector<crystal::AtomScattering> species_scattering(const PairSums& sums, double energy_kev,
                                                        crystal::Dispersion dispersion) {
  std::vector<crystal::AtomScattering> f;
  for (const auto& e : sums.species) f.push_back(crystal::atom_scattering(e, energy_kev, dispersion));
  return f;
}

namespace {

// Unnormalised log-normal weights of the size grid, the largest 1 (so none underflows when the
// median lies off the grid), and their derivatives along the median and σ of ln d.
struct Weights {
  std::vector<double> g, d_median, d_sigma;
};

Weights log_normal_weights(const std::vector<double>& diameters, double median_d_a, double sigma_ln) {
  Weights w;
  const std::size_t nk = diameters.size();
  w.g.assign(nk, 0.0);
  w.d_median.assign(nk, 0.0);
  w.d_sigma.assign(nk, 0.0);
  if (nk == 1) {
    w.g[0] = 1.0;
    return w;
  }
  const double s = std::max(sigma_ln, 1e-3);
  std::vector<double> z(nk);
  double z2_min = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < nk; ++k) {
    z[k] = std::log(diameters[k] / median_d_a) / s;
    z2_min = std::min(z2_min, z[k] * z[k]);
  }
  for (std::size_t k = 0; k < nk; ++k) {
    w.g[k] = std::exp(-0.5 * (z[k] * z[k] - z2_min));
    w.d_median[k] = w.g[k] * z[k] / (s * median_d_a);
    w.d_sigma[k] = w.g[k] * z[k] * z[k] / s;
  }
  return w;
}

}  // namespace

std::vector<double> size_weights(const PairSums& sums, double median_d_a, double sigma_ln) {
  auto w = log_normal_weights(sums.diameters_a, median_d_a, sigma_ln).g;
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (auto& v : w) v /= total;
  return w;
}

FactorsAtQ factors_at_q(const std::vector<crystal::AtomScattering>& f, const std::vector<double>& q) {
  FactorsAtQ out(f.size(), std::vector<std::complex<double>>(q.size()));
  for (std::size_t e = 0; e < f.size(); ++e)
    for (std::size_t i = 0; i < q.size(); ++i)
      out[e][i] = f[e].f(std::pow(q[i] / (4.0 * std::numbers::pi), 2));
  return out;
}

std::vector<double> intensity_per_formula_unit(const PairSums& sums,
                                               const std::vector<crystal::AtomScattering>& f,
                                               const PhaseState& state, const std::vector<double>& q) {
  return intensity_per_formula_unit(sums, factors_at_q(f, q), state, q);
}

std::vector<double> intensity_per_formula_unit(const PairSums& sums, const FactorsAtQ& f,
                                               const PhaseState& state, const std::vector<double>& q) {
  PopulationAtQ::Curves c;
  PopulationAtQ(sums, f, q).evaluate(state, c, false);
  return c.value;
}

PopulationAtQ::PopulationAtQ(const PairSums& sums, const FactorsAtQ& f, const std::vector<double>& q)
    : sums_(&sums), q_(q) {
  const std::size_t ns = sums.species.size();
  if (f.size() != ns)
    throw InputError(sums.phase, fmt::format("{} scattering factors for {} species", f.size(), ns));
  if (!q.empty()) {
    q_min_ = *std::min_element(q.begin(), q.end());
    q_max_ = *std::max_element(q.begin(), q.end());
  }
  stol2_.resize(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) stol2_[i] = std::pow(q[i] / (4.0 * std::numbers::pi), 2);
  self_.assign(ns, std::vector<double>(q.size()));
  for (std::size_t e = 0; e < ns; ++e)
    for (std::size_t i = 0; i < q.size(); ++i) self_[e][i] = std::norm(f[e][i]);
  cross_.assign(sums.types.size(), std::vector<double>(q.size()));
  for (std::size_t t = 0; t < sums.types.size(); ++t) {
    const int a = sums.types[t][0], b = sums.types[t][1];
    for (std::size_t i = 0; i < q.size(); ++i) cross_[t][i] = 2.0 * (f[a][i] * std::conj(f[b][i])).real();
  }
}

void PopulationAtQ::evaluate(const PhaseState& state, Curves& out, bool slopes) const {
  const PairSums& s = *sums_;
  const std::size_t n = q_.size(), nt = s.types.size(), ns = s.species.size();
  const Weights w = log_normal_weights(s.diameters_a, state.median_d_a, state.sigma_ln);
  // The sizes that count: the others are below 10⁻¹² of the largest weight (the weights are
  // unimodal in k, so these are one run k_lo … k_hi − 1).
  const std::size_t nk = w.g.size();
  std::size_t k_lo = 0, k_hi = nk;
  while (k_lo < nk && w.g[k_lo] < 1e-12) ++k_lo;
  while (k_hi > k_lo && w.g[k_hi - 1] < 1e-12) --k_hi;
  const auto na = static_cast<Eigen::Index>(k_hi - k_lo);
  using Row = Eigen::Map<const Eigen::VectorXd>;
  const Row g(w.g.data() + k_lo, na), g_mu(w.d_median.data() + k_lo, na), g_sig(w.d_sigma.data() + k_lo, na);
  // Per-species atoms and formula units of the population, and their derivatives.
  std::vector<double> n_e(ns, 0.0), n_e_mu(ns, 0.0), n_e_sig(ns, 0.0);
  double n_fu = 0.0, n_fu_mu = 0.0, n_fu_sig = 0.0;
  for (std::size_t k = k_lo; k < k_hi; ++k) {
    for (std::size_t e = 0; e < ns; ++e) {
      n_e[e] += w.g[k] * s.count[k][e];
      n_e_mu[e] += w.d_median[k] * s.count[k][e];
      n_e_sig[e] += w.d_sigma[k] * s.count[k][e];
    }
    n_fu += w.g[k] * s.formula_units[k];
    n_fu_mu += w.d_median[k] * s.formula_units[k];
    n_fu_sig += w.d_sigma[k] * s.formula_units[k];
  }
  const bool common_b = state.b_iso >= 0;
  out.value.assign(n, 0.0);
  if (slopes) {
    out.d_lambda.assign(n, 0.0);
    out.d_median_d.assign(n, 0.0);
    out.d_sigma_ln.assign(n, 0.0);
    out.d_b_iso.assign(n, 0.0);
  } else {
    out.d_lambda.clear();
    out.d_median_d.clear();
    out.d_sigma_ln.clear();
    out.d_b_iso.clear();
  }
  if (!(n_fu > 0) || n == 0 || !std::isfinite(state.lambda) || !(state.lambda > 0)) return;
  // The population's sums, combined over the sizes once on the grid points the pattern's λq
  // interpolate from (the grid, Δq ≈ 0.005 Å⁻¹, is coarser than a pattern's points): A_t, and
  // for the slopes A_t along μ and σ.
  const auto grid_at = [&](double qq) {
    return static_cast<long>(std::floor(state.lambda * qq / s.dq - 1.0));
  };
  const long k_first = std::max(0L, grid_at(q_min_) - 1),
             k_last = std::min(static_cast<long>(s.nq) - 1, grid_at(q_max_) + 2);
  const std::size_t m = k_last >= k_first ? static_cast<std::size_t>(k_last - k_first + 1) : 0;
  std::vector<double> pop(nt * m), pop_mu(slopes ? nt * m : 0), pop_sig(slopes ? nt * m : 0);
  for (std::size_t ty = 0; ty < nt; ++ty)
    for (std::size_t j = 0; j < m; ++j) {
      const Row row(s.sums[ty].data() + (static_cast<std::size_t>(k_first) + j) * nk + k_lo, na);
      pop[ty * m + j] = g.dot(row);
      if (slopes) {
        pop_mu[ty * m + j] = g_mu.dot(row);
        pop_sig[ty * m + j] = g_sig.dot(row);
      }
    }
  for (std::size_t i = 0; i < n; ++i) {
    double v = 0.0, v_mu = 0.0, v_sig = 0.0, v_lam = 0.0, v_b = 0.0;
    for (std::size_t e = 0; e < ns; ++e) {
      v += n_e[e] * self_[e][i];
      v_mu += n_e_mu[e] * self_[e][i];
      v_sig += n_e_sig[e] * self_[e][i];
    }
    // Catmull–Rom interpolation of the sums at x = λq on the grid q_k = (k+1)Δq.
    const double x = state.lambda * q_[i] / s.dq - 1.0;
    if (x >= 1.0 && x < static_cast<double>(s.nq) - 2.0) {
      const auto k0 = static_cast<std::size_t>(x);
      const double t = x - static_cast<double>(k0), t2 = t * t, t3 = t2 * t;
      const double b0 = -0.5 * t3 + t2 - 0.5 * t, b1 = 1.5 * t3 - 2.5 * t2 + 1.0,
                   b2 = -1.5 * t3 + 2.0 * t2 + 0.5 * t, b3 = 0.5 * t3 - 0.5 * t2;
      const double e0 = -1.5 * t2 + 2.0 * t - 0.5, e1 = 4.5 * t2 - 5.0 * t, e2 = -4.5 * t2 + 4.0 * t + 0.5,
                   e3 = 1.5 * t2 - t;  // d b_j / dt
      const double common_t = common_b ? std::exp(-2.0 * state.b_iso * stol2_[i]) : 0.0;
      const std::size_t at = k0 - 1 - static_cast<std::size_t>(k_first);  // k0 − 1 ≥ k_first
      for (std::size_t ty = 0; ty < nt; ++ty) {
        const double* p = pop.data() + ty * m + at;
        const double a = b0 * p[0] + b1 * p[1] + b2 * p[2] + b3 * p[3];
        double a_mu = 0.0, a_sig = 0.0, a_dx = 0.0;
        if (slopes) {
          const double* pm = pop_mu.data() + ty * m + at;
          const double* ps = pop_sig.data() + ty * m + at;
          a_mu = b0 * pm[0] + b1 * pm[1] + b2 * pm[2] + b3 * pm[3];
          a_sig = b0 * ps[0] + b1 * ps[1] + b2 * ps[2] + b3 * ps[3];
          a_dx = e0 * p[0] + e1 * p[1] + e2 * p[2] + e3 * p[3];
        }
        const int sa = s.types[ty][0], sb = s.types[ty][1];
        const double tt = common_b ? common_t : std::exp(-(s.b_iso[sa] + s.b_iso[sb]) * stol2_[i]);
        const double c = cross_[ty][i] * tt;
        v += c * a;
        v_mu += c * a_mu;
        v_sig += c * a_sig;
        v_lam += c * a_dx;
        v_b += c * a;
      }
    }
    const double intensity = v / n_fu;
    out.value[i] = intensity;
    if (slopes) {
      out.d_lambda[i] = v_lam * (q_[i] / s.dq) / n_fu;
      out.d_median_d[i] = (v_mu - intensity * n_fu_mu) / n_fu;
      out.d_sigma_ln[i] = (v_sig - intensity * n_fu_sig) / n_fu;
      out.d_b_iso[i] = common_b ? -2.0 * stol2_[i] * v_b / n_fu : 0.0;
    }
  }
}

}  // namespace anvil::debye
