// Debye-function phase models (lib/debye): the one-time cluster set-up of a phase, one pattern
// of a population of clusters, and a 3-phase fit of a 2000-point pattern (a mixture of the
// phases' own curves with Poisson noise, background and hump off: the model's own cost).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "crystal/cif.hpp"
#include "debye/debye.hpp"
#include "debye/fit.hpp"

namespace {

namespace fs = std::filesystem;
using namespace anvil;

const fs::path kPhases = fs::path(ANVIL_SOURCE_DIR) / "calib" / "phases";
constexpr double kWavelength = 0.4859;

struct Setup {
  std::vector<crystal::Phase> phases;
  std::vector<debye::PairSums> sums;
  std::vector<debye::SamplePhase> sample;
  std::vector<double> q;
  Setup() {
    for (const char* n : {"CdSe-WZ", "CdSe-ZB", "CdSe-RS"}) phases.push_back(crystal::load_phase(n, kPhases));
    for (const auto& p : phases) sums.push_back(debye::pair_sums(p, {}));
    const double e = crystal::energy_kev_from_wavelength(kWavelength);
    for (std::size_t k = 0; k < phases.size(); ++k)
      sample.push_back({phases[k].name, &sums[k],
                        debye::species_scattering(sums[k], e, crystal::Dispersion::Henke), phases[k].cell.a,
                        0.99, 0.01});
    for (int i = 0; i < 2000; ++i) q.push_back(0.6 + 5.2 * i / 1999.0);
  }
};

const Setup& setup() {
  static const Setup s;
  return s;
}

void BM_DebyeClusterSetup(benchmark::State& state) {
  const auto phase = crystal::load_phase("CdSe-WZ", kPhases);
  for (auto _ : state) benchmark::DoNotOptimize(debye::pair_sums(phase, {}));
}
BENCHMARK(BM_DebyeClusterSetup)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DebyePattern(benchmark::State& state) {
  const auto& s = setup();
  const auto f = debye::factors_at_q(s.sample[0].f, s.q);
  debye::PhaseState st;
  for (auto _ : state) benchmark::DoNotOptimize(debye::intensity_per_formula_unit(s.sums[0], f, st, s.q));
}
BENCHMARK(BM_DebyePattern)->Unit(benchmark::kMicrosecond);

void BM_DebyeFit3Phases(benchmark::State& state) {
  const auto& s = setup();
  std::vector<double> mix(s.q.size(), 0.0);
  const double x[3] = {0.5, 0.2, 0.3};
  for (std::size_t k = 0; k < 3; ++k) {
    debye::PhaseState st;
    st.lambda = 0.99;
    const auto c = debye::intensity_per_formula_unit(s.sums[k], s.sample[k].f, st, s.q);
    for (std::size_t i = 0; i < mix.size(); ++i) mix[i] += 2.0 * x[k] * c[i];
  }
  std::mt19937 rng(7);
  std::vector<double> y, sigma;
  for (double m : mix) {
    std::poisson_distribution<long> p(m);
    y.push_back(static_cast<double>(p(rng)));
    sigma.push_back(std::sqrt(std::max(y.back(), 1.0)));
  }
  debye::FitOptions o;
  o.background_terms = 0;
  o.hump = false;
  o.absorption = false;
  o.model_spread = false;
  o.wavelength_a = kWavelength;
  for (auto _ : state) benchmark::DoNotOptimize(debye::fit_pattern(s.q, y, sigma, s.sample, {}, o));
}
BENCHMARK(BM_DebyeFit3Phases)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
