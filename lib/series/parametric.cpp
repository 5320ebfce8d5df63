#include "series/parametric.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "core/error.hpp"
#include "series/eos_form.hpp"

namespace anvil::series {

namespace {

constexpr powder::PhaseParam kAK = powder::PhaseParam::A, kCK = powder::PhaseParam::C;
constexpr std::size_t npos = static_cast<std::size_t>(-1);

struct Tied {
  std::size_t phase = 0;
  bool hexagonal = false;
  std::array<double, 3> theta{};   // V0, K0, K0′
  double r0 = 0.0, r_slope = 0.0;  // fixed c/a line (when not per frame)
  std::size_t global = 0;          // index among the tied phases
};

struct FrameSetup {
  std::size_t index = 0;  // into frames / free results
  double pressure = 0.0;
  std::vector<std::size_t> subset_of;  // phase → position in the subset model (npos: absent)
  const powder::PatternModel* model = nullptr;
  std::vector<double> base;           // flat values of the free fit (subset)
  std::vector<double> lower, upper;   // bounds of the flat values
  std::vector<std::size_t> free_idx;  // flat indices refined here
  std::vector<std::size_t> tied;      // indices into the Tied list, present here
  std::vector<int> r_slot;            // per tied entry: position of c/a in the block, or −1
  std::vector<double> block;          // frame parameters: free values, then c/a's
  std::vector<double> y, w;
};

// V(P; θ) and dV/dθ by implicit differentiation of P(V; θ) = P_i.
bool volume_and_gradient(pressure::EosForm form, const std::array<double, 3>& th, double p, double& v,
                         std::array<double, 3>& dv) {
  try {
    v = pressure::Eos{form, th[0], th[1], th[2]}.volume_at(p);
  } catch (const InputError&) {
    return false;
  }
  using J = ceres::Jet<double, 4>;
  const J pj = eos_pressure(form, J(v, 0), J(th[0], 1), J(th[1], 2), J(th[2], 3));
  if (!(std::fabs(pj.v[0]) > 0)) return false;
  for (int j = 0; j < 3; ++j) dv[j] = -pj.v[j + 1] / pj.v[0];
  return true;
}

class TiedFrameCost final : public ceres::CostFunction {
 public:
  TiedFrameCost(const FrameSetup& fs, const std::vector<Tied>& tied, pressure::EosForm form)
      : fs_(fs), tied_(tied), form_(form) {
    set_num_residuals(static_cast<int>(fs.y.size()));
    mutable_parameter_block_sizes()->push_back(static_cast<int>(fs.block.size()));
    for (std::size_t k = 0; k < fs.tied.size(); ++k) mutable_parameter_block_sizes()->push_back(3);
  }

