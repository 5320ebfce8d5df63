// Reading a 100-frame Pilatus-1M-sized (1043 x 981, uint32) bitshuffle-LZ4 HDF5 stack, as an
// EIGER/Pilatus3 writes it: frames/s single-threaded and with frames decoded in parallel (TBB).
//
//   build/tools/bench_read_hdf5 [--benchmark_min_time=2]
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>

#include "io/frame_source.hpp"
#include "io/hdf5_source.hpp"

namespace fs = std::filesystem;
using namespace anvil;

namespace {

constexpr std::size_t kFrames = 100;
const Shape kPilatus1M{1043, 981};

// Counts like a WAXS frame: a sloping background, a few powder rings, Poisson noise.
ImageF synthetic_frame(unsigned seed) {
  std::mt19937 rng(seed);
  ImageF img(kPilatus1M);
  const double cy = 520.0 + seed % 7, cx = 490.0 - seed % 5;
  for (std::size_t r = 0; r < img.rows(); ++r)
    for (std::size_t c = 0; c < img.cols(); ++c) {
      const double rad = std::hypot(static_cast<double>(r) - cy, static_cast<double>(c) - cx);
      double lam = 15.0 + 30.0 * std::exp(-rad / 300.0);
      for (double ring : {180.0, 260.0, 330.0, 410.0})
        lam += 400.0 * std::exp(-0.5 * std::pow((rad - ring) / 3.0, 2));
      img(r, c) = static_cast<float>(std::poisson_distribution<int>(lam)(rng));
    }
  return img;
}

const std::string& stack_path() {
  static const std::string path = [] {
    const auto p = (fs::temp_directory_path() / "anvil_bench_pilatus1m_bslz4.h5").string();
    if (!fs::exists(p)) {
      std::vector<ImageF> distinct;
      for (unsigned s = 0; s < 4; ++s) distinct.push_back(synthetic_frame(s));
      io::Hdf5StackOptions opt;
      opt.pixel_type = io::PixelType::UInt32;
      opt.compression = io::Hdf5Compression::BitshuffleLz4;
      io::Hdf5StackWriter w(p + ".tmp", kPilatus1M, opt);
      for (std::size_t k = 0; k < kFrames; ++k) w.append(distinct[k % distinct.size()]);
      w.close();
      fs::rename(p + ".tmp", p);
    }
    return p;
  }();
  return path;
}

void BM_ReadBitshuffleStack(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  const auto src = io::open_frames(stack_path());
  std::atomic<std::size_t> checksum{0};
  for (auto _ : state) {
    if (threads == 1) {
      for (std::size_t k = 0; k < src->frame_count(); ++k) {
        auto f = src->read(k);
        benchmark::DoNotOptimize(f.image.pixels.data());
      }
    } else {
      tbb::parallel_for(std::size_t{0}, src->frame_count(), [&](std::size_t k) {
        auto f = src->read(k);
        checksum += static_cast<std::size_t>(f.image.pixels[k]);
      });
    }
  }
  const double frames = static_cast<double>(state.iterations() * src->frame_count());
  state.counters["frames/s"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
  state.counters["MB/s(uncompressed)"] = benchmark::Counter(
      frames * static_cast<double>(kPilatus1M.pixel_count()) * 4 / 1e6, benchmark::Counter::kIsRate);
  state.counters["compression_ratio"] = static_cast<double>(kFrames * kPilatus1M.pixel_count() * 4) /
                                        static_cast<double>(fs::file_size(stack_path()));
}
BENCHMARK(BM_ReadBitshuffleStack)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
