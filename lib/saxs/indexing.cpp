#include "saxs/indexing.hpp"

#include <fmt/core.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <unordered_set>

namespace anvil::saxs {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

// Kass & Raftery (1995): ΔBIC ≥ 10 is "very strong", decisive evidence.
constexpr double kDecisiveEvidence = 10.0;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// What every hypothesis is scored against.
struct Context {
  const std::vector<Peak>& peaks;
  const IndexSettings& s;
  std::vector<double> u;          // significance weight; 0 = explained by an earlier phase
  std::vector<double> sigma_tot;  // σ(q) with systematic terms
  std::vector<double> tol;        // matching tolerance
  double median_fwhm = 0;
  double q_range = 1;
  double u_total = 0;
  int n_obs = 0;
  const std::vector<std::vector<ReflectionFamily>>* tables = nullptr;  // per Lattice value
  const FlatCurve* curve = nullptr;
  const WholePattern* whole = nullptr;
  double min_explained = 0;  // share of the fitted peak intensity a phase must carry to stand
};

Context make_context(const std::vector<Peak>& peaks, const IndexSettings& s, const std::vector<double>& u) {
  Context c{peaks, s, u, {}, {}, 0, 1, 0, 0, nullptr, nullptr, nullptr};
  std::vector<double> widths;
  for (std::size_t i = 0; i < peaks.size(); ++i) {
    const auto& p = peaks[i];
    const double st = std::sqrt(p.q_esd * p.q_esd + std::pow(s.relative_systematic * p.q, 2) +
                                std::pow(s.width_systematic * p.fwhm, 2));
    c.sigma_tot.push_back(st);
    c.tol.push_back(std::max(s.tolerance_sigmas * st, s.min_relative_tolerance * p.q));
    widths.push_back(p.fwhm);
    if (u[i] > 0) {
      c.u_total += u[i];
      ++c.n_obs;
    }
  }
  c.median_fwhm = median(widths);
  c.q_range = std::max(s.q_max - s.q_min, 1e-6);
  return c;
}

struct Line {
  double q = 0, x = 0, y = 0, weight = 0;  // weight: Σ strength / q² (powder Lorentz factor)
  std::vector<int> families;
};

std::vector<Line> predicted_lines(const std::vector<ReflectionFamily>& fams, double A, double C, double q_max,
                                  double merge_dq, bool with_families = true) {
  const double qq_max = std::pow(q_max / kTwoPi, 2);
  // The reflections in range as plain records, sorted by q (one-constant tables come sorted by x, so
  // already by q, and their first family beyond q_max ends the list), then merged into lines.
  struct Reflection {
    double q;
    int family;
  };
  std::vector<Reflection> raw;
  raw.reserve(64);
  const bool sorted_by_x = C == 0;
  for (std::size_t f = 0; f < fams.size(); ++f) {
    const double qq = fams[f].x * A + fams[f].y * C;
    if (sorted_by_x && qq > qq_max) break;
    if (qq > qq_max || qq <= 0) continue;
    raw.push_back({kTwoPi * std::sqrt(qq), static_cast<int>(f)});
  }
  const auto by_q = [](const Reflection& a, const Reflection& b) { return a.q < b.q; };
  if (!std::is_sorted(raw.begin(), raw.end(), by_q)) std::sort(raw.begin(), raw.end(), by_q);
  std::vector<Line> out;
  out.reserve(raw.size());
  double group_start = -INFINITY;
  for (const auto& r : raw) {
    const auto& fam = fams[static_cast<std::size_t>(r.family)];
    const double weight = fam.strength / (r.q * r.q);
    if (!out.empty() && r.q - group_start < merge_dq) {
      auto& g = out.back();
      const double w = g.weight + weight;
      g.x = (g.x * g.weight + fam.x * weight) / w;
      g.y = (g.y * g.weight + fam.y * weight) / w;
      g.weight = w;
      if (with_families) g.families.push_back(r.family);
      g.q = kTwoPi * std::sqrt(g.x * A + g.y * C);
      continue;
    }
    group_start = r.q;
    out.push_back({r.q, fam.x, fam.y, weight, {}});
    if (with_families) out.back().families.push_back(r.family);
  }
  return out;
}

// For each peak the line it is matched to (−1: none); a line explains at most one peak.
std::vector<int> match_peaks(const Context& c, const std::vector<Line>& lines) {
  std::vector<int> line_of(c.peaks.size(), -1);
  std::vector<double> best_z(lines.size(), INFINITY);
  std::vector<int> peak_of(lines.size(), -1);
  for (std::size_t i = 0; i < c.peaks.size(); ++i) {
    if (c.u[i] <= 0) continue;
    const double q = c.peaks[i].q;
    auto it =
        std::lower_bound(lines.begin(), lines.end(), q, [](const Line& l, double v) { return l.q < v; });
    int j = -1;
    double d = INFINITY;
    if (it != lines.end()) j = static_cast<int>(it - lines.begin()), d = std::abs(it->q - q);
    if (it != lines.begin() && std::abs((it - 1)->q - q) < d)
      j = static_cast<int>(it - lines.begin()) - 1, d = std::abs((it - 1)->q - q);
    if (j < 0 || d > c.tol[i]) continue;
    const double z = d / c.sigma_tot[i];
    if (z < best_z[j]) {
      if (peak_of[j] >= 0) line_of[peak_of[j]] = -1;
      best_z[j] = z;
      peak_of[j] = static_cast<int>(i);
      line_of[i] = j;
    }
  }
  return line_of;
}

struct Params {
  double A = 0, C = 0;  // 1/a², 1/c²
  double var_A = 0, var_C = 0;
  bool ok = false;
};

bool c_over_a_ok(const IndexSettings& s, Lattice lattice, double A, double C) {
  if (!has_c_axis(lattice)) return true;
  if (A <= 0 || C <= 0) return false;
  const double ratio = std::sqrt(A / C);
  if (lattice == Lattice::hcp) return ratio >= s.hcp_c_over_a_min && ratio <= s.hcp_c_over_a_max;
  return ratio >= s.hex3d_c_over_a_min && ratio <= s.hex3d_c_over_a_max;
}

// Weighted least squares in (q/2π)² = A·x + C·y over the matched peaks.
Params refine_params(const Context& c, Lattice lattice, const std::vector<Line>& lines,
                     const std::vector<int>& line_of, double A0, double C0) {
  Params p{A0, C0, 0, 0, false};
  double sxx = 0, sxy = 0, syy = 0, sxq = 0, syq = 0;
  int n = 0;
  std::vector<std::array<double, 4>> rows;  // x, y, Q, w
  for (std::size_t i = 0; i < line_of.size(); ++i) {
    if (line_of[i] < 0) continue;
    const auto& l = lines[line_of[i]];
    const double q = c.peaks[i].q;
    const double Q = std::pow(q / kTwoPi, 2);
    const double sQ = 2 * q * c.sigma_tot[i] / (kTwoPi * kTwoPi);
    const double w = 1.0 / (sQ * sQ);
    rows.push_back({l.x, l.y, Q, w});
    sxx += w * l.x * l.x, sxy += w * l.x * l.y, syy += w * l.y * l.y, sxq += w * l.x * Q, syq += w * l.y * Q;
    ++n;
  }
  if (n == 0) return p;
  auto chi2_of = [&](double A, double C) {
    double s = 0;
    for (const auto& r : rows) s += r[3] * std::pow(r[0] * A + r[1] * C - r[2], 2);
    return s;
  };
  const int np = free_parameters(lattice);
  bool solved = false;
  if (np == 2) {
    const double det = sxx * syy - sxy * sxy;
    if (n >= 2 && sxx > 0 && syy > 0 && det > 1e-9 * sxx * syy) {
      const double A = (sxq * syy - syq * sxy) / det, C = (syq * sxx - sxq * sxy) / det;
      if (c_over_a_ok(c.s, lattice, A, C)) {
        p.A = A, p.C = C;
        const double scale = n > 2 ? std::max(1.0, chi2_of(A, C) / (n - 2)) : 1.0;
        p.var_A = syy / det * scale;
        p.var_C = sxx / det * scale;
        solved = true;
      }
    }
    if (!solved && lattice == Lattice::hcp) {
      // Keep c/a (clamped to its range) and scale: one parameter along x + y/ρ².
      double ratio = std::clamp(std::sqrt(A0 / C0), c.s.hcp_c_over_a_min, c.s.hcp_c_over_a_max);
      double sgg = 0, sgq = 0;
      for (const auto& r : rows) {
        const double g = r[0] + r[1] / (ratio * ratio);
        sgg += r[3] * g * g, sgq += r[3] * g * r[2];
      }
      if (sgg > 0) {
        p.A = sgq / sgg, p.C = p.A / (ratio * ratio);
        const double scale = n > 1 ? std::max(1.0, chi2_of(p.A, p.C) / (n - 1)) : 1.0;
        p.var_A = scale / sgg;
        p.var_C = p.var_A / std::pow(ratio, 4);
        solved = true;
      }
    }
    if (!solved) {
      // Only one constant is determined by the matched peaks: refine it, keep the other.
      if (sxx > 0 && syy <= 0) {
        p.A = (sxq - C0 * sxy) / sxx;
        p.var_A = 1.0 / sxx;
        solved = true;
      } else if (syy > 0 && sxx <= 0) {
        p.C = (syq - A0 * sxy) / syy;
        p.var_C = 1.0 / syy;
        solved = true;
      }
      if (!c_over_a_ok(c.s, lattice, p.A, p.C)) solved = false;
    }
  } else if (sxx > 0) {
    // q = s·√x with s = 2π√A: linear in s, weighted by 1/σ(q)².
    double sgg = 0, sgq = 0;
    std::vector<std::array<double, 3>> qrows;
    for (std::size_t i = 0; i < line_of.size(); ++i) {
      if (line_of[i] < 0) continue;
      const double g = std::sqrt(lines[line_of[i]].x);
      const double w = 1.0 / (c.sigma_tot[i] * c.sigma_tot[i]);
      sgg += w * g * g, sgq += w * g * c.peaks[i].q;
      qrows.push_back({g, c.peaks[i].q, w});
    }
    const double s = sgq / sgg;
    double chi2 = 0;
    for (const auto& r : qrows) chi2 += r[2] * std::pow(s * r[0] - r[1], 2);
    const double scale = n > 1 ? std::max(1.0, chi2 / (n - 1)) : 1.0;
    const double var_s = scale / sgg;
    p.A = std::pow(s / kTwoPi, 2);
    p.var_A = std::pow(2 * s / (kTwoPi * kTwoPi), 2) * var_s;
    p.C = 0;
    solved = s > 0;
  }
  p.ok = solved && p.A > 0 && (np == 1 || p.C > 0);
  return p;
}

std::vector<ReflectionFamily> family_table(Lattice lattice) {
  switch (lattice) {
    case Lattice::hcp:
    case Lattice::hex3d:
      return reflection_families(lattice, 300.0, 400.0);
    case Lattice::lamellar:
      return reflection_families(lattice, 3600.0);  // 60 orders
    default:
      return reflection_families(lattice, 400.0);
  }
}

// The most significant peaks still to explain, most significant first.
std::vector<std::size_t> strong_peaks(const Context& c) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < c.peaks.size(); ++i)
    if (c.u[i] > 0) idx.push_back(i);
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t a, std::size_t b) { return c.peaks[a].snr > c.peaks[b].snr; });
  if (static_cast<int>(idx.size()) > c.s.pair_peaks) idx.resize(c.s.pair_peaks);
  return idx;
}

