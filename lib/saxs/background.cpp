#include "saxs/background.hpp"

#include <ceres/ceres.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

namespace anvil::saxs {

std::vector<double> snip_baseline(const std::vector<double>& y, int half_width) {
  std::vector<double> v = y, next(y.size());
  const int n = static_cast<int>(y.size());
  // Near the ends the window shrinks to what fits on both sides, so a peak close to the beamstop
  // is still clipped by the windows up to its distance from the edge.
  for (int p = 1; p <= half_width; ++p) {
    for (int i = 0; i < n; ++i) {
      const int w = std::min({p, i, n - 1 - i});
      next[i] = w > 0 ? std::min(v[i], 0.5 * (v[i - w] + v[i + w])) : v[i];
    }
    v.swap(next);
  }
  return v;
}

std::vector<double> estimate_sigma(const std::vector<double>& intensity) {
  const std::size_t n = intensity.size();
  std::vector<double> sigma(n, 1.0);
  if (n < 5) return sigma;
  // Local mean over 7 points, floored so empty bins do not get σ = 0.
  std::vector<double> mean(n);
  double positive_median = 0;
  {
    std::vector<double> pos;
    for (double v : intensity)
      if (v > 0) pos.push_back(v);
    if (!pos.empty()) {
      std::nth_element(pos.begin(), pos.begin() + pos.size() / 2, pos.end());
      positive_median = pos[pos.size() / 2];
    }
  }
  const double floor = std::max(positive_median * 1e-3, 1e-12);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= 3 ? i - 3 : 0, hi = std::min(n - 1, i + 3);
    double s = 0;
    for (std::size_t j = lo; j <= hi; ++j) s += intensity[j];
    mean[i] = std::max(s / static_cast<double>(hi - lo + 1), floor);
  }
  // (I_{i−1} − 2I_i + I_{i+1})²/6 has expectation σ² where the curve is smooth; the median of
  // χ²₁ is 0.4549.
  std::vector<double> ratio;
  for (std::size_t i = 1; i + 1 < n; ++i) {
    const double d2 = intensity[i - 1] - 2 * intensity[i] + intensity[i + 1];
    ratio.push_back(d2 * d2 / 6.0 / mean[i]);
  }
  std::nth_element(ratio.begin(), ratio.begin() + ratio.size() / 2, ratio.end());
  double gain = ratio[ratio.size() / 2] / 0.4549;
  if (!(gain > 0)) gain = 1e-6 * positive_median;
  for (std::size_t i = 0; i < n; ++i) sigma[i] = std::sqrt(gain * mean[i]);
  return sigma;
}

double BackgroundFit::evaluate(double q) const {
  double v = amplitude * std::pow(q, -exponent) + constant;
  if (particle) v += particle_scale * form_factor(*particle, q);
  return v;
}

std::vector<double> BackgroundFit::evaluate(const std::vector<double>& q) const {
  std::vector<double> out(q.size());
  std::vector<double> ff;
  if (particle) ff = form_factor(*particle, q);
  for (std::size_t i = 0; i < q.size(); ++i) {
    out[i] = amplitude * std::pow(q[i], -exponent) + constant;
    if (particle) out[i] += particle_scale * ff[i];
  }
  return out;
}

