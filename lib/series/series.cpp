#include "series/series.hpp"

#include <fmt/format.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "core/error.hpp"
#include "series/standard_pressure.hpp"

namespace anvil::series {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr powder::PhaseParam kAK = powder::PhaseParam::A, kCK = powder::PhaseParam::C;

using Mask = unsigned;

// Models for every subset of the phases that a frame needs, made on first use. A PatternModel
// holds scratch space and is not thread-safe: each thread has its own cache.
class ModelCache {
 public:
  ModelCache(const std::vector<powder::PowderPhase>* phases, const powder::ModelSettings* settings,
             const std::vector<double>* x)
      : phases_(phases), settings_(settings), x_(x) {}
  const powder::PatternModel& get(Mask mask) {
    auto it = models_.find(mask);
    if (it != models_.end()) return *it->second;
    std::vector<powder::PowderPhase> sub;
    for (std::size_t p = 0; p < phases_->size(); ++p)
      if (mask & (1u << p)) sub.push_back((*phases_)[p]);
    auto m = std::make_unique<powder::PatternModel>(*settings_, std::move(sub), *x_);
    return *models_.emplace(mask, std::move(m)).first->second;
  }

 private:
  const std::vector<powder::PowderPhase>* phases_;
  const powder::ModelSettings* settings_;
  const std::vector<double>* x_;
  std::map<Mask, std::unique_ptr<powder::PatternModel>> models_;
};

struct Context {
  const std::vector<powder::PowderPhase>& phases;
  const powder::ModelSettings& settings;
  const powder::PatternParameters& start;
  const SeriesOptions& options;
  std::vector<double> x;
  std::vector<std::string> names;  // flat parameter names, all phases
  tbb::enumerable_thread_specific<ModelCache> caches;
  Context(const std::vector<powder::PowderPhase>& ph, const powder::ModelSettings& s,
          const powder::PatternParameters& st, const SeriesOptions& o, std::vector<double> grid)
      : phases(ph),
        settings(s),
        start(st),
        options(o),
        x(std::move(grid)),
        names(st.names(ph)),
        caches([this] { return ModelCache(&phases, &settings, &x); }) {}
  Mask all() const { return (1u << phases.size()) - 1u; }
  bool is_standard(std::size_t p) const { return static_cast<int>(p) == options.standard_phase; }
};

powder::PatternParameters subset(const powder::PatternParameters& full, Mask mask) {
  powder::PatternParameters out = full;
  out.phases.clear();
  for (std::size_t p = 0; p < full.phases.size(); ++p)
    if (mask & (1u << p)) out.phases.push_back(full.phases[p]);
  return out;
}

// Values of a subset fit put back into the all-phase parameters (absent phases: scale 0).
powder::PatternParameters merge(const powder::PatternParameters& full, const powder::PatternParameters& sub,
                                Mask mask) {
  powder::PatternParameters out = sub;
  out.phases = full.phases;
  std::size_t k = 0;
  for (std::size_t p = 0; p < full.phases.size(); ++p) {
    if (mask & (1u << p)) {
      out.phases[p] = sub.phases[k++];
    } else {
      out.phases[p].scale.value = 0.0;
    }
  }
  return out;
}

double chi2_of(const powder::FitResult& r) {
  const double dof = std::max(1.0, static_cast<double>(r.num_points - r.num_free));
  return r.chi2_reduced * dof;
}

int refined_in_phase(const powder::PhaseParameters& q) {
  int k = 0;
  for (const auto* p : {&q.scale, &q.a, &q.c, &q.size_nm, &q.strain, &q.b_iso}) k += p->refine;
  return k;
}

// Points that cannot be weighted (NaN, σ ≤ 0) get zero weight (I = 0, σ = 1e30), so that every
// frame keeps the same points.
int sanitise(powder::PowderPattern& pat) {
  int bad = 0;
  if (pat.sigma.empty())
    for (double y : pat.intensity) pat.sigma.push_back(std::sqrt(std::max(std::isfinite(y) ? y : 0.0, 1.0)));
  for (std::size_t i = 0; i < pat.intensity.size(); ++i)
    if (!std::isfinite(pat.intensity[i]) || !(pat.sigma[i] > 0.0) || !std::isfinite(pat.sigma[i])) {
      pat.intensity[i] = 0.0;
      pat.sigma[i] = 1e30;
      ++bad;
    }
  return bad;
}

// Cells of every phase at `pressure` from the EOS (kept within the start's bounds).
void seed_cells(powder::PatternParameters& par, const std::vector<powder::PowderPhase>& phases,
                const std::vector<PhaseEos>& eos, double pressure, std::vector<std::string>* notes) {
  for (std::size_t p = 0; p < phases.size(); ++p) {
    auto& q = par.phases[p];
    try {
      const auto [a, c] = cell_at(phases[p], eos[p], pressure);
      q.a.value = std::clamp(a, q.a.lower, q.a.upper);
      if (phases[p].kind == powder::CellKind::Hexagonal) q.c.value = std::clamp(c, q.c.lower, q.c.upper);
    } catch (const InputError& e) {
      if (notes)
        notes->push_back(fmt::format("{}: no EOS cell at {:.2f} GPa ({}); ambient cell used", phases[p].name,
                                     pressure, e.what()));
      q.a.value = phases[p].a;
      q.c.value = phases[p].c;
    }
  }
}

// The pressure whose EOS cells fit the pattern best, by a linear fit of the phase scales and the
// background at each trial pressure (0.5 GPa grid, then 0.1 GPa around the best).
double scan_seed_pressure(Context& ctx, const powder::PowderPattern& pat, const std::vector<PhaseEos>& eos) {
  const auto& model = ctx.caches.local().get(ctx.all());
  powder::PatternParameters par = ctx.start;
  const std::size_t N = pat.intensity.size(), nb = par.background.size(), np = ctx.phases.size();
  std::vector<double> values;
  for (const auto* q : par.flat()) values.push_back(q->value);
  const std::size_t P = values.size();
  std::vector<double> jac(N * P), m(N);
  std::vector<char> need(P, 0);
  for (std::size_t k = 0; k < nb; ++k) need[par.background_index(k)] = 1;
  model.evaluate(values, m.data(), jac.data(), need);
  Eigen::MatrixXd A(N, np + nb);
  Eigen::VectorXd b(N);
  for (std::size_t i = 0; i < N; ++i) {
    const double w = 1.0 / pat.sigma[i];
    b(i) = pat.intensity[i] * w;
    for (std::size_t k = 0; k < nb; ++k) A(i, np + k) = jac[par.background_index(k) * N + i] * w;
  }
  const auto chi2_at = [&](double pressure) {
    seed_cells(par, ctx.phases, eos, pressure, nullptr);
    for (std::size_t p = 0; p < np; ++p) {
      values[par.phase_index(p, kAK)] = par.phases[p].a.value;
      values[par.phase_index(p, kCK)] = par.phases[p].c.value;
    }
    const auto unit = model.unit_phase_patterns(values);
    for (std::size_t p = 0; p < np; ++p)
      for (std::size_t i = 0; i < N; ++i) A(i, p) = unit[p][i] / pat.sigma[i];
    const Eigen::VectorXd sol = A.colPivHouseholderQr().solve(b);
    return (A * sol - b).squaredNorm();
  };
  double best = 0.0, best_chi2 = chi2_at(0.0);
  for (double p = 0.5; p <= ctx.options.seed_scan_max_gpa + 1e-9; p += 0.5) {
    const double c = chi2_at(p);
    if (c < best_chi2) best = p, best_chi2 = c;
  }
  const double centre = best;
  for (double p = centre - 0.4; p <= centre + 0.4 + 1e-9; p += 0.1) {
    if (p < 0) continue;
    const double c = chi2_at(p);
    if (c < best_chi2) best = p, best_chi2 = c;
  }
  return best;
}

powder::FitResult run_refine(Context& ctx, Mask mask, const powder::PowderPattern& pat,
                             const powder::PatternParameters& start, int& nfits) {
  ++nfits;
  return powder::refine(ctx.caches.local().get(mask), pat, start, ctx.options.refine);
}

// Fits one frame from `start` (all phases), applying the presence rule when `presence`.
FrameResult fit_frame(Context& ctx, const SeriesFrame& fr, const powder::PatternParameters& start,
                      bool presence, FrameResult out) {
  const std::size_t np = ctx.phases.size();
  const auto& rule = ctx.options.presence;
  out.phases.assign(np, {});
  for (std::size_t p = 0; p < np; ++p) out.phases[p].name = ctx.phases[p].name;
  out.parameters = start;
  try {
    powder::PowderPattern pat = fr.pattern;
    const int bad = sanitise(pat);
    if (bad > 0)
      out.notes.push_back(fmt::format("{} points without a usable intensity or σ given zero weight", bad));
    if (pat.intensity.size() - static_cast<std::size_t>(bad) < 10)
      throw InputError("frame", fmt::format("only {} usable points", pat.intensity.size() - bad));
    powder::FitResult full = run_refine(ctx, ctx.all(), pat, start, out.num_fits);
    if (full.status != powder::FitStatus::Converged && full.status != powder::FitStatus::Failed) {
      // Once more from where it stopped.
      powder::FitResult again = run_refine(ctx, ctx.all(), pat, full.parameters, out.num_fits);
      if (again.status == powder::FitStatus::Converged) full = std::move(again);
    }
    out.parameters = full.parameters;
    if (full.status == powder::FitStatus::Converged && !(std::isfinite(full.rwp) && full.rwp > 0)) {
      full.status = powder::FitStatus::Failed;
      full.reason = "no signal: Rwp is undefined (the pattern is empty)";
    }
    if (full.status != powder::FitStatus::Converged) {
      out.status = full.status;
      out.reason = full.reason;
      out.rwp = full.rwp;
      out.gof = full.gof;
      for (auto& ph : out.phases) ph.fraction = ph.fraction_esd = kNaN;
      return out;
    }

    // Presence.
    Mask keep = ctx.all();
    const double n_points = static_cast<double>(full.num_points);
    const double per_param = rule.criterion == InformationCriterion::AIC ? 2.0 : std::log(n_points);
    std::vector<double> z(np, kNaN);
    for (std::size_t p = 0; p < np; ++p) {
      const auto& r = full.phases[p];
      // The smaller of the fraction's and the scale's significance: a lone phase has fraction
      // 1 ± 0 whatever the data, its scale does not.
      const double zf = r.fraction_esd > 0 ? r.fraction / r.fraction_esd : (r.fraction > 0 ? HUGE_VAL : 0.0);
      const double zs = r.scale_esd > 0 ? r.scale / r.scale_esd : (r.scale > 0 ? HUGE_VAL : 0.0);
      z[p] = std::min(zf, zs);
      out.phases[p].significance = z[p];
    }
    if (presence && rule.enabled) {
      const double s2 = std::max(full.chi2_reduced, 1e-12);
      const double chi2_with = chi2_of(full);
      for (std::size_t p = 0; p < np; ++p) {
        if (ctx.is_standard(p)) continue;
        if (!(z[p] >= rule.min_significance)) {
          keep &= ~(1u << p);
          continue;
        }
        if (rule.criterion == InformationCriterion::None) continue;
        const int k_est = refined_in_phase(start.phases[p]);
        if (z[p] * z[p] > rule.sure_factor * k_est * per_param) continue;
        const Mask without = ctx.all() & ~(1u << p);
        if (without == 0) continue;
        const powder::FitResult w =
            run_refine(ctx, without, pat, subset(full.parameters, without), out.num_fits);
        if (w.status != powder::FitStatus::Converged) continue;  // cannot do without it
        const int k = std::max(1, full.num_free - w.num_free);
        out.phases[p].delta_ic = (chi2_of(w) - chi2_with) / s2 - k * per_param;
        if (!(out.phases[p].delta_ic > 0)) keep &= ~(1u << p);
      }
      bool any_sample = false;
      for (std::size_t p = 0; p < np; ++p) any_sample |= !ctx.is_standard(p) && (keep & (1u << p));
      if (!any_sample) {
        // Nothing of the sample is there: a blank frame, the beam off the sample.
        out.status = powder::FitStatus::Failed;
        out.reason = "no phase of the sample passes the presence rule (beam off the sample?)";
        out.rwp = full.rwp;
        out.gof = full.gof;
        for (auto& ph : out.phases) ph.fraction = ph.fraction_esd = kNaN;
        return out;
      }
    }

    powder::FitResult final_fit;
    if (keep == ctx.all()) {
      final_fit = std::move(full);
    } else {
      final_fit = run_refine(ctx, keep, pat, subset(full.parameters, keep), out.num_fits);
      if (final_fit.status != powder::FitStatus::Converged) {
        out.notes.push_back("the fit without the absent phases did not converge (" + final_fit.reason +
                            "); the all-phase fit is reported");
        keep = ctx.all();
        final_fit = run_refine(ctx, keep, pat, full.parameters, out.num_fits);
      }
    }
    out.status = final_fit.status;
    out.reason = final_fit.reason;
    out.rwp = final_fit.rwp;
    out.gof = final_fit.gof;
    out.chi2 = chi2_of(final_fit);
    out.num_points = final_fit.num_points;
    out.num_free = final_fit.num_free;
    out.parameters = merge(full.parameters, final_fit.parameters, keep);
    if (out.status != powder::FitStatus::Converged) {
      for (auto& ph : out.phases) ph.fraction = ph.fraction_esd = kNaN;
      return out;
    }
    // Per phase, fractions of the sample alone.
    double f_std = 0.0;
    std::vector<const powder::PhaseResult*> res(np, nullptr);
    for (std::size_t p = 0, k = 0; p < np; ++p)
      if (keep & (1u << p)) res[p] = &final_fit.phases[k++];
    if (ctx.options.standard_phase >= 0 && res[ctx.options.standard_phase])
      f_std = res[ctx.options.standard_phase]->fraction;
    const double norm = f_std < 1.0 ? 1.0 / (1.0 - f_std) : 1.0;
    for (std::size_t p = 0; p < np; ++p) {
      auto& ph = out.phases[p];
      // The fit with every phase may have failed (no phases in its result): defaults then.
      static const powder::PhaseResult kNone{};
      const auto& all_r = p < full.phases.size() ? full.phases[p] : kNone;
      if (!res[p]) {
        ph.present = false;
        ph.fraction = 0.0;
        ph.fraction_esd = all_r.fraction_esd * norm;
        ph.a = all_r.a, ph.c = all_r.c, ph.volume = all_r.volume;
        continue;
      }
      const auto& r = *res[p];
      ph.present = true;
      ph.fraction = ctx.is_standard(p) ? r.fraction : r.fraction * norm;
      ph.fraction_esd = ctx.is_standard(p) ? r.fraction_esd : r.fraction_esd * norm;
      if (!(presence && rule.enabled) && !ctx.is_standard(p)) ph.present = z[p] >= rule.min_significance;
      ph.a = r.a, ph.a_esd = r.a_esd, ph.c = r.c, ph.c_esd = r.c_esd;
      ph.volume = r.volume, ph.volume_esd = r.volume_esd;
      ph.size_nm = r.size_nm, ph.size_esd = r.size_esd;
      ph.main_lines = r.main_lines;
    }
    if (ctx.options.standard_phase >= 0 && ctx.options.standard) {
      const auto& s = out.phases[ctx.options.standard_phase];
      try {
        const auto sp = pressure_from_standard(*ctx.options.standard, s.a, s.a_esd);
        out.standard_pressure_gpa = sp.pressure_gpa;
        out.standard_pressure_esd_gpa = sp.pressure_esd_gpa;
        if (out.pressure_origin != PressureOrigin::Given) {
          out.pressure_gpa = sp.pressure_gpa;
          out.pressure_esd_gpa = sp.pressure_esd_gpa;
          out.pressure_origin = PressureOrigin::Standard;
        }
      } catch (const InputError& e) {
        out.notes.push_back(std::string("no pressure from the standard: ") + e.what());
      }
    }
  } catch (const InputError& e) {
    // What the frame's data cannot give (no usable point, a phase the pattern cannot hold) fails this
    // frame only; anything else is a bug and goes up (docs/README.md, Errors).
    out.status = powder::FitStatus::Failed;
    out.reason = e.what();
    for (auto& ph : out.phases) ph.fraction = ph.fraction_esd = kNaN;
  }
  return out;
}

// The frame's pressure as given, when plausible.
FrameResult frame_header(const SeriesFrame& fr, const SeriesOptions& o) {
  FrameResult out;
  out.frame = fr.frame;
  out.given_pressure_gpa = fr.pressure_gpa;
  if (std::isfinite(fr.pressure_gpa)) {
    const double esd = std::isfinite(fr.pressure_esd_gpa) ? std::max(fr.pressure_esd_gpa, 0.0) : 0.0;
    if (fr.pressure_gpa > o.max_plausible_gpa || fr.pressure_gpa < o.min_plausible_gpa - 3.0 * esd) {
      out.notes.push_back(
          fmt::format("pressure {} GPa is implausible (wrong units?): treated as unknown", fr.pressure_gpa));
    } else {
      out.pressure_gpa = fr.pressure_gpa;
      out.pressure_esd_gpa = esd;
      out.pressure_origin = PressureOrigin::Given;
    }
  } else {
    out.notes.push_back("no pressure given");
  }
  return out;
}

// New seed EOS of each phase from a pass's results.
std::vector<PhaseEos> update_seeds(const std::vector<FrameResult>& results,
                                   const std::vector<powder::PowderPhase>& phases, std::vector<PhaseEos> eos,
                                   const SeriesOptions& o) {
  for (std::size_t p = 0; p < phases.size(); ++p) {
    if (static_cast<int>(p) == o.standard_phase && o.standard) continue;  // its EOS is the scale
    const auto pts = pv_points(results, p);
    if (static_cast<int>(pts.size()) < o.min_eos_points) continue;
    EosFitOptions fo;
    fo.v0 = eos[p].eos.v0;
    fo.k0_gpa = eos[p].eos.k0_gpa;
    fo.k0_prime = eos[p].eos.k0_prime;
    fo.fix_k0_prime = pts.size() < 6;
    try {
      const EosFit f = fit_eos(pts, o.eos_form, fo);
      if (f.converged && f.eos.k0_gpa > 0.3 * eos[p].eos.k0_gpa && f.eos.k0_gpa < 3.0 * eos[p].eos.k0_gpa)
        eos[p].eos = f.eos;
    } catch (const InputError&) {
      // Too few or degenerate points for an EOS fit: the phase keeps its prior EOS (said by the
      // EOS table, which fits the same points again and reports why it cannot).
    }
    if (phases[p].kind == powder::CellKind::Hexagonal) {
      std::vector<CellPoint> cp;
      for (const auto& r : results)
        if (r.ok() && r.phases[p].present && std::isfinite(r.pressure_gpa))
          cp.push_back({r.pressure_gpa, r.phases[p].a, r.phases[p].c});
      std::tie(eos[p].c_over_a, eos[p].c_over_a_slope) = fit_c_over_a(cp, eos[p].c_over_a);
    }
  }
  return eos;
}

bool at_a_bound(const powder::Param& q) {
  if (!q.refine) return false;
  const double range = q.upper - q.lower;
  if (!(range < 1e299)) return false;
  const double tol = 1e-6 * std::max(range, 1e-12);
  return q.value - q.lower <= tol || q.upper - q.value <= tol;
}

}  // namespace