// hex3d: a pair of peaks as a pair of low-order reflection types (h²+hk+k², l) gives (1/a², 1/c²); the
// 30 pairs explaining most peaks beyond chance are kept.
std::vector<std::pair<double, double>> hex3d_pairs(const Context& c, const std::vector<std::size_t>& seeds) {
  std::vector<std::pair<double, double>> out;

  std::vector<std::pair<double, double>> types;
  for (int m : {0, 1, 3, 4})
    for (int l = 0; l <= 5; ++l)
      if (m || l) types.push_back({4.0 * m / 3.0, static_cast<double>(l * l)});
  std::unordered_set<long long> seen;
  struct Scored {
    double quick;
    double A, C;
  };
  std::vector<Scored> scored;
  // Loeschian numbers (h²+hk+k²) for the quick match count.
  constexpr int kMaxM = 3000;
  std::vector<char> loeschian(kMaxM + 1, 0);
  for (int h = 0; h * h <= kMaxM; ++h)
    for (int k = 0; k <= h && h * h + h * k + k * k <= kMaxM; ++k) loeschian[h * h + h * k + k * k] = 1;
  const double Qmax = std::pow(c.s.q_max / kTwoPi, 2), Qmin = std::pow(c.s.q_min / kTwoPi, 2);
  const std::size_t pair_seeds = std::min<std::size_t>(seeds.size(), 5);
  for (std::size_t ii = 0; ii < pair_seeds; ++ii)
    for (std::size_t kk = ii + 1; kk < pair_seeds; ++kk) {
      const double Qi = std::pow(c.peaks[seeds[ii]].q / kTwoPi, 2),
                   Qk = std::pow(c.peaks[seeds[kk]].q / kTwoPi, 2);
      for (const auto& t1 : types)
        for (const auto& t2 : types) {
          const double det = t1.first * t2.second - t2.first * t1.second;
          if (std::abs(det) < 1e-9) continue;
          const double A = (Qi * t2.second - Qk * t1.second) / det;
          const double C = (t1.first * Qk - t2.first * Qi) / det;
          if (!(A > 0 && C > 0) || !c_over_a_ok(c.s, Lattice::hex3d, A, C)) continue;
          const long long key = static_cast<long long>(std::llround(std::log(A) * 700)) * 1000003LL +
                                std::llround(std::log(C) * 700);
          if (!seen.insert(key).second) continue;
          // Quick count of explained peaks, less the matches a random set of that many lines would give.
          double quick = 0, tol_sum = 0;
          for (std::size_t i = 0; i < c.peaks.size(); ++i) {
            if (c.u[i] <= 0) continue;
            const double q = c.peaks[i].q, Q = std::pow(q / kTwoPi, 2);
            const double tolQ = 2 * q * c.tol[i] / (kTwoPi * kTwoPi);
            tol_sum += c.tol[i];
            bool hit = false;
            const int l_max = static_cast<int>(std::sqrt((Q + tolQ) / C));
            for (int l = 0; l <= l_max && !hit; ++l) {
              const double mc = (Q - C * l * l) * 0.75 / A;
              for (int m : {static_cast<int>(std::floor(mc)), static_cast<int>(std::ceil(mc))}) {
                if (m < 0 || m > kMaxM || !loeschian[m] || (m == 0 && l == 0)) continue;
                if (std::abs(A * 4.0 * m / 3.0 + C * l * l - Q) <= tolQ) hit = true;
              }
            }
            if (hit) quick += c.u[i];
          }
          // Lines below q_max: Σ_l #Loeschian ≤ (Qmax − C l²)·3/(4A), approximated by its area.
          double n_lines = 0;
          for (int l = 0; C * l * l <= Qmax; ++l)
            n_lines += (l ? 2.0 : 1.0) * (Qmax - C * l * l) * 0.75 / A * 0.45;
          n_lines *= (Qmax - Qmin) / std::max(Qmax, 1e-12);
          const double chance = std::min(1.0, 2.0 * (tol_sum / std::max(c.n_obs, 1)) * n_lines / c.q_range);
          quick -= chance * c.u_total;
          scored.push_back({quick, A, C});
        }
    }
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) { return a.quick > b.quick; });
  for (std::size_t i = 0; i < scored.size() && i < 30; ++i) out.push_back({scored[i].A, scored[i].C});
  return out;
}

