#include "saxs/whole_pattern.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

namespace anvil::saxs {

std::vector<double> nonnegative_least_squares(const std::vector<double>& g, const std::vector<double>& h,
                                              double& minimum) {
  // Lawson & Hanson, Solving Least Squares Problems (1974), ch. 23, on the normal equations: grow the
  // passive set by the most positive gradient component, solve on it, step back to feasibility.
  const int k = static_cast<int>(h.size());
  std::vector<double> x(k, 0.0);
  std::vector<char> passive(k, 0);
  auto gradient = [&](int j) {  // h − Gx, the descent direction
    double v = h[j];
    for (int i = 0; i < k; ++i) v -= g[static_cast<std::size_t>(j) * k + i] * x[i];
    return v;
  };
  double hmax = 0;
  for (double v : h) hmax = std::max(hmax, std::abs(v));
  const double tol = 1e-10 * std::max(hmax, 1e-300);
  auto solve_passive = [&](std::vector<double>& z) {
    std::vector<int> idx;
    for (int j = 0; j < k; ++j)
      if (passive[j]) idx.push_back(j);
    const int m = static_cast<int>(idx.size());
    Eigen::MatrixXd a(m, m);
    Eigen::VectorXd b(m);
    for (int r = 0; r < m; ++r) {
      b(r) = h[idx[r]];
      for (int c = 0; c < m; ++c) a(r, c) = g[static_cast<std::size_t>(idx[r]) * k + idx[c]];
    }
    Eigen::VectorXd sol = a.ldlt().solve(b);
    if (!sol.allFinite()) sol = a.completeOrthogonalDecomposition().solve(b);
    z.assign(k, 0.0);
    for (int r = 0; r < m; ++r) z[idx[r]] = sol(r);
  };
  // Most Le Bail intensities are positive: start with every variable free, drop the negative ones,
  // add back those whose gradient asks for it; a few passes usually reach the optimum (checked by the
  // Kuhn–Tucker conditions). Lawson–Hanson below takes over if they do not.
  {
    for (int j = 0; j < k; ++j) passive[j] = g[static_cast<std::size_t>(j) * k + j] > 0;
    std::vector<double> z;
    bool converged = false;
    for (int pass = 0; pass < 20 && !converged; ++pass) {
      solve_passive(z);
      bool negative = false;
      for (int j = 0; j < k; ++j)
        if (passive[j] && z[j] <= 0) passive[j] = 0, negative = true;
      if (negative) continue;
      x = z;
      bool violated = false;
      for (int j = 0; j < k; ++j)
        if (!passive[j] && g[static_cast<std::size_t>(j) * k + j] > 0 && gradient(j) > tol)
          passive[j] = 1, violated = true;
      converged = !violated;
    }
    if (!converged) {
      std::fill(x.begin(), x.end(), 0.0);
      std::fill(passive.begin(), passive.end(), 0);
    } else {
      for (int j = 0; j < k; ++j) x[j] = passive[j] ? std::max(x[j], 0.0) : 0.0;
    }
  }
  for (int outer = 0; outer < 3 * k + 10; ++outer) {
    int best = -1;
    double best_w = tol;
    for (int j = 0; j < k; ++j) {
      if (passive[j] || !(g[static_cast<std::size_t>(j) * k + j] > 0)) continue;
      const double w = gradient(j);
      if (w > best_w) best_w = w, best = j;
    }
    if (best < 0) break;
    passive[best] = 1;
    std::vector<double> z;
    for (int inner = 0; inner < 3 * k + 10; ++inner) {
      solve_passive(z);
      bool feasible = true;
      double alpha = 1.0;
      for (int j = 0; j < k; ++j)
        if (passive[j] && z[j] <= 0) {
          feasible = false;
          const double step = x[j] / (x[j] - z[j]);
          alpha = std::min(alpha, step);
        }
      if (feasible) break;
      for (int j = 0; j < k; ++j) {
        if (!passive[j]) continue;
        x[j] += alpha * (z[j] - x[j]);
        if (x[j] <= 1e-300 * std::max(1.0, std::abs(z[j]))) passive[j] = 0, x[j] = 0;
      }
      // Leave the passive set the variable that stepped to zero (the bound that stopped us).
      for (int j = 0; j < k; ++j)
        if (passive[j] && z[j] <= 0 && x[j] <= std::abs(alpha * (z[j] - x[j])) * 1e-12 + 1e-300)
          passive[j] = 0, x[j] = 0;
    }
    for (int j = 0; j < k; ++j) x[j] = passive[j] ? std::max(z.empty() ? 0.0 : z[j], 0.0) : 0.0;
  }
  // ½xᵀGx − hᵀx.
  minimum = 0;
  for (int j = 0; j < k; ++j) {
    if (x[j] == 0) continue;
    double gx = 0;
    for (int i = 0; i < k; ++i) gx += g[static_cast<std::size_t>(j) * k + i] * x[i];
    minimum += x[j] * (0.5 * gx - h[j]);
  }
  return x;
}

WholePattern::Column WholePattern::column(const Profile& p) const {
  Column c;
  const double reach = settings_.support_fwhm * p.fwhm;
  const auto lo = std::lower_bound(q_.begin(), q_.end(), p.q - reach) - q_.begin();
  const auto hi = std::upper_bound(q_.begin(), q_.end(), p.q + reach) - q_.begin();
  c.start = static_cast<std::size_t>(lo);
  c.v.reserve(static_cast<std::size_t>(std::max<long>(0, hi - lo)));
  for (auto i = lo; i < hi; ++i) c.v.push_back(pseudo_voigt(q_[i] - p.q, p.fwhm, p.eta));
  return c;
}

double WholePattern::dot(const Column& a, const Column& b) const {
  const std::size_t lo = std::max(a.start, b.start);
  const std::size_t hi = std::min(a.start + a.v.size(), b.start + b.v.size());
  double s = 0;
  for (std::size_t i = lo; i < hi; ++i) s += w_[i] * a.v[i - a.start] * b.v[i - b.start];
  return s;
}

double WholePattern::dot_y(const Column& a) const {
  double s = 0;
  for (std::size_t i = 0; i < a.v.size(); ++i) s += w_[a.start + i] * y_[a.start + i] * a.v[i];
  return s;
}

namespace {

// Uniform cubic B-spline basis on [lo, hi] with `segments` segments (de Boor, A Practical Guide to
// Splines, 1978): segments + 3 functions.
double cubic_bspline(double t) {  // centred, support |t| < 2
  t = std::abs(t);
  if (t >= 2) return 0;
  if (t >= 1) return std::pow(2 - t, 3) / 6;
  return (4 - 6 * t * t + 3 * t * t * t) / 6;
}

}  // namespace

void WholePattern::set_up(const std::vector<double>& sigma, const std::vector<double>* model) {
  // Local variance of what the free-peak model leaves (over ± one reference width), floored at σ²:
  // structure no peak describes (fringes, parasitic scattering) is not evidence for any model.
  std::vector<double> local(n_, 0.0);
  if (model) {
    std::vector<double> prefix(n_ + 1, 0.0);
    for (std::size_t i = 0; i < n_; ++i) prefix[i + 1] = prefix[i] + std::pow(y_[i] - (*model)[i], 2);
    for (std::size_t i = 0; i < n_; ++i) {
      const auto lo = std::lower_bound(q_.begin(), q_.end(), q_[i] - residual_width_) - q_.begin();
      const auto hi = std::upper_bound(q_.begin(), q_.end(), q_[i] + residual_width_) - q_.begin();
      local[i] = (prefix[hi] - prefix[lo]) / std::max<long>(1, hi - lo);
    }
  }
  for (std::size_t i = 0; i < n_; ++i) {
    const double e = model ? settings_.model_error * (*model)[i] : 0.0;
    w_[i] = 1.0 / (std::max(sigma[i] * sigma[i], local[i]) + e * e);
  }
  const std::size_t m = peak_profiles_.size(), nb = base_columns_.size();
  peak_columns_.clear();
  for (const auto& p : peak_profiles_) peak_columns_.push_back(column(p));
  peak_h_.assign(m, 0);
  peak_g_.assign(m * m, 0);
  for (std::size_t a = 0; a < m; ++a) {
    peak_h_[a] = dot_y(peak_columns_[a]);
    for (std::size_t b = a; b < m; ++b)
      peak_g_[a * m + b] = peak_g_[b * m + a] = dot(peak_columns_[a], peak_columns_[b]);
  }
  yy_ = 0;
  for (std::size_t i = 0; i < n_; ++i) yy_ += w_[i] * y_[i] * y_[i];
  Eigen::MatrixXd gbb(nb, nb);
  base_h_.assign(nb, 0);
  for (std::size_t a = 0; a < nb; ++a) {
    base_h_[a] = dot_y(base_columns_[a]);
    for (std::size_t b = 0; b < nb; ++b) gbb(a, b) = dot(base_columns_[a], base_columns_[b]);
  }
  const Eigen::MatrixXd inv = gbb.completeOrthogonalDecomposition().pseudoInverse();
  base_inv_.assign(nb * nb, 0);
  for (std::size_t a = 0; a < nb; ++a)
    for (std::size_t b = 0; b < nb; ++b) base_inv_[a * nb + b] = inv(a, b);
  peak_base_.assign(m * nb, 0);
  for (std::size_t a = 0; a < m; ++a)
    for (std::size_t b = 0; b < nb; ++b) peak_base_[a * nb + b] = dot(peak_columns_[a], base_columns_[b]);
}

WholePattern::WholePattern(const FlatCurve& curve, const std::vector<Peak>& peaks,
                           const WholePatternSettings& settings)
    : q_(curve.q), y_(curve.y), settings_(settings), n_(curve.q.size()) {
  w_.assign(n_, 1.0);
  for (const auto& p : peaks) peak_profiles_.push_back({p.q, p.fwhm, p.eta});
  if (n_ >= 2) {
    const double width = peaks.empty() ? (q_.back() - q_.front()) / 20 : reference_width(peaks);
    const double range = q_.back() - q_.front();
    const int segments =
        std::clamp(static_cast<int>(std::ceil(range / (settings_.baseline_knot_fwhm * width))), 2, 60);
    const double h = range / segments;
    residual_width_ = width;
    for (int j = -1; j <= segments + 1; ++j) {
      const double centre = q_.front() + j * h;
      Column c;
      const auto lo = std::lower_bound(q_.begin(), q_.end(), centre - 2 * h) - q_.begin();
      const auto hi = std::upper_bound(q_.begin(), q_.end(), centre + 2 * h) - q_.begin();
      c.start = static_cast<std::size_t>(lo);
      for (auto i = lo; i < hi; ++i) c.v.push_back(cubic_bspline((q_[i] - centre) / h));
      if (!c.v.empty()) base_columns_.push_back(std::move(c));
    }
  }
  const std::size_t m = peaks.size(), nb = base_columns_.size();
  // Two passes: the free-peak model with σ alone, then the weights with the model error of that
  // model's curve, the same weights for every model compared.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<double> model;
    if (pass == 1) {
      model.assign(n_, 0.0);
      std::vector<double> rhs = base_h_;
      for (std::size_t a = 0; a < m; ++a) {
        for (std::size_t i = 0; i < peak_columns_[a].v.size(); ++i)
          model[peak_columns_[a].start + i] += none_.amplitude[a] * peak_columns_[a].v[i];
        for (std::size_t b = 0; b < nb; ++b) rhs[b] -= peak_base_[a * nb + b] * none_.amplitude[a];
      }
      for (std::size_t b = 0; b < nb; ++b) {
        double coef = 0;
        for (std::size_t e = 0; e < nb; ++e) coef += base_inv_[b * nb + e] * rhs[e];
        for (std::size_t i = 0; i < base_columns_[b].v.size(); ++i)
          model[base_columns_[b].start + i] += coef * base_columns_[b].v[i];
      }
    }
    set_up(curve.sigma, pass == 1 ? &model : nullptr);
    std::vector<int> free_used;
    const Normal ne = normal_equations({}, std::vector<bool>(m, true), free_used);
    double minimum = 0;
    none_.amplitude = nonnegative_least_squares(ne.g, ne.h, minimum);
    none_.chi2 = std::max(0.0, ne.yy + 2 * minimum);
    none_.positive_lines = 0;
    none_.positive_free = static_cast<int>(
        std::count_if(none_.amplitude.begin(), none_.amplitude.end(), [](double v) { return v > 0; }));
  }
  const double dof = static_cast<double>(n_) - no_lattice_parameters() - static_cast<double>(nb);
  s2_ = std::max(1.0, none_.chi2 / std::max(dof, 1.0));
}

