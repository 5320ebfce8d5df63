// SAXS superlattice indexing speed: one 1000-point pattern to a lattice (goal: < 20 ms), and its
// stages. Synthetic fcc (d111 = 5.03 nm, Xiao et al. 2022) and simple-hexagonal nanorod patterns, and
// dac_dev's curves (../shared/reference, made without anvil: Debye sums over particle positions in
// finite grains), every other point of 1851 (0.3–4.0 nm⁻¹).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "saxs/analysis.hpp"
#include "saxs/simulate.hpp"

namespace {

using namespace anvil::saxs;

std::string fmt_label(int frame, std::size_t points) {
  return "dac_dev frame " + std::to_string(frame) + (frame < 8 ? " (fcc), " : " (lamellar), ") +
         std::to_string(points) + " points";
}

anvil::Pattern1D pattern(Lattice lattice, std::size_t points = 1000) {
  SimulationSettings s;
  SimulatedPhase ph;
  ph.lattice = lattice;
  if (lattice == Lattice::fcc) {
    ph.a_nm = std::sqrt(3.0) * 5.03;
    s.q_min_inv_nm = 0.6;
    s.q_max_inv_nm = 3.6;
    s.form_factor->radius_nm = 2.4;
  } else {
    ph.a_nm = 6.72;
    ph.c_nm = 26.2;
    s.q_min_inv_nm = 0.15;
    s.q_max_inv_nm = 2.0;
    s.form_factor.reset();
  }
  ph.domain_nm = 150;
  s.phases = {ph};
  s.points = points;
  return simulate_saxs(s).pattern;
}

void BM_IndexFcc(benchmark::State& state) {
  const auto p = pattern(Lattice::fcc, static_cast<std::size_t>(state.range(0)));
  const SaxsSettings settings;
  for (auto _ : state) benchmark::DoNotOptimize(analyse_saxs(p, settings));
  state.SetLabel("fcc, whole pipeline");
}
BENCHMARK(BM_IndexFcc)->Arg(1000)->Arg(2000)->Unit(benchmark::kMillisecond);

void BM_IndexNanorodHex3d(benchmark::State& state) {
  const auto p = pattern(Lattice::hex3d);
  const SaxsSettings settings;
  for (auto _ : state) benchmark::DoNotOptimize(analyse_saxs(p, settings));
  state.SetLabel("hex3d a = 6.72, c = 26.2 nm, whole pipeline");
}
BENCHMARK(BM_IndexNanorodHex3d)->Unit(benchmark::kMillisecond);

void BM_IndexWithSphereFormFactor(benchmark::State& state) {
  const auto p = pattern(Lattice::fcc);
  SaxsSettings settings;
  settings.background.model = DiffuseModel::sphere;
  for (auto _ : state) benchmark::DoNotOptimize(analyse_saxs(p, settings));
  state.SetLabel("fcc, with polydisperse-sphere fit");
}
BENCHMARK(BM_IndexWithSphereFormFactor)->Unit(benchmark::kMillisecond);

void BM_PeakSearchOnly(benchmark::State& state) {
  const auto p = pattern(Lattice::fcc);
  const auto r = analyse_saxs(p, SaxsSettings{});
  std::vector<double> sigma(r.q.size());
  for (std::size_t i = 0; i < sigma.size(); ++i) sigma[i] = p.sigma[i] / r.baseline[i];
  const PeakSearchSettings s;
  for (auto _ : state) {
    const auto c = find_peak_candidates(r.q, r.flattened, sigma, s);
    benchmark::DoNotOptimize(refine_peaks(r.q, r.flattened, sigma, c, s));
  }
}
BENCHMARK(BM_PeakSearchOnly)->Unit(benchmark::kMillisecond);

void BM_IndexingOnly(benchmark::State& state) {
  const auto p = pattern(Lattice::hex3d);
  const auto r = analyse_saxs(p, SaxsSettings{});
  std::vector<double> sigma(r.q.size());
  for (std::size_t i = 0; i < sigma.size(); ++i) sigma[i] = p.sigma[i] / r.baseline[i];
  IndexSettings is;
  is.q_min = r.q_min_inv_nm;
  is.q_max = r.q_max_inv_nm;
  const FlatCurve curve{r.q, r.flattened, sigma};
  for (auto _ : state) benchmark::DoNotOptimize(index_pattern(curve, r.peaks, is));
}
BENCHMARK(BM_IndexingOnly)->Unit(benchmark::kMillisecond);

// q and I_total of a dac_dev truth curve, every other point; empty when the reference is absent.
anvil::Pattern1D dac_dev_curve(int frame) {
  anvil::Pattern1D p;
  const std::string path = std::string(ANVIL_REFERENCE_DIR) + "/dac_dev/truth_1d/saxs_" +
                           std::string(5 - std::to_string(frame).size(), '0') + std::to_string(frame) +
                           ".txt.gz";
  FILE* f = popen(("gzip -dc '" + path + "' 2>/dev/null").c_str(), "r");
  if (!f) return p;
  char line[4096];
  int k = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    std::istringstream in(line);
    double q = 0, i = 0;
    if ((in >> q >> i) && k++ % 2 == 0) p.x.push_back(q), p.intensity.push_back(i);
  }
  pclose(f);
  return p;
}

void BM_IndexDacDevCurve(benchmark::State& state) {
  const int frame = static_cast<int>(state.range(0));
  const auto p = dac_dev_curve(frame);
  if (p.x.empty()) {
    state.SkipWithError("../shared/reference/dac_dev not found");
    return;
  }
  const SaxsSettings settings;
  for (auto _ : state) benchmark::DoNotOptimize(analyse_saxs(p, settings));
  state.SetLabel(fmt_label(frame, p.x.size()));
}
BENCHMARK(BM_IndexDacDevCurve)->Arg(1)->Arg(12)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