// Candidates (1/a², 1/c²) of one lattice: every pair of strong peaks as every pair of its first
// reflections whose q ratio they match (hcp at ideal c/a, refined afterwards).
std::vector<std::pair<double, double>> pair_candidates(const Context& c, Lattice lattice,
                                                       const std::vector<ReflectionFamily>& fams) {
  const auto seeds = strong_peaks(c);
  if (lattice == Lattice::hex3d) return hex3d_pairs(c, seeds);
  std::vector<std::pair<double, double>> out;
  const double rho2 = lattice == Lattice::hcp ? kIdealHcpCOverA * kIdealHcpCOverA : 1.0;
  std::vector<double> g2;
  for (const auto& f : fams) g2.push_back(f.x + f.y / rho2);
  std::sort(g2.begin(), g2.end());
  g2.erase(std::unique(g2.begin(), g2.end(), [](double a, double b) { return std::abs(a - b) < 1e-9; }),
           g2.end());
  if (static_cast<int>(g2.size()) > c.s.pair_lines) g2.resize(c.s.pair_lines);
  // The most significant peak alone as each of the first three reflections: a second order too weak for
  // the blind search can still be seen where the lattice puts it.
  if (!seeds.empty())
    for (std::size_t m = 0; m < g2.size() && m < 3; ++m) {
      const double A = std::pow(c.peaks[seeds[0]].q / kTwoPi, 2) / g2[m];
      out.push_back({A, lattice == Lattice::hcp ? A / rho2 : 0.0});
    }
  // hcp's ratios move with c/a: its tolerance is widened by the c/a range.
  const double extra = lattice == Lattice::hcp ? 0.03 : 0.0;
  for (std::size_t ii = 0; ii < seeds.size(); ++ii)
    for (std::size_t kk = ii + 1; kk < seeds.size(); ++kk) {
      std::size_t lo = seeds[ii], hi = seeds[kk];
      if (c.peaks[lo].q > c.peaks[hi].q) std::swap(lo, hi);
      const double q_lo = c.peaks[lo].q, q_hi = c.peaks[hi].q;
      const double r = q_hi / q_lo;
      const double tol = std::hypot(c.tol[lo] / q_lo, c.tol[hi] / q_hi) + extra;
      for (std::size_t m = 0; m < g2.size(); ++m)
        for (std::size_t n = m + 1; n < g2.size(); ++n) {
          if (std::abs(std::sqrt(g2[n] / g2[m]) / r - 1) > tol) continue;
          const double A = 0.5 * (std::pow(q_lo / kTwoPi, 2) / g2[m] + std::pow(q_hi / kTwoPi, 2) / g2[n]);
          bool dup = false;
          for (const auto& h : out) dup = dup || std::abs(h.first / A - 1) < 1e-3;
          if (!dup) out.push_back({A, lattice == Lattice::hcp ? A / rho2 : 0.0});
        }
    }
  return out;
}

// A candidate refined on the peak positions, then checked on the whole pattern.
struct Candidate {
  LatticeSolution sol;
  double A = 0, C = 0;
  double pre = 0;  // peak-level ranking: significance-weighted peaks explained beyond chance
  std::vector<Line> lines;
  std::vector<int> line_of;  // per peak
  std::vector<Profile> profiles;
  std::vector<int> profile_line;  // line of each profile
  int width_parameters = 0;
  std::vector<ReflectionFamily> fams;  // the families its lines index (kept with the best of a lattice)
  int unseen_lines = 0;                // lines inside the pattern no peak was found at
  int predicted_seen = 0;              // … of which significant where the lattice puts them
  double width_cost = 0;               // χ² of the explained peaks' widths about the width law
};

std::optional<Candidate> refine_on_peaks(const Context& c, Lattice lattice,
                                         const std::vector<ReflectionFamily>& fams, double A, double C) {
  Candidate cand;
  const double merge_dq = c.s.merge_fraction * c.median_fwhm;
  std::vector<Line> lines;
  std::vector<int> line_of;
  Params p{A, C, 0, 0, true};
  for (int iter = 0; iter < 4; ++iter) {
    lines = predicted_lines(fams, p.A, p.C, c.s.q_max + c.median_fwhm, merge_dq, false);
    line_of = match_peaks(c, lines);
    const Params next = refine_params(c, lattice, lines, line_of, p.A, p.C);
    if (!next.ok) return std::nullopt;
    const bool moved = std::abs(next.A / p.A - 1) > 1e-7 || (p.C > 0 && std::abs(next.C / p.C - 1) > 1e-7);
    p = next;
    if (!moved && iter > 0) break;
  }
  lines = predicted_lines(fams, p.A, p.C, c.s.q_max + c.median_fwhm, merge_dq);
  line_of = match_peaks(c, lines);
  // A cell so large that the pattern holds more reflections than the family table: the strong peaks
  // would be high orders of a cell no peak at low order supports.
  double q_last = 0;
  for (const auto& f : fams) q_last = std::max(q_last, kTwoPi * std::sqrt(f.x * p.A + f.y * p.C));
  if (q_last < c.s.q_max) return std::nullopt;
  auto& sol = cand.sol;
  sol.lattice = lattice;
  double chi2 = 0, rel2 = 0, u_matched = 0, area_matched = 0, area_total = 0;
  for (std::size_t i = 0; i < line_of.size(); ++i)
    if (c.u[i] > 0) area_total += std::max(c.peaks[i].area, 0.0);
  for (std::size_t i = 0; i < line_of.size(); ++i) {
    if (line_of[i] < 0) continue;
    area_matched += std::max(c.peaks[i].area, 0.0);
    const double z = (c.peaks[i].q - lines[line_of[i]].q) / c.sigma_tot[i];
    chi2 += z * z;
    rel2 += std::pow(c.peaks[i].q / lines[line_of[i]].q - 1, 2);
    u_matched += c.u[i];
    sol.matched += 1;
  }
  const int np = free_parameters(lattice);
  if (sol.matched < 1) return std::nullopt;
  // Chance: a peak lands within its tolerance of one of the K lines in range with probability
  // ≈ K · 2·tol / Δq.
  int in_range = 0;
  for (const auto& l : lines) in_range += l.q >= c.s.q_min && l.q <= c.s.q_max;
  std::vector<double> tols(c.tol.begin(), c.tol.end());
  const double chance = std::min(1.0, in_range * 2 * median(tols) / c.q_range);
  cand.pre = u_matched + area_matched / std::max(area_total, 1e-300) - chance * (c.u_total + 1);
  sol.a_nm = 1.0 / std::sqrt(p.A);
  sol.a_esd_nm = 0.5 * sol.a_nm * std::sqrt(p.var_A) / p.A;
  if (np == 2) {
    sol.c_nm = 1.0 / std::sqrt(p.C);
    sol.c_esd_nm = 0.5 * sol.c_nm * std::sqrt(p.var_C) / p.C;
  }
  sol.observed = c.n_obs;
  sol.rms_relative = std::sqrt(rel2 / sol.matched);
  sol.reduced_chi2 = sol.matched > np ? chi2 / (sol.matched - np) : 0;
  cand.A = p.A;
  cand.C = p.C;
  cand.lines = std::move(lines);
  cand.line_of = std::move(line_of);
  return cand;
}

std::string line_label(const Line& l, const std::vector<ReflectionFamily>& fams) {
  std::string hkl;
  for (int f : l.families) hkl += (hkl.empty() ? "" : "/") + fams[f].hkl;
  return hkl;
}

// Intensities of a lattice's lines ∝ Σ m|F|²/q² · exp(κ − βq²): β ≥ 0 (Debye–Waller and disorder
// damping, and the fall of the form factor) fitted to the lines seen, given as (q, intensity/weight).
struct IntensityTrend {
  double kappa = 0, beta = 0;
  int n = 0;
};

IntensityTrend intensity_trend(const std::vector<std::pair<double, double>>& seen) {
  IntensityTrend t;
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [q, ratio] : seen) {
    if (!(ratio > 0)) continue;
    const double x = q * q, y = std::log(ratio);
    sw += 1, sx += x, sy += y, sxx += x * x, sxy += x * y, ++t.n;
  }
  if (t.n == 0) return t;
  t.kappa = sy / sw;
  if (t.n >= 2 && sw * sxx - sx * sx > 1e-12 * sw * sxx) {
    t.beta = std::max(0.0, -(sw * sxy - sx * sy) / (sw * sxx - sx * sx));
    t.kappa = (sy + t.beta * sx) / sw;
  }
  return t;
}

// A line's intensity may fall this far below its trend before it no longer counts as that line
// (e^(3 × 0.7): three times the scatter of ln I about the trend in superlattice patterns).
constexpr double kIntensityTolerance = 8.0;

