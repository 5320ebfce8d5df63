#include "debye/fit.hpp"

#include <ceres/ceres.h>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "core/error.hpp"
#include "debye/start.hpp"

namespace anvil::debye {

namespace {

using namespace detail;

// Where each parameter lives: one scalar Ceres block per parameter, named, not counted.
struct Layout {
  struct Sample {
    int scale = -1, lambda = -1, alpha = -1;  // alpha: a faulted phase's fault probability
  };
  struct Peaks {
    int a = -1, fwhm = -1, fwhm_slope = -1;
    std::vector<int> height;
  };
  std::vector<Sample> sample;
  // The size distribution: one (median, σ) for all phases, or one per phase (size_of).
  std::vector<int> median_d, sigma_ln;
  int b_iso = -1, absorption = -1;
  std::size_t size_of(std::size_t phase) const { return std::min(phase, median_d.size() - 1); }
  std::vector<int> background;
  int hump_height = -1, hump_centre = -1, hump_width = -1, hump_width_high = -1;
  std::vector<Peaks> peaks;
  int count = 0;
  int add() { return count++; }
};

double chebyshev(int n, double x) { return std::cos(n * std::acos(std::clamp(x, -1.0, 1.0))); }

// A pseudo-Voigt line (η = ½) of unit height and its derivatives along its position and FWHM.
struct Line {
  double value, d_q0, d_fwhm;
};

Line pseudo_voigt_line(double q, double q0, double fwhm) {
  const double u = (q - q0) / (0.5 * fwhm);
  const double lorentz = 1.0 / (1.0 + u * u), gauss = std::exp(-std::numbers::ln2 * u * u);
  const double d_u = -u * lorentz * lorentz - std::numbers::ln2 * u * gauss;  // d value / d u
  return {0.5 * lorentz + 0.5 * gauss, d_u * (-2.0 / fwhm), d_u * (-u / fwhm)};
}

class DacModel final : public ceres::CostFunction {
 public:
  DacModel(const std::vector<double>& q, const std::vector<double>& y, const std::vector<double>& sigma,
           const std::vector<SamplePhase>& phases, const std::vector<PeaksPhase>& peaks, const FitOptions& o,
           const Layout& layout, std::vector<double> size_ratio)
      : q_(q),
        y_(y),
        sigma_(sigma),
        phases_(phases),
        peaks_(peaks),
        l_(layout),
        size_ratio_(std::move(size_ratio)) {
    set_num_residuals(static_cast<int>(q.size()));
    for (const auto& p : phases) {
      const auto f = factors_at_q(p.f, q);
      std::vector<PopulationAtQ> grid;
      if (p.alpha_sums.empty())
        grid.emplace_back(*p.sums, f, q);
      else
        for (const PairSums* sums : p.alpha_sums) grid.emplace_back(*sums, f, q);
      populations_.push_back(std::move(grid));
    }
    for (int i = 0; i < l_.count; ++i) mutable_parameter_block_sizes()->push_back(1);
    const double lo = q.front(), hi = q.back();
    path_.resize(q.size());
    chebyshev_.assign(l_.background.size(), std::vector<double>(q.size()));
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double x = hi > lo ? 2.0 * (q[i] - lo) / (hi - lo) - 1.0 : 0.0;
      for (std::size_t t = 0; t < l_.background.size(); ++t)
        chebyshev_[t][i] = chebyshev(static_cast<int>(t), x);
      const double s = q[i] * o.wavelength_a / (4.0 * std::numbers::pi);
      const double two_theta = 2.0 * std::asin(std::clamp(s, 0.0, 1.0));
      // The extra path through a flat downstream anvil; beyond 2θ ≈ 84° (where no DAC pattern
      // reaches) held at its value there rather than growing to infinity at 90°.
      path_[i] = 1.0 / std::max(std::cos(two_theta), 0.1) - 1.0;
    }
  }