namespace {

struct PowerLawResidual {
  double q, intensity, inv_sigma;
  template <typename T>
  bool operator()(const T* const b, const T* const alpha, const T* const c, T* r) const {
    r[0] = (b[0] * pow(T(q), -alpha[0]) + c[0] - T(intensity)) * T(inv_sigma);
    return true;
  }
};

// All points at once: the form factor's size-distribution quadrature is shared between points.
struct DiffuseResidual {
  const std::vector<double>* q;
  const std::vector<double>* intensity;
  const std::vector<double>* inv_sigma;
  FormFactorModel base;
  bool operator()(double const* const* p, double* r) const {
    const double* x = p[0];
    FormFactorModel m = base;
    m.radius_nm = x[1];
    m.polydispersity = x[2];
    const auto ff = form_factor(m, *q);
    for (std::size_t i = 0; i < q->size(); ++i) {
      const double qi = (*q)[i];
      r[i] = (x[0] * ff[i] + x[3] * std::pow(qi, -x[4]) + x[5] - (*intensity)[i]) * (*inv_sigma)[i];
    }
    return true;
  }
};

// Standard deviations from (JᵀJ)⁻¹ of the whole problem (parameters in the order given), scaled by
// max(1, χ²_ν).
std::vector<double> parameter_esd(ceres::Problem& problem, const std::vector<double*>& blocks, int n_params,
                                  double reduced_chi2) {
  std::vector<double> esd(n_params, 0.0);
  ceres::Problem::EvaluateOptions eo;
  eo.parameter_blocks = blocks;
  ceres::CRSMatrix crs;
  if (!problem.Evaluate(eo, nullptr, nullptr, nullptr, &crs)) return esd;
  Eigen::MatrixXd j = Eigen::MatrixXd::Zero(crs.num_rows, crs.num_cols);
  for (int r = 0; r < crs.num_rows; ++r)
    for (int k = crs.rows[r]; k < crs.rows[r + 1]; ++k) j(r, crs.cols[k]) = crs.values[k];
  const Eigen::MatrixXd cov = (j.transpose() * j).completeOrthogonalDecomposition().pseudoInverse();
  const double scale = std::max(1.0, reduced_chi2);
  for (int k = 0; k < n_params && k < cov.rows(); ++k)
    esd[k] = std::isfinite(cov(k, k)) ? std::sqrt(std::max(cov(k, k) * scale, 0.0)) : INFINITY;
  return esd;
}

double percentile(std::vector<double> v, double f) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(f * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// Weighted linear least squares for y ≈ Σ_k c_k·f_k (3 functions), normal equations.
bool linear_fit3(const std::vector<std::array<double, 3>>& f, const std::vector<double>& y,
                 const std::vector<double>& w, std::array<double, 3>& coef, double& chi2) {
  Eigen::Matrix3d m = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero();
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (int a = 0; a < 3; ++a) {
      b(a) += w[i] * f[i][a] * y[i];
      for (int c = 0; c < 3; ++c) m(a, c) += w[i] * f[i][a] * f[i][c];
    }
  }
  const Eigen::Vector3d x = m.ldlt().solve(b);
  if (!x.allFinite()) return false;
  chi2 = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double r = x(0) * f[i][0] + x(1) * f[i][1] + x(2) * f[i][2] - y[i];
    chi2 += w[i] * r * r;
  }
  coef = {x(0), x(1), x(2)};
  return true;
}

}  // namespace