// Significance A/σ(A) of a pseudo-Voigt of the given shape at q on the flattened curve, fitted with a
// local straight baseline over ± 2.5 FWHM, weighted as the whole-pattern fits are (so structure no
// peak describes, fringes or parasitic wiggles, does not make a line significant).
double local_significance(const Context& c, double q, double fwhm, double eta, double* amplitude = nullptr) {
  const auto& cq = c.curve->q;
  const auto lo = std::lower_bound(cq.begin(), cq.end(), q - 2.5 * fwhm) - cq.begin();
  const auto hi = std::upper_bound(cq.begin(), cq.end(), q + 2.5 * fwhm) - cq.begin();
  if (hi - lo < 6) return 0;
  Eigen::Matrix3d m = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero();
  for (auto i = lo; i < hi; ++i) {
    const double w = c.whole->weights()[i];
    const Eigen::Vector3d f(pseudo_voigt(cq[i] - q, fwhm, eta), 1.0, cq[i] - q);
    m += w * f * f.transpose();
    b += w * f * c.curve->y[i];
  }
  const Eigen::Matrix3d inv = m.inverse();
  if (!inv.allFinite() || !(inv(0, 0) > 0)) return 0;
  const Eigen::Vector3d x = inv * b;
  if (amplitude) *amplitude = x(0);
  return x(0) / std::sqrt(inv(0, 0));
}

// The width law FWHM² = W₀² + (W₁q)² through the explained peaks (weighted, both terms ≥ 0), and the
// line profiles of the candidate inside the pattern.
void build_profiles(const Context& c, Candidate& cand, const std::vector<ReflectionFamily>& fams) {
  double s00 = 0, s01 = 0, s11 = 0, b0 = 0, b1 = 0, eta_w = 0, eta_sum = 0;
  int n = 0;
  for (std::size_t i = 0; i < cand.line_of.size(); ++i) {
    if (cand.line_of[i] < 0) continue;
    const auto& p = c.peaks[i];
    const double sw = std::max(std::isfinite(p.fwhm_esd) ? p.fwhm_esd : 0.0, 0.005 * p.fwhm);
    const double w = 1.0 / std::pow(2 * p.fwhm * sw, 2);
    const double x = p.q * p.q, y = p.fwhm * p.fwhm;
    s00 += w, s01 += w * x, s11 += w * x * x, b0 += w * y, b1 += w * x * y;
    // The shape of the most significant peaks decides χ²: η weighted by significance².
    eta_w += p.snr * p.snr, eta_sum += p.snr * p.snr * p.eta;
    ++n;
  }
  double w0sq = b0 / s00, w1sq = 0;
  const double det = s00 * s11 - s01 * s01;
  cand.width_parameters = 1;
  if (n >= 3 && det > 1e-12 * s00 * s11) {
    const double u0 = (b0 * s11 - b1 * s01) / det, u1 = (s00 * b1 - s01 * b0) / det;
    if (u0 > 0 && u1 > 0) {
      w0sq = u0, w1sq = u1, cand.width_parameters = 2;
    } else if (u0 <= 0 && b1 > 0) {
      w0sq = 0, w1sq = b1 / s11;
    }
  }
  const double eta = eta_w > 0 ? eta_sum / eta_w : 0.3;
  std::vector<std::pair<double, double>> seen;  // q, area / (Σ m|F|²/q²)
  for (std::size_t i = 0; i < cand.line_of.size(); ++i)
    if (cand.line_of[i] >= 0 && c.peaks[i].area > 0 && cand.lines[cand.line_of[i]].weight > 0)
      seen.push_back({c.peaks[i].q, c.peaks[i].area / cand.lines[cand.line_of[i]].weight});
  const IntensityTrend trend = intensity_trend(seen);
  cand.sol.fwhm0 = std::sqrt(w0sq);
  cand.sol.fwhm1 = std::sqrt(w1sq);
  cand.profiles.clear();
  cand.profile_line.clear();
  cand.unseen_lines = 0;
  cand.predicted_seen = 0;
  cand.width_cost = 0;
  std::vector<int> peak_of_line(cand.lines.size(), -1);
  for (std::size_t i = 0; i < cand.line_of.size(); ++i)
    if (cand.line_of[i] >= 0) peak_of_line[cand.line_of[i]] = static_cast<int>(i);
  for (std::size_t j = 0; j < cand.lines.size(); ++j) {
    const double q = cand.lines[j].q;
    const double fwhm = std::sqrt(w0sq + w1sq * q * q);
    if (!(fwhm > 0) || q < c.s.q_min - 2 * fwhm || q > c.s.q_max + 2 * fwhm) continue;
    // A line explaining a peak sits at the peak (within the matching tolerance, paid for as z² of the
    // position misfit): the whole-pattern check judges widths and intensities, the peak positions were
    // judged where they were measured. A line no peak was found at is not fitted (the peak search found
    // nothing there; fitting it would only pick up structure no peak describes) but costs its
    // intensity parameter all the same.
    const int peak = peak_of_line[j];
    if (peak < 0) {
      // A weak reflection the blind search missed but the lattice predicts: significant at its computed
      // place (no look-elsewhere there), it is fitted and counts as seen.
      // With three or more lines seen, its intensity must also be within a factor kIntensityTolerance of
      // what their structure-factor trend predicts (a supercell's extra lines on weak wiggles are not).
      // Two lines fix the trend's two constants exactly and test nothing: a lamellar ladder's 003,
      // which its layers' form factor may make 20× weaker than 001 and 002 extrapolate, was refused
      // by them while another lattice's line on the same bump passed (dac_dev, frame 10: hex3d).
      double amplitude = 0;
      const bool significant = q > c.s.q_min + fwhm && q < c.s.q_max - fwhm &&
                               local_significance(c, q, fwhm, eta, &amplitude) >= c.s.predicted_line_snr;
      const double expected =
          trend.n >= 3 ? std::exp(trend.kappa - trend.beta * q * q) * cand.lines[j].weight : 0.0;
      if (significant && amplitude * kIntensityTolerance >= expected) {
        for (int f : cand.lines[j].families) {
          cand.profiles.push_back({kTwoPi * std::sqrt(fams[f].x * cand.A + fams[f].y * cand.C), fwhm, eta});
          cand.profile_line.push_back(static_cast<int>(j));
        }
        cand.predicted_seen += 1;
        continue;
      }
      cand.unseen_lines += q >= c.s.q_min && q <= c.s.q_max;
      continue;
    }
    // Reflections merged into one line keep a profile each (their blend is broader than one), shifted
    // together onto the peak.
    // Its width, likewise, is the peak's, and the width law is a penalty: reflections of one lattice
    // scatter about it by ~10 % (size and strain distributions), χ² of the deviation capped at 3².
    const double shift = c.peaks[peak].q - q;
    if (cand.lines[j].families.size() == 1) {
      const auto& p = c.peaks[peak];
      cand.profiles.push_back({p.q, p.fwhm, p.eta});
      cand.profile_line.push_back(static_cast<int>(j));
      const double sw = std::hypot(std::isfinite(p.fwhm_esd) ? p.fwhm_esd : 0.0, 0.1 * fwhm);
      cand.width_cost += std::min(std::pow((p.fwhm - fwhm) / sw, 2), 9.0);
      continue;
    }
    for (int f : cand.lines[j].families) {
      cand.profiles.push_back(
          {kTwoPi * std::sqrt(fams[f].x * cand.A + fams[f].y * cand.C) + shift, fwhm, eta});
      cand.profile_line.push_back(static_cast<int>(j));
    }
  }
}

// What another phase already in the model contributes: its line profiles, the peaks it explains, its
// constants, width law and line intensities, and the position misfits of its peaks.
struct Fixed {
  std::vector<Profile> profiles;
  std::vector<bool> explained;
  int parameters = 0;
  double position_cost = 0;
};

// The smallest peak area the search would find at q for a peak of this FWHM: the matched-filter
// threshold × local σ of the curve, for a Gaussian of area A sampled every dq (A / (σ √(2√π g dq))).
double detection_area(const Context& c, double q, double fwhm) {
  const auto& cq = c.curve->q;
  const auto& sg = c.curve->sigma;
  if (cq.size() < 2) return INFINITY;
  auto lo = std::lower_bound(cq.begin(), cq.end(), q - fwhm) - cq.begin();
  auto hi = std::upper_bound(cq.begin(), cq.end(), q + fwhm) - cq.begin();
  if (hi - lo < 2) lo = std::max<long>(0, lo - 1), hi = std::min<long>(static_cast<long>(cq.size()), hi + 1);
  double s2 = 0;
  for (auto i = lo; i < hi; ++i) s2 += sg[i] * sg[i];
  const double sigma = std::sqrt(s2 / std::max<long>(1, hi - lo));
  const double dq = (cq.back() - cq.front()) / static_cast<double>(cq.size() - 1);
  const double threshold = std::max(c.s.detection_snr, 1.0);
  return threshold * sigma * std::sqrt(2.0 * std::sqrt(std::numbers::pi) * fwhm / 2.3548 * dq);
}

