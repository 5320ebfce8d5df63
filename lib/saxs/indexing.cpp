#include "saxs/indexing.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <unordered_set>

namespace anvil::saxs {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// What every hypothesis is scored against.
struct Context {
  const std::vector<Peak>& peaks;
  const DetectionLimit& limit;
  const IndexSettings& s;
  std::vector<double> u;          // significance weight; 0 = explained by an earlier phase
  std::vector<double> sigma_tot;  // σ(q) with systematic terms
  std::vector<double> tol;        // matching tolerance
  double median_fwhm = 0;
  double q_range = 1;
  double u_total = 0;
  int n_obs = 0;
  const std::vector<std::vector<ReflectionFamily>>* tables = nullptr;  // per Lattice value
};

Context make_context(const std::vector<Peak>& peaks, const DetectionLimit& limit, const IndexSettings& s,
                     const std::vector<double>& u) {
  Context c{peaks, limit, s, u, {}, {}, 0, 1, 0, 0, nullptr};
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
                                  double merge_dq) {
  const double qq_max = std::pow(q_max / kTwoPi, 2);
  std::vector<Line> raw;
  for (std::size_t f = 0; f < fams.size(); ++f) {
    const double qq = fams[f].x * A + fams[f].y * C;
    if (qq > qq_max || qq <= 0) continue;
    const double q = kTwoPi * std::sqrt(qq);
    raw.push_back({q, fams[f].x, fams[f].y, fams[f].strength / (q * q), {static_cast<int>(f)}});
  }
  std::sort(raw.begin(), raw.end(), [](const Line& a, const Line& b) { return a.q < b.q; });
  std::vector<Line> out;
  double group_start = -INFINITY;
  for (auto& l : raw) {
    if (!out.empty() && l.q - group_start < merge_dq) {
      auto& g = out.back();
      const double w = g.weight + l.weight;
      g.x = (g.x * g.weight + l.x * l.weight) / w;
      g.y = (g.y * g.weight + l.y * l.weight) / w;
      g.weight = w;
      g.families.push_back(l.families.front());
      g.q = kTwoPi * std::sqrt(g.x * A + g.y * C);
      continue;
    }
    group_start = l.q;
    out.push_back(std::move(l));
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

LatticeSolution evaluate(const Context& c, Lattice lattice, const std::vector<ReflectionFamily>& fams,
                         double A, double C) {
  LatticeSolution sol;
  sol.lattice = lattice;
  const double merge_dq = c.s.merge_fraction * c.median_fwhm;
  std::vector<Line> lines;
  std::vector<int> line_of;
  Params p{A, C, 0, 0, true};
  for (int iter = 0; iter < 3; ++iter) {
    lines = predicted_lines(fams, p.A, p.C, c.s.q_max + c.median_fwhm, merge_dq);
    line_of = match_peaks(c, lines);
    const Params next = refine_params(c, lattice, lines, line_of, p.A, p.C);
    if (!next.ok) return sol;
    const bool moved = std::abs(next.A / p.A - 1) > 1e-7 || (p.C > 0 && std::abs(next.C / p.C - 1) > 1e-7);
    p = next;
    if (!moved && iter > 0) break;
  }
  lines = predicted_lines(fams, p.A, p.C, c.s.q_max + c.median_fwhm, merge_dq);
  line_of = match_peaks(c, lines);

  // Position evidence; matches whose misfit outweighs their evidence count as unexplained.
  double gain = 0, chi2 = 0, rel2 = 0, u_matched = 0;
  for (std::size_t i = 0; i < line_of.size(); ++i) {
    if (line_of[i] < 0) continue;
    const double st = c.sigma_tot[i];
    const double z = (c.peaks[i].q - lines[line_of[i]].q) / st;
    const double g = std::clamp(std::log(c.q_range / (std::sqrt(kTwoPi) * st)), 2.0, 8.0) - 0.5 * z * z;
    if (g <= 0) {
      line_of[i] = -1;
      continue;
    }
    gain += c.u[i] * g;
    chi2 += z * z;
    rel2 += std::pow(c.peaks[i].q / lines[line_of[i]].q - 1, 2);
    u_matched += c.u[i];
    sol.matched += 1;
  }
  if (sol.matched == 0) return sol;
  // A peak the lattice leaves unexplained is taken as spurious, which a superlattice pattern rarely
  // has: ln(0.05) per significant peak.
  double unexplained_pen = 0;
  for (std::size_t i = 0; i < line_of.size(); ++i)
    if (line_of[i] < 0 && c.u[i] > 0) unexplained_pen += c.s.unexplained_penalty * c.u[i];

  // Intensities: ln(area) = κ − βq² + ln(Σ m|F|²/q²), β ≥ 0.
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  std::vector<std::array<double, 3>> pts;  // q², y, u
  for (std::size_t i = 0; i < line_of.size(); ++i) {
    if (line_of[i] < 0 || c.peaks[i].area <= 0) continue;
    const double q2 = c.peaks[i].q * c.peaks[i].q;
    const double y = std::log(c.peaks[i].area) - std::log(lines[line_of[i]].weight);
    pts.push_back({q2, y, c.u[i]});
    sw += c.u[i], sx += c.u[i] * q2, sy += c.u[i] * y, sxx += c.u[i] * q2 * q2, sxy += c.u[i] * q2 * y;
  }
  double beta = 0, kappa = sw > 0 ? sy / sw : 0;
  if (pts.size() >= 3 && sw * sxx - sx * sx > 1e-12 * sw * sxx) {
    beta = -(sw * sxy - sx * sy) / (sw * sxx - sx * sx);
    beta = std::clamp(beta, 0.0, 5.0 / std::max(c.s.q_max * c.s.q_max, 1e-6));
    kappa = (sy + beta * sx) / sw;
  }
  double intensity_pen = 0;
  for (const auto& pt : pts) {
    const double r = (pt[1] - (kappa - beta * pt[0])) / c.s.intensity_sigma_ln;
    intensity_pen -= 0.5 * pt[2] * std::min(r * r, 9.0);
  }
  sol.intensity_decay = beta;

  // Completeness: predicted reflections inside the range that should have been detected.
  std::vector<bool> line_matched(lines.size(), false);
  for (int j : line_of)
    if (j >= 0) line_matched[j] = true;
  const double lo = c.s.q_min + c.median_fwhm, hi = c.s.q_max - c.median_fwhm;
  double missing_pen = 0, visible = 0, seen = 0;
  for (std::size_t j = 0; j < lines.size(); ++j) {
    const double q = lines[j].q;
    if (q < lo || q > hi) continue;
    if (line_matched[j]) {
      visible += 1, seen += 1;
      continue;
    }
    bool overlapped = false;
    for (std::size_t k = 0; k < c.peaks.size() && !overlapped; ++k)
      overlapped = std::abs(c.peaks[k].q - q) < std::max(0.7 * c.peaks[k].fwhm, c.tol[k]);
    if (overlapped) continue;
    const double predicted = std::exp(kappa - beta * q * q) * lines[j].weight;
    const double ratio = predicted / c.limit.area(q, c.median_fwhm);
    const double v = 1.0 - std::exp(-std::max(0.0, ratio - 1.0));
    missing_pen += std::log(1.0 - 0.9 * v);
    visible += v;
    if (v > 0.5) {
      std::string hkl;
      for (int f : lines[j].families) hkl += (hkl.empty() ? "" : "/") + fams[f].hkl;
      sol.missing.push_back(hkl);
    }
  }

  // Occam for dense line lists: a peak explained by one of K visible lines is worth ln K less than
  // by the only line there; relative to a lattice with as many visible lines as peaks observed.
  const double density_pen = u_matched * std::log(std::max(1.0, visible / std::max(c.u_total, 1.0)));
  const int np = free_parameters(lattice);
  double occam = 0.5 * std::log(std::max(c.n_obs, 2));  // BIC for the scale every lattice has
  if (np == 2) {
    // c/a is searched over a range: its Occam factor is ln(prior range / posterior width) of
    // ln(c/a) (MacKay, Information Theory, Inference and Learning Algorithms, ch. 28).
    const double range = lattice == Lattice::hcp ? std::log(c.s.hcp_c_over_a_max / c.s.hcp_c_over_a_min)
                                                 : std::log(c.s.hex3d_c_over_a_max / c.s.hex3d_c_over_a_min);
    const double width = std::max(std::sqrt(0.25 * (p.var_A / (p.A * p.A) + p.var_C / (p.C * p.C))), 1e-3);
    occam += std::log(std::max(1.0, range / (std::sqrt(kTwoPi) * width)));
  }
  sol.score = gain + intensity_pen + missing_pen - unexplained_pen - density_pen - occam;
  if (c.s.prior && c.s.prior->lattice == lattice) {
    const double a = 1.0 / std::sqrt(p.A);
    bool near = std::abs(a / c.s.prior->a_nm - 1) <= c.s.prior->max_jump;
    if (np == 2 && c.s.prior->c_nm > 0)
      near = near && std::abs(1.0 / std::sqrt(p.C) / c.s.prior->c_nm - 1) <= c.s.prior->max_jump;
    if (near) sol.score += c.s.prior->bonus;
  }

  sol.a_nm = 1.0 / std::sqrt(p.A);
  sol.a_esd_nm = 0.5 * sol.a_nm * std::sqrt(p.var_A) / p.A;
  if (np == 2) {
    sol.c_nm = 1.0 / std::sqrt(p.C);
    sol.c_esd_nm = 0.5 * sol.c_nm * std::sqrt(p.var_C) / p.C;
  }
  sol.observed = c.n_obs;
  sol.explained_fraction = c.u_total > 0 ? u_matched / c.u_total : 0;
  sol.completeness = visible > 0 ? seen / visible : 0;
  sol.rms_relative = std::sqrt(rel2 / sol.matched);
  sol.reduced_chi2 = sol.matched > np ? chi2 / (sol.matched - np) : 0;
  for (std::size_t i = 0; i < line_of.size(); ++i) {
    if (line_of[i] < 0) continue;
    std::string hkl;
    for (int f : lines[line_of[i]].families) hkl += (hkl.empty() ? "" : "/") + fams[f].hkl;
    sol.assignments.push_back({i, hkl, lines[line_of[i]].q});
  }
  return sol;
}

std::vector<ReflectionFamily> family_table(Lattice lattice) {
  switch (lattice) {
    case Lattice::hcp:
    case Lattice::hex3d:
      return reflection_families(lattice, 300.0, 400.0);
    default:
      return reflection_families(lattice, 400.0);
  }
}

int min_matched(Lattice lattice) {
  switch (lattice) {
    case Lattice::lamellar:
      return 2;
    case Lattice::hcp:
    case Lattice::hex3d:
      return 4;
    default:
      return 3;
  }
}

// Seeds: the most significant peaks (still unexplained) in order of significance.
std::vector<std::size_t> seed_peaks(const Context& c) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < c.peaks.size(); ++i)
    if (c.u[i] > 0) idx.push_back(i);
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t a, std::size_t b) { return c.peaks[a].snr > c.peaks[b].snr; });
  if (static_cast<int>(idx.size()) > c.s.max_seed_peaks) idx.resize(c.s.max_seed_peaks);
  return idx;
}

