// Writes sample_data/: a small CdSe DAC compression-decompression scan as a beamline writes
// it — WAXS frames in an EIGER-style NeXus master + bitshuffle-LZ4 data files, a pressure
// table and a SPEC file with the ruby R1 wavelengths — so that the main job has real input.
//
// The frames are powder rings of CdSe zinc blende (ZB) and rock salt (RS) on a flat,
// untilted Pilatus 300K at 0.2 m, λ = 0.4859 Å, with a Poisson background and module gaps.
// The full forward model (tilted geometry, Rietveld intensities, SAXS, diamond spots) is
// `anvil simulate`'s job; this program only makes files for the ingestion stages.
//
//   make_sample_data OUTDIR
#include <fmt/core.h>
#include <fmt/os.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "io/hdf5_source.hpp"

namespace fs = std::filesystem;
using namespace anvil;

namespace {

constexpr double kWavelengthA = 0.4859;
constexpr double kDistanceM = 0.2;
constexpr double kPixelM = 172e-6;
const Shape kShape{619, 487};  // Pilatus 300K: 3 x 1 modules of 195 x 487, 17-pixel gaps

struct Line {
  double d_a;        // d-spacing at ambient, Å
  double intensity;  // relative
};
// CdSe ZB (a = 6.077 Å): 111, 220, 311; RS (a = 5.71 Å at ~6 GPa): 200, 220, 222.
const Line kZincBlende[] = {{3.509, 1.0}, {2.149, 0.6}, {1.832, 0.35}};
const Line kRockSalt[] = {{2.855, 1.0}, {2.019, 0.55}, {1.648, 0.2}};

bool in_gap(std::size_t row) {  // rows 195..211 and 407..423 are between modules
  return (row >= 195 && row < 212) || (row >= 407 && row < 424);
}

// Eulerian-strain compression of d with a Birch-Murnaghan-like softening, K0 in GPa.
double compressed(double d0, double p_gpa, double k0) {
  return d0 * std::pow(1.0 + 4.5 * p_gpa / k0, -1.0 / 13.5);
}

ImageF waxs_frame(double p_gpa, double rs_fraction, unsigned seed) {
  std::mt19937 rng(seed);
  ImageF img(kShape);
  const double cy = 300.5, cx = 243.5;  // beam centre (pixels): the rings are full circles
  const double fwhm_deg = 0.6;          // 4.8-nm crystals
  for (std::size_t r = 0; r < kShape.rows; ++r) {
    for (std::size_t c = 0; c < kShape.cols; ++c) {
      if (in_gap(r)) {
        img(r, c) = -1.0f;
        continue;
      }
      const double rad_m = std::hypot((static_cast<double>(r) + 0.5 - cy) * kPixelM,
                                      (static_cast<double>(c) + 0.5 - cx) * kPixelM);
      const double tth = std::atan2(rad_m, kDistanceM) * 180.0 / M_PI;
      double lam = 20.0 + 60.0 * std::exp(-tth / 6.0);
      auto add = [&](const Line* lines, std::size_t n, double weight, double k0) {
        for (std::size_t i = 0; i < n; ++i) {
          const double d = compressed(lines[i].d_a, p_gpa, k0);
          const double t0 = 2.0 * std::asin(kWavelengthA / (2.0 * d)) * 180.0 / M_PI;
          const double x = (tth - t0) / (fwhm_deg / 2.0);
          lam += 400.0 * weight * lines[i].intensity / (1.0 + x * x);
        }
      };
      add(kZincBlende, 3, 1.0 - rs_fraction, 53.0);
      add(kRockSalt, 3, rs_fraction, 74.0);
      img(r, c) = static_cast<float>(std::poisson_distribution<int>(lam)(rng));
    }
  }
  return img;
}

// Ruby R1 (nm) for a pressure, by inverting Dewaele et al. 2008: P = A/B [(λ/λ0)^B − 1].
double ruby_r1_nm(double p_gpa) { return 694.24 * std::pow(1.0 + 9.61 * p_gpa / 1920.0, 1.0 / 9.61); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: make_sample_data OUTDIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  fs::create_directories(out);
  // Compression to 11 GPa and back; RS appears above ~6 GPa, 30 % stays RS at ambient.
  const std::vector<double> pressures = {0.1, 2.1, 4.0, 6.2, 8.1, 11.0, 7.9, 4.2, 1.8, 0.2};
  const std::vector<double> rs = {0.0, 0.0, 0.0, 0.25, 0.8, 1.0, 1.0, 0.7, 0.4, 0.3};

  io::FrameMetadata md;
  md.wavelength_m = kWavelengthA * 1e-10;
  md.distance_m = kDistanceM;
  md.pixel_size_x_m = md.pixel_size_y_m = kPixelM;
  md.beam_center_x_px = 243.5;
  md.beam_center_y_px = 300.5;
  md.count_time_s = 10.0;
  md.saturation_value = 1048500;
  md.detector = "Pilatus 300K (simulated)";
  io::Hdf5StackOptions opt;
  opt.nexus = false;
  opt.pixel_type = io::PixelType::Int32;
  std::vector<std::string> data_files;
  const std::size_t per_file = 5;
  std::unique_ptr<io::Hdf5StackWriter> writer;
  for (std::size_t k = 0; k < pressures.size(); ++k) {
    if (k % per_file == 0) {
      if (writer) writer->close();
      data_files.push_back((out / fmt::format("cdse_waxs_data_{:06d}.h5", k / per_file + 1)).string());
      writer = std::make_unique<io::Hdf5StackWriter>(data_files.back(), kShape, opt);
    }
    writer->append(waxs_frame(pressures[k], rs[k], static_cast<unsigned>(k + 1)));
  }
  writer->close();
  io::write_eiger_master((out / "cdse_waxs_master.h5").string(), data_files, md);

  auto csv = fmt::output_file((out / "pressure.csv").string());
  csv.print(
      "# ruby pressures of the sample scan (Dewaele 2008 scale)\nframe,pressure_gpa,pressure_esd_gpa\n");
  for (std::size_t k = 0; k < pressures.size(); ++k) csv.print("{},{:.2f},0.10\n", k, pressures[k]);
  csv.close();

  auto spec = fmt::output_file((out / "cdse_dac.spec").string());
  spec.print(
      "#F cdse_dac.spec\n#E 1763600000\n#D Sat Nov 21 09:00:00 2026\n#C CHESS ID7B2 sample data "
      "(simulated)\n\n");
  spec.print(
      "#S 1  ascan  dac_screw 0 10 9 10\n#D Sat Nov 21 09:00:00 2026\n#N 5\n#L dac_screw  Seconds  ic0  ruby "
      "R1  frame\n");
  for (std::size_t k = 0; k < pressures.size(); ++k)
    spec.print("{:.1f} 10 {} {:.3f} {}\n", static_cast<double>(k), 150000 + 17 * k, ruby_r1_nm(pressures[k]),
               k);
  spec.close();
  fmt::print("wrote {} frames to {}\n", pressures.size(), out.string());
  return 0;
}