// How many lines the lattice predicts where no peak was found, each weighted by how surely it would
// have been seen: its intensity expected from the structure-factor trend of the lines that were seen,
// I ∝ Σ m|F|²/q² · exp(κ − βq²) (β ≥ 0: Debye–Waller and disorder damping, fitted to the Le Bail
// intensities), against the detection limit there; v = 1 − exp(−(I/I_min − 1)) above it.
double unseen_line_cost(const Context& c, const Candidate& cand, const ModelFit& fit, std::size_t offset) {
  std::vector<double> amps(cand.lines.size(), 0.0);
  for (std::size_t m = 0; m < cand.profiles.size(); ++m)
    amps[cand.profile_line[m]] += fit.amplitude[offset + m];
  std::vector<std::pair<double, double>> seen;
  for (std::size_t j = 0; j < cand.lines.size(); ++j)
    if (amps[j] > 0 && cand.lines[j].weight > 0)
      seen.push_back({cand.lines[j].q, amps[j] / cand.lines[j].weight});
  const IntensityTrend trend = intensity_trend(seen);
  if (trend.n == 0) return 0;
  const double kappa = trend.kappa, beta = trend.beta;
  double cost = 0;
  std::vector<char> fitted(cand.lines.size(), 0);
  for (int pl : cand.profile_line) fitted[pl] = 1;
  for (std::size_t j = 0; j < cand.lines.size(); ++j) {
    const auto& l = cand.lines[j];
    if (l.q < c.s.q_min || l.q > c.s.q_max || fitted[j]) continue;
    const double fwhm = std::hypot(cand.sol.fwhm0, cand.sol.fwhm1 * l.q);
    const double expected = std::exp(kappa - beta * l.q * l.q) * l.weight;
    const double ratio = expected / detection_area(c, l.q, fwhm);
    cost += 1.0 - std::exp(-std::max(0.0, ratio - 1.0));
  }
  return cost;
}

// The structure-factor test of the Le Bail intensities: each seen line's ln I against the trend
// Σ m|F|²/q² · exp(κ − βq²) of all seen lines, with a scatter of 0.7 in ln I (form factor, disorder,
// preferred orientation), each term capped at 3² (one odd line is not a verdict). −2 ln L units.
double intensity_misfit(const Candidate& cand, const ModelFit& fit, std::size_t offset) {
  std::vector<double> amps(cand.lines.size(), 0.0);
  for (std::size_t m = 0; m < cand.profiles.size(); ++m)
    amps[cand.profile_line[m]] += fit.amplitude[offset + m];
  std::vector<std::pair<double, double>> seen;
  for (std::size_t j = 0; j < cand.lines.size(); ++j)
    if (amps[j] > 0 && cand.lines[j].weight > 0)
      seen.push_back({cand.lines[j].q, amps[j] / cand.lines[j].weight});
  const IntensityTrend trend = intensity_trend(seen);
  if (trend.n < 3) return 0;
  double cost = 0;
  for (const auto& [q, ratio] : seen) {
    const double r = (std::log(ratio) - (trend.kappa - trend.beta * q * q)) / 0.7;
    cost += std::min(r * r, 9.0);
  }
  return cost;
}

// −2 ln of the Occam factors of the lattice constants: the scale over the range of q the pattern
// spans, and for hcp/hex3d c/a over its searched range, each against its posterior width (kept within
// 2–8 like a peak position).
double constants_cost(const Context& c, const Candidate& cand) {
  const double root = std::sqrt(2 * std::numbers::pi);
  const double rel_a = std::max(cand.sol.a_esd_nm / cand.sol.a_nm, 1e-9);
  const double range = std::log(std::max(c.s.q_max / std::max(c.s.q_min, 1e-9), 1.0 + 1e-9));
  double cost = 2 * std::clamp(std::log(range / (root * rel_a)), 2.0, 8.0);
  if (has_c_axis(cand.sol.lattice)) {
    const bool hcp = cand.sol.lattice == Lattice::hcp;
    const double ca_range = hcp ? std::log(c.s.hcp_c_over_a_max / c.s.hcp_c_over_a_min)
                                : std::log(c.s.hex3d_c_over_a_max / c.s.hex3d_c_over_a_min);
    const double rel_c = std::max(cand.sol.c_esd_nm / cand.sol.c_nm, 1e-9);
    cost += 2 * std::clamp(std::log(ca_range / (root * std::hypot(rel_a, rel_c))), 2.0, 8.0);
  }
  return cost;
}

// −2 ln of the Occam factor of a free peak's position: ln(Δq / (√(2π) σ)) per the position found
// within the pattern's range to σ (MacKay, Information Theory, Inference and Learning Algorithms,
// ch. 28), kept within 2–8 (a peak at the noise limit, a peak pinned by systematics).
double free_position_cost(const Context& c, std::size_t i) {
  return 2 * std::clamp(std::log(c.q_range / (std::sqrt(2 * std::numbers::pi) * c.sigma_tot[i])), 2.0, 8.0);
}

