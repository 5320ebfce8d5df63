#include "saxs/peaks.hpp"

#include <ceres/ceres.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numbers>

namespace anvil::saxs {

namespace {

constexpr double kLn2 = std::numbers::ln2;

template <typename T>
T pseudo_voigt_t(const T& dq, const T& fwhm, const T& eta) {
  using std::exp;
  const T hw = fwhm / 2.0;
  const T lorentz = hw / (std::numbers::pi * (dq * dq + hw * hw));
  const T gauss =
      (2.0 * std::sqrt(kLn2 / std::numbers::pi)) / fwhm * exp(-4.0 * kLn2 * dq * dq / (fwhm * fwhm));
  return eta * lorentz + (1.0 - eta) * gauss;
}

// Ricker ("Mexican hat") wavelet of width s, L2-normalised as in SciPy's `ricker`.
std::vector<double> ricker(double s, int half) {
  std::vector<double> w(2 * half + 1);
  const double amp = 2.0 / (std::sqrt(3.0 * s) * std::pow(std::numbers::pi, 0.25));
  for (int t = -half; t <= half; ++t) {
    const double u = t / s;
    w[t + half] = amp * (1 - u * u) * std::exp(-0.5 * u * u);
  }
  return w;
}

int reflect(int j, int n) {
  if (n == 1) return 0;
  while (j < 0 || j >= n) {
    if (j < 0) j = -j;
    if (j >= n) j = 2 * (n - 1) - j;
  }
  return j;
}

double local_step(const std::vector<double>& q, std::size_t i) {
  const std::size_t n = q.size();
  if (n < 2) return 1.0;
  const std::size_t lo = i > 0 ? i - 1 : 0, hi = std::min(n - 1, i + 1);
  return (q[hi] - q[lo]) / static_cast<double>(hi - lo);
}

// Sum of pseudo-Voigts on a linear background over the points lo…hi, x = [b0, b1, η, (centre,
// fwhm, area) × K], with analytic derivatives (the fit runs for every peak of every frame).
class ClusterCost : public ceres::CostFunction {
 public:
  ClusterCost(const std::vector<double>& q, const std::vector<double>& y, const std::vector<double>& sigma,
              std::size_t lo, std::size_t hi, int peaks)
      : q_(q), y_(y), sigma_(sigma), lo_(lo), peaks_(peaks), q_ref_(0.5 * (q[lo] + q[hi])) {
    set_num_residuals(static_cast<int>(hi - lo + 1));
    mutable_parameter_block_sizes()->push_back(3 + 3 * peaks);
  }
  double q_ref() const { return q_ref_; }

  bool Evaluate(double const* const* parameters, double* residuals, double** jacobians) const override {
    const double* x = parameters[0];
    const int np = 3 + 3 * peaks_;
    const double eta = x[2];
    constexpr double kPi = std::numbers::pi;
    const double gauss_norm = 2.0 * std::sqrt(kLn2 / kPi);
    // Per peak, what does not depend on the point (one division per point and peak remains: 1/d).
    shapes_.resize(static_cast<std::size_t>(peaks_));
    for (int p = 0; p < peaks_; ++p) {
      const double c = x[3 + 3 * p], w = x[4 + 3 * p], area = x[5 + 3 * p];
      const double inv_w = 1.0 / w;
      shapes_[p] = {
          c, w, area, 0.25 * w * w, 0.5 * w / kPi, 4.0 * kLn2 * inv_w * inv_w, gauss_norm * inv_w, inv_w};
    }
    for (int i = 0; i < num_residuals(); ++i) {
      const std::size_t k = lo_ + i;
      const double inv_s = 1.0 / sigma_[k];
      const double dq_ref = q_[k] - q_ref_;
      double model = x[0] + x[1] * dq_ref;
      double* jrow = jacobians && jacobians[0] ? jacobians[0] + static_cast<std::size_t>(i) * np : nullptr;
      if (jrow) {
        jrow[0] = inv_s;
        jrow[1] = dq_ref * inv_s;
        jrow[2] = 0;
      }
      for (int p = 0; p < peaks_; ++p) {
        const auto& sh = shapes_[p];
        const double dq = q_[k] - sh.c;
        const double inv_d = 1.0 / (dq * dq + sh.half_w2);
        const double lorentz = sh.l_num * inv_d;
        // Beyond ~6 FWHM the Gaussian is below e⁻¹⁰⁰: zero, and no exp (most points of a wide cluster).
        const double arg = sh.g_k * dq * dq;
        const double gauss = arg < 100.0 ? sh.g_norm * std::exp(-arg) : 0.0;
        const double pv = eta * lorentz + (1.0 - eta) * gauss;
        model += sh.area * pv;
        if (jrow) {
          // d lorentz/d dq = −2 dq · lorentz / d; d lorentz/dw = lorentz (1/w − w/(2d));
          // d gauss/d dq = −2 g_k dq · gauss; d gauss/dw = gauss (2 arg − 1)/w.
          const double dl_ddq = -2.0 * dq * lorentz * inv_d;
          const double dg_ddq = -2.0 * sh.g_k * dq * gauss;
          const double dl_dw = lorentz * (sh.inv_w - 0.5 * sh.w * inv_d);
          const double dg_dw = gauss * (2.0 * arg - 1.0) * sh.inv_w;
          const double a_s = sh.area * inv_s;
          jrow[2] += a_s * (lorentz - gauss);
          jrow[3 + 3 * p] = -a_s * (eta * dl_ddq + (1.0 - eta) * dg_ddq);
          jrow[4 + 3 * p] = a_s * (eta * dl_dw + (1.0 - eta) * dg_dw);
          jrow[5 + 3 * p] = pv * inv_s;
        }
      }
      residuals[i] = (model - y_[k]) * inv_s;
    }
    return true;
  }