  // The model and, when asked, its derivative along every parameter (dmodel[param][point]);
  // all analytic (PopulationAtQ for the sample phases). `need[p]`: the derivative along
  // parameter p is wanted (Ceres asks for none along constant parameters: an absent phase's).
  void model(double const* const* v, std::vector<double>& out, std::vector<std::vector<double>>* dmodel,
             std::vector<std::vector<double>>* phase_curves = nullptr,
             const std::vector<bool>* need = nullptr) const {
    const auto wanted = [&](int param) { return dmodel && (!need || (*need)[param]); };
    const auto slot = [&](int param) -> std::vector<double>& {
      auto& d = (*dmodel)[param];
      if (d.empty()) d.assign(q_.size(), 0.0);
      return d;
    };
    const std::size_t n = q_.size();
    PhaseState st;
    st.b_iso = v[l_.b_iso][0];
    const double m = l_.absorption >= 0 ? v[l_.absorption][0] : 0.0;
    std::vector<double> att(n, 1.0);
    for (std::size_t i = 0; i < n; ++i) att[i] = std::exp(-m * path_[i]);
    out.assign(n, 0.0);
    if (dmodel) dmodel->assign(l_.count, std::vector<double>());
    std::vector<double> sample(n, 0.0);
    PopulationAtQ::Curves c;
    for (std::size_t p = 0; p < phases_.size(); ++p) {
      const double k = v[l_.sample[p].scale][0];
      st.lambda = v[l_.sample[p].lambda][0];
      const int md = l_.median_d[l_.size_of(p)], sl = l_.sigma_ln[l_.size_of(p)];
      st.median_d_a = v[md][0] * size_ratio_[p];
      st.sigma_ln = v[sl][0];
      const int ia = l_.sample[p].alpha;
      const bool slopes = k != 0.0 && (wanted(md) || wanted(sl) || wanted(l_.b_iso) ||
                                       wanted(l_.sample[p].lambda) || (ia >= 0 && wanted(ia)));
      std::vector<double> d_alpha;
      if (ia < 0) {
        populations_[p].front().evaluate(st, c, slopes);
      } else {
        // A faulted phase: the curves of the two α of its grid around α, linearly between them.
        const auto& grid = phases_[p].alpha_grid;
        const double alpha = v[ia][0];
        std::size_t j = 0;
        while (j + 2 < grid.size() && alpha > grid[j + 1]) ++j;
        const double step = grid[j + 1] - grid[j], t = std::clamp((alpha - grid[j]) / step, 0.0, 1.0);
        PopulationAtQ::Curves upper;
        populations_[p][j].evaluate(st, c, slopes);
        populations_[p][j + 1].evaluate(st, upper, slopes);
        const auto mix = [&](std::vector<double>& lo, const std::vector<double>& hi) {
          for (std::size_t i = 0; i < lo.size(); ++i) lo[i] = (1 - t) * lo[i] + t * hi[i];
        };
        d_alpha.resize(n);
        for (std::size_t i = 0; i < n; ++i) d_alpha[i] = (upper.value[i] - c.value[i]) / step;
        mix(c.value, upper.value);
        if (slopes) {
          mix(c.d_lambda, upper.d_lambda);
          mix(c.d_median_d, upper.d_median_d);
          mix(c.d_sigma_ln, upper.d_sigma_ln);
          mix(c.d_b_iso, upper.d_b_iso);
        }
      }
      for (std::size_t i = 0; i < n; ++i) sample[i] += k * c.value[i];
      if (phase_curves) {
        std::vector<double> scaled(n);
        for (std::size_t i = 0; i < n; ++i) scaled[i] = att[i] * k * c.value[i];
        phase_curves->push_back(std::move(scaled));
      }
      if (!dmodel) continue;
      if (wanted(l_.sample[p].scale)) {
        auto& dk = slot(l_.sample[p].scale);
        for (std::size_t i = 0; i < n; ++i) dk[i] = att[i] * c.value[i];
      }
      if (!slopes) continue;
      const auto add = [&](int param, const std::vector<double>& slope) {
        if (!wanted(param)) return;
        auto& dv = slot(param);
        for (std::size_t i = 0; i < n; ++i) dv[i] += att[i] * k * slope[i];
      };
      add(l_.sample[p].lambda, c.d_lambda);
      for (auto& x : c.d_median_d) x *= size_ratio_[p];
      add(md, c.d_median_d);
      add(sl, c.d_sigma_ln);
      add(l_.b_iso, c.d_b_iso);
      if (ia >= 0) add(ia, d_alpha);
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = att[i] * sample[i];
    if (l_.absorption >= 0 && wanted(l_.absorption)) {
      auto& dm = slot(l_.absorption);
      for (std::size_t i = 0; i < n; ++i) dm[i] = -path_[i] * att[i] * sample[i];
    }
    for (std::size_t t = 0; t < l_.background.size(); ++t) {
      const double coefficient = v[l_.background[t]][0];
      for (std::size_t i = 0; i < n; ++i) out[i] += coefficient * chebyshev_[t][i];
      if (wanted(l_.background[t])) (*dmodel)[l_.background[t]] = chebyshev_[t];
    }
    if (l_.hump_height >= 0) {
      // A split Gaussian: an amorphous first peak is not symmetric (its two sides have their
      // own widths).
      const double h = v[l_.hump_height][0], qc = v[l_.hump_centre][0];
      const double w_lo = v[l_.hump_width][0], w_hi = v[l_.hump_width_high][0];
      std::vector<double> g(n), dq(n), dlo(n, 0.0), dhi(n, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        const bool low = q_[i] < qc;
        const double w = low ? w_lo : w_hi;
        const double u = (q_[i] - qc) / w;
        g[i] = std::exp(-0.5 * u * u);
        out[i] += h * g[i];
        dq[i] = h * g[i] * u / w;
        (low ? dlo : dhi)[i] = h * g[i] * u * u / w;
      }
      if (dmodel) {
        (*dmodel)[l_.hump_height] = std::move(g);
        (*dmodel)[l_.hump_centre] = std::move(dq);
        (*dmodel)[l_.hump_width] = std::move(dlo);
        (*dmodel)[l_.hump_width_high] = std::move(dhi);
      }
    }
    for (std::size_t g = 0; g < peaks_.size(); ++g) {
      // Each line only where it is not negligible (±8 FWHM); its position follows the cell
      // (q₀ ∝ 1/a with c/a kept: ∂q₀/∂a = −q₀/a), its width the Williamson–Hall law in q,
      // FWHM = w + s·q₀ (size and instrument in w, microstrain and pressure gradients in s).
      const auto& pk = peaks_[g];
      const auto& lp = l_.peaks[g];
      const double a = v[lp.a][0], w0 = v[lp.fwhm][0], slope = v[lp.fwhm_slope][0];
      for (std::size_t j = 0; j < pk.hkl.size(); ++j) {
        const double q0 = peak_q(pk, pk.hkl[j], a), height = v[lp.height[j]][0];
        const double w = w0 + slope * q0;
        const auto first = std::lower_bound(q_.begin(), q_.end(), q0 - 8.0 * w) - q_.begin();
        const auto last = std::upper_bound(q_.begin(), q_.end(), q0 + 8.0 * w) - q_.begin();
        for (auto i = static_cast<std::size_t>(first); i < static_cast<std::size_t>(last); ++i) {
          const Line line = pseudo_voigt_line(q_[i], q0, w);
          out[i] += height * line.value;
          if (!dmodel) continue;
          if (wanted(lp.height[j])) slot(lp.height[j])[i] = line.value;
          if (wanted(lp.a)) slot(lp.a)[i] += height * (line.d_q0 + line.d_fwhm * slope) * (-q0 / a);
          if (wanted(lp.fwhm)) slot(lp.fwhm)[i] += height * line.d_fwhm;
          if (wanted(lp.fwhm_slope)) slot(lp.fwhm_slope)[i] += height * line.d_fwhm * q0;
        }
      }
    }
  }

  bool Evaluate(double const* const* v, double* residuals, double** jacobians) const override {
    std::vector<double> m;
    std::vector<std::vector<double>> dm;
    std::vector<bool> need;
    if (jacobians)
      for (int p = 0; p < l_.count; ++p) need.push_back(jacobians[p] != nullptr);
    model(v, m, jacobians ? &dm : nullptr, nullptr, jacobians ? &need : nullptr);
    for (std::size_t i = 0; i < q_.size(); ++i) {
      residuals[i] = (y_[i] - m[i]) / sigma_[i];
      if (!std::isfinite(residuals[i])) return false;
    }
    if (jacobians)
      for (int p = 0; p < l_.count; ++p) {
        if (!jacobians[p]) continue;
        const auto& d = dm[p];
        for (std::size_t i = 0; i < q_.size(); ++i) jacobians[p][i] = d.empty() ? 0.0 : -d[i] / sigma_[i];
      }
    return true;
  }

 private:
  const std::vector<double>& q_;
  const std::vector<double>& y_;
  const std::vector<double>& sigma_;
  const std::vector<SamplePhase>& phases_;
  const std::vector<PeaksPhase>& peaks_;
  const Layout& l_;
  std::vector<double> path_;
  std::vector<std::vector<double>> chebyshev_;           // chebyshev_[term][point]
  std::vector<std::vector<PopulationAtQ>> populations_;  // per phase: one, or one per α of its grid
  std::vector<double> size_ratio_;  // each phase's median diameter / the size parameter's
};

struct Solved {
  std::vector<double> values;
  double chi2 = 0;
  bool usable = false;
  std::string message;
  std::vector<double> fraction_esd;
  std::vector<double> lambda_esd, alpha_esd;
  std::vector<double> median_d_esd;  // per size distribution
  std::vector<double> a_esd_peaks;
};

}  // namespace

FitResult fit_pattern(const std::vector<double>& q, const std::vector<double>& y,
                      const std::vector<double>& sigma, const std::vector<SamplePhase>& phases,
                      const std::vector<PeaksPhase>& peaks, const FitOptions& o) {
  if (q.size() != y.size() || q.size() != sigma.size())
    throw InputError("debye fit", fmt::format("{} q, {} I, {} σ values", q.size(), y.size(), sigma.size()));
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (!std::isfinite(q[i]) || !std::isfinite(y[i]) || !(sigma[i] > 0) || !std::isfinite(sigma[i]))
      throw InputError("debye fit",
                       fmt::format("point {}: q {}, I {}, σ {} is not usable", i, q[i], y[i], sigma[i]));
    if (i && !(q[i] > q[i - 1]))
      throw InputError("debye fit", fmt::format("q is not increasing at point {}", i));
  }
  if (phases.empty() && peaks.empty()) throw InputError("debye fit", "no phase to fit");
  if (!(o.wavelength_a > 0)) throw InputError("debye fit", "no wavelength");

