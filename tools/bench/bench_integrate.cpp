// Azimuthal integration throughput: integrator build time and frames/s for each pixel-splitting
// method, on 1 and 2 threads, for a Pilatus-1M-sized frame (1043×981, 172 µm) and an EIGER 4M
// (2167×2070, 75 µm); 1000 q bins, solid angle + polarisation (0.99), Poisson error model.
// Positions come from a flat, untilted geometry (beam centre near the middle).
//
// The frames integrated per iteration are 16 distinct buffers (64 MB for the 1M, 287 MB for the
// 4M: more than the last-level cache), as frames coming from a reader would be; integrating one
// buffer over and over would measure the cache, not the memory.
//
// BM_MemRead / BM_Triad give this machine's memory bandwidth (a STREAM-like read-sum and
// triad a = b + s·c, counted as STREAM does: 24 bytes per triad element), to say how close
// integration is to the memory-bandwidth bound. Counters: frames_per_s, GB_per_s.
#include <benchmark/benchmark.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "integrate/integrator.hpp"

namespace {

using namespace anvil::integrate;

struct DetectorSpec {
  std::size_t rows, cols;
  double pixel;      // m
  std::size_t pool;  // distinct frames
};
constexpr DetectorSpec kPilatus1M{1043, 981, 172e-6, 16};
constexpr DetectorSpec kEiger4M{2167, 2070, 75e-6, 16};

struct Setup {
  PixelPositions positions;
  Corrections corrections;
  std::vector<std::vector<float>> frames;  // `pool` distinct frames
};

const Setup& setup(const DetectorSpec& d) {
  static std::map<std::size_t, std::unique_ptr<Setup>> cache;
  auto& slot = cache[d.rows];
  if (slot) return *slot;
  slot = std::make_unique<Setup>();
  Setup& r = *slot;
  const double dist = 0.2, wavelength_nm = 0.04859, pol = 0.99;
  const double c1 = 0.5 * static_cast<double>(d.rows) - 3.5, c2 = 0.5 * static_cast<double>(d.cols) - 21.9;
  const auto q_and_chi = [&](double i, double j, double& q, double& chi) {
    const double x = (i - c1) * d.pixel, y = (j - c2) * d.pixel;
    const double tth = std::atan2(std::hypot(x, y), dist);
    q = 4.0 * M_PI / wavelength_nm * std::sin(0.5 * tth);
    chi = std::atan2(x, y);
  };
  auto& p = r.positions;
  p.shape = {d.rows, d.cols};
  const std::size_t n = d.rows * d.cols;
  p.radial.resize(n);
  p.azimuth.resize(n);
  p.corner_radial.resize(4 * n);
  p.corner_azimuth.resize(4 * n);
  r.corrections.solid_angle.resize(n);
  r.corrections.polarization.resize(n);
  const double di[4] = {0, 1, 1, 0}, dj[4] = {0, 0, 1, 1};
  tbb::parallel_for(std::size_t{0}, d.rows, [&](std::size_t i) {
    for (std::size_t j = 0; j < d.cols; ++j) {
      const std::size_t k = i * d.cols + j;
      q_and_chi(static_cast<double>(i) + 0.5, static_cast<double>(j) + 0.5, p.radial[k], p.azimuth[k]);
      for (int m = 0; m < 4; ++m)
        q_and_chi(static_cast<double>(i) + di[m], static_cast<double>(j) + dj[m], p.corner_radial[4 * k + m],
                  p.corner_azimuth[4 * k + m]);
      const double x = (static_cast<double>(i) + 0.5 - c1) * d.pixel,
                   y = (static_cast<double>(j) + 0.5 - c2) * d.pixel;
      const double r2 = dist * dist + x * x + y * y;
      r.corrections.solid_angle[k] = static_cast<float>(std::pow(dist / std::sqrt(r2), 3));
      const double cos2tth = dist * dist / r2, chi = p.azimuth[k];
      r.corrections.polarization[k] =
          static_cast<float>(0.5 * (1 + cos2tth - pol * std::cos(2 * chi) * (1 - cos2tth)));
    }
  });
  std::mt19937 rng(42);
  std::poisson_distribution<int> counts(800.0);
  std::vector<float> base(n);
  for (float& v : base) v = static_cast<float>(counts(rng));
  r.frames.assign(d.pool, base);
  for (std::size_t f = 1; f < d.pool; ++f)
    for (std::size_t i = f; i < n; i += 97) r.frames[f][i] += static_cast<float>(f);
  return r;
}

PixelSplit split_of(int64_t i) {
  return i == 0 ? PixelSplit::none : i == 1 ? PixelSplit::bbox : PixelSplit::full;
}
const char* name_of(int64_t i) { return i == 0 ? "no-split" : i == 1 ? "bbox" : "full"; }

void build(benchmark::State& state, const DetectorSpec& d) {
  const Setup& s = setup(d);
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

// Frames/s: all `pool` distinct frames integrated with integrate_frames on `threads` TBB threads.
void frames(benchmark::State& state, const DetectorSpec& d) {
  const Setup& s = setup(d);
  const Integrator integrator(s.positions, nullptr,
                              Binning{.radial_bins = 1000, .split = split_of(state.range(0))});
  const std::size_t n = d.rows * d.cols;
  const PreparedCorrections corrections(n, s.corrections);
  const int threads = static_cast<int>(state.range(1));
  tbb::task_arena arena(threads);
  std::vector<FrameInput> in;
  for (const auto& f : s.frames) in.push_back(FrameInput{.pixels = f});
  arena.execute([&] { benchmark::DoNotOptimize(integrator.integrate_frames(in, corrections)); });  // warm-up
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(integrator.integrate_frames(in, corrections)); });
  }
  const double frames_done = static_cast<double>(state.iterations()) * static_cast<double>(in.size());
  state.counters["frames_per_s"] = benchmark::Counter(frames_done, benchmark::Counter::kIsRate);
  // Input bytes per frame: the frame itself (the least any method must read).
  state.counters["frame_GB_per_s"] = benchmark::Counter(
      frames_done * static_cast<double>(n * sizeof(float)) * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(name_of(state.range(0))) + ", nnz " + std::to_string(integrator.matrix().nnz()));
}