const char* pressure_origin_name(PressureOrigin o) {
  switch (o) {
    case PressureOrigin::Given:
      return "given";
    case PressureOrigin::Standard:
      return "standard";
    case PressureOrigin::None:
      return "none";
  }
  return "?";
}

std::vector<PvPoint> pv_points(const std::vector<FrameResult>& frames, std::size_t p,
                               std::vector<std::size_t>* frame_numbers) {
  std::vector<PvPoint> out;
  for (const auto& r : frames) {
    if (!r.ok() || p >= r.phases.size() || !r.phases[p].present || !std::isfinite(r.pressure_gpa)) continue;
    const auto& ph = r.phases[p];
    if (!(ph.volume > 0) || !std::isfinite(ph.volume_esd)) continue;
    out.push_back({r.pressure_gpa, r.pressure_esd_gpa, ph.volume, ph.volume_esd});
    if (frame_numbers) frame_numbers->push_back(r.frame);
  }
  return out;
}

PhaseSeriesEos fit_series_eos(const std::string& phase, std::vector<PvPoint> points) {
  PhaseSeriesEos out;
  out.phase = phase;
  out.points = std::move(points);
  const auto n = out.points.size();
  std::vector<std::string> why;
  const auto attempt = [&](pressure::EosForm form, std::optional<EosFit>& slot, std::size_t need) {
    if (n < need) {
      why.push_back(fmt::format("{}: {} points (needs {})", pressure::eos_form_name(form), n, need));
      return;
    }
    try {
      slot = fit_eos(out.points, form);
      if (!slot->converged)
        why.push_back(fmt::format("{}: {}", pressure::eos_form_name(form), slot->message));
    } catch (const InputError& e) {
      why.push_back(e.what());
    }
  };
  attempt(pressure::EosForm::BM3, out.bm3, 4);
  attempt(pressure::EosForm::Vinet, out.vinet, 4);
  attempt(pressure::EosForm::BM2, out.bm2, 2);
  const EosFit* ref =
      out.bm3 && out.bm3->converged ? &*out.bm3 : (out.bm2 && out.bm2->converged ? &*out.bm2 : nullptr);
  if (ref) {
    const auto ff = normalised_pressure(out.points, ref->eos.v0, ref->v0_esd);
    if (ff.size() >= 2) out.ff = fit_ff_line(ff);
  }
  for (std::size_t i = 0; i < why.size(); ++i) out.message += (i ? "; " : "") + why[i];
  return out;
}