  bool Evaluate(double const* const* params, double* residuals, double** jacobians) const override {
    const std::size_t N = fs_.y.size(), P = fs_.base.size(), m = fs_.block.size();
    std::vector<double> vals = fs_.base;
    for (std::size_t j = 0; j < fs_.free_idx.size(); ++j) vals[fs_.free_idx[j]] = params[0][j];
    struct Chain {
      std::size_t ia, ic;
      bool hex;
      double da_dv, dc_dv, da_dr, dc_dr;
      std::array<double, 3> dv;
    };
    std::vector<Chain> chain(fs_.tied.size());
    std::vector<char> need(P, 0);
    for (std::size_t j : fs_.free_idx) need[j] = 1;
    for (std::size_t k = 0; k < fs_.tied.size(); ++k) {
      const Tied& t = tied_[fs_.tied[k]];
      std::array<double, 3> th{params[1 + k][0], params[1 + k][1], params[1 + k][2]};
      double v;
      Chain& c = chain[k];
      if (!volume_and_gradient(form_, th, fs_.pressure, v, c.dv)) return false;
      const std::size_t sub = fs_.subset_of[t.phase];
      // Flat positions of a and c in the subset model.
      const std::size_t nb =
          P - powder::ParameterLayout::kGlobal - powder::ParameterLayout::kPerPhase * count_phases();
      const powder::ParameterLayout layout(nb, count_phases());
      c.ia = layout.phase(sub, kAK);
      c.ic = layout.phase(sub, kCK);
      c.hex = t.hexagonal;
      if (t.hexagonal) {
        const double r = fs_.r_slot[k] >= 0 ? params[0][fs_.r_slot[k]] : t.r0 + t.r_slope * fs_.pressure;
        const double a = std::cbrt(2.0 * v / (std::sqrt(3.0) * r));
        vals[c.ia] = a;
        vals[c.ic] = r * a;
        c.da_dv = a / (3.0 * v);
        c.dc_dv = r * c.da_dv;
        c.da_dr = -a / (3.0 * r);
        c.dc_dr = 2.0 * a / 3.0;
        need[c.ic] = 1;
      } else {
        const double a = std::cbrt(v);
        vals[c.ia] = a;
        c.da_dv = a / (3.0 * v);
        c.dc_dv = c.da_dr = c.dc_dr = 0.0;
      }
      need[c.ia] = 1;
    }
    const bool any = jacobians != nullptr;
    std::vector<double> model(N), jac(any ? N * P : 0);
    fs_.model->evaluate(vals, model.data(), any ? jac.data() : nullptr, need);
    for (std::size_t i = 0; i < N; ++i) {
      residuals[i] = (fs_.y[i] - model[i]) * fs_.w[i];
      if (!std::isfinite(residuals[i])) return false;
    }
    if (!any) return true;
    if (jacobians[0]) {
      double* J0 = jacobians[0];
      for (std::size_t i = 0; i < N; ++i)
        for (std::size_t j = 0; j < fs_.free_idx.size(); ++j)
          J0[i * m + j] = -jac[fs_.free_idx[j] * N + i] * fs_.w[i];
      for (std::size_t k = 0; k < fs_.tied.size(); ++k) {
        if (fs_.r_slot[k] < 0) continue;
        const Chain& c = chain[k];
        for (std::size_t i = 0; i < N; ++i)
          J0[i * m + fs_.r_slot[k]] = -(jac[c.ia * N + i] * c.da_dr + jac[c.ic * N + i] * c.dc_dr) * fs_.w[i];
      }
    }
    for (std::size_t k = 0; k < fs_.tied.size(); ++k) {
      if (!jacobians[1 + k]) continue;
      const Chain& c = chain[k];
      for (std::size_t i = 0; i < N; ++i) {
        const double dy_dv = jac[c.ia * N + i] * c.da_dv + (c.hex ? jac[c.ic * N + i] * c.dc_dv : 0.0);
        for (int j = 0; j < 3; ++j) jacobians[1 + k][i * 3 + j] = -dy_dv * c.dv[j] * fs_.w[i];
      }
    }
    return true;
  }

