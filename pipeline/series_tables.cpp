#include "series_tables.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "io/results_file.hpp"

namespace anvil::pipeline {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

std::vector<io::TableColumn> eos_table(const std::vector<series::PhaseSeriesEos>& eos,
                                       const std::vector<series::ParametricPhase>& parametric) {
  io::TableColumn phase{"phase"}, form{"form"}, v0{"v0_A3", "angstrom^3"}, v0e{"v0_esd_A3", "angstrom^3"},
      k0{"k0_gpa", "GPa"}, k0e{"k0_esd_gpa", "GPa"}, kp{"k0p", "1"}, kpe{"k0p_esd", "1"},
      chi{"chi2_red", "1"}, n{"n_points", "1"}, status{"status"};
  const auto row = [&](const std::string& ph, const std::string& f, double a0, double a0e, double b,
                       double be, double c, double ce, double x, double np, std::string st) {
    phase.strings.push_back(ph);
    form.strings.push_back(f);
    v0.numbers.push_back(a0);
    v0e.numbers.push_back(a0e);
    k0.numbers.push_back(b);
    k0e.numbers.push_back(be);
    kp.numbers.push_back(c);
    kpe.numbers.push_back(ce);
    chi.numbers.push_back(x);
    n.numbers.push_back(np);
    std::replace(st.begin(), st.end(), ',', ';');
    status.strings.push_back(st);
  };
  const auto fit_row = [&](const std::string& ph, const std::string& name, const series::EosFit& f,
                           double points) {
    if (f.converged)
      row(ph, name, f.eos.v0, f.v0_esd, f.eos.k0_gpa, f.k0_esd, f.eos.k0_prime, f.k0_prime_esd,
          f.chi2_reduced, points, "converged");
    else
      row(ph, name, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, points, "not converged: " + f.message);
  };
  for (const auto& e : eos) {
    const double points = static_cast<double>(e.points.size());
    for (const auto& [slot, f] :
         {std::pair{&e.bm3, pressure::EosForm::BM3}, std::pair{&e.vinet, pressure::EosForm::Vinet},
          std::pair{&e.bm2, pressure::EosForm::BM2}}) {
      const std::string name(pressure::eos_form_name(f));
      if (*slot)
        fit_row(e.phase, name, **slot, points);
      else
        row(e.phase, name, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, points,
            fmt::format("not fitted: {} point{}", e.points.size(), e.points.size() == 1 ? "" : "s"));
    }
    if (e.ff) {
      const series::EosFit* ref = e.bm3 && e.bm3->converged ? &*e.bm3 : e.bm2 ? &*e.bm2 : nullptr;
      row(e.phase, "F-f", ref ? ref->eos.v0 : kNaN, ref ? ref->v0_esd : kNaN, e.ff->intercept_gpa,
          e.ff->intercept_esd, e.ff->k0_prime, e.ff->k0_prime_esd, kNaN, e.ff->num_points, "converged");
    }
  }
  for (const auto& ph : parametric)
    fit_row(ph.phase, std::string(pressure::eos_form_name(ph.eos.eos.form)) + "-parametric", ph.eos,
            ph.eos.num_points);
  return {phase, form, v0, v0e, k0, k0e, kp, kpe, chi, n, status};
}

std::vector<io::TableColumn> write_eos_csv(const std::filesystem::path& path,
                                           const std::vector<series::PhaseSeriesEos>& eos,
                                           const std::vector<series::ParametricPhase>& parametric) {
  auto t = eos_table(eos, parametric);
  io::write_csv(path, t);
  return t;
}

std::vector<io::TableColumn> transitions_table(const series::TransitionAnalysis& tr) {
  // `value` and `esd` have the unit of their row (the `unit` column).
  io::TableColumn q{"quantity"}, dir{"direction"}, from{"from_phase"}, to{"to_phase"}, val{"value"},
      esd{"esd"}, unit{"unit"}, note{"note"};
  const auto row = [&](const char* qq, const std::string& d, const std::string& f, const std::string& t,
                       double v, double e, const char* u, std::string nn) {
    q.strings.push_back(qq);
    dir.strings.push_back(d);
    from.strings.push_back(f);
    to.strings.push_back(t);
    val.numbers.push_back(v);
    esd.numbers.push_back(e);
    unit.strings.push_back(u);
    std::replace(nn.begin(), nn.end(), ',', ';');
    note.strings.push_back(nn);
  };
  for (const auto* t : {&tr.compression, &tr.decompression}) {
    const std::string d(pressure::direction_name(t->direction));
    if (!t->detected) {
      row("transformation", d, t->from, t->to, kNaN, kNaN, "",
          t->message.empty() ? "not detected" : t->message);
      continue;
    }
    row("onset_gpa", d, t->from, t->to, t->fit.onset_gpa, t->fit.onset_esd, "GPa",
        "5 % of the transformation");
    row("midpoint_gpa", d, t->from, t->to, t->fit.midpoint_gpa, t->fit.midpoint_esd, "GPa", t->fit.message);
    row("width_gpa", d, t->from, t->to, t->fit.width_gpa, t->fit.width_esd, "GPa", "logistic width w");
    row("low_plateau", d, t->from, t->to, t->fit.low, t->fit.low_esd, "fraction", tr.high_pressure_phase);
    row("high_plateau", d, t->from, t->to, t->fit.high, t->fit.high_esd, "fraction", tr.high_pressure_phase);
  }
  if (std::isfinite(tr.hysteresis_gpa))
    row("hysteresis_gpa", "", tr.high_pressure_phase, "", tr.hysteresis_gpa, tr.hysteresis_esd, "GPa",
        "midpoint(compression) - midpoint(decompression)");
  if (std::isfinite(tr.retained_fraction))
    row("retained_fraction", "decompression", tr.high_pressure_phase, "", tr.retained_fraction,
        tr.retained_esd, "fraction",
        fmt::format("frame {} at {:.3f} GPa", tr.retained_frame, tr.retained_at_gpa));
  return {q, dir, from, to, val, esd, unit, note};
}

std::vector<io::TableColumn> write_transitions_csv(const std::filesystem::path& path,
                                                   const series::TransitionAnalysis& tr) {
  auto t = transitions_table(tr);
  io::write_csv(path, t);
  return t;
}

std::vector<io::TableColumn> write_fractions_csv(const std::filesystem::path& dir,
                                                 const std::vector<std::string>& phases,
                                                 const std::vector<FractionsRow>& rows,
                                                 const std::vector<io::TableColumn>& extra) {
  io::TableColumn frame{"frame", "1"}, p{"pressure_gpa", "GPa"}, dirn{"direction"}, rwp{"rwp", "1"},
      status{"status"}, reason{"reason"};
  std::vector<io::TableColumn> frac, esd;
  for (const auto& ph : phases) {
    frac.push_back({ph, "1"});
    esd.push_back({ph + "_esd", "1"});
  }
  for (const auto& r : rows) {
    frame.numbers.push_back(static_cast<double>(r.frame));
    p.numbers.push_back(r.pressure_gpa);
    dirn.strings.push_back(r.direction);
    for (std::size_t k = 0; k < phases.size(); ++k) {
      frac[k].numbers.push_back(k < r.fraction.size() ? r.fraction[k] : NAN);
      esd[k].numbers.push_back(k < r.fraction_esd.size() ? r.fraction_esd[k] : NAN);
    }
    rwp.numbers.push_back(r.rwp);
    status.strings.push_back(r.status);
    reason.strings.push_back(r.reason);
  }
  std::vector<io::TableColumn> cols{frame, p, dirn};
  for (std::size_t k = 0; k < phases.size(); ++k) {
    cols.push_back(frac[k]);
    cols.push_back(esd[k]);
  }
  for (auto* c : {&rwp, &status, &reason}) cols.push_back(*c);
  for (const auto& c : extra) cols.push_back(c);
  io::write_csv(dir / "phase_fractions.csv", cols);
  write_fractions_long_csv(dir / "phase_fractions_long.csv", frame, p, dirn, phases, frac, esd);
  return cols;
}

std::vector<io::TableColumn> write_lattice_csv(const std::filesystem::path& path,
                                               const std::vector<LatticeRow>& rows) {
  std::vector<io::TableColumn> cols = {{"frame", "1"},
                                       {"pressure_gpa", "GPa"},
                                       {"direction"},
                                       {"phase"},
                                       {"a_A", "angstrom"},
                                       {"a_esd_A", "angstrom"},
                                       {"c_A", "angstrom"},
                                       {"c_esd_A", "angstrom"},
                                       {"volume_A3", "angstrom^3"},
                                       {"volume_esd_A3", "angstrom^3"}};
  for (int k = 1; k <= 3; ++k) {
    cols.push_back({fmt::format("d{}_hkl", k)});
    cols.push_back({fmt::format("d{}_spacing_A", k), "angstrom"});
    cols.push_back({fmt::format("d{}_spacing_esd_A", k), "angstrom"});
  }
  io::TableColumn size{"size_nm", "nm"}, size_esd{"size_esd_nm", "nm"}, alpha{"alpha", "1"},
      alpha_esd{"alpha_esd", "1"};
  bool any_alpha = false;
  for (const auto& r : rows) {
    cols[0].numbers.push_back(static_cast<double>(r.frame));
    cols[1].numbers.push_back(r.pressure_gpa);
    cols[2].strings.push_back(r.direction);
    cols[3].strings.push_back(r.phase);
    const double cell[6] = {r.a, r.a_esd, r.c, r.c_esd, r.volume, r.volume_esd};
    for (std::size_t c = 0; c < 6; ++c) cols[4 + c].numbers.push_back(cell[c]);
    for (std::size_t l = 0; l < 3; ++l) {
      cols[10 + 3 * l].strings.push_back(r.lines[l].hkl);
      cols[11 + 3 * l].numbers.push_back(r.lines[l].d_a);
      cols[12 + 3 * l].numbers.push_back(r.lines[l].d_esd_a);
    }
    size.numbers.push_back(r.size_nm);
    size_esd.numbers.push_back(r.size_esd_nm);
    alpha.numbers.push_back(r.alpha);
    alpha_esd.numbers.push_back(r.alpha_esd);
    any_alpha = any_alpha || std::isfinite(r.alpha);
  }
  cols.push_back(size);
  cols.push_back(size_esd);
  if (any_alpha) {
    cols.push_back(alpha);
    cols.push_back(alpha_esd);
  }
  io::write_csv(path, cols);
  return cols;
}

void write_fractions_long_csv(const std::filesystem::path& path, const io::TableColumn& frame,
                              const io::TableColumn& pressure_gpa, const io::TableColumn& direction,
                              const std::vector<std::string>& phases,
                              const std::vector<io::TableColumn>& fraction,
                              const std::vector<io::TableColumn>& fraction_esd) {
  io::TableColumn f{"frame"}, p{"pressure_gpa", "GPa"}, d{"direction"}, ph{"phase"}, x{"fraction"},
      xe{"fraction_esd"};
  for (std::size_t r = 0; r < frame.numbers.size(); ++r)
    for (std::size_t k = 0; k < phases.size(); ++k) {
      f.numbers.push_back(frame.numbers[r]);
      p.numbers.push_back(r < pressure_gpa.numbers.size() ? pressure_gpa.numbers[r] : NAN);
      d.strings.push_back(r < direction.strings.size() ? direction.strings[r] : "");
      ph.strings.push_back(phases[k]);
      x.numbers.push_back(r < fraction[k].numbers.size() ? fraction[k].numbers[r] : NAN);
      xe.numbers.push_back(r < fraction_esd[k].numbers.size() ? fraction_esd[k].numbers[r] : NAN);
    }
  io::write_csv(path, {f, p, d, ph, x, xe});
}

}  // namespace anvil::pipeline