  Layout l;
  for (std::size_t p = 0; p < phases.size(); ++p) {
    l.sample.push_back({l.add(), l.add()});
    if (!phases[p].alpha_sums.empty()) {
      if (phases[p].alpha_sums.size() != phases[p].alpha_grid.size() || phases[p].alpha_grid.size() < 2 ||
          !std::is_sorted(phases[p].alpha_grid.begin(), phases[p].alpha_grid.end()))
        throw InputError(phases[p].name, "a faulted phase needs pair sums for an increasing grid of ≥ 2 α");
      l.sample.back().alpha = l.add();
    }
  }
  for (std::size_t p = 0; p < (o.shared_size ? 1 : phases.size()); ++p) {
    l.median_d.push_back(l.add());
    l.sigma_ln.push_back(l.add());
  }
  l.b_iso = l.add();
  if (o.absorption && !phases.empty()) l.absorption = l.add();
  for (int t = 0; t < o.background_terms; ++t) l.background.push_back(l.add());
  if (o.hump) {
    l.hump_height = l.add();
    l.hump_centre = l.add();
    l.hump_width = l.add();
    l.hump_width_high = l.add();
  }
  for (const auto& g : peaks) {
    Layout::Peaks lp;
    lp.a = l.add();
    lp.fwhm = l.add();
    lp.fwhm_slope = l.add();
    for (std::size_t j = 0; j < g.hkl.size(); ++j) lp.height.push_back(l.add());
    l.peaks.push_back(lp);
  }
  if (q.size() < static_cast<std::size_t>(l.count) + 10)
    throw InputError("debye fit", fmt::format("{} points for {} parameters", q.size(), l.count));