// The whole-pattern check: BIC with the candidate's lines (and a fixed phase's) and the rest free.
void check_whole(const Context& c, const WholePattern& wp, const Fixed& fixed, Candidate& cand,
                 const std::vector<ReflectionFamily>& fams, bool with_esd) {
  // A match whose position misfit costs more than a free position would is no explanation.
  for (std::size_t i = 0; i < cand.line_of.size(); ++i) {
    const int j = cand.line_of[i];
    if (j >= 0 && std::pow((c.peaks[i].q - cand.lines[j].q) / c.sigma_tot[i], 2) > free_position_cost(c, i))
      cand.line_of[i] = -1;
  }
  build_profiles(c, cand, fams);
  std::vector<Profile> lines = fixed.profiles;
  lines.insert(lines.end(), cand.profiles.begin(), cand.profiles.end());
  const std::size_t offset = fixed.profiles.size();
  std::vector<bool> free(c.peaks.size(), true);
  for (std::size_t i = 0; i < free.size(); ++i) {
    if (i < fixed.explained.size() && fixed.explained[i]) free[i] = false;
    if (cand.line_of[i] >= 0) free[i] = false;
  }
  const ModelFit fit = wp.fit(lines, free);
  const std::vector<double> esd = with_esd ? wp.amplitude_esd(lines, free, fit) : std::vector<double>{};
  auto& sol = cand.sol;
  // −2 ln(evidence) in the Laplace approximation: χ²/s², ln n for every intensity and width parameter
  // (BIC), and for a peak position its full Occam factor (free_position_cost). The lattice pays for
  // its constants, its width law and an intensity for every line inside the pattern, seen or not (a
  // dense line list or a supercell can explain anything, and pays for it); a peak it explains costs
  // the misfit z² of its position instead of a free position, width and area.
  const double unseen = unseen_line_cost(c, cand, fit, offset);
  const double intensity_cost = intensity_misfit(cand, fit, offset);
  // Intensity per line: a merged line's reflections are not told apart and count once.
  std::vector<double> line_amp(cand.lines.size(), 0.0), line_esd(cand.lines.size(), 0.0);
  for (std::size_t m = 0; m < cand.profiles.size(); ++m) {
    const int j = cand.profile_line[m];
    line_amp[j] += fit.amplitude[offset + m];
    if (with_esd) line_esd[j] = std::hypot(line_esd[j], esd[offset + m]);
  }
  // An intensity parameter for every profile the fit gives its own amplitude: the reflections of
  // a merged line that are fitted apart (two profiles) are two parameters, or a line made of
  // near-coincident reflections (hex3d 002/101) would shape a peak's asymmetry for free.
  int line_parameters = 0;
  for (std::size_t m = 0; m < cand.profile_line.size(); ++m) {
    const double q = cand.lines[cand.profile_line[m]].q;
    line_parameters += (q >= c.s.q_min && q <= c.s.q_max) || fit.amplitude[offset + m] > 0;
  }
  double position_cost = 0;
  std::size_t slot = lines.size();
  for (std::size_t i = 0; i < free.size(); ++i) {
    if (free[i]) {
      if (fit.amplitude[slot++] > 0) position_cost += free_position_cost(c, i);
      continue;
    }
    const int j = cand.line_of[i];
    if (j < 0) continue;
    const double z = (c.peaks[i].q - cand.lines[j].q) / c.sigma_tot[i];
    position_cost += z * z;
  }
  // Which of its K lines the N explained peaks sit on is one choice among C(K, N): a dense line list
  // (a large cell, a free c/a) explains positions by chance that often. K counts the lines that would
  // have been seen (the explained ones and the visibility of the unseen ones).
  int explained = 0;
  for (std::size_t i = 0; i < cand.line_of.size(); ++i) explained += !free[i] && cand.line_of[i] >= 0;
  explained += cand.predicted_seen;
  const double lines_seeable = explained + unseen;
  const double assignment_cost = 2 * (std::lgamma(lines_seeable + 1.0) - std::lgamma(explained + 1.0) -
                                      std::lgamma(lines_seeable - explained + 1.0));
  position_cost += assignment_cost;
  const int k = fixed.parameters + cand.width_parameters + line_parameters + 2 * fit.positive_free;
  sol.bic = wp.bic(fit, k) + unseen * std::log(static_cast<double>(std::max<std::size_t>(wp.points(), 2))) +
            position_cost + fixed.position_cost + constants_cost(c, cand) + intensity_cost + cand.width_cost;
  double mine = 0, total = 0;
  for (std::size_t j = 0; j < fit.amplitude.size(); ++j) {
    total += fit.amplitude[j];
    if (j >= offset && j < lines.size()) mine += fit.amplitude[j];
  }
  sol.explained_fraction = total > 0 ? mine / total : 0;
  // Explained: a matched peak whose line carries intensity.
  sol.lines.clear();
  sol.missing.clear();
  std::vector<int> peak_of_line(cand.lines.size(), -1);
  for (std::size_t i = 0; i < cand.line_of.size(); ++i)
    if (cand.line_of[i] >= 0) peak_of_line[cand.line_of[i]] = static_cast<int>(i);
  sol.assignments.clear();
  sol.unexplained.clear();
  sol.matched = 0;
  sol.predicted_seen = cand.predicted_seen;
  for (std::size_t i = 0; i < cand.line_of.size(); ++i) {
    if (i < fixed.explained.size() && fixed.explained[i]) continue;
    const int j = cand.line_of[i];
    if (j >= 0 && line_amp[j] > 0) {
      sol.assignments.push_back({i, line_label(cand.lines[j], fams), cand.lines[j].q});
      sol.matched += 1;
    } else {
      sol.unexplained.push_back(i);
    }
  }
  for (std::size_t j = 0; j < cand.lines.size(); ++j) {
    const auto& l = cand.lines[j];
    if (l.q < c.s.q_min || l.q > c.s.q_max) continue;
    sol.lines.push_back({line_label(l, fams), l.q, line_amp[j], line_esd[j], peak_of_line[j]});
    if (line_amp[j] <= 0) sol.missing.push_back(line_label(l, fams));
  }
}

// "No lattice": every peak free, with position, width and area.
double no_lattice_bic(const Context& c, const WholePattern& wp) {
  const auto& none = wp.no_lattice();
  double cost = 0;
  for (std::size_t i = 0; i < none.amplitude.size(); ++i)
    if (none.amplitude[i] > 0) cost += free_position_cost(c, i);
  return wp.bic(none, 2 * none.positive_free) + cost;
}

bool prior_continues(const IndexSettings& s, const LatticeSolution& sol) {
  if (!s.prior || s.prior->lattice != sol.lattice || !(s.prior->a_nm > 0)) return false;
  bool near = std::abs(sol.a_nm / s.prior->a_nm - 1) <= s.prior->max_jump;
  if (has_c_axis(sol.lattice) && s.prior->c_nm > 0)
    near = near && std::abs(sol.c_nm / s.prior->c_nm - 1) <= s.prior->max_jump;
  return near;
}

// Whether a checked candidate may stand as a lattice at all: enough explained peaks (one more than
// constants) and peaks sharp enough not to be a liquid's broad correlation peaks (median FWHM/q ≤ 0.12:
// Scherrer domains of fewer than about eight periods are no lattice).
bool admissible(const Context& c, const LatticeSolution& sol) {
  // Two peaks the blind search found, at least: a lattice does not rest on one peak and the places it
  // predicts itself.
  if (sol.matched < 2 || sol.matched + sol.predicted_seen < free_parameters(sol.lattice) + 1) return false;
  if (sol.explained_fraction < c.min_explained) return false;
  // Nanocrystal and surfactant superlattices have nearest neighbours a nanometre apart or more; below
  // that the peaks are atomic spacings (or q is in the wrong unit).
  double spacing = nearest_neighbour_distance(sol.lattice, sol.a_nm, sol.c_nm > 0 ? sol.c_nm : sol.a_nm);
  if (has_c_axis(sol.lattice)) spacing = std::min(spacing, sol.c_nm);  // neighbours along c too
  if (spacing < c.s.min_spacing_nm) return false;
  {
    std::vector<double> rel;
    for (const auto& a : sol.assignments) rel.push_back(c.peaks[a.peak].fwhm / c.peaks[a.peak].q);
    if (median(rel) > c.s.max_relative_fwhm) return false;
  }
  return true;
}

// The best checked candidate of every lattice, lowest BIC (prior credited) first.
std::vector<Candidate> solve_all(const Context& c, const WholePattern& wp, const Fixed& fixed,
                                 double reference_bic) {
  std::vector<Candidate> best;
  for (Lattice lattice : c.s.lattices) {
    if (lattice == Lattice::none) continue;
    const auto& table = (*c.tables)[static_cast<int>(lattice)];
    auto hyps = pair_candidates(c, lattice, table);
    if (c.s.prior && c.s.prior->lattice == lattice && c.s.prior->a_nm > 0) {
      const double A = 1.0 / std::pow(c.s.prior->a_nm, 2);
      double C = 0;
      if (has_c_axis(lattice))
        C = c.s.prior->c_nm > 0 ? 1.0 / std::pow(c.s.prior->c_nm, 2)
                                : A / (kIdealHcpCOverA * kIdealHcpCOverA);
      hyps.push_back({A, C});
    }
    // The families any of these hypotheses can reach inside the pattern (refinement moves them by a few
    // per cent at most), so that every line list is built from the reflections that matter. A table that
    // does not reach q_max keeps its last family, so a cell too large for it is still recognised.
    double x_need = 0, y_need = 0;
    const double qq = std::pow(1.1 * (c.s.q_max + c.median_fwhm) / kTwoPi, 2);
    for (const auto& [A, C] : hyps) {
      x_need = std::max(x_need, qq / A);
      if (C > 0) y_need = std::max(y_need, qq / C);
    }
    std::vector<ReflectionFamily> fams;
    for (const auto& f : table)
      if (f.x <= x_need && f.y <= y_need) fams.push_back(f);
    if (!table.empty() && (fams.empty() || fams.back().x + fams.back().y < table.back().x + table.back().y) &&
        x_need > table.back().x)
      fams.push_back(table.back());
    std::vector<Candidate> cands;
    for (const auto& [A, C] : hyps) {
      auto cand = refine_on_peaks(c, lattice, fams, A, C);
      if (!cand) continue;
      bool dup = false;
      for (const auto& o : cands)
        dup = dup ||
              (std::abs(o.A / cand->A - 1) < 2e-3 && (cand->C == 0 || std::abs(o.C / cand->C - 1) < 2e-3));
      if (!dup) cands.push_back(std::move(*cand));
    }
    std::sort(cands.begin(), cands.end(),
              [](const Candidate& a, const Candidate& b) { return a.pre > b.pre; });
    if (static_cast<int>(cands.size()) > c.s.candidates_per_lattice) cands.resize(c.s.candidates_per_lattice);
    std::optional<Candidate> top;
    for (auto& cand : cands) {
      check_whole(c, wp, fixed, cand, fams, false);
      if (!admissible(c, cand.sol)) continue;
      const double bonus = prior_continues(c.s, cand.sol) ? c.s.prior->bonus : 0.0;
      cand.sol.score = reference_bic - (cand.sol.bic - bonus);
      if (!top || cand.sol.score > top->sol.score) top = std::move(cand);
    }
    if (top) {
      top->fams = std::move(fams);
      best.push_back(std::move(*top));
    }
  }
  std::sort(best.begin(), best.end(),
            [](const Candidate& a, const Candidate& b) { return a.sol.score > b.sol.score; });
  return best;
}

}  // namespace

