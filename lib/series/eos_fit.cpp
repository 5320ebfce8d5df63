#include "series/eos_fit.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "series/eos_form.hpp"

namespace anvil::series {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// r = (P_obs − P(V_obs)) / σ_eff with σ_eff held fixed during one solve.
struct PressureResidual {
  pressure::EosForm form;
  double p_obs, v_obs, inv_sigma;
  template <class T>
  bool operator()(const T* v0, const T* k0, const T* k0p, T* r) const {
    r[0] = (T(p_obs) - eos_pressure(form, T(v_obs), v0[0], k0[0], k0p[0])) * inv_sigma;
    return true;
  }
};

double dp_dv(pressure::EosForm form, double v, double v0, double k0, double k0p) {
  using J = ceres::Jet<double, 1>;
  const J p = eos_pressure(form, J(v, 0), J(v0), J(k0), J(k0p));
  return p.v[0];
}

}  // namespace

EosFit fit_eos(std::span<const PvPoint> points, pressure::EosForm form, const EosFitOptions& options) {
  const std::size_t n = points.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto& q = points[i];
    if (!std::isfinite(q.pressure_gpa) || !(q.volume > 0.0) || !std::isfinite(q.volume) ||
        !(q.pressure_esd_gpa >= 0.0) || !(q.volume_esd >= 0.0))
      throw InputError("EOS fit", fmt::format("point {}: P = {} ± {} GPa, V = {} ± {} is not usable", i,
                                              q.pressure_gpa, q.pressure_esd_gpa, q.volume, q.volume_esd));
  }
  const bool fix_kp = options.fix_k0_prime || form == pressure::EosForm::BM2;
  const int free = 1 + (options.fix_v0 ? 0 : 1) + (fix_kp ? 0 : 1);
  if (static_cast<int>(n) < free)
    throw InputError("EOS fit", fmt::format("{} points for {} free parameters of {}", n, free,
                                            pressure::eos_form_name(form)));

  // Start values.
  std::size_t lowest = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (points[i].pressure_gpa < points[lowest].pressure_gpa) lowest = i;
  double k0 = options.k0_gpa.value_or(0.0);
  if (!options.k0_gpa) {
    // K ≈ −1 / (d ln V / dP) from a straight line through (P, ln V).
    double sp = 0, sv = 0, spp = 0, spv = 0;
    for (const auto& q : points) {
      sp += q.pressure_gpa;
      sv += std::log(q.volume);
      spp += q.pressure_gpa * q.pressure_gpa;
      spv += q.pressure_gpa * std::log(q.volume);
    }
    const double dn = static_cast<double>(n);
    const double den = dn * spp - sp * sp;
    const double slope = den > 0 ? (dn * spv - sp * sv) / den : 0.0;
    k0 = slope < 0 ? std::clamp(-1.0 / slope, 5.0, 1000.0) : 100.0;
    // The secant modulus over a range is above K0: take it down a little.
    k0 *= 0.85;
  }
  double kp = form == pressure::EosForm::BM2 ? 4.0 : options.k0_prime.value_or(4.0);
  double v0 = options.v0.value_or(points[lowest].volume * (1.0 + points[lowest].pressure_gpa / k0));

  // Fallback σ for points without one.
  double min_p = 0, min_v = 0;
  for (const auto& q : points) {
    if (q.pressure_esd_gpa > 0) min_p = min_p > 0 ? std::min(min_p, q.pressure_esd_gpa) : q.pressure_esd_gpa;
    if (q.volume_esd > 0) min_v = min_v > 0 ? std::min(min_v, q.volume_esd) : q.volume_esd;
  }
  const bool weighted = min_p > 0 || min_v > 0;

  EosFit out;
  out.num_points = static_cast<int>(n);
  out.num_free = free;
  std::vector<double> inv_sigma(n, 1.0);
  ceres::Solver::Summary summary;
  std::array<double, 3> prev{v0, k0, kp};
  std::unique_ptr<ceres::Problem> problem;
  for (int cycle = 0; cycle < std::max(1, options.max_cycles); ++cycle) {
    if (weighted) {
      for (std::size_t i = 0; i < n; ++i) {
        const auto& q = points[i];
        const double sp = q.pressure_esd_gpa > 0 || min_p == 0 ? q.pressure_esd_gpa : min_p;
        const double sv = q.volume_esd > 0 || min_v == 0 ? q.volume_esd : min_v;
        double d = 0.0;
        if (sv > 0) d = dp_dv(form, q.volume, v0, k0, kp);
        const double s2 = sp * sp + d * d * sv * sv;
        inv_sigma[i] = s2 > 0 && std::isfinite(s2) ? 1.0 / std::sqrt(s2) : 1.0;
      }
    }
    problem = std::make_unique<ceres::Problem>();
    for (std::size_t i = 0; i < n; ++i)
      problem->AddResidualBlock(
          new ceres::AutoDiffCostFunction<PressureResidual, 1, 1, 1, 1>(
              new PressureResidual{form, points[i].pressure_gpa, points[i].volume, inv_sigma[i]}),
          nullptr, &v0, &k0, &kp);
    double vmax = 0;
    for (const auto& q : points) vmax = std::max(vmax, q.volume);
    problem->SetParameterLowerBound(&v0, 0, 0.5 * vmax);
    problem->SetParameterUpperBound(&v0, 0, 2.0 * vmax);
    problem->SetParameterLowerBound(&k0, 0, 0.1);
    problem->SetParameterUpperBound(&k0, 0, 1e4);
    problem->SetParameterLowerBound(&kp, 0, -5.0);
    problem->SetParameterUpperBound(&kp, 0, 30.0);
    if (options.fix_v0) problem->SetParameterBlockConstant(&v0);
    if (fix_kp) problem->SetParameterBlockConstant(&kp);
    ceres::Solver::Options so;
    so.linear_solver_type = ceres::DENSE_QR;
    so.max_num_iterations = 200;
    so.function_tolerance = 1e-14;
    so.parameter_tolerance = 1e-12;
    so.gradient_tolerance = 1e-16;
    so.logging_type = ceres::SILENT;
    ceres::Solve(so, problem.get(), &summary);
    if (!weighted || min_v == 0) break;  // weights do not depend on the parameters
    const std::array<double, 3> now{v0, k0, kp};
    bool settled = true;
    for (int k = 0; k < 3; ++k)
      settled &= std::fabs(now[k] - prev[k]) <= 1e-9 * std::max(std::fabs(now[k]), 1.0);
    prev = now;
    if (settled) break;
  }
  out.eos = pressure::Eos{form, v0, k0, form == pressure::EosForm::BM2 ? 4.0 : kp};
  out.converged = summary.IsSolutionUsable() && summary.termination_type == ceres::CONVERGENCE;
  if (!out.converged) out.message = summary.message;
  double chi2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r =
        (points[i].pressure_gpa - eos_pressure(form, points[i].volume, v0, k0, kp)) * inv_sigma[i];
    chi2 += r * r;
  }
  out.chi2 = chi2;
  const int dof = static_cast<int>(n) - free;
  out.chi2_reduced = dof > 0 ? chi2 / dof : kNaN;
  const double scale = dof > 0 ? out.chi2_reduced : 1.0;

  std::vector<const double*> blocks;
  std::vector<int> which;
  if (!options.fix_v0) blocks.push_back(&v0), which.push_back(0);
  blocks.push_back(&k0), which.push_back(1);
  if (!fix_kp) blocks.push_back(&kp), which.push_back(2);
  ceres::Covariance::Options co;
  co.algorithm_type = ceres::DENSE_SVD;
  co.null_space_rank = -1;
  ceres::Covariance cov(co);
  std::vector<double> c(blocks.size() * blocks.size(), kNaN);
  if (cov.Compute(blocks, problem.get())) cov.GetCovarianceMatrix(blocks, c.data());
  for (std::size_t i = 0; i < blocks.size(); ++i)
    for (std::size_t j = 0; j < blocks.size(); ++j)
      out.covariance[which[i]][which[j]] = c[i * blocks.size() + j] * scale;
  out.v0_esd = std::sqrt(out.covariance[0][0]);
  out.k0_esd = std::sqrt(out.covariance[1][1]);
  out.k0_prime_esd = std::sqrt(out.covariance[2][2]);
  return out;
}

