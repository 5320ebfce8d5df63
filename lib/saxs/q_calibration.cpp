#include "saxs/q_calibration.hpp"

#include <fmt/core.h>

#include <cmath>
#include <map>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace anvil::saxs {

QCalibration calibrate_q_lamellar(const Pattern1D& standard, double d_nm, const SaxsSettings& settings) {
  if (!(d_nm > 0))
    throw InputError("q calibration", fmt::format("the standard's period must be positive, not {}", d_nm));
  SaxsSettings s = settings;
  s.index.lattices = {Lattice::lamellar};
  s.index.mixtures = false;
  s.index.prior.reset();
  const SaxsResult r = analyse_saxs(standard, s);
  if (r.lattice != Lattice::lamellar || r.phases.empty())
    throw InputError("q calibration", "the standard shows no lamellar series: " +
                                          (r.reason.empty() ? std::string("none found") : r.reason));
  const auto& sol = r.phases.front().solution;
  QCalibration c;
  c.d_nm = d_nm;
  c.d_measured_nm = sol.a_nm;
  // The orders: every peak within a tenth of an order of an integer multiple of the first order's q,
  // first with the indexed period, then again through the fitted map (an offset moves the low orders
  // off a pure ladder, which the indexing tolerance may not have accepted).
  std::vector<double> w;
  auto assign = [&](double scale, double offset) {
    c.orders.clear(), c.q_measured.clear(), c.q_true.clear(), w.clear();
    const double q1 = 2 * std::numbers::pi / d_nm;
    std::map<int, std::pair<double, const Peak*>> best;  // order → (distance from it, peak)
    for (const auto& p : r.peaks) {
      const double order = (scale * p.q + offset) / q1;
      const int l = static_cast<int>(std::lround(order));
      const double off = std::abs(order - l);
      if (l < 1 || off > 0.1) continue;
      auto it = best.find(l);
      if (it == best.end() || off < it->second.first) best[l] = {off, &p};
    }
    for (const auto& [l, hit] : best) {
      c.orders.push_back(l);
      c.q_measured.push_back(hit.second->q);
      c.q_true.push_back(q1 * l);
      const double sq = std::max(hit.second->q_esd, 1e-4 * hit.second->q);
      w.push_back(1.0 / (sq * sq));
    }
  };
  assign(sol.a_nm / d_nm, 0.0);
  auto fit = [&]() {
    const std::size_t n = c.orders.size();
    if (n < 2)
      throw InputError(
          "q calibration",
          fmt::format("the standard's lamellar series has {} usable order(s); two or more are needed", n));
    // Weighted least squares, q_true = scale·q + offset (σ of q_true from σ of q, × scale ≈ 1).
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const double x = c.q_measured[k], y = c.q_true[k];
      sw += w[k], sx += w[k] * x, sy += w[k] * y, sxx += w[k] * x * x, sxy += w[k] * x * y;
    }
    double chi2 = 0;
    if (n >= 3) {
      const double det = sw * sxx - sx * sx;
      c.scale = (sw * sxy - sx * sy) / det;
      c.offset_inv_nm = (sxx * sy - sx * sxy) / det;
      for (std::size_t k = 0; k < n; ++k) chi2 += w[k] * std::pow(c.apply(c.q_measured[k]) - c.q_true[k], 2);
      const double scale2 = std::max(1.0, chi2 / static_cast<double>(n - 2));
      c.scale_esd = std::sqrt(sw / det * scale2);
      c.offset_esd_inv_nm = std::sqrt(sxx / det * scale2);
    } else {
      c.scale = sxy / sxx;
      c.offset_inv_nm = 0;
      for (std::size_t k = 0; k < n; ++k) chi2 += w[k] * std::pow(c.apply(c.q_measured[k]) - c.q_true[k], 2);
      c.scale_esd = std::sqrt(1.0 / sxx * std::max(1.0, chi2 / static_cast<double>(n - 1)));
    }
  };
  fit();
  assign(c.scale, c.offset_inv_nm);
  fit();
  const std::size_t n = c.orders.size();
  double r2 = 0;
  for (std::size_t k = 0; k < n; ++k) r2 += std::pow(c.apply(c.q_measured[k]) - c.q_true[k], 2);
  c.rms_residual_inv_nm = std::sqrt(r2 / static_cast<double>(n));
  return c;
}

Pattern1D apply_q_calibration(const Pattern1D& pattern, const QCalibration& calibration) {
  Pattern1D p = to_q_inv_nm(pattern);
  for (double& q : p.x) q = calibration.apply(q);
  return p;
}

}  // namespace anvil::saxs
