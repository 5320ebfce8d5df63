#include "series/transition.hpp"

#include <ceres/ceres.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace anvil::series {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct SigmoidResidual {
  double p, f, inv_sigma;
  template <class T>
  bool operator()(const T* low, const T* high, const T* mid, const T* width, T* r) const {
    const T model = low[0] + (high[0] - low[0]) / (1.0 + exp(-(T(p) - mid[0]) / width[0]));
    r[0] = (T(f) - model) * inv_sigma;
    return true;
  }
};

}  // namespace

double SigmoidFit::at(double p) const {
  return low + (high - low) / (1.0 + std::exp(-(p - midpoint_gpa) / width_gpa));
}

SigmoidFit fit_sigmoid(std::span<const FractionPoint> points, bool rising, double onset_level, double floor) {
  // Points without a finite pressure, fraction or σ (a frame whose fit failed) carry no
  // information and would poison the solver: left out.
  std::vector<FractionPoint> pts;
  for (const auto& p : points)
    if (std::isfinite(p.pressure_gpa) && std::isfinite(p.fraction) && std::isfinite(p.fraction_esd))
      pts.push_back(p);
  const std::size_t n = pts.size();
  if (n < 4)
    throw InputError("transition",
                     fmt::format("{} points with finite values; a sigmoid needs at least 4", n));
  std::sort(pts.begin(), pts.end(),
            [](const auto& a, const auto& b) { return a.pressure_gpa < b.pressure_gpa; });
  const double pmin = pts.front().pressure_gpa, pmax = pts.back().pressure_gpa;
  double low = 0.5 * (pts[0].fraction + pts[1].fraction),
         high = 0.5 * (pts[n - 1].fraction + pts[n - 2].fraction);
  // Start P_mid where the fractions cross the half-way level.
  double mid = 0.5 * (pmin + pmax);
  const double half = 0.5 * (low + high);
  for (std::size_t i = 1; i < n; ++i) {
    const double a = pts[i - 1].fraction - half, b = pts[i].fraction - half;
    if ((a <= 0) != (b <= 0)) {
      mid = pts[i - 1].pressure_gpa + (pts[i].pressure_gpa - pts[i - 1].pressure_gpa) * a / (a - b);
      break;
    }
  }
  double width = std::max(0.05, (pmax - pmin) / 20.0);
  const double w_min = 0.02;
  low = std::clamp(low, 0.0, 1.0);
  high = std::clamp(high, 0.0, 1.0);

  SigmoidFit out;
  out.num_points = static_cast<int>(n);
  std::vector<double> inv(n);
  ceres::Solver::Summary summary;
  std::unique_ptr<ceres::Problem> problem;
  for (int cycle = 0; cycle < 4; ++cycle) {
    for (std::size_t i = 0; i < n; ++i) {
      const double e = std::exp(-(pts[i].pressure_gpa - mid) / width);
      const double dfdp = (high - low) * e / (width * (1 + e) * (1 + e));
      const double sf = std::max(pts[i].fraction_esd, floor);
      inv[i] = 1.0 / std::sqrt(sf * sf + dfdp * dfdp * pts[i].pressure_esd_gpa * pts[i].pressure_esd_gpa);
    }
    problem = std::make_unique<ceres::Problem>();
    for (std::size_t i = 0; i < n; ++i)
      problem->AddResidualBlock(new ceres::AutoDiffCostFunction<SigmoidResidual, 1, 1, 1, 1, 1>(
                                    new SigmoidResidual{pts[i].pressure_gpa, pts[i].fraction, inv[i]}),
                                nullptr, &low, &high, &mid, &width);
    for (double* v : {&low, &high}) {
      problem->SetParameterLowerBound(v, 0, 0.0);
      problem->SetParameterUpperBound(v, 0, 1.0);
    }
    problem->SetParameterLowerBound(&mid, 0, pmin - 5.0);
    problem->SetParameterUpperBound(&mid, 0, pmax + 5.0);
    problem->SetParameterLowerBound(&width, 0, w_min);
    problem->SetParameterUpperBound(&width, 0, std::max(1.0, pmax - pmin));
    ceres::Solver::Options so;
    so.linear_solver_type = ceres::DENSE_QR;
    so.max_num_iterations = 200;
    so.logging_type = ceres::SILENT;
    ceres::Solve(so, problem.get(), &summary);
  }
  out.converged = summary.IsSolutionUsable() && summary.termination_type == ceres::CONVERGENCE;
  if (!out.converged) out.message = summary.message;
  out.width_at_bound = width <= w_min * 1.0001;
  double chi2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r =
        (pts[i].fraction - (low + (high - low) / (1 + std::exp(-(pts[i].pressure_gpa - mid) / width)))) *
        inv[i];
    chi2 += r * r;
  }
  const int dof = static_cast<int>(n) - 4;
  out.chi2_reduced = dof > 0 ? chi2 / dof : kNaN;
  const double scale = dof > 0 ? std::max(out.chi2_reduced, 1.0) : 1.0;
  out.low = low, out.high = high, out.midpoint_gpa = mid, out.width_gpa = width;
  const double k = std::log((1.0 - onset_level) / onset_level);
  out.onset_gpa = rising ? mid - k * width : mid + k * width;

  std::vector<const double*> blocks;
  for (double* v : {&low, &high, &mid, &width})
    if (!out.width_at_bound || v != &width) blocks.push_back(v);
  ceres::Covariance::Options co;
  co.algorithm_type = ceres::DENSE_SVD;
  co.null_space_rank = -1;
  ceres::Covariance cov(co);
  std::vector<double> c(blocks.size() * blocks.size(), kNaN);
  if (out.width_at_bound) problem->SetParameterBlockConstant(&width);
  if (cov.Compute(blocks, problem.get())) cov.GetCovarianceMatrix(blocks, c.data());
  const std::size_t m = blocks.size();
  const auto at = [&](std::size_t i, std::size_t j) { return c[i * m + j] * scale; };
  out.low_esd = std::sqrt(at(0, 0));
  out.high_esd = std::sqrt(at(1, 1));
  out.midpoint_esd = std::sqrt(at(2, 2));
  if (m == 4) {
    out.width_esd = std::sqrt(at(3, 3));
    const double s = rising ? -k : k;
    out.onset_esd = std::sqrt(std::max(0.0, at(2, 2) + 2 * s * at(2, 3) + s * s * at(3, 3)));
  } else {
    // Sharper than the sampling: P_mid is known to within the pressure step around it.
    double gap = 0;
    for (std::size_t i = 1; i < n; ++i)
      if (pts[i - 1].pressure_gpa <= mid && pts[i].pressure_gpa >= mid)
        gap = pts[i].pressure_gpa - pts[i - 1].pressure_gpa;
    out.midpoint_esd = std::max(out.midpoint_esd, gap / std::sqrt(12.0));
    out.onset_esd = out.midpoint_esd;
    out.message += (out.message.empty() ? "" : "; ") +
                   std::string("sharper than the pressure steps: width at its lower bound");
  }
  return out;
}

