#include "debye/start.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>

namespace anvil::debye::detail {

double peak_q(const PeaksPhase& g, const std::array<int, 3>& hkl, double a) {
  const double c = g.hexagonal ? g.c * a / g.a : 0.0;  // c/a kept
  const double inv_d2 = g.hexagonal
                            ? 4.0 / 3.0 * (hkl[0] * hkl[0] + hkl[0] * hkl[1] + hkl[1] * hkl[1]) / (a * a) +
                                  hkl[2] * hkl[2] / (c * c)
                            : (hkl[0] * hkl[0] + hkl[1] * hkl[1] + hkl[2] * hkl[2]) / (a * a);
  return 2.0 * std::numbers::pi * std::sqrt(inv_d2);
}

double locate_sharp_lines(const PeaksPhase& g, const std::vector<double>& q, const std::vector<double>& y) {
  const std::size_t n = q.size();
  std::vector<double> high(n, 0.0);
  std::vector<double> window;
  std::size_t lo = 0, hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    while (lo < n && q[lo] < q[i] - 0.05) ++lo;
    while (hi < n && q[hi] <= q[i] + 0.05) ++hi;
    window.assign(y.begin() + static_cast<std::ptrdiff_t>(lo), y.begin() + static_cast<std::ptrdiff_t>(hi));
    std::nth_element(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(window.size() / 2),
                     window.end());
    high[i] = std::max(0.0, y[i] - window[window.size() / 2]);
  }
  const auto at = [&](double x) {
    if (x <= q.front() || x >= q.back()) return 0.0;
    const auto it = std::lower_bound(q.begin(), q.end(), x);
    const std::size_t k = static_cast<std::size_t>(it - q.begin());
    const double t = (x - q[k - 1]) / (q[k] - q[k - 1]);
    return (1 - t) * high[k - 1] + t * high[k];
  };
  double best_a = g.a, best = -1.0;
  const int steps = static_cast<int>(std::ceil(g.cell_margin / 2e-4));
  for (int s = -steps; s <= steps; ++s) {
    const double a = g.a * (1.0 + 2e-4 * s);
    double score = 0;
    int lines = 0;
    for (const auto& hkl : g.hkl) {
      const double q0 = peak_q(g, hkl, a);
      if (q0 <= q.front() || q0 >= q.back()) continue;
      score += at(q0);
      ++lines;
    }
    if (lines && score / lines > best) best = score / lines, best_a = a;
  }
  return best_a;
}

std::vector<double> hump_starts(const std::vector<double>& q, const std::vector<double>& y,
                                const std::vector<double>& sigma,
                                const std::vector<std::vector<double>>& columns, int count) {
  const std::size_t n = q.size(), m = columns.size();
  Eigen::MatrixXd a(n, m + 1);
  Eigen::VectorXd b(n);
  for (std::size_t i = 0; i < n; ++i) {
    b(static_cast<Eigen::Index>(i)) = y[i] / sigma[i];
    for (std::size_t j = 0; j < m; ++j)
      a(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = columns[j][i] / sigma[i];
  }
  const auto fixed = a.leftCols(static_cast<Eigen::Index>(m));
  const Eigen::MatrixXd ata_fixed = fixed.transpose() * fixed;
  const Eigen::VectorXd atb_fixed = fixed.transpose() * b;
  const double btb = b.squaredNorm();
  std::vector<double> centres, chi2;
  for (double c = q.front() + 0.05; c < q.back() - 0.05; c += 0.05) {
    Eigen::VectorXd g(static_cast<Eigen::Index>(n));
    for (std::size_t i = 0; i < n; ++i) {
      const double u = (q[i] - c) / kHumpScanWidth;
      g(static_cast<Eigen::Index>(i)) = std::exp(-0.5 * u * u) / sigma[i];
    }
    Eigen::MatrixXd ata(m + 1, m + 1);
    ata.topLeftCorner(m, m) = ata_fixed;
    const Eigen::VectorXd atg = fixed.transpose() * g;
    ata.topRightCorner(m, 1) = atg;
    ata.bottomLeftCorner(1, m) = atg.transpose();
    ata(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m)) = g.squaredNorm();
    Eigen::VectorXd atb(m + 1);
    atb.head(m) = atb_fixed;
    atb(static_cast<Eigen::Index>(m)) = g.dot(b);
    // A ridge of 10⁻¹⁰ of the diagonal keeps near-collinear columns from blowing up the ranking.
    for (Eigen::Index k = 0; k < ata.rows(); ++k) ata(k, k) *= 1.0 + 1e-10;
    const Eigen::VectorXd x = ata.ldlt().solve(atb);
    // Only a hump of positive height counts.
    if (!(x(static_cast<Eigen::Index>(m)) > 0)) continue;
    centres.push_back(c);
    chi2.push_back(btb - 2.0 * x.dot(atb) + x.dot(ata * x));
  }
  std::vector<std::size_t> minima;
  for (std::size_t k = 0; k < chi2.size(); ++k) {
    const bool left = k == 0 || chi2[k] <= chi2[k - 1];
    const bool right = k + 1 == chi2.size() || chi2[k] <= chi2[k + 1];
    if (left && right) minima.push_back(k);
  }
  std::sort(minima.begin(), minima.end(), [&](std::size_t u, std::size_t v) { return chi2[u] < chi2[v]; });
  std::vector<double> out;
  for (std::size_t k : minima) {
    if (static_cast<int>(out.size()) >= count) break;
    out.push_back(centres[k]);
  }
  return out;
}

}  // namespace anvil::debye::detail