SeriesResult refine_series(const std::vector<SeriesFrame>& frames,
                           const std::vector<powder::PowderPhase>& phases,
                           const powder::ModelSettings& settings, const powder::PatternParameters& start,
                           std::vector<PhaseEos> eos, const SeriesOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (phases.empty()) throw InputError("series", "no phase given");
  if (phases.size() > 16) throw InputError("series", fmt::format("{} phases (at most 16)", phases.size()));
  if (start.phases.size() != phases.size())
    throw InputError(
        "series", fmt::format("{} phase parameter sets for {} phases", start.phases.size(), phases.size()));
  if (eos.empty())
    for (const auto& ph : phases) eos.push_back(default_phase_eos(ph));
  if (eos.size() != phases.size())
    throw InputError("series", fmt::format("{} equations of state for {} phases", eos.size(), phases.size()));
  if (options.standard_phase >= static_cast<int>(phases.size()))
    throw InputError("series", "the standard's phase index is out of range");
  if (options.standard_phase >= 0 && options.standard) {
    eos[options.standard_phase].eos = options.standard->eos;
  }
  SeriesResult result;
  if (frames.empty()) return result;
  for (const auto& f : frames)
    if (f.pattern.two_theta_deg != frames.front().pattern.two_theta_deg)
      throw InputError(
          "series", fmt::format("frame {} has other 2θ points than frame {}", f.frame, frames.front().frame));

  Context ctx(phases, settings, start, options, frames.front().pattern.two_theta_deg);
  const std::size_t nf = frames.size();
  std::vector<FrameResult> results(nf);
  tbb::task_arena arena(options.num_threads > 0 ? options.num_threads : tbb::task_arena::automatic);

  if (options.mode == SeriesMode::Independent) {
    const int passes = std::max(1, options.passes);
    for (int pass = 0; pass < passes; ++pass) {
      const bool last = pass == passes - 1;
      const std::vector<FrameResult> previous = results;
      arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<std::size_t>(0, nf, 1), [&](const tbb::blocked_range<std::size_t>& r) {
              for (std::size_t i = r.begin(); i != r.end(); ++i) {
                FrameResult head = frame_header(frames[i], options);
                double seed = head.pressure_gpa;
                if (!std::isfinite(seed) && pass > 0 && std::isfinite(previous[i].standard_pressure_gpa))
                  seed = previous[i].standard_pressure_gpa;
                if (!std::isfinite(seed)) {
                  powder::PowderPattern pat = frames[i].pattern;
                  sanitise(pat);
                  try {
                    seed = scan_seed_pressure(ctx, pat, eos);
                    head.notes.push_back(
                        fmt::format("started at {:.1f} GPa, the pressure whose EOS cells fit best", seed));
                  } catch (const InputError& e) {
                    // The scan starts from 0 GPa and says why.
                    seed = 0.0;
                    head.notes.push_back(std::string("pressure scan failed: ") + e.what());
                  }
                }
                head.seed_pressure_gpa = seed;
                powder::PatternParameters st = start;
                seed_cells(st, phases, eos, seed, &head.notes);
                results[i] = fit_frame(ctx, frames[i], st, last, std::move(head));
              }
            });
      });
      if (!last) eos = update_seeds(results, phases, eos, options);
    }
  } else {
    std::vector<std::size_t> order(nf);
    for (std::size_t i = 0; i < nf; ++i) order[i] = options.reverse ? nf - 1 - i : i;
    std::vector<char> frozen(start.size(), 0);
    const FrameResult* prev = nullptr;
    double prev_pressure = kNaN;
    for (const std::size_t i : order) {
      FrameResult head = frame_header(frames[i], options);
      double seed = head.pressure_gpa;
      if (!std::isfinite(seed)) seed = prev_pressure;
      if (!std::isfinite(seed)) {
        powder::PowderPattern pat = frames[i].pattern;
        sanitise(pat);
        seed = scan_seed_pressure(ctx, pat, eos);
      }
      head.seed_pressure_gpa = seed;
      powder::PatternParameters st = start;
      seed_cells(st, phases, eos, seed, &head.notes);
      if (prev) {
        // The neighbour's values; phases absent there start from their EOS cell.
        const powder::PatternParameters& pp = prev->parameters;
        auto dst = st.flat();
        const auto src = pp.flat();
        for (std::size_t k = 0; k < dst.size(); ++k) {
          const powder::ParameterSlot slot = st.layout().locate(k);
          if (slot.kind == powder::ParameterSlot::Kind::Phase && !prev->phases[slot.phase].present &&
              !slot.is(powder::PhaseParam::Scale))
            continue;
          dst[k]->value = std::clamp(src[k]->value, dst[k]->lower, dst[k]->upper);
        }
        for (auto& q : st.phases)
          if (q.scale.value <= 0) q.scale.value = 1.0;
      }
      auto flat = st.flat();
      for (std::size_t k = 0; k < flat.size(); ++k)
        if (frozen[k] && flat[k]->refine) {
          flat[k]->refine = false;
          head.frozen.push_back(ctx.names[k]);
        }
      results[i] = fit_frame(ctx, frames[i], st, true, std::move(head));
      FrameResult& r = results[i];
      if (r.ok()) {
        // Parameters that ended at a bound: frozen from here on (scales and absent phases aside).
        const auto fl = r.parameters.flat();
        for (std::size_t k = 0; k < fl.size(); ++k) {
          if (frozen[k]) continue;
          const powder::ParameterSlot slot = st.layout().locate(k);
          if (slot.kind == powder::ParameterSlot::Kind::Phase &&
              (slot.is(powder::PhaseParam::Scale) || !r.phases[slot.phase].present))
            continue;
          if (at_a_bound(*fl[k])) {
            frozen[k] = 1;
            r.at_bound.push_back(ctx.names[k]);
          }
        }
        prev = &r;
        if (std::isfinite(r.pressure_gpa)) prev_pressure = r.pressure_gpa;
      }
    }
  }

  // Directions from the pressures used.
  std::vector<double> pr(nf), es(nf);
  for (std::size_t i = 0; i < nf; ++i) {
    pr[i] = results[i].pressure_gpa;
    es[i] = results[i].pressure_esd_gpa;
  }
  const auto dirs = pressure::tag_directions(pr, es, options.direction);
  for (std::size_t i = 0; i < nf; ++i) results[i].direction = dirs[i];

  // Duplicated frame numbers, failures and notes as warnings.
  std::map<std::size_t, std::size_t> seen;
  for (std::size_t i = 0; i < nf; ++i) {
    auto& r = results[i];
    if (auto it = seen.find(r.frame); it != seen.end()) {
      r.notes.push_back(
          fmt::format("frame number {} appears more than once (rows {} and {})", r.frame, it->second, i));
    } else {
      seen.emplace(r.frame, i);
    }
    if (!r.ok())
      result.warnings.push_back(
          fmt::format("frame {}: fit {}: {}", r.frame, powder::status_name(r.status), r.reason));
    for (const auto& n : r.notes) result.warnings.push_back(fmt::format("frame {}: {}", r.frame, n));
    for (const auto& b : r.at_bound)
      result.warnings.push_back(
          fmt::format("frame {}: {} at its bound, frozen for the following frames", r.frame, b));
  }

  for (std::size_t p = 0; p < phases.size(); ++p) {
    std::vector<std::size_t> fnum;
    auto pts = pv_points(results, p, &fnum);
    PhaseSeriesEos e = fit_series_eos(phases[p].name, std::move(pts));
    e.point_frames = std::move(fnum);
    e.seed = eos[p];
    result.eos.push_back(std::move(e));
  }
  result.frames = std::move(results);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace anvil::series
