#include "powder/refine.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.hpp"

namespace anvil::powder {

namespace {

constexpr PhaseParam kScaleK = PhaseParam::Scale, kAK = PhaseParam::A, kCK = PhaseParam::C,
                     kSizeK = PhaseParam::Size, kStrainK = PhaseParam::Strain, kBK = PhaseParam::BIso;

// The whole pattern as one residual block: r_i = (y_i − m_i)/σ_i, one parameter block per
// refinable number (so that any of them can be held constant or bounded on its own). The
// Jacobian is the model's analytic one; the model is not thread-safe, nor is this.
class PatternCost final : public ceres::CostFunction {
 public:
  // The solver's unknowns are u_i = p_i / unit_i (unit_i from the starting Jacobian's column
  // norms), so that all columns are of order one: better conditioned steps and covariance.
  PatternCost(const PatternModel& model, const std::vector<double>& y, const std::vector<double>& inv_sigma,
              const std::vector<double>& unit)
      : model_(model), y_(y), w_(inv_sigma), unit_(unit), values_(model.num_parameters()), m_(y.size()) {
    set_num_residuals(static_cast<int>(y.size()));
    for (std::size_t i = 0; i < model.num_parameters(); ++i) mutable_parameter_block_sizes()->push_back(1);
  }

  bool Evaluate(double const* const* parameters, double* residuals, double** jacobians) const override {
    const std::size_t P = values_.size(), N = y_.size();
    for (std::size_t i = 0; i < P; ++i) values_[i] = parameters[i][0] * unit_[i];
    std::vector<char> need(P, 0);
    bool any = false;
    if (jacobians)
      for (std::size_t i = 0; i < P; ++i) any |= (need[i] = jacobians[i] != nullptr) != 0;
    if (any) jac_.resize(N * P);
    model_.evaluate(values_, m_.data(), any ? jac_.data() : nullptr, need);
    for (std::size_t i = 0; i < N; ++i) {
      residuals[i] = (y_[i] - m_[i]) * w_[i];
      if (!std::isfinite(residuals[i])) return false;
    }
    if (any)
      for (std::size_t p = 0; p < P; ++p)
        if (need[p]) {
          const double* col = jac_.data() + p * N;
          const double u = unit_[p];
          for (std::size_t i = 0; i < N; ++i) jacobians[p][i] = -col[i] * w_[i] * u;
        }
    return true;
  }