 private:
  std::size_t count_phases() const {
    std::size_t n = 0;
    for (std::size_t s : fs_.subset_of) n += s != npos;
    return n;
  }
  const FrameSetup& fs_;
  const std::vector<Tied>& tied_;
  pressure::EosForm form_;
};

}  // namespace

ParametricResult refine_parametric(const std::vector<SeriesFrame>& frames, const SeriesResult& free_result,
                                   const std::vector<powder::PowderPhase>& phases,
                                   const powder::ModelSettings& settings, const SeriesOptions& so,
                                   const ParametricOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (free_result.frames.size() != frames.size())
    throw InputError("parametric", "the free series does not match the frames");
  const std::size_t np = phases.size();
  // Which phases are tied.
  std::vector<Tied> tied;
  std::vector<std::size_t> tied_of(np, npos);
  for (std::size_t p = 0; p < np; ++p) {
    if (static_cast<int>(p) == so.standard_phase) continue;
    std::vector<CellPoint> cp;
    for (const auto& r : free_result.frames)
      if (r.ok() && r.phases[p].present && std::isfinite(r.pressure_gpa))
        cp.push_back({r.pressure_gpa, r.phases[p].a, r.phases[p].c});
    if (static_cast<int>(cp.size()) < options.min_frames) continue;
    Tied t;
    t.phase = p;
    t.hexagonal = phases[p].kind == powder::CellKind::Hexagonal;
    const PhaseSeriesEos* e = p < free_result.eos.size() ? &free_result.eos[p] : nullptr;
    const EosFit* start =
        e && e->bm3 && e->bm3->converged ? &*e->bm3 : (e && e->bm2 && e->bm2->converged ? &*e->bm2 : nullptr);
    const pressure::Eos seed = start ? start->eos : (e ? e->seed.eos : default_phase_eos(phases[p]).eos);
    t.theta = {seed.v0, seed.k0_gpa, options.form == pressure::EosForm::BM2 ? 4.0 : seed.k0_prime};
    if (t.hexagonal) std::tie(t.r0, t.r_slope) = fit_c_over_a(cp, phases[p].c / phases[p].a);
    t.global = tied.size();
    tied_of[p] = tied.size();
    tied.push_back(t);
  }
  if (tied.empty())
    throw InputError("parametric", fmt::format("no phase is present in {} or more frames with a pressure",
                                               options.min_frames));

  // Frames.
  std::map<unsigned, std::unique_ptr<powder::PatternModel>> models;
  std::vector<FrameSetup> setups;
  ParametricResult out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const FrameResult& r = free_result.frames[i];
    if (!r.ok() || !std::isfinite(r.pressure_gpa)) continue;
    unsigned mask = 0;
    for (std::size_t p = 0; p < np; ++p)
      if (r.phases[p].present || static_cast<int>(p) == so.standard_phase) mask |= 1u << p;
    bool any_tied = false;
    for (std::size_t p = 0; p < np; ++p) any_tied |= (mask & (1u << p)) && tied_of[p] != npos;
    if (!any_tied) continue;
    FrameSetup fs;
    fs.index = i;
    fs.pressure = r.pressure_gpa;
    fs.subset_of.assign(np, npos);
    std::vector<powder::PowderPhase> sub;
    powder::PatternParameters par = r.parameters;
    par.phases.clear();
    for (std::size_t p = 0; p < np; ++p)
      if (mask & (1u << p)) {
        fs.subset_of[p] = sub.size();
        sub.push_back(phases[p]);
        par.phases.push_back(r.parameters.phases[p]);
      }
    auto it = models.find(mask);
    if (it == models.end())
      it = models
               .emplace(mask, std::make_unique<powder::PatternModel>(settings, sub,
                                                                     frames[i].pattern.two_theta_deg))
               .first;
    fs.model = it->second.get();
    const auto flat = par.flat();
    std::vector<char> is_tied_cell(flat.size(), 0);
    for (std::size_t p = 0; p < np; ++p)
      if (fs.subset_of[p] != npos && tied_of[p] != npos) {
        is_tied_cell[par.phase_index(fs.subset_of[p], kAK)] = 1;
        is_tied_cell[par.phase_index(fs.subset_of[p], kCK)] = 1;
        fs.tied.push_back(tied_of[p]);
      }
    for (std::size_t k = 0; k < flat.size(); ++k) {
      fs.base.push_back(flat[k]->value);
      if (flat[k]->refine && !is_tied_cell[k]) {
        fs.free_idx.push_back(k);
        fs.block.push_back(flat[k]->value);
        fs.lower.push_back(flat[k]->lower);
        fs.upper.push_back(flat[k]->upper);
      }
    }
    for (std::size_t t : fs.tied) {
      if (tied[t].hexagonal && options.c_over_a_per_frame) {
        fs.r_slot.push_back(static_cast<int>(fs.block.size()));
        const auto& ph = r.parameters.phases[tied[t].phase];
        const double r0 = ph.c.value / ph.a.value;
        fs.block.push_back(r0);
        fs.lower.push_back(0.9 * r0);
        fs.upper.push_back(1.1 * r0);
      } else {
        fs.r_slot.push_back(-1);
      }
    }
    powder::PowderPattern pat = frames[i].pattern;
    fs.y = pat.intensity;
    fs.w.resize(fs.y.size());
    for (std::size_t k = 0; k < fs.y.size(); ++k) {
      const double s = pat.sigma.empty() ? std::sqrt(std::max(fs.y[k], 1.0)) : pat.sigma[k];
      const bool ok = std::isfinite(fs.y[k]) && s > 0 && std::isfinite(s);
      fs.w[k] = ok ? 1.0 / s : 0.0;
      if (!ok) fs.y[k] = 0.0;
    }
    out.chi2_free += r.chi2;
    out.num_free_free += r.num_free;
    out.num_points += static_cast<int>(fs.y.size());
    setups.push_back(std::move(fs));
  }
  out.num_frames = static_cast<int>(setups.size());

