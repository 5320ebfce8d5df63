// Calibration time on a Pilatus 1M calibrant image (CeO2, 30.5 keV, Dioptas test data), from a
// rough guess (distance 10 % off, centre 20 px off) and from nothing; and on a synthetic
// Pilatus 1M image. Run with TBB limited to 2 threads to match CI:
//   bench_calibrate --benchmark_min_time=1   (ANVIL_THREADS=2 default)
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "calibration/calibrate.hpp"
#include "calibration/forward_model.hpp"
#include "calibration/ring_model.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"

namespace {

using namespace anvil;

calibration::Calibrant ceo2() {
  std::ifstream in(std::filesystem::path(ANVIL_SOURCE_DIR) / "calib/calibrants/CeO2.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  return calibration::parse_calibrant(ss.str(), "CeO2.toml");
}

struct RealCase {
  io::Frame frame;
  geometry::Geometry ref;
  std::vector<calibration::CalibrantLine> lines;
  bool ok = false;
};

const RealCase& real_case() {
  static RealCase c = [] {
    RealCase r;
    const std::filesystem::path dir(ANVIL_REFERENCE_DIR);
    if (!std::filesystem::exists(dir / "real/CeO2_Pilatus1M.tif")) return r;
    io::OpenOptions open;
    open.flip_up_down = true;
    r.frame = io::open_frames((dir / "real/CeO2_Pilatus1M.tif").string(), open)->read(0);
    r.ref = geometry::read_poni(dir / "real/CeO2_Pilatus1M.poni");
    r.ref.detector = geometry::detector_preset("Pilatus1M");
    r.lines = calibration::calibrant_lines_to_two_theta(ceo2(), r.ref.wavelength_m, 1.2);
    r.ok = true;
    return r;
  }();
  return c;
}

void BM_Calibrate_Pilatus1M_CeO2_rough_guess(benchmark::State& state) {
  const RealCase& c = real_case();
  if (!c.ok) {
    state.SkipWithError("reference data missing");
    return;
  }
  calibration::CalibrationStart start;
  const auto centre = calibration::beam_center_px(c.ref);
  start.dist_m = c.ref.dist_m * 1.1;
  start.center_px = std::array<double, 2>{(*centre)[0] + 20, (*centre)[1] - 20};
  for (auto _ : state) {
    auto r = calibration::calibrate(c.frame.image, c.frame.invalid, c.ref.detector, c.ref.wavelength_m,
                                    c.lines, start);
    if (!r.ok()) state.SkipWithError(r.message.c_str());
    benchmark::DoNotOptimize(r.geometry.dist_m);
  }
}

void BM_Calibrate_Pilatus1M_CeO2_no_guess(benchmark::State& state) {
  const RealCase& c = real_case();
  if (!c.ok) {
    state.SkipWithError("reference data missing");
    return;
  }
  for (auto _ : state) {
    auto r =
        calibration::calibrate(c.frame.image, c.frame.invalid, c.ref.detector, c.ref.wavelength_m, c.lines);
    if (!r.ok()) state.SkipWithError(r.message.c_str());
    benchmark::DoNotOptimize(r.geometry.dist_m);
  }
}

BENCHMARK(BM_Calibrate_Pilatus1M_CeO2_rough_guess)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Calibrate_Pilatus1M_CeO2_no_guess)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("ANVIL_THREADS");
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, env ? std::atoi(env) : 2);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