// (1/a², 1/c²) hypotheses for one lattice.
std::vector<std::pair<double, double>> hypotheses(const Context& c, Lattice lattice,
                                                  const std::vector<ReflectionFamily>& fams) {
  std::vector<std::pair<double, double>> out;
  const auto seeds = seed_peaks(c);
  if (lattice != Lattice::hex3d) {
    // One scale: peak i as the j-th distinct reflection (hcp at ideal c/a, refined afterwards).
    const double rho2 = lattice == Lattice::hcp ? kIdealHcpCOverA * kIdealHcpCOverA : 1.0;
    std::vector<double> g2;
    for (const auto& f : fams) g2.push_back(f.x + f.y / rho2);
    std::sort(g2.begin(), g2.end());
    g2.erase(std::unique(g2.begin(), g2.end(), [](double a, double b) { return std::abs(a - b) < 1e-9; }),
             g2.end());
    if (static_cast<int>(g2.size()) > c.s.max_seed_order) g2.resize(c.s.max_seed_order);
    for (std::size_t i : seeds)
      for (double g : g2) {
        const double A = std::pow(c.peaks[i].q / kTwoPi, 2) / g;
        const double C = lattice == Lattice::hcp ? A / rho2 : 0.0;
        bool dup = false;
        for (const auto& h : out) dup = dup || std::abs(h.first / A - 1) < 2e-3;
        if (!dup) out.push_back({A, C});
      }
    return out;
  }
  // hex3d: a pair of peaks as a pair of low-order reflection types (h²+hk+k², l).
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

// Best solution of every lattice for the peaks with weight u > 0.
std::vector<LatticeSolution> solve_all(const Context& c) {
  std::vector<LatticeSolution> best;
  for (Lattice lattice : c.s.lattices) {
    if (lattice == Lattice::none) continue;
    const auto& fams = (*c.tables)[static_cast<int>(lattice)];
    auto hyps = hypotheses(c, lattice, fams);
    if (c.s.prior && c.s.prior->lattice == lattice && c.s.prior->a_nm > 0) {
      const double A = 1.0 / std::pow(c.s.prior->a_nm, 2);
      double C = 0;
      if (has_c_axis(lattice))
        C = c.s.prior->c_nm > 0 ? 1.0 / std::pow(c.s.prior->c_nm, 2)
                                : A / (kIdealHcpCOverA * kIdealHcpCOverA);
      hyps.push_back({A, C});
    }
    LatticeSolution top;
    for (const auto& [A, C] : hyps) {
      auto sol = evaluate(c, lattice, fams, A, C);
      if (sol.matched < min_matched(lattice)) continue;
      // Two peaks at 1:2 happen by chance; as the whole evidence they must be all there is.
      if (sol.matched == 2 && sol.explained_fraction < 0.9) continue;
      // A liquid's broad correlation peaks sit near 1 : 1.9 : 2.8; few peaks that broad are no
      // evidence of a lattice.
      if (sol.matched <= 3) {
        std::vector<double> rel;
        for (const auto& a : sol.assignments) rel.push_back(c.peaks[a.peak].fwhm / c.peaks[a.peak].q);
        if (median(rel) > c.s.max_relative_fwhm_few_peaks) continue;
      }
      if (sol.score > top.score) top = std::move(sol);
    }
    if (top.matched > 0) best.push_back(std::move(top));
  }
  std::sort(best.begin(), best.end(),
            [](const LatticeSolution& a, const LatticeSolution& b) { return a.score > b.score; });
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

double DetectionLimit::area(double at_q, double fwhm) const {
  if (q.size() < 2) return 0;
  const double w = std::max(fwhm, 1e-9);
  auto lo = std::lower_bound(q.begin(), q.end(), at_q - w) - q.begin();
  auto hi = std::upper_bound(q.begin(), q.end(), at_q + w) - q.begin();
  if (hi - lo < 2) {
    lo = std::max<long>(0, lo - 1);
    hi = std::min<long>(static_cast<long>(q.size()), hi + 1);
  }
  double s2 = 0;
  for (auto i = lo; i < hi; ++i) s2 += sigma[i] * sigma[i];
  const double sigma_local = std::sqrt(s2 / std::max<long>(1, hi - lo));
  const double dq = (q.back() - q.front()) / (q.size() - 1);
  // Matched-filter SNR of a Gaussian of area A and std g sampled every dq: A / (σ √(2√π g dq)).
  const double g = w / 2.3548;
  return threshold * sigma_local * std::sqrt(2.0 * std::sqrt(std::numbers::pi) * g * dq);
}

LatticeSolution refine_lattice(const std::vector<Peak>& peaks, const DetectionLimit& limit,
                               const IndexSettings& settings, Lattice lattice, double a_nm, double c_nm) {
  const auto u = peak_weights(peaks);
  const auto c = make_context(peaks, limit, settings, u);
  const double A = 1.0 / (a_nm * a_nm);
  double C = 0;
  if (has_c_axis(lattice)) C = c_nm > 0 ? 1.0 / (c_nm * c_nm) : A / (kIdealHcpCOverA * kIdealHcpCOverA);
  return evaluate(c, lattice, family_table(lattice), A, C);
}

IndexResult index_peaks(const std::vector<Peak>& peaks, const DetectionLimit& limit, const IndexSettings& s) {
  IndexResult result;
  if (peaks.size() < 2) {
    result.reason =
        peaks.empty() ? "no significant peaks" : "one significant peak: no lattice can be determined";
    return result;
  }
  const auto u = peak_weights(peaks);
  std::vector<std::vector<ReflectionFamily>> tables(static_cast<int>(Lattice::none) + 1);
  for (Lattice l : s.lattices)
    if (l != Lattice::none) tables[static_cast<int>(l)] = family_table(l);
  auto ctx = make_context(peaks, limit, s, u);
  ctx.tables = &tables;
  auto all = solve_all(ctx);
  result.per_lattice = all;
  if (all.empty()) {
    result.reason = fmt::format("no lattice explains enough of the {} peaks", peaks.size());
    return result;
  }
  const auto& first = all.front();
  const bool first_ok = first.score >= s.min_score && first.explained_fraction >= s.min_explained;

  // A second phase among the peaks the first leaves unexplained (fcc + lamellar during a transition).
  std::optional<LatticeSolution> second;
  if (s.mixtures && first.score >= s.min_score && first.explained_fraction >= 0.3) {
    std::vector<double> u2 = u;
    for (const auto& a : first.assignments) u2[a.peak] = 0;
    int left = 0;
    for (double v : u2) left += v > 0;
    if (left >= 2) {
      auto ctx2 = make_context(peaks, limit, s, u2);
      ctx2.tables = &tables;
      auto rest = solve_all(ctx2);
      if (!rest.empty() && rest.front().score >= s.min_score) {
        const double combined =
            first.explained_fraction + rest.front().explained_fraction * ctx2.u_total / ctx.u_total;
        if (combined >= s.min_explained && rest.front().explained_fraction >= 0.5) second = rest.front();
      }
    }
  }
  if (!first_ok && !second) {
    result.reason = fmt::format(
        "best hypothesis ({}, a = {:.3f} nm) explains {}/{} peaks with score {:.1f}: not a superlattice",
        lattice_name(first.lattice), first.a_nm, first.matched, first.observed, first.score);
    return result;
  }
  result.lattice = first.lattice;
  result.best = first;
  result.phases.push_back(first);
  if (second) result.phases.push_back(*second);
  for (std::size_t k = 1; k < all.size(); ++k)
    if (all[k].lattice != first.lattice) {
      result.runner_up = all[k];
      break;
    }

  // Ambiguities (SAXS_INDEXING.md §1.2).
  std::vector<std::string> notes;
  if (result.runner_up && first.score - result.runner_up->score < s.ambiguity_margin)
    notes.push_back(fmt::format("{} and {} explain the peaks almost equally well (score {:.1f} vs {:.1f})",
                                lattice_name(first.lattice), lattice_name(result.runner_up->lattice),
                                first.score, result.runner_up->score));
  if ((first.lattice == Lattice::sc || first.lattice == Lattice::bcc) && first.matched <= 6) {
    const Lattice other = first.lattice == Lattice::sc ? Lattice::bcc : Lattice::sc;
    for (const auto& sol : all)
      if (sol.lattice == other && same_peaks(sol, first)) {
        notes.push_back(
            fmt::format("sc and bcc predict the same peak positions up to the 6th reflection ({} peaks "
                        "indexed); {} chosen by "
                        "intensities, the alternative is {} a = {:.3f} nm",
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
  return result;
}

}  // namespace anvil::saxs