  // The problem.
  ceres::Problem::Options popt;
  ceres::Problem problem(popt);
  auto ordering = std::make_shared<ceres::ParameterBlockOrdering>();
  std::vector<std::vector<double*>> blocks_of(setups.size());
  for (std::size_t s = 0; s < setups.size(); ++s) {
    FrameSetup& fs = setups[s];
    std::vector<double*> blocks{fs.block.data()};
    for (std::size_t t : fs.tied) blocks.push_back(tied[t].theta.data());
    problem.AddResidualBlock(new TiedFrameCost(fs, tied, options.form), nullptr, blocks);
    for (std::size_t j = 0; j < fs.block.size(); ++j) {
      if (fs.lower[j] > -1e299)
        problem.SetParameterLowerBound(fs.block.data(), static_cast<int>(j), fs.lower[j]);
      if (fs.upper[j] < 1e299)
        problem.SetParameterUpperBound(fs.block.data(), static_cast<int>(j), fs.upper[j]);
    }
    ordering->AddElementToGroup(fs.block.data(), 0);
    blocks_of[s] = blocks;
  }
  for (auto& t : tied) {
    double* th = t.theta.data();
    problem.SetParameterLowerBound(th, 0, 0.7 * t.theta[0]);
    problem.SetParameterUpperBound(th, 0, 1.3 * t.theta[0]);
    problem.SetParameterLowerBound(th, 1, 1.0);
    problem.SetParameterUpperBound(th, 1, 2000.0);
    problem.SetParameterLowerBound(th, 2, 1.0);
    problem.SetParameterUpperBound(th, 2, 20.0);
    if (options.form == pressure::EosForm::BM2) problem.SetManifold(th, new ceres::SubsetManifold(3, {2}));
    ordering->AddElementToGroup(th, 1);
  }
  ceres::Solver::Options sopt;
  sopt.linear_solver_type = ceres::DENSE_SCHUR;
  sopt.linear_solver_ordering = ordering;
  sopt.max_num_iterations = options.max_iterations;
  sopt.function_tolerance = 1e-10;
  sopt.parameter_tolerance = 1e-9;
  sopt.gradient_tolerance = 1e-12;
  sopt.num_threads = 1;  // the models are not thread-safe
  sopt.logging_type = ceres::SILENT;
  ceres::Solver::Summary summary;
  ceres::Solve(sopt, &problem, &summary);
  out.converged = summary.IsSolutionUsable() && summary.termination_type == ceres::CONVERGENCE;
  if (!out.converged) out.message = summary.message;
  out.chi2 = 2.0 * summary.final_cost;
  const int kp_free = options.form == pressure::EosForm::BM2 ? 2 : 3;
  out.num_free = static_cast<int>(tied.size()) * kp_free;
  for (const auto& fs : setups) out.num_free += static_cast<int>(fs.block.size());
  const double s2_tied = out.chi2 / std::max(1, out.num_points - out.num_free);
  const double s2_free = out.chi2_free / std::max(1, out.num_points - out.num_free_free);
  out.delta_bic =
      (out.chi2 - out.chi2_free) / s2_free + (out.num_free - out.num_free_free) * std::log(out.num_points);

