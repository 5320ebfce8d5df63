// Series refinement speed: a 60-frame compression–decompression scan of CdSe (WZ, ZB, RS;
// 1000 points, 6–22° 2θ) simulated with anvil's pattern model and Poisson noise, refined in
// independent mode (2 passes, presence rule) with 1 and 2 threads; the issue asks < 3 s on 2
// cores. Also one frame's refinement, and the sphere size profile (exact, FFT) for comparison.
#include <benchmark/benchmark.h>

#include <cmath>

#include "phase_models.hpp"
#include "series/series.hpp"
#include "series/simulate.hpp"

namespace {

using namespace anvil;

struct Scan {
  std::vector<powder::PowderPhase> phases;
  powder::ModelSettings settings;
  std::vector<series::SeriesFrame> frames;
};

Scan make_scan(powder::SizeProfile profile, int n_frames) {
  Scan s;
  const double lambda = 0.4859;
  s.phases = pipeline::load_powder_phases({"CdSe-WZ", "CdSe-ZB", "CdSe-RS"}, ANVIL_SOURCE_DIR "/calib/phases",
                                          lambda, 6.0, 22.0);
  s.settings.instrument.wavelength_a = lambda;
  s.settings.instrument.w = 0.002;
  s.settings.size_profile = profile;
  s.settings.background_terms = 6;
  std::vector<double> x;
  for (int i = 0; i < 1000; ++i) x.push_back(6.0 + 16.0 * i / 999);
  const powder::PatternModel model(s.settings, s.phases, x);
  const std::vector<pressure::Eos> truth{{pressure::EosForm::BM3, 112.2, 45.0, 4.5},
                                         {pressure::EosForm::BM3, 224.4, 50.0, 4.0},
                                         {pressure::EosForm::BM3, 185.2, 80.0, 4.2}};
  const int half = n_frames / 2;
  for (int i = 0; i < n_frames; ++i) {
    const bool up = i < half;
    const double p = up ? 14.5 * i / (half - 1) : 14.5 * (n_frames - 1 - i) / (n_frames - half);
    const double rs =
        up ? 1 / (1 + std::exp(-(p - 6.5) / 0.5)) : 0.55 + 0.45 / (1 + std::exp(-(p - 2.0) / 0.4));
    series::SimulatedFrame sf;
    sf.fractions = {up ? 1 - rs : 0.0, up ? 0.0 : 1 - rs, rs};
    sf.parameters = powder::default_parameters(s.phases, s.settings, 4.8);
    for (std::size_t k = 0; k < 3; ++k) {
      const double scale = std::cbrt(truth[k].volume_at(p) / truth[k].v0);
      sf.parameters.phases[k].a.value *= scale;
      sf.parameters.phases[k].c.value *= scale;
    }
    sf.seed = static_cast<std::uint32_t>(i + 1);
    series::SeriesFrame f;
    f.frame = static_cast<std::size_t>(i);
    f.pressure_gpa = p;
    f.pressure_esd_gpa = 0.05;
    f.pattern = series::simulate_pattern(model, sf);
    s.frames.push_back(std::move(f));
  }
  return s;
}

void run_series(benchmark::State& state, powder::SizeProfile profile) {
  const Scan scan = make_scan(profile, 60);
  series::SeriesOptions o;
  o.num_threads = static_cast<int>(state.range(0));
  const auto start = powder::default_parameters(scan.phases, scan.settings, 4.0);
  int fits = 0, ok = 0;
  for (auto _ : state) {
    const auto r = series::refine_series(scan.frames, scan.phases, scan.settings, start, {}, o);
    fits = ok = 0;
    for (const auto& f : r.frames) fits += f.num_fits, ok += f.ok();
    benchmark::DoNotOptimize(r.frames.data());
  }
  state.counters["frames"] = 60;
  state.counters["converged"] = ok;
  state.counters["fits_last_pass"] = fits;
}

void BM_Series60Frames3PhasesLorentzian(benchmark::State& state) {
  run_series(state, powder::SizeProfile::Lorentzian);
}
BENCHMARK(BM_Series60Frames3PhasesLorentzian)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

void BM_Series60Frames3PhasesSphere(benchmark::State& state) {
  run_series(state, powder::SizeProfile::Sphere);
}
BENCHMARK(BM_Series60Frames3PhasesSphere)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

void BM_OneFrameFit(benchmark::State& state) {
  const Scan scan = make_scan(powder::SizeProfile::Lorentzian, 60);
  const powder::PatternModel model(scan.settings, scan.phases, scan.frames[14].pattern.two_theta_deg);
  auto start = powder::default_parameters(scan.phases, scan.settings, 4.0);
  for (auto& q : start.phases) q.a.value *= 0.985, q.c.value *= 0.985;
  for (auto _ : state) benchmark::DoNotOptimize(powder::refine(model, scan.frames[14].pattern, start).rwp);
}
BENCHMARK(BM_OneFrameFit)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