// One frame per call (Integrator::integrate), as `anvil run`, `anvil integrate` and the Python
// integrate1d call it: the latency of a frame, not the batched throughput above.
void BM_IntegrateOneFrame(benchmark::State& state) {
  const Setup& s = setup(kPilatus1M);
  const Integrator integrator(s.positions, nullptr,
                              Binning{.radial_bins = 1000, .split = split_of(state.range(0))});
  const PreparedCorrections corrections(kPilatus1M.rows * kPilatus1M.cols, s.corrections);
  const IntegrateOptions options{.error_model = ErrorModel::poisson};
  std::size_t f = 0;
  benchmark::DoNotOptimize(integrator.integrate(FrameInput{.pixels = s.frames[0]}, corrections, options));
  for (auto _ : state) {
    benchmark::DoNotOptimize(integrator.integrate(FrameInput{.pixels = s.frames[f]}, corrections, options));
    f = (f + 1) % s.frames.size();
  }
  state.SetLabel(name_of(state.range(0)));
}
BENCHMARK(BM_IntegrateOneFrame)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IntegratorBuild(benchmark::State& state) { build(state, kPilatus1M); }
BENCHMARK(BM_IntegratorBuild)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IntegrateFrames(benchmark::State& state) { frames(state, kPilatus1M); }
BENCHMARK(BM_IntegrateFrames)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

// Sigma clipping (4σ, azimuthal σ, ≤ 5 passes; pyFAI sigma_clip_ng) of one Pilatus-1M frame with 150
// saturated single-crystal spots, as `anvil run` does per WAXS frame. Arg: splitting, threads.
void BM_SigmaClip(benchmark::State& state) {
  const Setup& s = setup(kPilatus1M);
  const Integrator integrator(s.positions, nullptr,
                              Binning{.radial_bins = 1500, .split = split_of(state.range(0))});
  const std::size_t n = kPilatus1M.rows * kPilatus1M.cols;
  const PreparedCorrections corrections(n, s.corrections);
  std::vector<float> frame = s.frames[0];
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> where(0, n - 1);
  for (int spot = 0; spot < 150; ++spot) {
    const std::size_t c = where(rng);
    for (int dr = -2; dr <= 2; ++dr)
      for (int dc = -2; dc <= 2; ++dc) {
        const long k = static_cast<long>(c) + dr * static_cast<long>(kPilatus1M.cols) + dc;
        if (k >= 0 && k < static_cast<long>(n)) frame[static_cast<std::size_t>(k)] = 1e6f;
      }
  }
  tbb::task_arena arena(static_cast<int>(state.range(1)));
  const SigmaClipOptions opt{.threshold = 4.0};
  for (auto _ : state)
    arena.execute([&] {
      benchmark::DoNotOptimize(integrator.sigma_clip(FrameInput{.pixels = frame}, corrections, opt));
    });
  state.counters["frames_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(name_of(state.range(0))) + ", nnz " + std::to_string(integrator.matrix().nnz()));
}
BENCHMARK(BM_SigmaClip)->ArgsProduct({{0, 1}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Eiger4MBuild(benchmark::State& state) { build(state, kEiger4M); }
BENCHMARK(BM_Eiger4MBuild)->Args({2, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Eiger4MFrames(benchmark::State& state) { frames(state, kEiger4M); }
BENCHMARK(BM_Eiger4MFrames)->ArgsProduct({{0, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

// Memory bandwidth, STREAM-like, over arrays far larger than the caches.
constexpr std::size_t kStreamDoubles = std::size_t{1} << 25;  // 256 MiB per array

void BM_MemRead(benchmark::State& state) {
  static std::vector<double> a(kStreamDoubles, 1.0);
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  const std::size_t threads = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<double> partial(threads, 0.0);
    arena.execute([&] {
      tbb::parallel_for(std::size_t{0}, threads, [&](std::size_t t) {
        const std::size_t begin = kStreamDoubles * t / threads, end = kStreamDoubles * (t + 1) / threads;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (std::size_t i = begin; i + 4 <= end; i += 4) {
          s0 += a[i];
          s1 += a[i + 1];
          s2 += a[i + 2];
          s3 += a[i + 3];
        }
        partial[t] = s0 + s1 + s2 + s3;
      });
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.counters["GB_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kStreamDoubles * sizeof(double) * 1e-9,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MemRead)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Triad(benchmark::State& state) {
  static std::vector<double> a(kStreamDoubles, 0.0), b(kStreamDoubles, 1.0), c(kStreamDoubles, 2.0);
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  const std::size_t threads = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(std::size_t{0}, threads, [&](std::size_t t) {
        const std::size_t begin = kStreamDoubles * t / threads, end = kStreamDoubles * (t + 1) / threads;
        for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + 3.0 * c[i];
      });
    });
    benchmark::DoNotOptimize(a.data());
  }
  state.counters["GB_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kStreamDoubles * 3 * sizeof(double) * 1e-9,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Triad)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