WholePattern::Normal WholePattern::normal_equations(const std::vector<Profile>& lines,
                                                    const std::vector<bool>& free,
                                                    std::vector<int>& free_used) const {
  std::vector<Column> cols;
  cols.reserve(lines.size());
  for (const auto& l : lines) cols.push_back(column(l));
  free_used.clear();
  for (std::size_t p = 0; p < peak_columns_.size(); ++p)
    if (p < free.size() && free[p]) free_used.push_back(static_cast<int>(p));
  const std::size_t nl = cols.size(), k = nl + free_used.size(), m = peak_columns_.size(),
                    nb = base_columns_.size();
  Normal ne;
  ne.g.assign(k * k, 0.0);
  ne.h.assign(k, 0.0);
  std::vector<double> xb(k * nb, 0.0);  // Σ w v B per amplitude and baseline function
  for (std::size_t a = 0; a < nl; ++a) {
    ne.h[a] = dot_y(cols[a]);
    for (std::size_t b = a; b < nl; ++b) ne.g[a * k + b] = ne.g[b * k + a] = dot(cols[a], cols[b]);
    for (std::size_t f = 0; f < free_used.size(); ++f) {
      const std::size_t b = nl + f;
      ne.g[a * k + b] = ne.g[b * k + a] = dot(cols[a], peak_columns_[free_used[f]]);
    }
    for (std::size_t b = 0; b < nb; ++b) {
      const auto& bc = base_columns_[b];
      if (bc.start >= cols[a].start + cols[a].v.size() || cols[a].start >= bc.start + bc.v.size()) continue;
      xb[a * nb + b] = dot(cols[a], bc);
    }
  }
  for (std::size_t f = 0; f < free_used.size(); ++f) {
    ne.h[nl + f] = peak_h_[free_used[f]];
    for (std::size_t e = 0; e < free_used.size(); ++e)
      ne.g[(nl + f) * k + nl + e] = peak_g_[free_used[f] * m + free_used[e]];
    for (std::size_t b = 0; b < nb; ++b) xb[(nl + f) * nb + b] = peak_base_[free_used[f] * nb + b];
  }
  // Project the baseline out: G − X Gbb⁻¹ Xᵀ, h − X Gbb⁻¹ h_b, yy − h_bᵀ Gbb⁻¹ h_b.
  std::vector<double> p(k * nb, 0.0);  // X Gbb⁻¹
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = 0; b < nb; ++b) {
      const double v = xb[a * nb + b];
      if (v == 0) continue;
      for (std::size_t e = 0; e < nb; ++e) p[a * nb + e] += v * base_inv_[b * nb + e];
    }
  for (std::size_t a = 0; a < k; ++a) {
    double s = 0;
    for (std::size_t e = 0; e < nb; ++e) s += p[a * nb + e] * base_h_[e];
    ne.h[a] -= s;
    for (std::size_t b = a; b < k; ++b) {
      double t = 0;
      for (std::size_t e = 0; e < nb; ++e) t += p[a * nb + e] * xb[b * nb + e];
      ne.g[a * k + b] -= t;
      if (b != a) ne.g[b * k + a] = ne.g[a * k + b];
    }
  }
  ne.yy = yy_;
  for (std::size_t a = 0; a < nb; ++a)
    for (std::size_t b = 0; b < nb; ++b) ne.yy -= base_h_[a] * base_inv_[a * nb + b] * base_h_[b];
  return ne;
}