std::vector<double> peak_weights(const std::vector<Peak>& peaks) {
  std::vector<double> u(peaks.size(), 0.0);
  if (peaks.empty()) return u;
  double h_max = 0;
  for (const auto& p : peaks) h_max = std::max(h_max, p.height);
  const double w_med = reference_width(peaks);
  for (std::size_t i = 0; i < peaks.size(); ++i) {
    const auto& p = peaks[i];
    const double significance = std::clamp(p.snr / 10.0, 0.0, 1.0);
    // 1 at ≥ 10 % of the strongest peak, 0 at ≤ 0.1 %.
    const double strength =
        h_max > 0 ? std::clamp(std::log10(p.height / h_max * 1000.0) / 2.0, 0.0, 1.0) : 1.0;
    // Peaks of one lattice share a width (Scherrer): one much broader or narrower than the median is
    // more likely baseline ripple or noise.
    const double rho = w_med > 0 ? p.fwhm / w_med : 1.0;
    const double shape = rho > 2.0 ? 2.0 / rho : rho < 0.4 ? rho / 0.4 : 1.0;
    u[i] = std::clamp(significance * strength * shape, 0.15, 1.0);
  }
  return u;
}

namespace {

bool same_peaks(const LatticeSolution& a, const LatticeSolution& b) {
  if (a.assignments.size() != b.assignments.size()) return false;
  for (std::size_t i = 0; i < a.assignments.size(); ++i)
    if (a.assignments[i].peak != b.assignments[i].peak) return false;
  return true;
}

}  // namespace

LatticeSolution refine_lattice(const FlatCurve& curve, const std::vector<Peak>& peaks,
                               const IndexSettings& settings, Lattice lattice, double a_nm, double c_nm) {
  LatticeSolution none;
  none.lattice = lattice;
  if (peaks.empty()) return none;
  const auto u = peak_weights(peaks);
  auto c = make_context(peaks, settings, u);
  c.curve = &curve;
  c.min_explained = settings.min_phase_explained;
  const WholePattern wp(curve, peaks, settings.whole);
  c.whole = &wp;
  const auto fams = family_table(lattice);
  const double A = 1.0 / (a_nm * a_nm);
  double C = 0;
  if (has_c_axis(lattice)) C = c_nm > 0 ? 1.0 / (c_nm * c_nm) : A / (kIdealHcpCOverA * kIdealHcpCOverA);
  auto cand = refine_on_peaks(c, lattice, fams, A, C);
  if (!cand) return none;
  check_whole(c, wp, Fixed{}, *cand, fams, true);
  cand->sol.score = no_lattice_bic(c, wp) - cand->sol.bic;
  return cand->sol;
}

namespace {

// The share of the peak intensity a solution accounts for, counting as its own an unexplained peak
// within a width of one of its lines (a blend of two reflections, or one shifted by the envelope,
// that the position tolerance refused): what decides whether another lattice explains more.
double claimed_fraction(const std::vector<Peak>& peaks, const LatticeSolution& sol) {
  double total = 0, near = 0;
  for (const auto& p : peaks) total += std::max(p.area, 0.0);
  for (std::size_t i : sol.unexplained) {
    const auto& p = peaks[i];
    for (const auto& l : sol.lines)
      if (std::abs(l.q - p.q) <= p.fwhm) {
        near += std::max(p.area, 0.0);
        break;
      }
  }
  return sol.explained_fraction + (total > 0 ? near / total : 0.0);
}

}  // namespace