 private:
  const std::vector<double>& q_;
  const std::vector<double>& y_;
  const std::vector<double>& sigma_;
  std::size_t lo_;
  int peaks_;
  double q_ref_;
  struct Shape {
    double c, w, area, half_w2, l_num, g_k, g_norm, inv_w;
  };
  mutable std::vector<Shape> shapes_;  // scratch of one Evaluate (a cost function is used by one solve)
};

struct ClusterFit {
  std::vector<double> x;
  std::vector<double> esd;
  std::vector<double> detect_esd;  // per peak: σ(area) with the widths and η held
  double reduced_chi2 = 1;
  bool ok = false;
};

ClusterFit fit_cluster(const std::vector<double>& q, const std::vector<double>& y,
                       const std::vector<double>& sigma, std::size_t lo, std::size_t hi,
                       const std::vector<PeakCandidate>& peaks, const PeakSearchSettings& settings) {
  ClusterFit out;
  const int k_peaks = static_cast<int>(peaks.size());
  const int np = 3 + 3 * k_peaks;
  const double q_ref = 0.5 * (q[lo] + q[hi]);
  // Background from the window edges.
  const std::size_t e = std::max<std::size_t>(1, (hi - lo + 1) / 10);
  double y_lo = 0, y_hi = 0;
  for (std::size_t i = 0; i < e; ++i) y_lo += y[lo + i], y_hi += y[hi - i];
  y_lo /= e, y_hi /= e;
  const double slope = (y_hi - y_lo) / std::max(q[hi] - q[lo], 1e-12);
  out.x.assign(np, 0.0);
  out.x[0] = 0.5 * (y_lo + y_hi);
  out.x[1] = slope;
  out.x[2] = 0.3;
  for (int k = 0; k < k_peaks; ++k) {
    const auto& c = peaks[k];
    const double base = out.x[0] + slope * (c.q - q_ref);
    const double height = std::max(y[c.index] - base, 1e-6);
    out.x[3 + 3 * k] = c.q;
    out.x[4 + 3 * k] = c.fwhm;
    out.x[5 + 3 * k] = height * c.fwhm * 1.2;
  }
  ceres::Problem problem;
  double* x = out.x.data();
  auto* cost = new ClusterCost(q, y, sigma, lo, hi, k_peaks);
  problem.AddResidualBlock(cost, nullptr, x);
  problem.SetParameterLowerBound(x, 2, 0.0);
  problem.SetParameterUpperBound(x, 2, 1.0);
  for (int k = 0; k < k_peaks; ++k) {
    const auto& c = peaks[k];
    const double dq = local_step(q, c.index);
    problem.SetParameterLowerBound(x, 3 + 3 * k, c.q - 0.7 * c.fwhm);
    problem.SetParameterUpperBound(x, 3 + 3 * k, c.q + 0.7 * c.fwhm);
    problem.SetParameterLowerBound(x, 4 + 3 * k, std::max(0.8 * dq, 0.25 * c.fwhm));
    problem.SetParameterUpperBound(x, 4 + 3 * k, std::max(4.0 * c.fwhm, 2.0 * dq));
    problem.SetParameterLowerBound(x, 5 + 3 * k, 0.0);
  }
  ceres::Solver::Options opt;
  opt.max_num_iterations = 40;
  // Positions to a thousandth of a width and χ² to 1e-6 are all the indexing uses; Cholesky on the
  // small normal equations is several times cheaper than QR here.
  opt.function_tolerance = 1e-7;
  opt.parameter_tolerance = 1e-7;
  opt.linear_solver_type = ceres::DENSE_NORMAL_CHOLESKY;
  ceres::Solver::Summary summary;
  ceres::Solve(opt, &problem, &summary);
  const double dof = std::max(1.0, static_cast<double>(hi - lo + 1) - np);
  out.reduced_chi2 = 2 * summary.final_cost / dof;

  // Covariance (JᵀJ)⁻¹ at the solution, scaled by χ²_ν when the fit is worse than σ says.
  out.esd.assign(np, INFINITY);
  {
    const int m = cost->num_residuals();
    std::vector<double> res(m), jac(static_cast<std::size_t>(m) * np);
    double* jacs[1] = {jac.data()};
    const double* params[1] = {x};
    if (cost->Evaluate(params, res.data(), jacs)) {
      const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> j(
          jac.data(), m, np);
      const Eigen::MatrixXd jtj = j.transpose() * j;
      const Eigen::MatrixXd cov = jtj.completeOrthogonalDecomposition().pseudoInverse();
      const double scale = std::max(1.0, out.reduced_chi2);
      for (int k = 0; k < np; ++k)
        if (std::isfinite(cov(k, k))) out.esd[k] = std::sqrt(std::max(cov(k, k) * scale, 0.0));
      // Detection: σ(area) at the fitted widths and η (free background, centres and areas) — the
      // question "is there a peak of this shape here", which the wide-tailed shape parameters would
      // otherwise drown.
      std::vector<int> sub = {0, 1};
      for (int k = 0; k < k_peaks; ++k) sub.push_back(3 + 3 * k), sub.push_back(5 + 3 * k);
      Eigen::MatrixXd info(sub.size(), sub.size());
      for (std::size_t a = 0; a < sub.size(); ++a)
        for (std::size_t b = 0; b < sub.size(); ++b) info(a, b) = jtj(sub[a], sub[b]);
      const Eigen::MatrixXd sub_cov = info.completeOrthogonalDecomposition().pseudoInverse();
      out.detect_esd.assign(k_peaks, INFINITY);
      for (int k = 0; k < k_peaks; ++k) {
        const double v = sub_cov(3 + 2 * k, 3 + 2 * k);
        if (std::isfinite(v)) out.detect_esd[k] = std::sqrt(std::max(v * scale, 0.0));
      }
    }
  }
  out.ok = summary.IsSolutionUsable();
  (void)settings;
  return out;
}

}  // namespace

double pseudo_voigt(double dq, double fwhm, double eta) {
  // Beyond ~4.2 FWHM the Gaussian part is below e⁻⁵⁰ of its peak, 10⁻¹⁸ of the Lorentzian there:
  // the Lorentzian alone, without the exp (the whole-pattern columns reach ± 6 FWHM).
  const double arg = 4.0 * kLn2 * dq * dq / (fwhm * fwhm);
  if (arg > 50.0) {
    const double hw = 0.5 * fwhm;
    return eta * hw / (std::numbers::pi * (dq * dq + hw * hw));
  }
  return pseudo_voigt_t(dq, fwhm, eta);
}

double reference_width(const std::vector<Peak>& peaks) {
  if (peaks.empty()) return 0;
  std::vector<const Peak*> by_height;
  for (const auto& p : peaks) by_height.push_back(&p);
  std::sort(by_height.begin(), by_height.end(),
            [](const Peak* a, const Peak* b) { return a->height > b->height; });
  std::vector<double> w;
  for (std::size_t i = 0; i < by_height.size() && i < 3; ++i) w.push_back(by_height[i]->fwhm);
  std::sort(w.begin(), w.end());
  return w[w.size() / 2];
}

std::vector<PeakCandidate> find_peak_candidates(const std::vector<double>& q, const std::vector<double>& y,
                                                const std::vector<double>& sigma,
                                                const PeakSearchSettings& settings) {
  const int n = static_cast<int>(q.size());
  if (n < 8) return {};
  const double dq = (q.back() - q.front()) / (n - 1);
  const double s_min = std::max(1.0, settings.min_fwhm_points);
  const double s_max = std::clamp(settings.max_fwhm / dq, s_min * 2.0, std::max(s_min * 2.0, n / 4.0));
  const int n_scales = std::max(4, settings.scales);
  std::vector<double> scales(n_scales);
  for (int k = 0; k < n_scales; ++k) scales[k] = s_min * std::pow(s_max / s_min, k / (n_scales - 1.0));

  std::vector<double> var(n);
  for (int i = 0; i < n; ++i) var[i] = sigma[i] * sigma[i];
  std::vector<std::vector<double>> coef(n_scales, std::vector<double>(n)),
      snr(n_scales, std::vector<double>(n));
  for (int k = 0; k < n_scales; ++k) {
    const int half = static_cast<int>(std::ceil(4.0 * scales[k]));
    const auto w = ricker(scales[k], half);
    // Wide wavelets vary slowly along q: evaluate every `stride` points and interpolate.
    const int stride = std::max(1, static_cast<int>(scales[k] / 4));
    auto at = [&](int i, double& c, double& v) {
      c = 0, v = 0;
      if (i - half >= 0 && i + half < n) {
        for (int t = -half; t <= half; ++t) {
          const double wt = w[t + half];
          c += wt * y[i + t];
          v += wt * wt * var[i + t];
        }
      } else {
        for (int t = -half; t <= half; ++t) {
          const int j = reflect(i + t, n);
          const double wt = w[t + half];
          c += wt * y[j];
          v += wt * wt * var[j];
        }
      }
    };
    std::vector<double> vrow(n);
    int prev = -1;
    for (int i = 0;; i = std::min(i + stride, n - 1)) {
      at(i, coef[k][i], vrow[i]);
      if (prev >= 0)
        for (int j = prev + 1; j < i; ++j) {
          const double f = static_cast<double>(j - prev) / (i - prev);
          coef[k][j] = coef[k][prev] + f * (coef[k][i] - coef[k][prev]);
          vrow[j] = vrow[prev] + f * (vrow[i] - vrow[prev]);
        }
      prev = i;
      if (i == n - 1) break;
    }
    for (int i = 0; i < n; ++i) snr[k][i] = vrow[i] > 0 ? coef[k][i] / std::sqrt(vrow[i]) : 0;
  }

  // Ridge lines from the widest scale down: each local maximum of a row joins the nearest ridge
  // within max_distance, ridges die after more than one missed row (Du et al. 2006).
  struct Ridge {
    std::vector<std::pair<int, int>> points;  // (scale row, position)
    int gap = 0;
    bool open = true;
  };
  std::vector<Ridge> ridges;
  for (int k = n_scales - 1; k >= 0; --k) {
    std::vector<int> maxima;
    for (int i = 1; i + 1 < n; ++i)
      if (coef[k][i] > 0 && coef[k][i] > coef[k][i - 1] && coef[k][i] >= coef[k][i + 1]) maxima.push_back(i);
    const int max_distance = std::max(2, static_cast<int>(std::ceil(scales[k] / 2)));
    struct Link {
      int dist;
      std::size_t ridge;
      std::size_t maximum;
    };
    std::vector<Link> links;
    for (std::size_t r = 0; r < ridges.size(); ++r) {
      if (!ridges[r].open) continue;
      const int p = ridges[r].points.back().second;
      auto it = std::lower_bound(maxima.begin(), maxima.end(), p - max_distance);
      for (; it != maxima.end() && *it <= p + max_distance; ++it)
        links.push_back({std::abs(*it - p), r, static_cast<std::size_t>(it - maxima.begin())});
    }
    std::sort(links.begin(), links.end(), [](const Link& a, const Link& b) { return a.dist < b.dist; });
    std::vector<bool> ridge_done(ridges.size(), false), max_used(maxima.size(), false);
    for (const auto& l : links) {
      if (ridge_done[l.ridge] || max_used[l.maximum]) continue;
      ridge_done[l.ridge] = max_used[l.maximum] = true;
      ridges[l.ridge].points.push_back({k, maxima[l.maximum]});
      ridges[l.ridge].gap = 0;
    }
    for (std::size_t r = 0; r < ridge_done.size(); ++r)
      if (ridges[r].open && !ridge_done[r] && ++ridges[r].gap > 1) ridges[r].open = false;
    for (std::size_t m = 0; m < maxima.size(); ++m)
      if (!max_used[m]) ridges.push_back({{{k, maxima[m]}}, 0, true});
  }

  const int min_length = std::max(3, n_scales / 5);
  std::vector<PeakCandidate> cands;
  for (const auto& r : ridges) {
    if (static_cast<int>(r.points.size()) < min_length) continue;
    double best = -INFINITY;
    std::pair<int, int> at{0, 0};
    for (const auto& pt : r.points)
      if (snr[pt.first][pt.second] > best) best = snr[pt.first][pt.second], at = pt;
    if (best < settings.min_snr) continue;
    // Position from the narrowest scale on the ridge that still carries a significant signal:
    // wide scales blur shoulders together.
    int pos = at.second;
    for (const auto& pt : r.points)
      if (pt.first < at.first && snr[pt.first][pt.second] >= 0.5 * best) pos = pt.second;
    if (pos < 2 || pos > n - 3) continue;
    const double step = local_step(q, pos);
    // Width: the half-maximum crossings of the (lightly smoothed) curve where they exist within the
    // wavelet's width, else the wavelet width (FWHM ≈ Ricker width for a Gaussian peak); a wavelet
    // on a slightly curved residual background prefers too wide a scale.
    double fwhm = scales[at.first] * step;
    auto ys = [&](int i) { return (y[reflect(i - 1, n)] + y[i] + y[reflect(i + 1, n)]) / 3.0; };
    const double h = ys(pos);
    if (h > 0) {
      const int reach = static_cast<int>(std::ceil(2 * scales[at.first]));
      int left = pos, right = pos;
      while (left > 0 && pos - left < reach && ys(left) > h / 2) --left;
      while (right < n - 1 && right - pos < reach && ys(right) > h / 2) ++right;
      if (ys(left) <= h / 2 && ys(right) <= h / 2) {
        auto cross = [&](int a, int b) {  // interpolated q where the curve passes h/2 between a and b
          const double ya = ys(a), yb = ys(b);
          return q[a] + (q[b] - q[a]) * (h / 2 - ya) / (yb - ya);
        };
        const double hm = cross(right, right - 1) - cross(left, left + 1);
        if (hm > 0) fwhm = std::clamp(hm, s_min * step, settings.max_fwhm);
      }
    }
    cands.push_back({static_cast<std::size_t>(pos), q[pos], fwhm, best});
  }
  // One candidate per peak: the more significant of two closer than 0.4 FWHM.
  std::sort(cands.begin(), cands.end(),
            [](const PeakCandidate& a, const PeakCandidate& b) { return a.snr > b.snr; });
  std::vector<PeakCandidate> kept;
  for (const auto& c : cands) {
    bool dup = false;
    for (const auto& k : kept)
      if (std::abs(k.q - c.q) < 0.4 * std::min(k.fwhm, c.fwhm) || k.index == c.index) dup = true;
    if (!dup) kept.push_back(c);
    if (static_cast<int>(kept.size()) >= settings.max_peaks) break;
  }
  // A wide ridge sitting between narrower candidates on both sides of it within its width is the
  // wavelets' merge of those peaks, not a peak of its own.
  std::vector<PeakCandidate> out;
  for (const auto& c : kept) {
    bool left = false, right = false;
    for (const auto& o : kept) {
      if (o.fwhm >= 0.8 * c.fwhm) continue;
      if (o.q < c.q && c.q - o.q < 0.75 * c.fwhm) left = true;
      if (o.q > c.q && o.q - c.q < 0.75 * c.fwhm) right = true;
    }
    if (!(left && right)) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const PeakCandidate& a, const PeakCandidate& b) { return a.q < b.q; });
  return out;
}