std::size_t densest_phase(const std::vector<powder::PowderPhase>& phases, int skip) {
  std::size_t best = phases.size();
  double best_v = HUGE_VAL;
  for (std::size_t p = 0; p < phases.size(); ++p) {
    if (static_cast<int>(p) == skip) continue;
    const auto& ph = phases[p];
    const double v = powder::cell_volume(ph.kind, ph.a, ph.c) / ph.z;
    if (v < best_v) best_v = v, best = p;
  }
  if (best == phases.size()) throw InputError("transition", "no phase to call high-pressure");
  return best;
}

TransitionAnalysis analyse_transitions(const std::vector<FrameResult>& frames, std::size_t hp, int skip,
                                       const TransitionOptions& o) {
  TransitionAnalysis out;
  std::vector<const FrameResult*> usable;
  for (const auto& r : frames)
    if (r.ok() && std::isfinite(r.pressure_gpa) && hp < r.phases.size() &&
        std::isfinite(r.phases[hp].fraction))
      usable.push_back(&r);
  if (usable.empty()) {
    out.compression.message = out.decompression.message = "no converged frame with a pressure";
    return out;
  }
  out.high_pressure_phase = usable.front()->phases[hp].name;
  const FrameResult* top = usable.front();
  for (const auto* r : usable)
    if (r->pressure_gpa > top->pressure_gpa) top = r;
  const std::size_t np = usable.front()->phases.size();

  // The other phase with the largest mean fraction among `set` at pressures below `below`.
  const auto main_other = [&](const std::vector<const FrameResult*>& set, double below) {
    std::vector<double> sum(np, 0.0);
    for (const auto* r : set)
      if (r->pressure_gpa <= below)
        for (std::size_t p = 0; p < np; ++p)
          if (p != hp && static_cast<int>(p) != skip && std::isfinite(r->phases[p].fraction))
            sum[p] += r->phases[p].fraction;
    std::size_t best = np;
    for (std::size_t p = 0; p < np; ++p)
      if (p != hp && static_cast<int>(p) != skip && (best == np || sum[p] > sum[best])) best = p;
    return best < np ? usable.front()->phases[best].name : std::string();
  };

  for (const auto dir : {pressure::Direction::Compression, pressure::Direction::Decompression}) {
    Transition& t = dir == pressure::Direction::Compression ? out.compression : out.decompression;
    t.direction = dir;
    std::vector<const FrameResult*> set;
    for (const auto* r : usable)
      if (r->direction == dir || r == top) set.push_back(r);
    for (const auto* r : set)
      t.points.push_back(
          {r->pressure_gpa, r->pressure_esd_gpa, r->phases[hp].fraction, r->phases[hp].fraction_esd});
    const bool rising = dir == pressure::Direction::Compression;
    double fmin = HUGE_VAL, fmax = -HUGE_VAL;
    for (const auto& q : t.points) fmin = std::min(fmin, q.fraction), fmax = std::max(fmax, q.fraction);
    const double below = HUGE_VAL;
    if (t.points.size() < 4) {
      t.message =
          fmt::format("{} frames on {}: too few to fit", t.points.size(), pressure::direction_name(dir));
    } else if (fmax - fmin < o.min_amplitude) {
      t.message = fmt::format("the {} fraction changes by {:.3f} only: no transformation",
                              out.high_pressure_phase, fmax - fmin);
    } else {
      try {
        t.fit = fit_sigmoid(t.points, rising, o.onset_level, o.fraction_esd_floor);
        const double amp = t.fit.high - t.fit.low;
        const double amp_esd = std::hypot(t.fit.high_esd, t.fit.low_esd);
        t.detected = t.fit.converged && amp > o.min_amplitude && !(amp < 3 * amp_esd);
        if (!t.detected && t.message.empty())
          t.message = t.fit.converged ? "the fitted step is not significant" : t.fit.message;
      } catch (const InputError& e) {
        t.message = e.what();
      }
    }
    const double cut = t.detected ? t.fit.midpoint_gpa : below;
    if (rising) {
      t.from = main_other(set, cut);
      t.to = out.high_pressure_phase;
    } else {
      t.from = out.high_pressure_phase;
      t.to = main_other(set, cut);
    }
  }
  if (out.compression.detected && out.decompression.detected) {
    out.hysteresis_gpa = out.compression.fit.midpoint_gpa - out.decompression.fit.midpoint_gpa;
    out.hysteresis_esd = std::hypot(out.compression.fit.midpoint_esd, out.decompression.fit.midpoint_esd);
  }
  const FrameResult* lowest = nullptr;
  for (const auto* r : usable)
    if (r->direction == pressure::Direction::Decompression &&
        (!lowest || r->pressure_gpa < lowest->pressure_gpa))
      lowest = r;
  if (lowest) {
    out.retained_fraction = lowest->phases[hp].fraction;
    out.retained_esd = lowest->phases[hp].fraction_esd;
    out.retained_at_gpa = lowest->pressure_gpa;
    out.retained_frame = lowest->frame;
  }
  return out;
}

}  // namespace anvil::series