BackgroundFit fit_background(const std::vector<double>& q_all, const std::vector<double>& i_all,
                             const std::vector<double>& s_all, const std::vector<bool>& include,
                             const BackgroundSettings& settings) {
  // The diffuse curve is smooth: every k-th point, ≤ 200 or so in all, determines it as well as thousands
  // (the σ of its parameters is then conservative by up to √k).
  std::size_t usable = 0;
  for (std::size_t i = 0; i < q_all.size(); ++i)
    usable += include[i] && q_all[i] > 0 && s_all[i] > 0 && std::isfinite(i_all[i]);
  const std::size_t every = std::max<std::size_t>(1, usable / 200);
  std::vector<double> q, y, inv_s;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < q_all.size(); ++i)
    if (include[i] && q_all[i] > 0 && s_all[i] > 0 && std::isfinite(i_all[i]) && seen++ % every == 0) {
      q.push_back(q_all[i]);
      y.push_back(i_all[i]);
      inv_s.push_back(1.0 / s_all[i]);
    }
  BackgroundFit fit;
  fit.points_used = usable;
  if (q.size() < 5) return fit;

  // Starting values: C from the high-q floor, α and B from a log-log line through the low-q half.
  std::vector<double> tail(y.end() - static_cast<long>(y.size() / 5 + 1), y.end());
  double c0 = 0.5 * percentile(tail, 0.2);
  {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (std::size_t i = 0; i < q.size() / 2 + 1; ++i) {
      const double v = y[i] - c0;
      if (v <= 0) continue;
      const double lx = std::log(q[i]), ly = std::log(v);
      sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly, ++n;
    }
    double alpha = 3.0, lb = std::log(std::max(y.front() - c0, 1e-12)) + alpha * std::log(q.front());
    if (n >= 3 && sxx * n - sx * sx > 0) {
      const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
      alpha = std::clamp(-slope, 0.0, 6.0);
      lb = (sy + alpha * sx) / n;
    }
    fit.exponent = alpha;
    fit.amplitude = std::exp(lb);
    fit.constant = c0;
  }

  {
    ceres::Problem problem;
    for (std::size_t i = 0; i < q.size(); ++i)
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<PowerLawResidual, 1, 1, 1, 1>(
                                   new PowerLawResidual{q[i], y[i], inv_s[i]}),
                               new ceres::SoftLOneLoss(3.0), &fit.amplitude, &fit.exponent, &fit.constant);
    problem.SetParameterLowerBound(&fit.amplitude, 0, 0.0);
    problem.SetParameterLowerBound(&fit.exponent, 0, 0.0);
    problem.SetParameterUpperBound(&fit.exponent, 0, 6.0);
    ceres::Solver::Options opt;
    opt.max_num_iterations = 50;
    opt.linear_solver_type = ceres::DENSE_QR;
    ceres::Solver::Summary summary;
    ceres::Solve(opt, &problem, &summary);
    fit.reduced_chi2 = 2 * summary.final_cost / std::max<double>(1, static_cast<double>(q.size()) - 3);
    const auto esd =
        parameter_esd(problem, {&fit.amplitude, &fit.exponent, &fit.constant}, 3, fit.reduced_chi2);
    fit.amplitude_esd = esd[0];
    fit.exponent_esd = esd[1];
    fit.constant_esd = esd[2];
  }
  if (settings.model == DiffuseModel::power_law) return fit;

  // Form factor + power law + constant: subsample to ≤ 250 points (the quadrature is the cost).
  std::vector<double> qs, ys, ws;
  const std::size_t stride = std::max<std::size_t>(1, q.size() / 250);
  for (std::size_t i = 0; i < q.size(); i += stride) {
    qs.push_back(q[i]);
    ys.push_back(y[i]);
    ws.push_back(inv_s[i]);
  }
  FormFactorModel base;
  base.shape = settings.model == DiffuseModel::sphere ? ParticleShape::sphere : ParticleShape::cylinder;
  base.distribution = settings.distribution;
  base.length_nm = settings.cylinder_length_nm;
  base.polydispersity = 0.1;

  // Radius by a grid search with the linear coefficients (scale, B, C) solved at each radius.
  double best_r = settings.initial_radius_nm, best_chi2 = INFINITY;
  std::array<double, 3> best_coef{0, fit.amplitude, fit.constant};
  {
    std::vector<double> w(qs.size());
    for (std::size_t i = 0; i < qs.size(); ++i) w[i] = ws[i] * ws[i];
    std::vector<double> radii;
    if (best_r > 0) {
      radii = {best_r};
    } else {
      const double r_lo = 2.0 / qs.back(), r_hi = 8.0 / qs.front();
      for (int k = 0; k < 48; ++k) radii.push_back(r_lo * std::pow(r_hi / r_lo, k / 47.0));
    }
    for (double r : radii) {
      FormFactorModel m = base;
      m.radius_nm = r;
      const auto ff = form_factor(m, qs);
      std::vector<std::array<double, 3>> f(qs.size());
      for (std::size_t i = 0; i < qs.size(); ++i) f[i] = {ff[i], std::pow(qs[i], -fit.exponent), 1.0};
      std::array<double, 3> coef;
      double chi2;
      if (!linear_fit3(f, ys, w, coef, chi2) || coef[0] <= 0) continue;
      if (chi2 < best_chi2) best_chi2 = chi2, best_r = r, best_coef = coef;
    }
  }
  if (!(best_r > 0)) return fit;

  double x[6] = {best_coef[0], best_r, 0.1, std::max(best_coef[1], 0.0), fit.exponent, best_coef[2]};
  auto* cost =
      new ceres::DynamicNumericDiffCostFunction<DiffuseResidual>(new DiffuseResidual{&qs, &ys, &ws, base});
  cost->AddParameterBlock(6);
  cost->SetNumResiduals(static_cast<int>(qs.size()));
  ceres::Problem problem;
  problem.AddResidualBlock(cost, nullptr, x);
  problem.SetParameterLowerBound(x, 0, 0.0);
  problem.SetParameterLowerBound(x, 1, 0.1);
  problem.SetParameterUpperBound(x, 1, 500.0);
  problem.SetParameterLowerBound(x, 2, 0.01);
  problem.SetParameterUpperBound(x, 2, 0.6);
  problem.SetParameterLowerBound(x, 3, 0.0);
  problem.SetParameterLowerBound(x, 4, 0.0);
  problem.SetParameterUpperBound(x, 4, 6.0);
  ceres::Solver::Options opt;
  opt.max_num_iterations = 60;
  opt.linear_solver_type = ceres::DENSE_QR;
  ceres::Solver::Summary summary;
  ceres::Solve(opt, &problem, &summary);

  fit.amplitude = x[3];
  fit.exponent = x[4];
  fit.constant = x[5];
  fit.particle_scale = x[0];
  base.radius_nm = x[1];
  base.polydispersity = x[2];
  fit.particle = base;
  fit.reduced_chi2 = 2 * summary.final_cost / std::max<double>(1, static_cast<double>(qs.size()) - 6);

  const auto esd = parameter_esd(problem, {x}, 6, fit.reduced_chi2);
  fit.radius_esd_nm = esd[1];
  fit.polydispersity_esd = esd[2];
  fit.amplitude_esd = esd[3];
  fit.exponent_esd = esd[4];
  fit.constant_esd = esd[5];
  return fit;
}

}  // namespace anvil::saxs