 private:
  const PatternModel& model_;
  const std::vector<double>& y_;
  const std::vector<double>& w_;
  const std::vector<double>& unit_;
  mutable std::vector<double> values_, m_, jac_;
};

bool is_scale(const PatternParameters& P, std::size_t i) {
  return P.layout().locate(i).is(PhaseParam::Scale);
}

// Parameters that enter the model linearly: scales, background, hump amplitude, empty cell.
bool is_linear(const PatternParameters& P, std::size_t i) {
  const ParameterSlot slot = P.layout().locate(i);
  return slot.is(PhaseParam::Scale) || slot.kind == ParameterSlot::Kind::Background ||
         slot.is(GlobalParam::HumpAmplitude) || slot.is(GlobalParam::EmptyScale);
}

// Stage 1, the linear start: the refined scales and background terms by weighted least squares at
// the starting cells and profile (scales ≥ a thousandth of the largest, so no phase starts absent).
void linear_start(const PatternModel& model, const PatternParameters& start, const std::vector<Param*>& flat,
                  const std::vector<double>& y, const std::vector<double>& w, std::vector<double>& values) {
  const std::size_t N = y.size(), P = values.size();
  const ParameterLayout layout = start.layout();
  std::vector<std::size_t> cols;
  for (std::size_t p = 0; p < layout.phases(); ++p)
    if (flat[layout.phase(p, kScaleK)]->refine) cols.push_back(layout.phase(p, kScaleK));
  for (std::size_t k = 0; k < layout.background_terms(); ++k)
    if (flat[layout.background(k)]->refine) cols.push_back(layout.background(k));
  if (cols.empty()) return;
  std::vector<double> jac(N * P), m(N);
  std::vector<char> need(P, 0);
  for (auto c : cols) need[c] = 1;
  model.evaluate(values, m.data(), jac.data(), need);
  Eigen::MatrixXd A(N, cols.size());
  Eigen::VectorXd b(N);
  for (std::size_t i = 0; i < N; ++i) {
    // Target: y minus the part of the model not in the linear columns.
    double fixed = m[i];
    for (std::size_t k = 0; k < cols.size(); ++k) fixed -= jac[cols[k] * N + i] * values[cols[k]];
    b(static_cast<Eigen::Index>(i)) = (y[i] - fixed) * w[i];
    for (std::size_t k = 0; k < cols.size(); ++k)
      A(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = jac[cols[k] * N + i] * w[i];
  }
  const Eigen::VectorXd x = A.colPivHouseholderQr().solve(b);
  if (!x.allFinite()) return;
  double smax = 0;
  for (std::size_t k = 0; k < cols.size(); ++k)
    if (is_scale(start, cols[k])) smax = std::max(smax, x(static_cast<Eigen::Index>(k)));
  for (std::size_t k = 0; k < cols.size(); ++k) {
    double v = x(static_cast<Eigen::Index>(k));
    // A phase the linear fit rejects starts small but positive.
    if (is_scale(start, cols[k])) v = std::max(v, 1e-3 * smax);
    const Param& q = *flat[cols[k]];
    values[cols[k]] = std::clamp(v, q.lower, q.upper);
  }
}

// Stage 2, scaling: each refined parameter's unit from its column norm in the weighted Jacobian at
// the start, so that the solver's unknowns are all of order one.
std::vector<double> parameter_units(const PatternModel& model, const std::vector<Param*>& flat,
                                    const std::vector<double>& w, const std::vector<double>& values) {
  const std::size_t N = w.size(), P = values.size();
  std::vector<double> unit(P, 1.0), jac(N * P), m(N);
  std::vector<char> need(P, 0);
  for (std::size_t i = 0; i < P; ++i) need[i] = flat[i]->refine;
  model.evaluate(values, m.data(), jac.data(), need);
  for (std::size_t i = 0; i < P; ++i) {
    if (!need[i]) continue;
    double ss = 0;
    for (std::size_t k = 0; k < N; ++k) ss += jac[i * N + k] * jac[i * N + k] * w[k] * w[k];
    unit[i] = ss > 0 && std::isfinite(ss) ? 1.0 / std::sqrt(ss) : std::max(std::fabs(values[i]), 1.0);
  }
  return unit;
}

// Weight fractions (Hill & Howard 1987: W_p = S_p Z_p M_p V_p / Σ_i S_i Z_i M_i V_i) at physical values.
std::vector<double> weight_fractions_at(const std::vector<PowderPhase>& phases, const ParameterLayout& layout,
                                        const std::vector<double>& phys) {
  std::vector<double> f(phases.size());
  double tot = 0;
  for (std::size_t p = 0; p < phases.size(); ++p) {
    f[p] = phys[layout.phase(p, kScaleK)] *
           hill_howard_zmv(phases[p], phys[layout.phase(p, kAK)], phys[layout.phase(p, kCK)]);
    tot += f[p];
  }
  for (double& x : f) x = tot > 0 ? x / tot : 0.0;
  return f;
}

// Stage 3b, after a solve with phases held at scale 0: the scale that would best fit the residual,
// per held phase; a phase it gives more than `absent_fraction` is released (its scale set there).
// Returns whether any was.
bool release_supported_phases(const PatternModel& model, const ParameterLayout& layout,
                              const std::vector<double>& y, const std::vector<double>& w,
                              const std::vector<double>& unit, double absent_fraction,
                              std::vector<double>& values, std::vector<bool>& held) {
  const auto& phases = model.phases();
  const std::size_t N = y.size(), P = values.size();
  std::vector<double> phys(P), m(N), jac(N * P);
  std::vector<char> need(P, 0);
  for (std::size_t i = 0; i < P; ++i) phys[i] = values[i] * unit[i];
  for (std::size_t p = 0; p < phases.size(); ++p) need[layout.phase(p, kScaleK)] = held[p];
  model.evaluate(phys, m.data(), jac.data(), need);
  bool back = false;
  double total = 0;
  for (std::size_t p = 0; p < phases.size(); ++p)
    total += phys[layout.phase(p, kScaleK)] *
             hill_howard_zmv(phases[p], phys[layout.phase(p, kAK)], phys[layout.phase(p, kCK)]);
  for (std::size_t p = 0; p < phases.size(); ++p) {
    if (!held[p]) continue;
    const std::size_t is = layout.phase(p, kScaleK);
    double g = 0, hh = 0;
    for (std::size_t i = 0; i < N; ++i) {
      const double d = jac[is * N + i] * w[i];
      g += d * (y[i] - m[i]) * w[i];
      hh += d * d;
    }
    const double best = hh > 0 ? std::max(g / hh, 0.0) : 0.0;
    const double k = hill_howard_zmv(phases[p], phys[layout.phase(p, kAK)], phys[layout.phase(p, kCK)]);
    if (best * k / (total + best * k) >= absent_fraction) {
      held[p] = false;
      back = true;
      values[is] = best / unit[is];
    }
  }
  return back;
}

// The fit's status from the solver's summary: never "converged" on a non-finite result.
void set_status(FitResult& res, const ceres::Solver::Summary& summary, int iterations, bool finite) {
  if (!finite || !summary.IsSolutionUsable()) {
    res.status = FitStatus::Failed;
    res.reason = fmt::format("the solver failed: {}", summary.message);
  } else if (summary.termination_type == ceres::CONVERGENCE) {
    res.status = FitStatus::Converged;
  } else if (summary.termination_type == ceres::NO_CONVERGENCE) {
    res.status = FitStatus::NotConverged;
    res.reason = fmt::format("no convergence after {} iterations ({})", iterations, summary.message);
  } else {
    res.status = FitStatus::Failed;
    res.reason = fmt::format("the solver stopped: {}", summary.message);
  }
}

// Rwp, Rp, Rexp, χ²_ν over the model curve already in `res`.
void agreement_indices(FitResult& res, const std::vector<double>& y, const std::vector<double>& w) {
  const std::size_t N = y.size();
  double swr2 = 0, swy2 = 0, sad = 0, say = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const double r = y[i] - res.model[i];
    swr2 += w[i] * w[i] * r * r;
    swy2 += w[i] * w[i] * y[i] * y[i];
    sad += std::fabs(r);
    say += std::fabs(y[i]);
  }
  res.num_points = static_cast<int>(N);
  const double dof = std::max<double>(1.0, static_cast<double>(N) - res.num_free);
  res.rwp = std::sqrt(swr2 / swy2);
  res.rp = sad / say;
  res.rexp = std::sqrt(dof / swy2);
  res.chi2_reduced = swr2 / dof;
  res.gof = res.chi2_reduced;
}

// Stage 4, the covariance of the free parameters in physical units, scaled by GoF = χ²_ν; cv(i, j) is
// 0 for a parameter not free. Absent phases have their non-scale parameters held constant
// (undetermined), their scale freed (its σ at the fitted point, bounds ignored).
struct ParameterCovariance {
  Eigen::MatrixXd cov;
  std::vector<std::size_t> free_index;
  bool ok = false;
  double operator()(std::size_t i, std::size_t j) const {
    if (free_index[i] == SIZE_MAX || free_index[j] == SIZE_MAX) return 0.0;
    return cov(static_cast<Eigen::Index>(free_index[i]), static_cast<Eigen::Index>(free_index[j]));
  }
};
ParameterCovariance covariance(ceres::Problem& problem, const std::vector<double*>& blocks,
                               const std::vector<Param*>& flat, const ParameterLayout& layout,
                               const std::vector<bool>& absent, const std::vector<double>& unit,
                               double chi2_reduced, bool usable, int num_threads) {
  const std::size_t P = blocks.size();
  for (std::size_t p = 0; p < absent.size(); ++p) {
    if (absent[p]) {
      for (PhaseParam kk : {kAK, kCK, kSizeK, kStrainK, kBK})
        problem.SetParameterBlockConstant(blocks[layout.phase(p, kk)]);
      if (flat[layout.phase(p, kScaleK)]->refine)
        problem.SetParameterBlockVariable(blocks[layout.phase(p, kScaleK)]);
    } else {
      for (PhaseParam kk : {kScaleK, kAK, kCK, kSizeK, kStrainK, kBK})
        if (flat[layout.phase(p, kk)]->refine) problem.SetParameterBlockVariable(blocks[layout.phase(p, kk)]);
    }
  }
  ParameterCovariance out;
  std::vector<const double*> free_blocks;
  out.free_index.assign(P, SIZE_MAX);
  for (std::size_t i = 0; i < P; ++i)
    if (flat[i]->refine && !problem.IsParameterBlockConstant(blocks[i])) {
      out.free_index[i] = free_blocks.size();
      free_blocks.push_back(blocks[i]);
    }
  const std::size_t F = free_blocks.size();
  out.cov = Eigen::MatrixXd::Constant(static_cast<Eigen::Index>(F), static_cast<Eigen::Index>(F), NAN);
  if (!usable || F == 0) return out;
  ceres::Covariance::Options copt;
  copt.algorithm_type = ceres::DENSE_SVD;
  copt.num_threads = num_threads;
  ceres::Covariance cov(copt);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c(F, F);
  if (!cov.Compute(free_blocks, &problem) || !cov.GetCovarianceMatrix(free_blocks, c.data())) return out;
  out.cov = c * chi2_reduced;
  for (std::size_t i = 0; i < P; ++i)
    for (std::size_t j = 0; j < P; ++j)
      if (out.free_index[i] != SIZE_MAX && out.free_index[j] != SIZE_MAX)
        out.cov(static_cast<Eigen::Index>(out.free_index[i]), static_cast<Eigen::Index>(out.free_index[j])) *=
            unit[i] * unit[j];
  out.ok = true;
  return out;
}

// The six strongest lines of a phase at its refined cell: 2θ, d with σ(d) from the cell's covariance,
// integrated intensity.
std::vector<LineD> main_lines(const PowderPhase& ph, const PhaseResult& r, const ParameterCovariance& cv,
                              std::size_t ia, std::size_t ic, double lambda, double zero,
                              crystal::LpModel lp_model, double tth_lo, double tth_hi) {
  const bool hex = ph.kind == CellKind::Hexagonal;
  std::vector<LineD> lines;
  for (const auto& refl : ph.reflections) {
    const double d = d_spacing(ph.kind, refl, r.a, hex ? r.c : r.a);
    const double s = lambda / (2 * d);
    if (s >= 1.0) continue;
    const double th = std::asin(s), tth = 2 * th * 180.0 / M_PI + zero;
    if (tth < tth_lo || tth > tth_hi) continue;
    const double lp = crystal::lp_factor_theta(th, lp_model);
    const double inten =
        r.scale * refl.multiplicity * refl.f2 * lp * std::exp(-2.0 * r.b_iso * s * s / (lambda * lambda));
    double dd_da, dd_dc = 0.0;
    if (hex) {
      dd_da =
          d * d * d * 4.0 / 3.0 * (refl.h * refl.h + refl.h * refl.k + refl.k * refl.k) / (r.a * r.a * r.a);
      dd_dc = d * d * d * refl.l * refl.l / (r.c * r.c * r.c);
    } else {
      dd_da = d / r.a;
    }
    const double var_d = dd_da * dd_da * cv(ia, ia) +
                         (hex ? 2 * dd_da * dd_dc * cv(ia, ic) + dd_dc * dd_dc * cv(ic, ic) : 0.0);
    lines.push_back({refl.h, refl.k, refl.l, tth, d, std::sqrt(std::max(var_d, 0.0)), inten});
  }
  std::sort(lines.begin(), lines.end(),
            [](const LineD& l1, const LineD& l2) { return l1.intensity > l2.intensity; });
  if (lines.size() > 6) lines.resize(6);
  return lines;
}

// Stage 5, one phase's results: cell, volume, size, strain, B with σ, and its weight fraction with σ
// propagated through the covariance of every scale and cell.
PhaseResult phase_result(std::size_t p, const std::vector<PowderPhase>& phases, const PatternParameters& par,
                         const ParameterLayout& layout, const std::vector<double>& esd,
                         const ParameterCovariance& cv, const std::vector<double>& k, double total,
                         double fraction, bool absent) {
  const PowderPhase& ph = phases[p];
  const auto& q = par.phases[p];
  const bool hex = ph.kind == CellKind::Hexagonal;
  const std::size_t is = layout.phase(p, kScaleK), ia = layout.phase(p, kAK), ic = layout.phase(p, kCK);
  PhaseResult r;
  r.name = ph.name;
  r.absent = absent;
  r.scale = q.scale.value;
  r.scale_esd = esd[is];
  r.a = q.a.value;
  r.a_esd = esd[ia];
  r.c = hex ? q.c.value : 0.0;
  r.c_esd = hex ? esd[ic] : 0.0;
  r.volume = cell_volume(ph.kind, r.a, hex ? r.c : r.a);
  const double dv_da = hex ? 2.0 * r.volume / r.a : 3.0 * r.volume / r.a;
  const double dv_dc = hex ? r.volume / r.c : 0.0;
  r.volume_esd = std::sqrt(dv_da * dv_da * cv(ia, ia) +
                           (hex ? 2 * dv_da * dv_dc * cv(ia, ic) + dv_dc * dv_dc * cv(ic, ic) : 0.0));
  r.size_nm = q.size_nm.value;
  r.size_esd = esd[layout.phase(p, kSizeK)];
  r.strain = q.strain.value;
  r.strain_esd = esd[layout.phase(p, kStrainK)];
  r.b_iso = q.b_iso.value;
  r.b_esd = esd[layout.phase(p, kBK)];
  r.fraction = absent ? 0.0 : fraction;
  std::vector<std::pair<std::size_t, double>> grad;
  const double sp = q.scale.value;
  for (std::size_t j = 0; j < phases.size(); ++j) {
    const double sj = par.phases[j].scale.value;
    const double dw_dk = ((p == j ? 1.0 : 0.0) * sp * total - sp * k[p] * sj) / (total * total);
    const double dw_ds = ((p == j ? 1.0 : 0.0) * k[p] * total - sp * k[p] * k[j]) / (total * total);
    grad.emplace_back(layout.phase(j, kScaleK), dw_ds);
    const double aj = par.phases[j].a.value;
    if (phases[j].kind == CellKind::Hexagonal) {
      grad.emplace_back(layout.phase(j, kAK), dw_dk * 2.0 * k[j] / aj);
      grad.emplace_back(layout.phase(j, kCK), dw_dk * k[j] / par.phases[j].c.value);
    } else {
      grad.emplace_back(layout.phase(j, kAK), dw_dk * 3.0 * k[j] / aj);
    }
  }
  double var = 0;
  for (auto& [i1, g1] : grad)
    for (auto& [i2, g2] : grad) var += g1 * g2 * cv(i1, i2);
  r.fraction_esd = std::sqrt(std::max(var, 0.0));
  return r;
}

}  // namespace

const char* status_name(FitStatus s) {
  switch (s) {
    case FitStatus::Converged:
      return "converged";
    case FitStatus::NotConverged:
      return "not_converged";
    case FitStatus::Failed:
      return "failed";
  }
  return "?";
}

void validate_pattern(const PowderPattern& pat, const std::string& source) {
  const std::size_t n = pat.two_theta_deg.size();
  if (pat.intensity.size() != n)
    throw InputError(source, fmt::format("{} 2θ values but {} intensities", n, pat.intensity.size()));
  if (!pat.sigma.empty() && pat.sigma.size() != n)
    throw InputError(source, fmt::format("{} 2θ values but {} σ values", n, pat.sigma.size()));
  if (n < 10) throw InputError(source, fmt::format("only {} points in the pattern", n));
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(pat.two_theta_deg[i]))
      throw InputError(source, fmt::format("2θ[{}] is not a finite number", i));
    if (!std::isfinite(pat.intensity[i]))
      throw InputError(source,
                       fmt::format("intensity at 2θ = {} is {}", pat.two_theta_deg[i], pat.intensity[i]));
    if (!pat.sigma.empty() && !(pat.sigma[i] > 0.0 && std::isfinite(pat.sigma[i])))
      throw InputError(source, fmt::format("σ at 2θ = {} is {} (must be positive and finite)",
                                           pat.two_theta_deg[i], pat.sigma[i]));
    if (i > 0 && !(pat.two_theta_deg[i] > pat.two_theta_deg[i - 1]))
      throw InputError(source, fmt::format("2θ does not increase at point {} ({} after {})", i,
                                           pat.two_theta_deg[i], pat.two_theta_deg[i - 1]));
  }
}