ModelFit WholePattern::fit(const std::vector<Profile>& lines, const std::vector<bool>& free) const {
  std::vector<int> free_used;
  const Normal ne = normal_equations(lines, free, free_used);
  ModelFit out;
  double minimum = 0;
  out.amplitude = nonnegative_least_squares(ne.g, ne.h, minimum);
  out.chi2 = std::max(0.0, ne.yy + 2 * minimum);
  for (std::size_t j = 0; j < out.amplitude.size(); ++j)
    if (out.amplitude[j] > 0) (j < lines.size() ? out.positive_lines : out.positive_free) += 1;
  return out;
}

double WholePattern::bic(const ModelFit& fit, int parameters) const {
  return fit.chi2 / s2_ + parameters * std::log(static_cast<double>(std::max<std::size_t>(n_, 2)));
}

std::vector<double> WholePattern::amplitude_esd(const std::vector<Profile>& lines,
                                                const std::vector<bool>& free, const ModelFit& fit) const {
  std::vector<int> free_used;
  const Normal ne = normal_equations(lines, free, free_used);
  const std::size_t k = ne.h.size();
  std::vector<int> active;
  for (std::size_t j = 0; j < k; ++j)
    if (fit.amplitude[j] > 0) active.push_back(static_cast<int>(j));
  std::vector<double> esd(k, 0.0);
  if (active.empty()) return esd;
  Eigen::MatrixXd m(active.size(), active.size());
  for (std::size_t a = 0; a < active.size(); ++a)
    for (std::size_t b = 0; b < active.size(); ++b) m(a, b) = ne.g[active[a] * k + active[b]];
  const Eigen::MatrixXd cov = m.completeOrthogonalDecomposition().pseudoInverse();
  for (std::size_t a = 0; a < active.size(); ++a) esd[active[a]] = std::sqrt(std::max(cov(a, a), 0.0) * s2_);
  return esd;
}

}  // namespace anvil::saxs
