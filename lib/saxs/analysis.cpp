#include "saxs/analysis.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <numeric>

#include "core/error.hpp"

namespace anvil::saxs {

namespace {

constexpr const char* kSource = "SAXS pattern";

std::vector<double> moving_average(const std::vector<double>& v, int half) {
  const int n = static_cast<int>(v.size());
  std::vector<double> prefix(n + 1, 0.0), out(n);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + v[i];
  for (int i = 0; i < n; ++i) {
    const int lo = std::max(0, i - half), hi = std::min(n - 1, i + half);
    out[i] = (prefix[hi + 1] - prefix[lo]) / (hi - lo + 1);
  }
  return out;
}

// Cuts the beamstop's shadow and penumbra at low q (a pattern whose intensity climbs from its first
// point to a maximum more than 3× higher within the first tenth of the points and stays up) and the detector
// edge at high q (the intensity falling below a third of the median of the last fifth), with a margin of 2 %
// of the points beyond each cut: an instrument's edges, not the sample.
void trim_to_usable_range(std::vector<double>& q, std::vector<double>& intensity, std::vector<double>& sigma,
                          std::string& note) {
  const std::size_t n = q.size();
  if (n < 50) return;
  const auto smooth = moving_average(intensity, 2);
  const std::size_t margin = std::max<std::size_t>(3, n / 50);
  std::size_t lo = 0, hi = n;
  const std::size_t first = std::max<std::size_t>(1, n / 10);
  const std::size_t peak = std::max_element(smooth.begin(), smooth.begin() + first) - smooth.begin();
  // Only a pattern that starts by rising: SAXS falls with q, a Bragg peak near the beamstop does not
  // make the first points climb.
  // and stays up after its maximum (an edge, where a Bragg peak falls back to the diffuse level).
  const bool rising = smooth[std::min(margin, n - 1)] > smooth[0];
  std::vector<double> after(smooth.begin() + static_cast<long>(first),
                            smooth.begin() + static_cast<long>(2 * first));
  std::nth_element(after.begin(), after.begin() + after.size() / 2, after.end());
  const bool stays_up = after[after.size() / 2] > 3 * std::max(smooth[0], 0.0);
  if (rising && stays_up && peak > 0 && smooth[peak] > 3 * std::max(smooth[0], 0.0)) {
    lo = std::min(n, peak + margin);
    // That maximum may be a reflection just behind the edge rather than the edge's top. The edge is
    // the steepest relative rise before it, its width the span over which the rise is steeper than
    // half that; 1.5 widths past the steepest point an erf edge transmits > 99.8 %. Beyond that cut
    // a reflection rises to the maximum and falls again about as far on the other side, by a fifth at
    // least; an edge's top stays nearly level after it (the diffuse curve's slow fall).
    std::vector<double> g(peak + 1, 0.0);
    for (std::size_t i = 1; i <= peak && i + 1 < n; ++i)
      if (smooth[i - 1] > 0 && smooth[i + 1] > 0) g[i] = 0.5 * std::log(smooth[i + 1] / smooth[i - 1]);
    const std::size_t steep = std::max_element(g.begin(), g.end()) - g.begin();
    std::size_t a = steep, b = steep;
    while (a > 0 && g[a - 1] > 0.5 * g[steep]) --a;
    while (b < peak && g[b + 1] > 0.5 * g[steep]) ++b;
    const std::size_t edge_cut = steep + (3 * (b - a + 1) + 1) / 2;
    if (edge_cut < peak && peak + (peak - edge_cut) < n) {
      const double left = smooth[edge_cut] / smooth[peak];
      const double right = smooth[peak + (peak - edge_cut)] / smooth[peak];
      if (right < 0.8 && right <= left + 0.05) lo = edge_cut;
    }
  }
  std::vector<double> tail(smooth.end() - static_cast<long>(n / 5), smooth.end());
  std::nth_element(tail.begin(), tail.begin() + tail.size() / 2, tail.end());
  const double level = tail[tail.size() / 2];
  if (level > 0) {
    std::size_t k = n;
    while (k > lo + 1 && smooth[k - 1] < level / 3) --k;
    if (k < n) hi = k > margin ? k - margin : 0;
  }
  if (lo == 0 && hi == n) return;
  if (hi <= lo + 20) return;  // nothing sensible left: keep it all and let the analysis say so
  note = fmt::format("q {:.4g}–{:.4g} used: {} points cut at low q (beamstop), {} at high q (detector edge)",
                     q[lo], q[hi - 1], lo, n - hi);
  auto cut = [&](std::vector<double>& v) {
    v = std::vector<double>(v.begin() + static_cast<long>(lo), v.begin() + static_cast<long>(hi));
  };
  cut(q), cut(intensity), cut(sigma);
}

}  // namespace

Pattern1D to_q_inv_nm(const Pattern1D& pattern) {
  Pattern1D p = pattern;
  if (p.unit == RadialUnit::QInvA) {
    for (double& x : p.x) x *= 10.0;
    p.unit = RadialUnit::QInvNm;
  } else if (p.unit != RadialUnit::QInvNm) {
    throw InputError(kSource, fmt::format("indexing needs q (q_nm^-1 or q_A^-1), the pattern is in {}",
                                          unit_name(p.unit)));
  }
  return p;
}

DomainSize domain_size(const std::vector<Peak>& peaks, const LatticeSolution& solution, double scherrer_k,
                       double instrument_fwhm) {
  DomainSize d;
  double sw = 0, swl = 0;
  std::vector<double> sizes;
  for (const auto& a : solution.assignments) {
    const auto& p = peaks[a.peak];
    const double w2 = p.fwhm * p.fwhm - instrument_fwhm * instrument_fwhm;
    if (w2 <= 0.01 * p.fwhm * p.fwhm) {
      d.resolution_limited = true;
      continue;
    }
    const double w = std::sqrt(w2);
    const double l = scherrer_k * 2 * std::numbers::pi / w;
    // σ(L)/L = σ(w)/w · (w_meas/w)² (quadrature removal of the instrument width).
    const double rel = (p.fwhm_esd > 0 ? p.fwhm_esd / p.fwhm : 0.05) * (p.fwhm * p.fwhm / w2);
    const double sl = std::max(l * rel, 1e-6 * l);
    sw += 1 / (sl * sl);
    swl += l / (sl * sl);
    sizes.push_back(l);
  }
  if (sizes.empty()) return d;
  d.size_nm = swl / sw;
  d.size_esd_nm = std::sqrt(1 / sw);
  if (sizes.size() > 1) {
    // Scatter between peaks (strain, shape) beyond the fit errors widens the error bar.
    double s2 = 0;
    for (double l : sizes) s2 += std::pow(l - d.size_nm, 2);
    d.size_esd_nm = std::max(d.size_esd_nm, std::sqrt(s2 / (sizes.size() - 1) / sizes.size()));
  }
  d.peaks_used = sizes.size();
  return d;
}

namespace {

// The lattice decision and the per-phase report on the flattened curve and peaks of r.
void index_peaks(SaxsResult& r, const SaxsSettings& settings) {
  IndexSettings is = settings.index;
  is.q_min = r.q_min_inv_nm;
  is.q_max = r.q_max_inv_nm;
  r.index = index_pattern(FlatCurve{r.q, r.flattened, r.flattened_sigma}, r.peaks, is);
  r.lattice = r.index.lattice;
  if (r.lattice == Lattice::none) {
    r.reason = r.index.reason;
    return;
  }

  double total_area = 0;
  for (const auto& ph : r.index.phases)
    for (const auto& a : ph.assignments) total_area += r.peaks[a.peak].area;
  for (const auto& sol : r.index.phases) {
    PhaseReport rep;
    rep.solution = sol;
    const double c = sol.c_nm > 0 ? sol.c_nm : sol.a_nm;
    rep.d_nn_nm = nearest_neighbour_distance(sol.lattice, sol.a_nm, c);
    rep.d_nn_esd_nm = rep.d_nn_nm * sol.a_esd_nm / sol.a_nm;
    rep.volume_per_particle_nm3 = volume_per_particle(sol.lattice, sol.a_nm, c);
    rep.area_per_column_nm2 = area_per_column(sol.lattice, sol.a_nm);
    rep.domain = domain_size(r.peaks, sol, settings.scherrer_k, settings.instrument_fwhm_inv_nm);
    rep.reflections = reflections(sol.lattice, sol.a_nm, c, r.q_max_inv_nm);
    std::erase_if(rep.reflections, [&](const Reflection& x) { return x.q < r.q_min_inv_nm; });
    double area = 0;
    for (const auto& a : sol.assignments) area += r.peaks[a.peak].area;
    rep.area_fraction = total_area > 0 ? area / total_area : 0;
    r.phases.push_back(std::move(rep));
  }
}

}  // namespace

SaxsResult analyse_saxs(const Pattern1D& input, const SaxsSettings& settings) {
  const Pattern1D pattern = to_q_inv_nm(input);
  const std::size_t n_in = pattern.x.size();
  if (pattern.intensity.size() != n_in)
    throw InputError(kSource, fmt::format("{} q values but {} intensities", n_in, pattern.intensity.size()));
  if (!pattern.sigma.empty() && pattern.sigma.size() != n_in)
    throw InputError(kSource, fmt::format("{} q values but {} σ values", n_in, pattern.sigma.size()));

  // q must increase (a pattern written high q first is read backwards); a q axis that goes back and
  // forth is a corrupted or concatenated file, not something to sort silently.
  {
    std::vector<double> finite_q;
    for (double q : pattern.x)
      if (std::isfinite(q)) finite_q.push_back(q);
    const bool increasing =
        std::adjacent_find(finite_q.begin(), finite_q.end(), std::greater_equal<>()) == finite_q.end();
    const bool decreasing =
        std::adjacent_find(finite_q.begin(), finite_q.end(), std::less_equal<>()) == finite_q.end();
    if (!increasing && !decreasing) {
      std::size_t k = 1;
      while (k < finite_q.size() && finite_q[k] > finite_q[k - 1]) ++k;
      throw InputError(kSource, fmt::format("q does not increase: point {} (q = {:g}) follows q = {:g}",
                                            k + 1, finite_q[k], finite_q[k - 1]));
    }
  }
  {
    const std::size_t bad = std::count_if(pattern.intensity.begin(), pattern.intensity.end(),
                                          [](double v) { return !std::isfinite(v); });
    if (bad == n_in && n_in > 0)
      throw InputError(kSource, fmt::format("all {} intensities are NaN or infinite", n_in));
  }
  // Points inside the q range, finite, sorted by q.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n_in; ++i) {
    const double q = pattern.x[i];
    if (!std::isfinite(q) || !std::isfinite(pattern.intensity[i]) || q <= 0) continue;
    if (settings.q_min_inv_nm > 0 && q < settings.q_min_inv_nm) continue;
    if (settings.q_max_inv_nm > 0 && q > settings.q_max_inv_nm) continue;
    order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return pattern.x[a] < pattern.x[b]; });
  if (order.size() < settings.min_points)
    throw InputError(kSource,
                     fmt::format("{} usable points with q > 0 in the q range; indexing needs at least {}",
                                 order.size(), settings.min_points));
  SaxsResult r;
  std::vector<double> q, intensity, sigma;
  for (std::size_t i : order) {
    q.push_back(pattern.x[i]);
    intensity.push_back(pattern.intensity[i]);
    sigma.push_back(pattern.sigma.empty() ? 0.0 : pattern.sigma[i]);
  }
  trim_to_usable_range(q, intensity, sigma, r.trimmed);
  const std::size_t n = q.size();
  if (n < settings.min_points)
    throw InputError(kSource,
                     fmt::format("{} usable points after cutting the beamstop shadow and detector edge; "
                                 "indexing needs at least {}",
                                 n, settings.min_points));
  r.q_min_inv_nm = q.front();
  r.q_max_inv_nm = q.back();
  if (!(r.q_max_inv_nm > r.q_min_inv_nm)) throw InputError(kSource, "all points at one q");

  const std::size_t positive =
      std::count_if(intensity.begin(), intensity.end(), [](double v) { return v > 0; });
  if (positive < n / 2) {
    r.reason = positive == 0 ? "no positive intensity (empty or fully background-subtracted frame)"
                             : fmt::format("only {} of {} points have positive intensity", positive, n);
    return r;
  }
  const double max_abs = std::accumulate(intensity.begin(), intensity.end(), 0.0,
                                         [](double m, double v) { return std::max(m, std::abs(v)); });
  // σ: given, or estimated; zero or missing values replaced by the estimate.
  {
    bool need = pattern.sigma.empty();
    for (double s : sigma) need = need || !(s > 0) || !std::isfinite(s);
    if (need) {
      const auto est = estimate_sigma(intensity);
      for (std::size_t i = 0; i < n; ++i)
        if (!(sigma[i] > 0) || !std::isfinite(sigma[i])) sigma[i] = est[i];
    }
    for (double& s : sigma) s = std::max(s, max_abs * 1e-12 + 1e-300);
  }

  // Baseline: SNIP on the smoothed log-intensity clips every bump up to the widest peak searched for.
  const double dq = (q.back() - q.front()) / (n - 1);
  const int half_width =
      std::clamp(static_cast<int>(std::ceil(1.5 * settings.peaks.max_fwhm / dq)), 3, static_cast<int>(n / 3));
  std::vector<double> positive_values;
  for (double v : intensity)
    if (v > 0) positive_values.push_back(v);
  std::nth_element(positive_values.begin(), positive_values.begin() + positive_values.size() / 2,
                   positive_values.end());
  const double floor = positive_values[positive_values.size() / 2] * 1e-4;
  const int smooth = std::max(1, static_cast<int>(settings.peaks.min_fwhm_points));
  std::vector<double> log_i(n);
  for (std::size_t i = 0; i < n; ++i) log_i[i] = std::log(std::max(intensity[i], floor));
  const auto log_smooth = moving_average(log_i, smooth);
  const auto b0 = snip_baseline(log_smooth, half_width);

  // Diffuse model on the points clear of peaks.
  std::vector<bool> include(n, true);
  {
    std::vector<bool> peak(n, false);
    const auto i_smooth = moving_average(intensity, smooth);
    for (std::size_t i = 0; i < n; ++i) {
      const double base = std::exp(b0[i]);
      peak[i] =
          (i_smooth[i] - base) > 3.0 * sigma[i] / std::sqrt(2.0 * smooth + 1) && i_smooth[i] > 1.05 * base;
    }
    const int grow = std::max(2, half_width / 10);
    for (std::size_t i = 0; i < n; ++i)
      if (peak[i])
        for (int k = -grow; k <= grow; ++k) {
          const long j = static_cast<long>(i) + k;
          if (j >= 0 && j < static_cast<long>(n)) include[j] = false;
        }
    if (std::count(include.begin(), include.end(), true) < static_cast<long>(n / 5)) include.assign(n, true);
  }
  r.background = fit_background(q, intensity, sigma, include, settings.background);
  std::vector<double> model = r.background.evaluate(q);
  bool model_ok = r.background.points_used >= 5;
  for (double m : model) model_ok = model_ok && m > 0 && std::isfinite(m);

  // Flattened curve I/B − 1 with B = model × exp(SNIP of the log residual): the parametric model
  // takes the form factor and power law out, SNIP whatever they miss. A first pass clips bumps up to
  // the widest peak searched for; the second clips only up to ~2.5 × the width the peaks actually
  // have, so the baseline follows the form factor closely and does not skew the peaks.
  // SNIP works on √(I/model): the power law and constant are divided out, and a form-factor zero,
  // |F|² ∝ (q − q₀)², is a straight V there which SNIP follows (in log I it would be clipped).
  std::vector<double> root_ratio(n);
  auto prepare_root_ratio = [&](int smooth_half) {
    const auto i_smooth = moving_average(intensity, smooth_half);
    for (std::size_t i = 0; i < n; ++i)
      root_ratio[i] = std::sqrt(std::max(i_smooth[i], floor) / (model_ok ? model[i] : 1.0));
  };
  prepare_root_ratio(smooth);
  r.q = q;
  r.baseline.resize(n);
  r.flattened.resize(n);
  std::vector<double> flat_sigma(n);
  auto flatten = [&](int snip_half_width) {
    const auto corr = snip_baseline(root_ratio, snip_half_width);
    for (std::size_t i = 0; i < n; ++i) {
      r.baseline[i] = corr[i] * corr[i] * (model_ok ? model[i] : 1.0);
      r.flattened[i] = intensity[i] / r.baseline[i] - 1.0;
      flat_sigma[i] = sigma[i] / r.baseline[i];
    }
  };
  flatten(half_width);
  auto candidates = find_peak_candidates(q, r.flattened, flat_sigma, settings.peaks);
  // Narrow the SNIP window to the width the strongest peaks actually have (the median of the three
  // most significant), twice: a first, wide baseline lets broad ripple through as candidates.
  int current = half_width;
  for (int pass = 0; pass < 2 && !candidates.empty(); ++pass) {
    auto strongest = candidates;
    std::sort(strongest.begin(), strongest.end(),
              [](const PeakCandidate& a, const PeakCandidate& b) { return a.snr > b.snr; });
    strongest.resize(std::min<std::size_t>(strongest.size(), 3));
    std::vector<double> widths;
    for (const auto& c : strongest) widths.push_back(c.fwhm);
    std::sort(widths.begin(), widths.end());
    const double typical = widths[widths.size() / 2];
    const int narrow = std::clamp(static_cast<int>(std::ceil(2.5 * typical / dq)), 3, half_width);
    if (narrow >= current) break;
    current = narrow;
    // Smoothing over a quarter of the peak width keeps SNIP off the noise minima.
    prepare_root_ratio(std::max(smooth, static_cast<int>(std::lround(0.25 * typical / dq))));
    flatten(narrow);
    candidates = find_peak_candidates(q, r.flattened, flat_sigma, settings.peaks);
  }
  r.peaks = refine_peaks(q, r.flattened, flat_sigma, candidates, settings.peaks);

  r.flattened_sigma = std::move(flat_sigma);
  index_peaks(r, settings);
  return r;
}