std::vector<FfPoint> normalised_pressure(std::span<const PvPoint> points, double v0, double v0_esd) {
  std::vector<FfPoint> out;
  for (const auto& q : points) {
    if (!(q.volume > 0) || !(v0 > 0)) continue;
    const double eta = q.volume / v0;
    const double f = 0.5 * (std::pow(eta, -2.0 / 3.0) - 1.0);
    if (std::fabs(f) < 1e-4) continue;
    FfPoint p;
    p.f = f;
    p.normalised_pressure_gpa = q.pressure_gpa / (3.0 * f * std::pow(1.0 + 2.0 * f, 2.5));
    const double rel_eta = std::hypot(q.volume_esd / q.volume, v0_esd / v0);
    p.f_esd = std::pow(eta, -5.0 / 3.0) * eta * rel_eta / 3.0;
    const double dlnf = -(1.0 / f + 5.0 / (1.0 + 2.0 * f));
    const double rel_p = q.pressure_gpa != 0.0 ? q.pressure_esd_gpa / q.pressure_gpa : 0.0;
    p.normalised_pressure_esd = std::fabs(p.normalised_pressure_gpa) * std::hypot(rel_p, dlnf * p.f_esd);
    out.push_back(p);
  }
  return out;
}

FfLine fit_ff_line(std::span<const FfPoint> points) {
  FfLine out;
  out.num_points = static_cast<int>(points.size());
  if (points.size() < 2) throw InputError("F–f fit", fmt::format("{} points; a line needs 2", points.size()));
  bool weighted = true;
  for (const auto& p : points) weighted &= p.normalised_pressure_esd > 0;
  Eigen::Matrix2d a = Eigen::Matrix2d::Zero();
  Eigen::Vector2d b = Eigen::Vector2d::Zero();
  for (const auto& p : points) {
    const double w = weighted ? 1.0 / (p.normalised_pressure_esd * p.normalised_pressure_esd) : 1.0;
    const Eigen::Vector2d x(1.0, p.f);
    a += w * x * x.transpose();
    b += w * x * p.normalised_pressure_gpa;
  }
  const Eigen::Matrix2d inv = a.inverse();
  const Eigen::Vector2d sol = inv * b;
  double chi2 = 0;
  for (const auto& p : points) {
    const double w = weighted ? 1.0 / (p.normalised_pressure_esd * p.normalised_pressure_esd) : 1.0;
    const double r = p.normalised_pressure_gpa - sol(0) - sol(1) * p.f;
    chi2 += w * r * r;
  }
  const int dof = static_cast<int>(points.size()) - 2;
  const Eigen::Matrix2d cov = inv * (dof > 0 ? chi2 / dof : 1.0);
  out.intercept_gpa = sol(0);
  out.slope_gpa = sol(1);
  out.intercept_esd = std::sqrt(cov(0, 0));
  out.slope_esd = std::sqrt(cov(1, 1));
  // K0′ = 4 + 2 s / (3 K0): gradient (∂/∂K0, ∂/∂s) = (−2 s / (3 K0²), 2 / (3 K0)).
  out.k0_prime = 4.0 + 2.0 * sol(1) / (3.0 * sol(0));
  const Eigen::Vector2d g(-2.0 * sol(1) / (3.0 * sol(0) * sol(0)), 2.0 / (3.0 * sol(0)));
  out.k0_prime_esd = std::sqrt(std::max(0.0, g.dot(cov * g)));
  return out;
}

std::vector<VolumeRatio> volume_ratios(std::span<const PvPoint> points, double v0, double v0_esd) {
  std::vector<VolumeRatio> out;
  for (const auto& q : points) {
    VolumeRatio r;
    r.pressure_gpa = q.pressure_gpa;
    r.pressure_esd_gpa = q.pressure_esd_gpa;
    r.ratio = q.volume / v0;
    r.ratio_esd = r.ratio * std::hypot(q.volume_esd / q.volume, v0_esd / v0);
    out.push_back(r);
  }
  return out;
}

}  // namespace anvil::series