  // Starting values: scales from the data's level, everything else from the options.
  std::vector<double> start(l.count, 0.0);
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size());
  for (std::size_t p = 0; p < phases.size(); ++p) {
    PhaseState st;
    st.lambda = phases[p].start_lambda;
    st.median_d_a = o.median_d_a;
    st.sigma_ln = o.sigma_ln;
    st.b_iso = o.b_iso;
    const auto c = intensity_per_formula_unit(*phases[p].sums, phases[p].f, st, q);
    const double mean_c = std::accumulate(c.begin(), c.end(), 0.0) / static_cast<double>(c.size());
    start[l.sample[p].scale] = mean_c > 0 ? 0.5 * mean_y / mean_c / static_cast<double>(phases.size()) : 0.0;
    start[l.sample[p].lambda] = phases[p].start_lambda;
    if (l.sample[p].alpha >= 0)
      start[l.sample[p].alpha] =
          std::clamp(phases[p].start_alpha, phases[p].alpha_grid.front(), phases[p].alpha_grid.back());
  }
  for (std::size_t j = 0; j < l.median_d.size(); ++j) {
    start[l.median_d[j]] = o.median_d_a;
    start[l.sigma_ln[j]] = o.sigma_ln;
  }
  start[l.b_iso] = o.b_iso;
  if (l.hump_height >= 0) {
    start[l.hump_height] = 0.1 * mean_y;  // not 0: at 0 its centre and widths have no gradient
    start[l.hump_centre] = o.hump_centre > 0 ? o.hump_centre : 0.5 * (q.front() + q.back());
    start[l.hump_width] = kHumpScanWidth;
    start[l.hump_width_high] = kHumpScanWidth;
  }
  for (std::size_t g = 0; g < peaks.size(); ++g) {
    start[l.peaks[g].a] = locate_sharp_lines(peaks[g], q, y);
    start[l.peaks[g].fwhm] = 0.03;
    start[l.peaks[g].fwhm_slope] = 0.0;
  }

  // A shared size distribution is one of formula units per particle: the same particles in
  // another polymorph have diameters scaled by the cube root of its volume per formula unit
  // (at the starting cells): RS, 17 % denser than WZ, makes particles 6 % smaller. The size
  // parameter is the first phase's diameter.
  std::vector<double> size_ratio(phases.size(), 1.0);
  if (o.shared_size) {
    const auto volume = [&](const SamplePhase& p) {
      return p.sums->volume_per_formula_unit * std::pow(p.start_lambda, 3);
    };
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (volume(phases[p]) > 0 && volume(phases.front()) > 0)
        size_ratio[p] = std::cbrt(volume(phases[p]) / volume(phases.front()));
  }
  DacModel model(q, y, sigma, phases, peaks, o, l, size_ratio);
  // The size parameter is bounded so that every phase's diameters stay on its grid.
  // (Profile matching alone — no sample phase — leaves the sizes and B without effect: held.)
  const double d_lo = phases.empty() ? o.median_d_a
                                     : phases.front().sums->diameters_a.front() /
                                           *std::min_element(size_ratio.begin(), size_ratio.end()),
               d_hi = phases.empty() ? o.median_d_a
                                     : phases.front().sums->diameters_a.back() /
                                           *std::max_element(size_ratio.begin(), size_ratio.end());
  // One size on the grid: nothing to refine about the sizes (held below).
  const bool one_size = !phases.empty() && phases.front().sums->diameters_a.size() == 1;
  if (!phases.empty() && !one_size && !(d_lo < d_hi))
    throw InputError(
        "debye fit",
        fmt::format("the phases' volumes per formula unit differ more than their size "
                    "grid ({:.0f}–{:.0f} Å) allows: widen it",
                    phases.front().sums->diameters_a.front(), phases.front().sums->diameters_a.back()));
  if (const FitResult* from = o.start_from) {
    for (std::size_t p = 0; p < phases.size(); ++p)
      for (const auto& s : from->phases) {
        if (s.name != phases[p].name) continue;
        if (s.scale > 0) start[l.sample[p].scale] = s.scale;
        start[l.sample[p].lambda] =
            std::clamp(s.lambda, phases[p].start_lambda * (1 - phases[p].lambda_margin),
                       phases[p].start_lambda * (1 + phases[p].lambda_margin));
        start[l.median_d[l.size_of(p)]] = s.median_d_a / size_ratio[p];
        start[l.sigma_ln[l.size_of(p)]] = std::clamp(s.sigma_ln, 0.02, 0.6);
        if (l.sample[p].alpha >= 0 && s.alpha >= 0)
          start[l.sample[p].alpha] =
              std::clamp(s.alpha, phases[p].alpha_grid.front(), phases[p].alpha_grid.back());
      }
    start[l.b_iso] = std::clamp(from->b_iso, 0.0, 5.0);
    if (l.absorption >= 0) start[l.absorption] = std::clamp(from->absorption_m, 0.0, 2.0);
    for (std::size_t t = 0; t < l.background.size() && t < from->chebyshev.size(); ++t)
      start[l.background[t]] = from->chebyshev[t];
    if (l.hump_height >= 0 && from->hump) {
      start[l.hump_height] = std::max(from->hump->height, 0.01 * mean_y);
      start[l.hump_centre] = std::clamp(from->hump->centre, q.front(), q.back());
      start[l.hump_width] = std::clamp(from->hump->width_low, kHumpWidthMin, kHumpWidthMax);
      start[l.hump_width_high] = std::clamp(from->hump->width_high, kHumpWidthMin, kHumpWidthMax);
    }
    for (std::size_t g = 0; g < peaks.size(); ++g)
      for (const auto& pr : from->peaks) {
        if (pr.name != peaks[g].name) continue;
        start[l.peaks[g].a] = std::clamp(pr.a, peaks[g].a * (1 - peaks[g].cell_margin),
                                         peaks[g].a * (1 + peaks[g].cell_margin));
        start[l.peaks[g].fwhm] = std::clamp(pr.fwhm_inv_a, 0.003, 0.3);
        start[l.peaks[g].fwhm_slope] = std::clamp(pr.fwhm_slope, 0.0, kMaxWidthSlope);
        for (std::size_t j = 0; j < l.peaks[g].height.size() && j < pr.heights.size(); ++j)
          start[l.peaks[g].height[j]] = pr.heights[j];
      }
  }
  for (int md : l.median_d) start[md] = std::clamp(start[md], d_lo, d_hi);

  // One refinement with some sample phases held absent (scale 0, constant).
  // `iterations`: at most that many (0: evaluate and compute the covariance where it stands).
  const auto solve = [&](const std::vector<bool>& absent, std::vector<double> values, bool covariance,
                         int iterations = 100) {
    Solved out;
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (absent[p]) values[l.sample[p].scale] = 0.0;
    ceres::Problem::Options po;
    po.cost_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
    ceres::Problem problem(po);
    std::vector<double*> blocks;
    for (auto& v : values) blocks.push_back(&v);
    problem.AddResidualBlock(&model, nullptr, blocks);
    const auto bound = [&](int i, double lo, double hi) {
      problem.SetParameterLowerBound(blocks[i], 0, lo);
      problem.SetParameterUpperBound(blocks[i], 0, hi);
    };
    for (std::size_t p = 0; p < phases.size(); ++p) {
      const double s0 = phases[p].start_lambda, mrg = phases[p].lambda_margin;
      bound(l.sample[p].lambda, s0 * (1 - mrg), s0 * (1 + mrg));
      if (l.sample[p].alpha >= 0)
        bound(l.sample[p].alpha, phases[p].alpha_grid.front(), phases[p].alpha_grid.back());
      problem.SetParameterLowerBound(blocks[l.sample[p].scale], 0, 0.0);
      if (absent[p]) {
        problem.SetParameterBlockConstant(blocks[l.sample[p].scale]);
        problem.SetParameterBlockConstant(blocks[l.sample[p].lambda]);
        if (l.sample[p].alpha >= 0) problem.SetParameterBlockConstant(blocks[l.sample[p].alpha]);
      }
    }
    if (phases.empty() || one_size) {
      for (std::size_t j = 0; j < l.median_d.size(); ++j) {
        problem.SetParameterBlockConstant(blocks[l.median_d[j]]);
        problem.SetParameterBlockConstant(blocks[l.sigma_ln[j]]);
      }
      if (phases.empty()) problem.SetParameterBlockConstant(blocks[l.b_iso]);
    } else {
      for (std::size_t j = 0; j < l.median_d.size(); ++j) {
        bound(l.median_d[j], d_lo, d_hi);
        bound(l.sigma_ln[j], 0.02, 0.6);
      }
    }
    if (l.median_d.size() > 1)  // an absent phase's own sizes: nothing depends on them
      for (std::size_t p = 0; p < phases.size(); ++p)
        if (absent[p]) {
          problem.SetParameterBlockConstant(blocks[l.median_d[p]]);
          problem.SetParameterBlockConstant(blocks[l.sigma_ln[p]]);
        }
    bound(l.b_iso, 0.0, 5.0);
    if (l.absorption >= 0) bound(l.absorption, 0.0, 2.0);
    if (l.hump_height >= 0) {
      problem.SetParameterLowerBound(blocks[l.hump_height], 0, 0.0);
      bound(l.hump_centre, q.front(), q.back());
      bound(l.hump_width, kHumpWidthMin, kHumpWidthMax);
      bound(l.hump_width_high, kHumpWidthMin, kHumpWidthMax);
    }
    for (std::size_t g = 0; g < peaks.size(); ++g) {
      bound(l.peaks[g].a, peaks[g].a * (1 - peaks[g].cell_margin), peaks[g].a * (1 + peaks[g].cell_margin));
      bound(l.peaks[g].fwhm, 0.003, 0.3);
      bound(l.peaks[g].fwhm_slope, 0.0, kMaxWidthSlope);
      for (int h : l.peaks[g].height) problem.SetParameterLowerBound(blocks[h], 0, 0.0);
    }
    ceres::Solver::Options so;
    so.linear_solver_type = ceres::DENSE_QR;
    so.max_num_iterations = iterations;
    so.function_tolerance = 1e-8;
    so.parameter_tolerance = 1e-8;
    so.num_threads = 1;
    ceres::Solver::Summary summary;
    ceres::Solve(so, &problem, &summary);
    out.usable = summary.IsSolutionUsable();
    if (o.log) {
      std::string which;
      for (std::size_t p = 0; p < phases.size(); ++p)
        if (!absent[p]) which += (which.empty() ? "" : "+") + phases[p].name;
      if (which.empty()) which = "the Le Bail phases";
      o.log(fmt::format("refinement of {}: {} iterations, χ² {:.6g}{}", which, summary.iterations.size() - 1,
                        2.0 * summary.final_cost, out.usable ? "" : " (failed: " + summary.message + ")"));
    }
    out.message = summary.message;
    out.chi2 = 2.0 * summary.final_cost;
    out.values = values;
    if (covariance && out.usable) {
      ceres::Covariance::Options co;
      co.algorithm_type = ceres::DENSE_SVD;
      co.null_space_rank = -1;
      co.min_reciprocal_condition_number = 1e-14;
      ceres::Covariance cov(co);
      std::vector<std::pair<const double*, const double*>> pairs;
      std::vector<int> free_scales;
      for (std::size_t p = 0; p < phases.size(); ++p)
        if (!absent[p]) free_scales.push_back(l.sample[p].scale);
      for (int a : free_scales)
        for (int b : free_scales) pairs.emplace_back(blocks[a], blocks[b]);
      for (std::size_t p = 0; p < phases.size(); ++p) {
        if (absent[p]) continue;
        pairs.emplace_back(blocks[l.sample[p].lambda], blocks[l.sample[p].lambda]);
        if (l.sample[p].alpha >= 0) pairs.emplace_back(blocks[l.sample[p].alpha], blocks[l.sample[p].alpha]);
      }
      for (int md : l.median_d) pairs.emplace_back(blocks[md], blocks[md]);
      for (std::size_t g = 0; g < peaks.size(); ++g)
        pairs.emplace_back(blocks[l.peaks[g].a], blocks[l.peaks[g].a]);
      out.fraction_esd.assign(phases.size(), 0.0);
      out.lambda_esd.assign(phases.size(), 0.0);
      out.alpha_esd.assign(phases.size(), 0.0);
      out.a_esd_peaks.assign(peaks.size(), 0.0);
      if (cov.Compute(pairs, &problem)) {
        const double dof = std::max(1.0, static_cast<double>(q.size()) - l.count);
        const double gof2 = std::max(1.0, out.chi2 / dof);  // misfit widens σ, never narrows it
        const auto c = [&](int a, int b) {
          double v = 0;
          cov.GetCovarianceBlock(blocks[a], blocks[b], &v);
          return v * gof2;
        };
        double total = 0;
        for (int s : free_scales) total += values[s];
        if (total > 0)
          for (std::size_t p = 0; p < phases.size(); ++p) {
            if (absent[p]) continue;
            const double kp = values[l.sample[p].scale];
            double var = 0;
            for (int a : free_scales)
              for (int b : free_scales) {
                const double ja = ((a == l.sample[p].scale ? total : 0.0) - kp) / (total * total);
                const double jb = ((b == l.sample[p].scale ? total : 0.0) - kp) / (total * total);
                var += ja * jb * c(a, b);
              }
            out.fraction_esd[p] = std::sqrt(std::max(var, 0.0));
            out.lambda_esd[p] = std::sqrt(std::max(c(l.sample[p].lambda, l.sample[p].lambda), 0.0));
            if (l.sample[p].alpha >= 0)
              out.alpha_esd[p] = std::sqrt(std::max(c(l.sample[p].alpha, l.sample[p].alpha), 0.0));
          }
        for (int md : l.median_d) out.median_d_esd.push_back(std::sqrt(std::max(c(md, md), 0.0)));
        for (std::size_t g = 0; g < peaks.size(); ++g)
          out.a_esd_peaks[g] = std::sqrt(std::max(c(l.peaks[g].a, l.peaks[g].a), 0.0));
      }
    }
    return out;
  };

  std::vector<bool> absent(phases.size(), false);
  std::vector<std::vector<double>> starts{start};
  if (l.hump_height >= 0 && !(o.hump_centre > 0) && !(o.start_from && o.start_from->hump)) {
    // The linear columns at the start: each phase's curve, the background terms, the lines.
    std::vector<std::vector<double>> columns;
    std::vector<double> m0;
    std::vector<std::vector<double>> d0;
    std::vector<const double*> ptrs;
    for (const auto& x : start) ptrs.push_back(&x);
    model.model(ptrs.data(), m0, &d0);
    const auto column = [&](int param) {  // a line outside the range has no column
      if (!d0[param].empty()) columns.push_back(d0[param]);
    };
    for (std::size_t p = 0; p < phases.size(); ++p) column(l.sample[p].scale);
    for (int t : l.background) column(t);
    for (const auto& lp : l.peaks)
      for (int h : lp.height) column(h);
    const auto centres = hump_starts(q, y, sigma, columns, 2);
    if (!centres.empty()) {
      starts.clear();
      for (double c : centres) {
        starts.push_back(start);
        starts.back()[l.hump_centre] = c;
      }
    }
  }
  Solved best;
  for (const auto& s0 : starts) {
    // A short refinement from each start tells the better basin; only that one is finished.
    Solved trial = solve(absent, s0, false, starts.size() > 1 ? 15 : 100);
    if (trial.usable && (!best.usable || trial.chi2 < best.chi2)) best = std::move(trial);
  }
  // A phase whose scale sits on or next to its bound (0; below 0.1 % of the total) is absent:
  // far below any detectable fraction, and left free a projected
  // trust-region step keeps running into the bound and the refinement crawls (ρ ≈ 0.1 for
  // dozens of iterations).
  const auto drop_vanished = [&](const Solved& s) {
    double total = 0;
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (!absent[p]) total += s.values[l.sample[p].scale];
    bool dropped = false;
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (!absent[p] && s.values[l.sample[p].scale] <= 1e-3 * total) absent[p] = dropped = true;
    return dropped;
  };
  if (best.usable && (starts.size() > 1 || drop_vanished(best))) {
    drop_vanished(best);
    best = solve(absent, best.values, false);
  }
  if (!best.usable) {
    FitResult r;
    r.message = "the refinement failed: " + best.message;
    return r;
  }
  // Presence: drop the weakest phase while dropping it costs less than its BIC penalty (two
  // parameters: scale and cell) or its fraction is below the minimum; refit each time.
  const double n_points = static_cast<double>(q.size());
  while (o.presence_test) {
    double total = 0;
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (!absent[p]) total += best.values[l.sample[p].scale];
    int weakest = -1;
    double weakest_fraction = 2.0;
    std::size_t present = 0;
    for (std::size_t p = 0; p < phases.size(); ++p) {
      if (absent[p]) continue;
      ++present;
      const double x = total > 0 ? best.values[l.sample[p].scale] / total : 0.0;
      if (x < weakest_fraction) weakest_fraction = x, weakest = static_cast<int>(p);
    }
    if (present <= 1 || weakest < 0) break;
    // A minor phase whose cell ends on the edge of its window (the EOS at the frame's pressure
    // ± the margin) is not that phase: it is a filler soaking up misfit elsewhere. Dropped.
    int filler = -1;
    double filler_fraction = 2.0;
    for (std::size_t p = 0; p < phases.size(); ++p) {
      if (absent[p]) continue;
      const double lam = best.values[l.sample[p].lambda], s0 = phases[p].start_lambda,
                   mrg = phases[p].lambda_margin;
      const double x = total > 0 ? best.values[l.sample[p].scale] / total : 0.0;
      // On the edge: within 1 % of the window's half-width from it (a bounded solver stops there).
      const bool on_edge = std::abs(lam - s0 * (1 - mrg)) < 0.01 * mrg * s0 ||
                           std::abs(lam - s0 * (1 + mrg)) < 0.01 * mrg * s0;
      if (o.log)
        o.log(fmt::format("presence: {} fraction {:.4f}, λ {:.6f} in [{:.6f}, {:.6f}]", phases[p].name, x,
                          lam, s0 * (1 - mrg), s0 * (1 + mrg)));
      if (on_edge && x < 0.25 && x < filler_fraction) filler = static_cast<int>(p), filler_fraction = x;
    }
    if (filler >= 0) {
      auto trial_absent = absent;
      trial_absent[filler] = true;
      const Solved without = solve(trial_absent, best.values, false);
      if (without.usable) {
        absent = trial_absent;
        best = without;
        continue;
      }
    }
    if (weakest_fraction > 0.25) break;
    auto trial_absent = absent;
    trial_absent[weakest] = true;
    const Solved without = solve(trial_absent, best.values, false);
    // Quasi-likelihood BIC: with a model that misfits (χ²_red > 1) the σ of the data understate
    // the real error, and Δχ² is judged in units of χ²_red (Burnham & Anderson 2002, QAIC).
    // The parameters leaving with it: scale and cell, α for a faulted phase, and its own size
    // distribution when the phases do not share one.
    const double dropped_parameters =
        2.0 + (l.sample[weakest].alpha >= 0 ? 1.0 : 0.0) + (l.median_d.size() > 1 ? 2.0 : 0.0);
    const double penalty = dropped_parameters * std::log(n_points);
    const double chi2_red = std::max(1.0, best.chi2 / std::max(1.0, n_points - static_cast<double>(l.count)));
    if (without.usable &&
        ((without.chi2 - best.chi2) / chi2_red < penalty || weakest_fraction < o.min_fraction)) {
      absent = trial_absent;
      best = without;
    } else {
      break;
    }
  }
  best = solve(absent, best.values, true, 0);  // converged: the covariance where it stands

  FitResult r;
  r.converged = best.usable;
  r.message = best.message;
  const auto& v = best.values;
  double total = 0;
  for (std::size_t p = 0; p < phases.size(); ++p) total += absent[p] ? 0.0 : v[l.sample[p].scale];
  for (std::size_t p = 0; p < phases.size(); ++p) {
    SampleResult s;
    s.name = phases[p].name;
    s.absent = absent[p];
    s.scale = v[l.sample[p].scale];
    s.fraction = absent[p] || total <= 0 ? 0.0 : s.scale / total;
    s.fraction_esd = best.fraction_esd.empty() ? 0.0 : best.fraction_esd[p];
    s.lambda = v[l.sample[p].lambda];
    s.lambda_esd = best.lambda_esd.empty() ? 0.0 : best.lambda_esd[p];
    s.a = s.lambda * phases[p].a0;
    s.a_esd = s.lambda_esd * phases[p].a0;
    if (l.sample[p].alpha >= 0) {
      s.alpha = v[l.sample[p].alpha];
      s.alpha_esd = best.alpha_esd.empty() ? 0.0 : best.alpha_esd[p];
    }
    s.median_d_a = v[l.median_d[l.size_of(p)]] * size_ratio[p];
    s.median_d_esd = best.median_d_esd.empty() ? 0.0 : best.median_d_esd[l.size_of(p)] * size_ratio[p];
    s.sigma_ln = v[l.sigma_ln[l.size_of(p)]];
    r.phases.push_back(s);
  }
  for (std::size_t g = 0; g < peaks.size(); ++g) {
    PeaksResult pr;
    pr.name = peaks[g].name;
    pr.a = v[l.peaks[g].a];
    pr.a_esd = best.a_esd_peaks.empty() ? 0.0 : best.a_esd_peaks[g];
    pr.c = peaks[g].hexagonal ? peaks[g].c * pr.a / peaks[g].a : 0.0;
    pr.fwhm_inv_a = v[l.peaks[g].fwhm];
    pr.fwhm_slope = v[l.peaks[g].fwhm_slope];
    // A cell on the edge of its window found no lines of its own there: not a measurement.
    pr.cell_at_bound = std::abs(pr.a / peaks[g].a - 1.0) > 0.99 * peaks[g].cell_margin;
    for (int h : l.peaks[g].height) pr.heights.push_back(v[h]);
    r.peaks.push_back(pr);
  }
  // The size reported for the sample: the shared distribution's, or the major phase's.
  if (!r.phases.empty()) {
    const auto major =
        static_cast<std::size_t>(std::max_element(r.phases.begin(), r.phases.end(),
                                                  [](const SampleResult& a, const SampleResult& b) {
                                                    return a.fraction < b.fraction;
                                                  }) -
                                 r.phases.begin());
    r.median_d_a = r.phases[major].median_d_a;
    r.median_d_esd = r.phases[major].median_d_esd;
    r.sigma_ln = r.phases[major].sigma_ln;
  }
  r.b_iso = v[l.b_iso];
  r.absorption_m = l.absorption >= 0 ? v[l.absorption] : 0.0;
  if (l.hump_height >= 0)
    r.hump = Hump{v[l.hump_height], v[l.hump_centre], v[l.hump_width], v[l.hump_width_high]};
  for (int t : l.background) r.chebyshev.push_back(v[t]);
  r.points = q.size();
  std::vector<const double*> ptrs;
  for (const auto& x : v) ptrs.push_back(&x);
  std::vector<double> calc;
  model.model(ptrs.data(), calc, nullptr, &r.phase_curves);
  r.q = q;
  r.observed = y;
  r.calculated = calc;
  r.background.resize(q.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    double sample = 0;
    for (const auto& c : r.phase_curves) sample += c[i];
    r.background[i] = calc[i] - sample;
    const double w = 1.0 / (sigma[i] * sigma[i]);
    num += w * (y[i] - calc[i]) * (y[i] - calc[i]);
    den += w * y[i] * y[i];
  }
  r.rwp = den > 0 ? std::sqrt(num / den) : 0.0;
  r.gof = std::sqrt(best.chi2 / std::max(1.0, n_points - l.count));

  if (o.model_spread && r.converged) {
    // The same phases (those present), other reasonable model choices (background terms, the
    // hump, sizes shared or not, absorption): the spread of the fractions.
    std::vector<SamplePhase> present;
    std::vector<std::size_t> index;
    for (std::size_t p = 0; p < phases.size(); ++p)
      if (!absent[p]) {
        present.push_back(phases[p]);
        present.back().start_lambda = r.phases[p].lambda;
        index.push_back(p);
      }
    if (present.size() > 1) {
      std::vector<FitOptions> choices;
      for (int dt : {-2, +3}) {
        FitOptions alt = o;
        alt.background_terms = std::max(2, o.background_terms + dt);
        choices.push_back(alt);
      }
      if (o.hump) {
        FitOptions alt = o;
        alt.hump = false;
        choices.push_back(alt);
      }
      {
        FitOptions alt = o;
        alt.shared_size = !o.shared_size;
        choices.push_back(alt);
      }
      if (o.absorption) {
        FitOptions alt = o;
        alt.absorption = false;
        choices.push_back(alt);
      }
      std::vector<double> max_dev(phases.size(), 0.0);
      for (auto alt : choices) {
        alt.presence_test = false;
        alt.model_spread = false;
        alt.start_from = &r;
        try {
          const auto other = fit_pattern(q, y, sigma, present, peaks, alt);
          // A choice the data reject outright (Rwp more than doubled, χ² four times the best's)
          // is not a plausible model: its fractions say nothing about the error of this one.
          if (!other.converged || other.rwp > 2.0 * r.rwp) continue;
          if (o.log)
            o.log(fmt::format(
                "model choice: {} background terms, hump {}, sizes {}, absorption {}: Rwp {:.5f}, "
                "{} {:+.4f}",
                alt.background_terms, alt.hump ? "on" : "off", alt.shared_size ? "shared" : "per phase",
                alt.absorption ? "on" : "off", other.rwp, present.front().name,
                other.phases[0].fraction - r.phases[index[0]].fraction));
          for (std::size_t k = 0; k < index.size(); ++k)
            max_dev[index[k]] =
                std::max(max_dev[index[k]], std::abs(other.phases[k].fraction - r.phases[index[k]].fraction));
        } catch (const InputError& e) {
          // A choice that cannot be fitted (too few points for its terms) adds nothing to the spread.
          if (o.log) o.log(fmt::format("model choice not fitted: {}", e.what()));
        }
      }
      for (std::size_t p = 0; p < phases.size(); ++p) {
        r.phases[p].fraction_spread = max_dev[p];
        r.phases[p].fraction_esd = std::hypot(r.phases[p].fraction_esd, max_dev[p]);
      }
    }
  }
  return r;
}

}  // namespace anvil::debye