  // Covariance of the EOS parameters: Schur complement of the normal matrix.
  const std::size_t F = 3 * tied.size();
  Eigen::MatrixXd S = Eigen::MatrixXd::Zero(F, F);
  for (std::size_t s = 0; s < setups.size(); ++s) {
    const FrameSetup& fs = setups[s];
    const std::size_t N = fs.y.size(), m = fs.block.size(), nt = fs.tied.size();
    TiedFrameCost cost(fs, tied, options.form);
    std::vector<double> res(N);
    using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowMat je(N, m);
    std::vector<RowMat> jt(nt, RowMat(N, 3));
    std::vector<double*> jac{je.data()};
    for (auto& j : jt) jac.push_back(j.data());
    std::vector<const double*> par;
    for (double* b : blocks_of[s]) par.push_back(b);
    if (!cost.Evaluate(par.data(), res.data(), jac.data())) continue;
    Eigen::MatrixXd jf(N, F);
    jf.setZero();
    for (std::size_t k = 0; k < nt; ++k) jf.middleCols(3 * tied[fs.tied[k]].global, 3) = jt[k];
    const Eigen::MatrixXd a = je.transpose() * je;
    const Eigen::MatrixXd b = je.transpose() * jf;
    S += jf.transpose() * jf - b.transpose() * a.completeOrthogonalDecomposition().solve(b);
  }
  std::vector<int> keep;
  for (std::size_t t = 0; t < tied.size(); ++t)
    for (int j = 0; j < kp_free; ++j) keep.push_back(static_cast<int>(3 * t + j));
  Eigen::MatrixXd Sk(keep.size(), keep.size());
  for (std::size_t i = 0; i < keep.size(); ++i)
    for (std::size_t j = 0; j < keep.size(); ++j) Sk(i, j) = S(keep[i], keep[j]);
  const Eigen::MatrixXd cov = Sk.completeOrthogonalDecomposition().pseudoInverse() * s2_tied;

  for (const auto& t : tied) {
    ParametricPhase ph;
    ph.phase = phases[t.phase].name;
    ph.index = t.phase;
    ph.eos.eos = {options.form, t.theta[0], t.theta[1],
                  options.form == pressure::EosForm::BM2 ? 4.0 : t.theta[2]};
    ph.eos.converged = out.converged;
    ph.eos.message = out.message;
    ph.eos.chi2 = out.chi2;
    ph.eos.chi2_reduced = s2_tied;
    ph.eos.num_free = kp_free;
    for (int i = 0; i < kp_free; ++i)
      for (int j = 0; j < kp_free; ++j)
        ph.eos.covariance[i][j] = cov(t.global * kp_free + i, t.global * kp_free + j);
    ph.eos.v0_esd = std::sqrt(ph.eos.covariance[0][0]);
    ph.eos.k0_esd = std::sqrt(ph.eos.covariance[1][1]);
    ph.eos.k0_prime_esd = std::sqrt(ph.eos.covariance[2][2]);
    for (const auto& fs : setups) {
      const auto pos = std::find(fs.tied.begin(), fs.tied.end(), t.global);
      if (pos == fs.tied.end()) continue;
      const std::size_t k = static_cast<std::size_t>(pos - fs.tied.begin());
      const double v = ph.eos.eos.volume_at(fs.pressure);
      double r = 0, a = std::cbrt(v), c = 0;
      if (t.hexagonal) {
        r = fs.r_slot[k] >= 0 ? fs.block[fs.r_slot[k]] : t.r0 + t.r_slope * fs.pressure;
        a = std::cbrt(2.0 * v / (std::sqrt(3.0) * r));
        c = r * a;
      }
      ph.frames.push_back(free_result.frames[fs.index].frame);
      ph.pressure_gpa.push_back(fs.pressure);
      ph.a.push_back(a);
      ph.c.push_back(c);
      ph.volume.push_back(v);
      ph.c_over_a.push_back(r);
    }
    ph.eos.num_points = static_cast<int>(ph.frames.size());
    out.phases.push_back(std::move(ph));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace anvil::series