PowderPattern select_range(const PowderPattern& pat, double lo, double hi) {
  PowderPattern out;
  for (std::size_t i = 0; i < pat.two_theta_deg.size(); ++i) {
    const double x = pat.two_theta_deg[i];
    if (x < lo || x > hi) continue;
    out.two_theta_deg.push_back(x);
    out.intensity.push_back(pat.intensity[i]);
    if (!pat.sigma.empty()) out.sigma.push_back(pat.sigma[i]);
  }
  return out;
}

FitResult refine(const PowderPattern& pattern, const std::vector<PowderPhase>& phases,
                 const ModelSettings& settings, const PatternParameters& start,
                 const RefineOptions& options) {
  validate_pattern(pattern);
  const PatternModel model(settings, phases, pattern.two_theta_deg);
  return refine(model, pattern, start, options);
}

FitResult refine(const PatternModel& model, const PowderPattern& pattern, const PatternParameters& start,
                 const RefineOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  validate_pattern(pattern);
  if (pattern.two_theta_deg != model.two_theta_deg())
    throw InputError("refine", "the pattern's 2θ points are not the model's");
  const auto& phases = model.phases();
  if (start.phases.size() != phases.size())
    throw InputError(
        "refine", fmt::format("{} phase parameter sets for {} phases", start.phases.size(), phases.size()));
  if (start.background.size() != static_cast<std::size_t>(model.settings().background_terms))
    throw InputError("refine", fmt::format("{} background coefficients for background_terms = {}",
                                           start.background.size(), model.settings().background_terms));
  const std::size_t N = pattern.two_theta_deg.size(), P = model.num_parameters();
  const ParameterLayout layout = start.layout();

  FitResult res;
  res.parameters = start;
  res.parameter_names = start.names(phases);
  auto flat = res.parameters.flat();
  for (std::size_t i = 0; i < P; ++i) {
    Param& q = *flat[i];
    if (!std::isfinite(q.value) || !(q.lower <= q.upper) || std::isnan(q.lower) || std::isnan(q.upper))
      throw InputError("refine", fmt::format("{}: value {} with bounds [{}, {}]", res.parameter_names[i],
                                             q.value, q.lower, q.upper));
    if (q.refine) q.value = std::clamp(q.value, q.lower, q.upper);
  }
  const std::vector<double>& y = pattern.intensity;
  std::vector<double> w(N);
  for (std::size_t i = 0; i < N; ++i)
    w[i] = 1.0 / (pattern.sigma.empty() ? std::sqrt(std::max(y[i], 1.0)) : pattern.sigma[i]);
  std::vector<double> values(P);
  for (std::size_t i = 0; i < P; ++i) values[i] = flat[i]->value;

  if (options.estimate_scales) linear_start(model, start, flat, y, w, values);
  const std::vector<double> unit = parameter_units(model, flat, w, values);
  for (std::size_t i = 0; i < P; ++i) values[i] /= unit[i];

  // Stage 3, the staged solve. The problem: one residual block, one parameter block per number.
  ceres::Problem::Options popt;
  popt.cost_function_ownership = ceres::TAKE_OWNERSHIP;
  ceres::Problem problem(popt);
  std::vector<double*> blocks(P);
  for (std::size_t i = 0; i < P; ++i) blocks[i] = &values[i];
  problem.AddResidualBlock(new PatternCost(model, y, w, unit), nullptr, blocks);
  for (std::size_t i = 0; i < P; ++i) {
    const Param& q = *flat[i];
    if (q.lower > -1e299) problem.SetParameterLowerBound(blocks[i], 0, q.lower / unit[i]);
    if (q.upper < 1e299) problem.SetParameterUpperBound(blocks[i], 0, q.upper / unit[i]);
  }
  ceres::Solver::Options sopt;
  sopt.linear_solver_type = ceres::DENSE_QR;
  sopt.max_num_iterations = options.max_iterations;
  sopt.function_tolerance = options.function_tolerance;
  sopt.parameter_tolerance = options.parameter_tolerance;
  sopt.gradient_tolerance = options.gradient_tolerance;
  sopt.num_threads = options.num_threads;
  sopt.logging_type = ceres::SILENT;
  sopt.minimizer_progress_to_stdout = false;

  const auto set_free = [&](auto pred) {
    int n = 0;
    for (std::size_t i = 0; i < P; ++i) {
      if (flat[i]->refine && pred(i)) {
        problem.SetParameterBlockVariable(blocks[i]);
        ++n;
      } else {
        problem.SetParameterBlockConstant(blocks[i]);
      }
    }
    return n;
  };
  const auto physical = [&]() {
    std::vector<double> phys(P);
    for (std::size_t i = 0; i < P; ++i) phys[i] = values[i] * unit[i];
    return phys;
  };

  ceres::Solver::Summary summary;
  int iterations = 0;
  // Without a linear start, first refine the linear parameters alone.
  if (options.staged && !options.estimate_scales &&
      set_free([&](std::size_t i) { return is_linear(start, i); }) > 0) {
    ceres::Solve(sopt, &problem, &summary);
    iterations += static_cast<int>(summary.iterations.size());
  }
  // Active set for the scale ≥ 0 bounds: a phase with (almost) no weight after the linear
  // start is held at scale 0 with its cell, size, strain and B fixed (undetermined, they would
  // only wander, and a scale sitting on its bound slows the trust-region steps down). After the
  // fit, a held phase the residual supports is released and the fit run again.
  std::vector<bool> held(phases.size(), false);
  if (options.staged) {
    const auto f = weight_fractions_at(phases, layout, physical());
    for (std::size_t p = 0; p < phases.size(); ++p) {
      const std::size_t is = layout.phase(p, kScaleK);
      held[p] = flat[is]->refine && f[p] < options.hold_fraction && flat[is]->lower <= 0.0;
      if (held[p]) values[is] = 0.0;
    }
  }
  const auto not_held = [&](std::size_t i) {
    const ParameterSlot slot = layout.locate(i);
    return !(slot.kind == ParameterSlot::Kind::Phase && held[slot.phase]);
  };
  res.num_free = set_free(not_held);
  if (res.num_free == 0) throw InputError("refine", "no parameter is refined");
  ceres::Solve(sopt, &problem, &summary);
  iterations += static_cast<int>(summary.iterations.size());
  if (std::find(held.begin(), held.end(), true) != held.end() &&
      release_supported_phases(model, layout, y, w, unit, options.absent_fraction, values, held)) {
    set_free(not_held);
    ceres::Solve(sopt, &problem, &summary);
    iterations += static_cast<int>(summary.iterations.size());
  }
  res.num_free = 0;
  for (std::size_t i = 0; i < P; ++i) res.num_free += flat[i]->refine && not_held(i);
  res.iterations = iterations;

  const std::vector<double> phys = physical();
  bool finite = true;
  for (double v : phys) finite &= std::isfinite(v);
  set_status(res, summary, iterations, finite);

  // Curves and agreement indices.
  for (std::size_t i = 0; i < P; ++i) flat[i]->value = phys[i];
  res.two_theta_deg = pattern.two_theta_deg;
  res.observed = y;
  res.sigma.resize(N);
  for (std::size_t i = 0; i < N; ++i) res.sigma[i] = 1.0 / w[i];
  res.model.resize(N);
  std::vector<std::vector<double>> curves;
  model.evaluate(phys, res.model.data(), nullptr, {}, &curves, &res.background);
  agreement_indices(res, y, w);

  // Phase fractions at the refined values.
  const std::size_t np = phases.size();
  std::vector<double> k(np);
  double total = 0;
  for (std::size_t p = 0; p < np; ++p) {
    const auto& q = res.parameters.phases[p];
    k[p] = hill_howard_zmv(phases[p], q.a.value, q.c.value);
    total += q.scale.value * k[p];
  }
  std::vector<double> wf(np);
  std::vector<bool> absent(np, false);
  for (std::size_t p = 0; p < np; ++p) {
    wf[p] = total > 0 ? res.parameters.phases[p].scale.value * k[p] / total : NAN;
    absent[p] = !(wf[p] >= options.absent_fraction);
  }

  const ParameterCovariance cv = covariance(problem, blocks, flat, layout, absent, unit, res.chi2_reduced,
                                            res.status != FitStatus::Failed, options.num_threads);
  if (res.status != FitStatus::Failed && !cv.ok && !cv.free_index.empty() &&
      std::any_of(cv.free_index.begin(), cv.free_index.end(), [](std::size_t f) { return f != SIZE_MAX; }))
    res.reason += std::string(res.reason.empty() ? "" : "; ") +
                  "covariance is singular (correlated or undetermined parameters): no standard uncertainties";
  res.esd.assign(P, 0.0);
  for (std::size_t i = 0; i < P; ++i) res.esd[i] = std::sqrt(cv(i, i));

  const double lambda = model.settings().instrument.wavelength_a;
  const double zero = phys[ParameterLayout::global(GlobalParam::Zero)];
  for (std::size_t p = 0; p < np; ++p) {
    PhaseResult r = phase_result(p, phases, res.parameters, layout, res.esd, cv, k, total, wf[p], absent[p]);
    r.main_lines =
        main_lines(phases[p], r, cv, layout.phase(p, kAK), layout.phase(p, kCK), lambda, zero,
                   model.settings().lp, pattern.two_theta_deg.front(), pattern.two_theta_deg.back());
    r.curve = std::move(curves[p]);
    res.phases.push_back(std::move(r));
  }
  if (res.status != FitStatus::Converged) {
    // Never numbers as if it had converged: keep the last iterate in `parameters` and the
    // curves for diagnosis, but no fractions or uncertainties.
    for (auto& r : res.phases) r.fraction = r.fraction_esd = NAN;
    std::fill(res.esd.begin(), res.esd.end(), NAN);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return res;
}

}  // namespace anvil::powder