IndexResult index_pattern(const FlatCurve& curve, const std::vector<Peak>& peaks, const IndexSettings& s) {
  IndexResult result;
  if (peaks.empty()) {
    result.reason = "no significant peaks";
    return result;
  }
  {
    // Every peak at an atomic spacing: no superlattice, and likely a q unit off by ten.
    double d_max = 0;
    for (const auto& p : peaks) d_max = std::max(d_max, kTwoPi / p.q);
    if (d_max < s.min_spacing_nm) {
      result.reason = fmt::format(
          "every peak has d < {:.3g} nm (the largest {:.3g} nm at q = {:.4g} nm⁻¹): atomic spacings, not a "
          "superlattice; if this is SAXS, the q unit is wrong (Å⁻¹ read as nm⁻¹?)",
          s.min_spacing_nm, d_max, kTwoPi / d_max);
      return result;
    }
  }
  const WholePattern wp(curve, peaks, s.whole);
  const auto u = peak_weights(peaks);
  std::vector<std::vector<ReflectionFamily>> tables(static_cast<int>(Lattice::none) + 1);
  for (Lattice l : s.lattices)
    if (l != Lattice::none) tables[static_cast<int>(l)] = family_table(l);
  auto ctx = make_context(peaks, s, u);
  ctx.tables = &tables;
  ctx.curve = &curve;
  ctx.whole = &wp;
  ctx.min_explained = s.min_phase_explained;
  result.no_lattice_bic = no_lattice_bic(ctx, wp);
  result.bic_scale = wp.scale();
  auto all = solve_all(ctx, wp, Fixed{}, result.no_lattice_bic);
  for (const auto& cand : all) result.per_lattice.push_back(cand.sol);
  if (all.empty()) {
    result.reason =
        peaks.size() == 1
            ? fmt::format(
                  "one significant peak (q = {:.4f} nm⁻¹, d = {:.3f} nm): one peak does not define a lattice",
                  peaks[0].q, kTwoPi / peaks[0].q)
            : fmt::format("no lattice puts its reflections on two or more of the {} peaks", peaks.size());
    return result;
  }
  // The decision rests on the structure-factor intensity explained, then on the evidence: the best
  // solution gives way to the best-scoring evident one carrying min_extra_explained more of the peak
  // intensity than it claims (a free c/a or a dense line list can score by picking up weak peaks while
  // leaving a strong one; a blend next to one of its lines still counts as its own). A lattice with a
  // second constant (hcp, hex3d) that only adds peaks to what a one-constant lattice explains must add
  // min_extra_nested of the intensity (a free c/a can always pick up a stray weak peak or two).
  std::optional<LatticeSolution> demoted;
  // Whether every peak `inner` explains is one `outer` explains too (−1 if not), and how many it adds.
  const auto added_to = [](const LatticeSolution& outer, const LatticeSolution& inner) -> int {
    for (const auto& x : inner.assignments) {
      bool in = false;
      for (const auto& y : outer.assignments) in = in || y.peak == x.peak;
      if (!in) return -1;
    }
    return static_cast<int>(outer.assignments.size()) - static_cast<int>(inner.assignments.size());
  };
  // Whether the one-constant lattice is a sublattice of the two-constant one (same constant): the
  // 00l ladder of a simple hexagonal lattice (d = c) or of hcp (d = c/2), the hk0 lines of either (a).
  const auto sublattice = [](const LatticeSolution& two, const LatticeSolution& one) {
    constexpr double kSame = 0.005;
    if (two.lattice != Lattice::hex3d && two.lattice != Lattice::hcp) return false;
    if (one.lattice == Lattice::hex2d) return std::abs(one.a_nm / two.a_nm - 1) < kSame;
    if (one.lattice != Lattice::lamellar) return false;
    const double d = two.lattice == Lattice::hcp ? 0.5 * two.c_nm : two.c_nm;
    return std::abs(one.a_nm / d - 1) < kSame;
  };
  // A second constant tested by nothing: a two-constant solution that adds fewer than two peaks (or
  // less than min_extra_nested of the intensity) to an evident solution of its sublattice whose peaks
  // it contains explains what it adds by construction (its constant fitted to that peak). It gives
  // way, and the next best by evidence takes its place.
  const auto untested = [&](const LatticeSolution& two) {
    if (free_parameters(two.lattice) != 2) return false;
    for (const auto& o : all) {
      const auto& one = o.sol;
      if (!sublattice(two, one) || one.score < s.min_evidence) continue;
      const int added = added_to(two, one);
      if (added >= 0 && (added < 2 || two.explained_fraction < one.explained_fraction + s.min_extra_nested))
        return true;
    }
    return false;
  };
  if (all.size() > 1 && untested(all.front().sol)) {
    demoted = all.front().sol;
    std::rotate(all.begin(), all.begin() + 1, all.end());
    for (std::size_t k = 0; k + 1 < all.size() && untested(all[k].sol); ++k)
      std::rotate(all.begin() + static_cast<long>(k), all.begin() + static_cast<long>(k) + 1, all.end());
  }
  // Then the structure-factor intensity explained: the best gives way to the best-scoring evident
  // solution carrying min_extra_explained more of the peak intensity than it claims.
  if (all.size() > 1 && !demoted) {
    const auto& top = all.front().sol;
    const double top_claim = claimed_fraction(peaks, top);
    for (std::size_t k = 1; k < all.size(); ++k) {
      const auto& other = all[k].sol;
      if (other.score < s.min_evidence) continue;
      if (other.explained_fraction < top_claim + s.min_extra_explained) continue;
      // One peak of its own that falls on one of its lines within the tolerance is a coincidence as
      // often as not (a stray peak on sc's 211 beside a lamellar ladder): it does not overturn
      // decisive evidence (ΔBIC ≥ 10) against that solution; two peaks or more do (the 10l lines
      // of a simple hexagonal lattice beside its 00l ladder).
      int new_peaks = 0;
      for (const auto& x : other.assignments) {
        bool in_top = false;
        for (const auto& y : top.assignments) in_top = in_top || y.peak == x.peak;
        new_peaks += !in_top;
      }
      if (new_peaks < 2 && top.score - other.score >= kDecisiveEvidence) continue;
      const int added = added_to(other, top);
      if (sublattice(other, top) && added >= 0 && added < 2) continue;
      demoted = top;
      std::rotate(all.begin(), all.begin() + static_cast<long>(k), all.begin() + static_cast<long>(k) + 1);
      break;
    }
  }
  // σ of the Le Bail intensities, for the answer.
  {
    auto& top = all.front();
    const double bic = top.sol.bic;
    check_whole(ctx, wp, Fixed{}, top, top.fams, true);
    top.sol.bic = bic;
  }
  const auto& first = all.front().sol;
  // Weak evidence stands only on sharp peaks: a liquid's broad correlation peaks can sit near lattice
  // ratios by chance.
  bool sharp = true;
  if (first.score < s.strong_evidence) {
    std::vector<double> rel;
    for (const auto& a : first.assignments) rel.push_back(peaks[a.peak].fwhm / peaks[a.peak].q);
    sharp = median(rel) <= s.max_relative_fwhm;
  }
  const bool evident = first.score >= s.min_evidence && sharp;

  // A second phase among the peaks the first leaves unexplained (fcc + lamellar during a transition).
  std::optional<LatticeSolution> second;
  if (s.mixtures && evident && first.unexplained.size() >= 2 &&
      first.explained_fraction < 1 - s.min_second_phase) {
    std::vector<double> u2 = u;
    Fixed fixed;
    fixed.explained.assign(peaks.size(), false);
    for (const auto& a : first.assignments) u2[a.peak] = 0, fixed.explained[a.peak] = true;
    fixed.profiles = all.front().profiles;
    fixed.parameters = all.front().width_parameters;
    fixed.position_cost += constants_cost(ctx, all.front());
    for (const auto& pr : fixed.profiles) fixed.parameters += pr.q >= s.q_min && pr.q <= s.q_max;
    for (const auto& a : first.assignments)
      fixed.position_cost += std::pow((peaks[a.peak].q - a.q_calc) / ctx.sigma_tot[a.peak], 2);
    auto ctx2 = make_context(peaks, s, u2);
    ctx2.tables = &tables;
    ctx2.curve = &curve;
    ctx2.whole = &wp;
    // A second phase must carry half of what the first leaves.
    ctx2.min_explained = 0.5 * (1 - first.explained_fraction);
    auto rest = solve_all(ctx2, wp, fixed, first.bic);
    if (!rest.empty() && rest.front().sol.score >= s.min_evidence &&
        first.explained_fraction + rest.front().sol.explained_fraction >= s.min_explained) {
      auto& top = rest.front();
      const double bic = top.sol.bic, score = top.sol.score;
      check_whole(ctx2, wp, fixed, top, top.fams, true);
      top.sol.bic = bic, top.sol.score = score;
      second = top.sol;
    }
  }
  if (!evident || (first.explained_fraction < s.min_explained && !second)) {
    std::string why = !sharp ? fmt::format(
                                   "its evidence over free peaks is weak (ΔBIC = {:.1f}) and its peaks are "
                                   "broad (a liquid's correlation peaks?)",
                                   first.score)
                      : !evident ? fmt::format("its evidence over free peaks is ΔBIC = {:.1f} (< {:.0f})",
                                               first.score, s.min_evidence)
                                 : fmt::format("it carries {:.0f} % of the peak intensity (< {:.0f} %)",
                                               100 * first.explained_fraction, 100 * s.min_explained);
    result.reason = fmt::format(
        "best candidate {} a = {:.3f} nm explains {} of {} peaks, {:.0f} % of the peak intensity, but {}: no "
        "lattice",
        lattice_name(first.lattice), first.a_nm, first.matched, peaks.size(), 100 * first.explained_fraction,
        why);
    result.runner_up = first;
    return result;
  }
  result.lattice = first.lattice;
  result.confidence = first.score >= kDecisiveEvidence   ? "very strong"
                      : first.score >= s.strong_evidence ? "strong"
                                                         : "weak";
  result.best = first;
  result.phases.push_back(first);
  if (second) result.phases.push_back(*second);
  for (std::size_t k = 1; k < all.size(); ++k)
    if (all[k].sol.lattice != first.lattice) {
      result.runner_up = all[k].sol;
      break;
    }

  // Ambiguities (SAXS_INDEXING.md §1.2).
  std::vector<std::string> notes, notes_only;
  if (demoted)
    notes_only.push_back(fmt::format(
        "{} a = {:.3f} nm{} scores higher (ΔBIC {:.1f}) but carries {:.0f} % of the peak intensity against "
        "{:.0f} %",
        lattice_name(demoted->lattice), demoted->a_nm,
        demoted->c_nm > 0 ? fmt::format(", c = {:.3f} nm", demoted->c_nm) : std::string(),
        demoted->score - first.score, 100 * demoted->explained_fraction, 100 * first.explained_fraction));
  if (result.runner_up && !demoted && first.score - result.runner_up->score < s.ambiguity_margin)
    notes.push_back(fmt::format("{} and {} explain the pattern almost equally well (ΔBIC {:.1f})",
                                lattice_name(first.lattice), lattice_name(result.runner_up->lattice),
                                first.score - result.runner_up->score));
  if ((first.lattice == Lattice::sc || first.lattice == Lattice::bcc) && first.matched <= 6) {
    const Lattice other = first.lattice == Lattice::sc ? Lattice::bcc : Lattice::sc;
    for (const auto& sol : result.per_lattice)
      if (sol.lattice == other && same_peaks(sol, first)) {
        notes.push_back(
            fmt::format("sc and bcc predict the same peak positions up to the 6th reflection ({} peaks "
                        "indexed); {} chosen by the whole-pattern fit, the alternative is {} a = {:.3f} nm",
                        first.matched, lattice_name(first.lattice), lattice_name(other), sol.a_nm));
        if (!result.runner_up || result.runner_up->lattice != other) result.runner_up = sol;
        break;
      }
  }
  if (first.lattice == Lattice::lamellar &&
      std::find(s.lattices.begin(), s.lattices.end(), Lattice::hex3d) != s.lattices.end()) {
    const double a_max = 4 * std::numbers::pi / (std::sqrt(3.0) * s.q_max);
    notes.push_back(fmt::format(
        "a 1:2:3 ladder is also the 00l series of a simple hexagonal lattice (c = {:.3f} nm) whose (10l) "
        "reflections lie beyond q_max or are too weak (a < {:.2f} nm)",
        first.a_nm, a_max));
  }
  if (!notes.empty()) {
    result.ambiguous = true;
    for (const auto& n : notes) result.ambiguity += (result.ambiguity.empty() ? "" : "; ") + n;
  }
  for (const auto& n : notes_only) result.notes += (result.notes.empty() ? "" : "; ") + n;
  return result;
}

}  // namespace anvil::saxs