SaxsResult reindex_saxs(SaxsResult analysed, const SaxsSettings& settings) {
  // A pattern that stopped before its peak search (no positive intensity) has nothing to index.
  if (analysed.flattened.empty()) return analysed;
  analysed.lattice = Lattice::none;
  analysed.reason.clear();
  analysed.phases.clear();
  analysed.index = {};
  index_peaks(analysed, settings);
  return analysed;
}

std::vector<SeriesFrame> analyse_series(const std::vector<Pattern1D>& frames, const SaxsSettings& settings,
                                        const SeriesSettings& series,
                                        const std::vector<double>& pressure_gpa) {
  return analyse_series(frames, std::vector<const SaxsResult*>(frames.size(), nullptr), settings, series,
                        pressure_gpa);
}

std::vector<SeriesFrame> analyse_series(const std::vector<Pattern1D>& frames,
                                        const std::vector<const SaxsResult*>& analysed,
                                        const SaxsSettings& settings, const SeriesSettings& series,
                                        const std::vector<double>& pressure_gpa) {
  if (analysed.size() != frames.size())
    throw InputError(kSource,
                     fmt::format("{} analysed patterns for {} frames", analysed.size(), frames.size()));
  if (!pressure_gpa.empty() && pressure_gpa.size() != frames.size())
    throw InputError(kSource, fmt::format("{} pressures for {} frames", pressure_gpa.size(), frames.size()));
  std::vector<SeriesFrame> out;
  std::optional<LatticeSolution> previous;
  Lattice previous_lattice = Lattice::none;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    SaxsSettings s = settings;
    if (previous) {
      LatticePrior prior;
      prior.lattice = previous->lattice;
      prior.a_nm = previous->a_nm;
      prior.c_nm = previous->c_nm;
      prior.max_jump = series.max_relative_jump;
      prior.bonus = series.prior_bonus;
      s.index.prior = prior;
    }
    SeriesFrame f;
    try {
      f.result = analysed[k] ? reindex_saxs(*analysed[k], s) : analyse_saxs(frames[k], s);
    } catch (const InputError& e) {
      // One unusable frame (too few points, a corrupt q axis) does not stop the series.
      f.error = e.what();
      f.result.reason = e.what();
    }
    if (!pressure_gpa.empty()) f.pressure_gpa = pressure_gpa[k];
    const std::string at = std::isnan(f.pressure_gpa)
                               ? fmt::format("frame {}", k)
                               : fmt::format("{:.2f} GPa (frame {})", f.pressure_gpa, k);
    if (k > 0) {
      const Lattice now = f.result.lattice;
      if (now != previous_lattice) {
        f.discontinuity = true;
        f.transition = true;
        f.from = previous_lattice;
        f.to = now;
        f.change = fmt::format("{} → {} at {}", lattice_name(previous_lattice), lattice_name(now), at);
      } else if (previous && now != Lattice::none) {
        const auto& sol = f.result.phases.front().solution;
        const double ja = sol.a_nm / previous->a_nm - 1;
        const double jc = sol.c_nm > 0 && previous->c_nm > 0 ? sol.c_nm / previous->c_nm - 1 : 0;
        if (std::abs(ja) > series.max_relative_jump || std::abs(jc) > series.max_relative_jump) {
          f.discontinuity = true;
          f.change = std::abs(ja) >= std::abs(jc) ? fmt::format("a {:.3f} → {:.3f} nm ({:+.1f} %) at {}",
                                                                previous->a_nm, sol.a_nm, 100 * ja, at)
                                                  : fmt::format("c {:.3f} → {:.3f} nm ({:+.1f} %) at {}",
                                                                previous->c_nm, sol.c_nm, 100 * jc, at);
        }
      }
    }
    previous_lattice = f.result.lattice;
    // The prior is the last lattice seen: a frame without one (a beam-off frame, a disordered moment)
    // does not make the next forget it.
    if (f.result.lattice != Lattice::none) previous = f.result.phases.front().solution;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace anvil::saxs
