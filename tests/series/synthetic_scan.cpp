#include "series/synthetic_scan.hpp"

#include <cmath>

#include "phase_models.hpp"
#include "pressure/standard.hpp"
#include "series/simulate.hpp"

namespace anvil::series::test {

PhaseEos true_eos_wz() {
  PhaseEos e;
  e.eos = {pressure::EosForm::BM3, 0.5 * std::sqrt(3.0) * 4.299 * 4.299 * 7.010, 45.0, 4.5};
  e.c_over_a = 7.010 / 4.299;
  e.c_over_a_slope = -0.001;
  return e;
}
PhaseEos true_eos_zb() { return {{pressure::EosForm::BM3, std::pow(6.077, 3), 50.0, 4.0}, 0, 0}; }
PhaseEos true_eos_rs() { return {{pressure::EosForm::BM3, std::pow(5.70, 3), 80.0, 4.2}, 0, 0}; }

double true_rs_fraction(double p, bool compression, double retained) {
  if (compression) return 1.0 / (1.0 + std::exp(-(p - 6.5) / 0.5));
  return retained + (1.0 - retained) / (1.0 + std::exp(-(p - 2.0) / 0.4));
}

ScanSpec full_scan(double retained) {
  ScanSpec s;
  for (int p = 0; p <= 14; ++p) s.compression_gpa.push_back(p);
  for (int p = 13; p >= 0; --p) s.decompression_gpa.push_back(p);
  s.retained = retained;
  return s;
}

Scan make_scan(const ScanSpec& spec) {
  Scan scan;
  std::vector<std::string> names{"CdSe-WZ", "CdSe-ZB", "CdSe-RS"};
  if (spec.with_gold) names.push_back("Au");
  scan.phases = pipeline::load_powder_phases(names, ANVIL_SOURCE_DIR "/calib/phases", kWavelength, 6.0, 22.0);
  auto& s = scan.settings;
  s.instrument.wavelength_a = kWavelength;
  s.instrument.w = 0.002;
  s.lp = crystal::LpModel::PolarisationCorrected;
  s.size_profile = powder::SizeProfile::Lorentzian;
  s.background_terms = 6;
  std::vector<double> x;
  for (std::size_t i = 0; i < spec.points; ++i) x.push_back(6.0 + 16.0 * i / (spec.points - 1));
  const powder::PatternModel model(s, scan.phases, x);
  const std::vector<PhaseEos> truth{true_eos_wz(), true_eos_zb(), true_eos_rs()};
  const auto& gold = pressure::find_standard("Au");
  std::vector<std::pair<double, bool>> steps;
  for (double p : spec.compression_gpa) steps.emplace_back(p, true);
  for (double p : spec.decompression_gpa) steps.emplace_back(p, false);
  std::size_t frame = 0;
  for (const auto& [p, up] : steps) {
    const double rs = true_rs_fraction(p, up, spec.retained);
    std::vector<double> w{up ? 1.0 - rs : 0.0, up ? 0.0 : 1.0 - rs, rs};
    SimulatedFrame sf;
    sf.parameters = powder::default_parameters(scan.phases, s, 4.8);
    for (std::size_t k = 0; k < 3; ++k) {
      const auto [a, c] = cell_at(scan.phases[k], truth[k], p);
      sf.parameters.phases[k].a.value = a;
      sf.parameters.phases[k].c.value = c;
    }
    sf.fractions = w;
    if (spec.with_gold) {
      for (double& v : sf.fractions) v *= 0.9;
      sf.fractions.push_back(0.1);
      sf.parameters.phases[3].a.value = gold.lattice_at(p);
      sf.parameters.phases[3].size_nm.value = 30.0;
    }
    sf.peak_counts = spec.peak_counts;
    sf.seed = spec.seed * 1000 + static_cast<std::uint32_t>(frame);
    SeriesFrame f;
    f.frame = frame++;
    if (!spec.with_gold) {
      f.pressure_gpa = p;
      f.pressure_esd_gpa = 0.05;
    }
    f.pattern = simulate_pattern(model, sf);
    scan.frames.push_back(std::move(f));
    scan.fractions.push_back(w);
    scan.compression.push_back(up);
  }
  return scan;
}

powder::PatternParameters fit_start(const Scan& scan) {
  return powder::default_parameters(scan.phases, scan.settings, 4.0);
}

}  // namespace anvil::series::test