std::vector<Peak> refine_peaks(const std::vector<double>& q, const std::vector<double>& y,
                               const std::vector<double>& sigma, const std::vector<PeakCandidate>& candidates,
                               const PeakSearchSettings& settings) {
  std::vector<Peak> out;
  const std::size_t n = q.size();
  if (candidates.empty() || n < 8) return out;
  auto window = [&](const PeakCandidate& c) {
    const double h = std::max(2.0 * c.fwhm, 4.0 * local_step(q, c.index));
    return std::pair<double, double>{c.q - h, c.q + h};
  };
  // Clusters of candidates whose windows overlap are fitted together.
  std::vector<std::vector<PeakCandidate>> clusters;
  double cluster_end = -INFINITY;
  for (const auto& c : candidates) {
    const auto [a, b] = window(c);
    if (clusters.empty() || a > cluster_end) {
      clusters.push_back({c});
      cluster_end = b;
    } else {
      clusters.back().push_back(c);
      cluster_end = std::max(cluster_end, b);
    }
  }

  constexpr int kClusterPasses = 6;
  for (auto cluster : clusters) {
    bool shoulder_searched = !settings.add_missed_shoulders;
    for (int pass = 0; pass < kClusterPasses && !cluster.empty(); ++pass) {
      double q_lo = INFINITY, q_hi = -INFINITY;
      for (const auto& c : cluster) {
        const auto [a, b] = window(c);
        q_lo = std::min(q_lo, a);
        q_hi = std::max(q_hi, b);
      }
      std::size_t lo = std::lower_bound(q.begin(), q.end(), q_lo) - q.begin();
      std::size_t hi = std::upper_bound(q.begin(), q.end(), q_hi) - q.begin();
      hi = hi > 0 ? hi - 1 : 0;
      const std::size_t need = 3 * cluster.size() + 6;
      while (hi - lo + 1 < need && (lo > 0 || hi + 1 < n)) {
        if (lo > 0) --lo;
        if (hi + 1 < n) ++hi;
      }
      if (hi - lo + 1 < need) break;
      const auto fit = fit_cluster(q, y, sigma, lo, hi, cluster, settings);
      if (!fit.ok) break;

      std::vector<PeakCandidate> keep;
      std::vector<Peak> accepted;
      for (std::size_t k = 0; k < cluster.size(); ++k) {
        Peak p;
        p.q = fit.x[3 + 3 * k];
        p.fwhm = fit.x[4 + 3 * k];
        p.area = fit.x[5 + 3 * k];
        p.q_esd = fit.esd[3 + 3 * k];
        p.fwhm_esd = fit.esd[4 + 3 * k];
        p.area_esd = fit.esd[5 + 3 * k];
        p.eta = fit.x[2];
        p.height = p.area * pseudo_voigt(0.0, p.fwhm, p.eta);
        const double detect = k < fit.detect_esd.size() ? fit.detect_esd[k] : p.area_esd;
        p.snr = detect > 0 ? p.area / detect : 0;
        const auto& c = cluster[k];
        const bool pinned = std::abs(p.q - c.q) > 0.69 * c.fwhm;
        const bool too_wide = p.fwhm > settings.max_relative_fwhm * p.q || p.fwhm > 1.5 * settings.max_fwhm;
        const bool too_faint = p.height < settings.min_relative_height;
        if (p.snr >= settings.min_area_snr && std::isfinite(p.q_esd) && !pinned && !too_wide && !too_faint) {
          accepted.push_back(p);
          PeakCandidate moved = c;
          moved.q = p.q;
          moved.fwhm = p.fwhm;
          moved.index = std::min<std::size_t>(std::lower_bound(q.begin(), q.end(), p.q) - q.begin(), n - 1);
          keep.push_back(moved);
        }
      }
      const bool dropped = keep.size() != cluster.size();
      if (dropped && !keep.empty()) {
        if (pass + 1 == kClusterPasses) {
          // Out of refits: what this fit accepted stands (rather than the whole cluster being lost).
          out.insert(out.end(), accepted.begin(), accepted.end());
          break;
        }
        cluster = keep;
        continue;  // refit without the rejected components
      }
      if (!dropped && !shoulder_searched) {
        // A shoulder the wavelets merged: matched-filter the normalised residual with a Gaussian of
        // the cluster's median width; a significant bump becomes one more component.
        shoulder_searched = true;
        std::vector<double> widths;
        for (const auto& p : accepted) widths.push_back(p.fwhm);
        std::nth_element(widths.begin(), widths.begin() + widths.size() / 2, widths.end());
        const double w = widths[widths.size() / 2];
        std::vector<double> res(hi - lo + 1);
        const double q_ref = 0.5 * (q[lo] + q[hi]);
        for (std::size_t i = lo; i <= hi; ++i) {
          double m = fit.x[0] + fit.x[1] * (q[i] - q_ref);
          for (std::size_t k = 0; k < cluster.size(); ++k)
            m += fit.x[5 + 3 * k] * pseudo_voigt(q[i] - fit.x[3 + 3 * k], fit.x[4 + 3 * k], fit.x[2]);
          res[i - lo] = (y[i] - m) / (sigma[i] * sigma[i]);
        }
        double best = 0;
        std::size_t best_i = 0;
        for (std::size_t i = lo; i <= hi; ++i) {
          double num = 0, den = 0;
          for (std::size_t j = lo; j <= hi; ++j) {
            const double t = (q[j] - q[i]) / w;
            if (std::abs(t) > 1.5) continue;
            const double g = std::exp(-4 * kLn2 * t * t);
            num += g * res[j - lo];
            den += g * g / (sigma[j] * sigma[j]);
          }
          const double s = den > 0 ? num / std::sqrt(den) : 0;
          if (s > best) best = s, best_i = i;
        }
        bool far = true;
        for (const auto& c : cluster)
          if (std::abs(c.q - q[best_i]) < 0.5 * w) far = false;
        if (best >= settings.min_snr + 1.0 && far && best_i > lo + 1 && best_i + 1 < hi &&
            static_cast<int>(cluster.size()) < 8) {
          cluster.push_back({best_i, q[best_i], w, best});
          std::sort(cluster.begin(), cluster.end(),
                    [](const PeakCandidate& a, const PeakCandidate& b) { return a.q < b.q; });
          continue;
        }
      }
      if (!keep.empty()) out.insert(out.end(), accepted.begin(), accepted.end());
      break;
    }
  }
  // A weak bump in the wing of a much stronger peak is what is left of that wing after the
  // baseline (a Lorentzian fraction ≤ 0.5 assumed), not a reflection of its own.
  std::vector<Peak> clear;
  for (const auto& p : out) {
    bool wing = false;
    for (const auto& s : out) {
      if (s.height < 5 * p.height) continue;
      const double t = 2 * (p.q - s.q) / s.fwhm;
      if (p.height < 2 * 0.5 * s.height / (1 + t * t)) wing = true;
    }
    if (!wing) clear.push_back(p);
  }
  out.swap(clear);
  // Bumps several times broader (or narrower) than the strongest peaks and faint beside them are
  // baseline ripple or noise: a superlattice's reflections share the Scherrer width of its domains.
  const double w_ref = reference_width(out);
  double h_max = 0;
  for (const auto& p : out) h_max = std::max(h_max, p.height);
  std::erase_if(out, [&](const Peak& p) {
    const bool odd_width =
        p.fwhm > settings.max_width_ratio * w_ref || p.fwhm < w_ref / settings.max_width_ratio;
    return odd_width && p.height < settings.broad_min_relative_height * h_max;
  });
  std::sort(out.begin(), out.end(), [](const Peak& a, const Peak& b) { return a.q < b.q; });
  // Two components that converged onto one peak: keep the more significant.
  std::vector<Peak> unique;
  for (const auto& p : out) {
    if (!unique.empty() && std::abs(unique.back().q - p.q) < 0.25 * std::min(unique.back().fwhm, p.fwhm)) {
      if (p.snr > unique.back().snr) unique.back() = p;
      continue;
    }
    unique.push_back(p);
  }
  return unique;
}

}  // namespace anvil::saxs
