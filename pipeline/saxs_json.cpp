#include "saxs_json.hpp"

#include <cmath>

namespace anvil::pipeline {

using nlohmann::json;

namespace {

json nullable(double v, bool present) { return present ? json(v) : json(nullptr); }

json solution_json(const saxs::LatticeSolution& s) {
  json j;
  j["lattice"] = saxs::lattice_name(s.lattice);
  j["a_nm"] = s.a_nm;
  j["a_esd_nm"] = s.a_esd_nm;
  if (saxs::has_c_axis(s.lattice)) {
    j["c_nm"] = s.c_nm;
    j["c_esd_nm"] = s.c_esd_nm;
  }
  j["score"] = s.score;
  j["bic"] = s.bic;
  j["peaks_indexed"] = s.matched;
  j["peaks_observed"] = s.observed;
  j["explained_fraction"] = s.explained_fraction;
  j["explained_peaks"] = json::array();
  for (const auto& a : s.assignments) j["explained_peaks"].push_back(a.peak);
  j["unexplained_peaks"] = s.unexplained;
  j["rms_relative_misfit"] = s.rms_relative;
  j["reduced_chi2"] = s.reduced_chi2;
  j["width_law"] = {{"fwhm0", s.fwhm0}, {"fwhm1", s.fwhm1}};
  json lines = json::array();
  for (const auto& l : s.lines)
    lines.push_back({{"hkl", l.hkl},
                     {"q", l.q},
                     {"intensity", l.intensity},
                     {"intensity_esd", l.intensity_esd},
                     {"peak", l.peak >= 0 ? json(l.peak) : json(nullptr)}});
  j["lines"] = lines;
  j["missing_reflections"] = s.missing;
  return j;
}

json phase_json(const saxs::PhaseReport& ph) {
  json j = solution_json(ph.solution);
  j["d_nn_nm"] = ph.d_nn_nm;
  j["d_nn_esd_nm"] = ph.d_nn_esd_nm;
  j["volume_per_particle_nm3"] =
      ph.volume_per_particle_nm3 ? json(*ph.volume_per_particle_nm3) : json(nullptr);
  if (ph.area_per_column_nm2) j["area_per_column_nm2"] = *ph.area_per_column_nm2;
  j["domain_nm"] = nullable(ph.domain.size_nm, ph.domain.peaks_used > 0);
  j["domain_esd_nm"] = nullable(ph.domain.size_esd_nm, ph.domain.peaks_used > 0);
  j["domain_resolution_limited"] = ph.domain.resolution_limited;
  j["area_fraction"] = ph.area_fraction;
  json refl = json::array();
  for (const auto& r : ph.reflections)
    refl.push_back({{"hkl", r.hkl}, {"q", r.q}, {"d_nm", r.d}, {"multiplicity", r.multiplicity}});
  j["reflections"] = refl;
  return j;
}

}  // namespace

json saxs_result_json(const saxs::SaxsResult& r, const saxs::SaxsSettings& s) {
  json j;
  j["lattice"] = saxs::lattice_name(r.lattice);
  j["q_unit"] = "nm^-1";
  j["q_range"] = {r.q_min_inv_nm, r.q_max_inv_nm};
  const bool found = !r.phases.empty();
  const saxs::PhaseReport* first = found ? &r.phases.front() : nullptr;
  j["a_nm"] = nullable(first ? first->solution.a_nm : 0, found);
  j["a_esd_nm"] = nullable(first ? first->solution.a_esd_nm : 0, found);
  if (found && saxs::has_c_axis(r.lattice)) {
    j["c_nm"] = first->solution.c_nm;
    j["c_esd_nm"] = first->solution.c_esd_nm;
  }
  j["d_nn_nm"] = nullable(first ? first->d_nn_nm : 0, found);
  j["volume_per_particle_nm3"] =
      first && first->volume_per_particle_nm3 ? json(*first->volume_per_particle_nm3) : json(nullptr);
  j["domain_nm"] = nullable(first ? first->domain.size_nm : 0, found && first->domain.peaks_used > 0);
  j["domain_esd_nm"] = nullable(first ? first->domain.size_esd_nm : 0, found && first->domain.peaks_used > 0);
  j["scherrer_k"] = s.scherrer_k;
  j["instrument_fwhm_inv_nm"] = s.instrument_fwhm_inv_nm;
  j["score"] = nullable(first ? first->solution.score : 0, found);
  j["confidence"] = r.index.confidence;
  j["ambiguous"] = r.index.ambiguous;
  j["notes"] = r.index.notes;
  j["trimmed"] = r.trimmed;
  j["ambiguity"] = r.index.ambiguity;
  j["runner_up"] = r.index.runner_up ? solution_json(*r.index.runner_up) : json(nullptr);
  j["score_meaning"] = "BIC(free peaks) - BIC(lattice), prior included: the lattice's evidence";
  j["no_lattice_bic"] = r.index.no_lattice_bic;
  if (!found) j["reason"] = r.reason;
  json phases = json::array();
  for (const auto& ph : r.phases) phases.push_back(phase_json(ph));
  j["phases"] = phases;
  if (first) j["reflections"] = phase_json(*first)["reflections"];

  // Every peak found, with the reflection(s) it is indexed as (null if none).
  json peaks = json::array();
  for (std::size_t i = 0; i < r.peaks.size(); ++i) {
    const auto& p = r.peaks[i];
    json pj = {{"q", p.q},       {"sigma_q", p.q_esd},     {"width", p.fwhm},    {"width_esd", p.fwhm_esd},
               {"area", p.area}, {"area_esd", p.area_esd}, {"height", p.height}, {"eta", p.eta},
               {"snr", p.snr},   {"d_nm", 2 * M_PI / p.q}, {"hkl", nullptr},     {"phase", nullptr}};
    for (std::size_t k = 0; k < r.phases.size(); ++k)
      for (const auto& a : r.phases[k].solution.assignments)
        if (a.peak == i) {
          pj["hkl"] = a.hkl;
          pj["q_calc"] = a.q_calc;
          pj["phase"] = k;
        }
    peaks.push_back(pj);
  }
  j["peaks"] = peaks;
  j["peak_area_unit"] = "(I/B - 1)·nm^-1 (on the flattened curve)";

  const auto& b = r.background;
  json bj = {{"model", "A·q^-alpha + C" + std::string(b.particle ? " + scale·P(q)" : "")},
             {"amplitude", b.amplitude},
             {"amplitude_esd", b.amplitude_esd},
             {"alpha", b.exponent},
             {"alpha_esd", b.exponent_esd},
             {"constant", b.constant},
             {"constant_esd", b.constant_esd},
             {"reduced_chi2", b.reduced_chi2}};
  if (b.particle) {
    bj["particle"] = {
        {"shape", b.particle->shape == saxs::ParticleShape::sphere ? "sphere" : "cylinder"},
        {"distribution", b.particle->distribution == saxs::SizeDistribution::schulz ? "schulz" : "gaussian"},
        {"radius_nm", b.particle->radius_nm},
        {"radius_esd_nm", b.radius_esd_nm},
        {"polydispersity", b.particle->polydispersity},
        {"polydispersity_esd", b.polydispersity_esd}};
    if (b.particle->shape == saxs::ParticleShape::cylinder)
      bj["particle"]["length_nm"] = b.particle->length_nm;
  }
  j["background"] = bj;
  return j;
}

}  // namespace anvil::pipeline
