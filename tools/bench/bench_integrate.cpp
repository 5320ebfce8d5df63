// Azimuthal integration throughput on a Pilatus-1M-sized frame (1043×981, 1000 bins):
// integrator build time and frames/s for each pixel-splitting method, on 1 and 2 threads.
// Positions come from a simple flat, untilted geometry (beam centre near the middle).
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <random>
#include <vector>

#include "integrate/integrator.hpp"

namespace {

using namespace anvil::integrate;

constexpr std::size_t kRows = 1043, kCols = 981;

struct Setup {
  PixelPositions positions;
  Corrections corrections;
  std::vector<float> frame;
};

const Setup& setup() {
  static const Setup s = [] {
    Setup r;
    const double dist = 0.2, pixel = 172e-6, wavelength_nm = 0.04859, c1 = 518.0, c2 = 468.6;
    const auto q_and_chi = [&](double i, double j, double& q, double& chi) {
      const double x = (i - c1) * pixel, y = (j - c2) * pixel;
      const double tth = std::atan2(std::hypot(x, y), dist);
      q = 4.0 * M_PI / wavelength_nm * std::sin(0.5 * tth);
      chi = std::atan2(x, y);
    };
    auto& p = r.positions;
    p.shape = {kRows, kCols};
    const std::size_t n = kRows * kCols;
    p.radial.resize(n);
    p.azimuth.resize(n);
    p.corner_radial.resize(4 * n);
    p.corner_azimuth.resize(4 * n);
    r.corrections.solid_angle.resize(n);
    r.corrections.polarization.assign(n, 0.95f);
    const double di[4] = {0, 1, 1, 0}, dj[4] = {0, 0, 1, 1};
    for (std::size_t i = 0; i < kRows; ++i)
      for (std::size_t j = 0; j < kCols; ++j) {
        const std::size_t k = i * kCols + j;
        q_and_chi(static_cast<double>(i) + 0.5, static_cast<double>(j) + 0.5, p.radial[k], p.azimuth[k]);
        for (int m = 0; m < 4; ++m)
          q_and_chi(static_cast<double>(i) + di[m], static_cast<double>(j) + dj[m],
                    p.corner_radial[4 * k + m], p.corner_azimuth[4 * k + m]);
        const double x = (static_cast<double>(i) + 0.5 - c1) * pixel,
                     y = (static_cast<double>(j) + 0.5 - c2) * pixel;
        r.corrections.solid_angle[k] =
            static_cast<float>(std::pow(dist / std::sqrt(dist * dist + x * x + y * y), 3));
      }
    std::mt19937 rng(42);
    std::poisson_distribution<int> counts(800.0);
    r.frame.resize(n);
    for (float& v : r.frame) v = static_cast<float>(counts(rng));
    return r;
  }();
  return s;
}

PixelSplit split_of(int64_t i) {
  return i == 0 ? PixelSplit::none : i == 1 ? PixelSplit::bbox : PixelSplit::full;
}
const char* name_of(int64_t i) { return i == 0 ? "no-split" : i == 1 ? "bbox" : "full"; }

void BM_IntegratorBuild(benchmark::State& state) {
  const Setup& s = setup();
  tbb::task_arena arena(static_cast<int>(state.range(1)));
  const Binning binning{.radial_bins = 1000, .split = split_of(state.range(0))};
  std::size_t nnz = 0;
  for (auto _ : state) {
    arena.execute([&] {
      const Integrator integrator(s.positions, nullptr, binning);
      nnz = integrator.matrix().nnz();
    });
  }
  state.SetLabel(std::string(name_of(state.range(0))) + ", nnz " + std::to_string(nnz));
}
BENCHMARK(BM_IntegratorBuild)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMillisecond);

// Frames/s: a batch of frames integrated with integrate_frames on `threads` TBB threads.
void BM_IntegrateFrames(benchmark::State& state) {
  const Setup& s = setup();
  const Integrator integrator(s.positions, nullptr,
                              Binning{.radial_bins = 1000, .split = split_of(state.range(0))});
  const PreparedCorrections corrections(kRows * kCols, s.corrections);
  const int threads = static_cast<int>(state.range(1));
  tbb::task_arena arena(threads);
  std::vector<FrameInput> frames(static_cast<std::size_t>(8 * threads), FrameInput{.pixels = s.frame});
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(integrator.integrate_frames(frames, corrections)); });
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(frames.size()));
  state.SetLabel(std::string(name_of(state.range(0))) + ", items/s = frames/s");
}
BENCHMARK(BM_IntegrateFrames)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
