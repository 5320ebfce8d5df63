// anvil's integrator against pyFAI 0.21.3 on the synthetic CeO2 Pilatus-1M frame
// (shared/reference/pyfai, see README.json there).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "integrate/integrator.hpp"
#include "reference_geometry.hpp"
#include "test_support.hpp"

namespace anvil::integrate {
namespace {

using test::RadialUnit;

constexpr std::size_t kRows = 1043, kCols = 981;

template <class T>
std::vector<T> read_binary(const std::filesystem::path& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  std::vector<T> v(count);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)));
  EXPECT_TRUE(in.good()) << path;
  return v;
}

// Columns: radial I sigma sum_signal sum_normalization count sum_variance
struct DatFile {
  std::vector<std::array<double, 7>> rows;
};

DatFile read_dat(const std::filesystem::path& path) {
  std::ifstream in(path);
  DatFile d;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::array<double, 7> r{};
    for (double& x : r) s >> x;
    d.rows.push_back(r);
  }
  return d;
}

const test::ReferencePixels& pixels(RadialUnit unit) {
  static std::map<RadialUnit, test::ReferencePixels> cache;
  auto it = cache.find(unit);
  if (it == cache.end()) it = cache.emplace(unit, test::reference_pixels(test::PoniGeometry{}, unit)).first;
  return it->second;
}

struct Inputs {
  std::vector<float> image;
  Mask mask;
};

const Inputs& inputs() {
  static Inputs in = [] {
    Inputs r;
    const auto dir = test::reference_dir() / "pyfai";
    r.image = read_binary<float>(dir / "image_1043x981_f32le.bin", kRows * kCols);
    r.mask.shape = {kRows, kCols};
    r.mask.pixels = read_binary<std::uint8_t>(dir / "mask_1043x981_u8.bin", kRows * kCols);
    return r;
  }();
  return in;
}

double rel_dev(double a, double b) {
  const double scale = std::max(std::fabs(a), std::fabs(b));
  return scale == 0 ? 0.0 : std::fabs(a - b) / scale;
}

struct Case {
  std::string file;
  PixelSplit split;
  bool mask;
  bool fixed;
  RadialUnit unit = RadialUnit::q_inv_nm;
};

std::string PrintToString(const Case& c) { return c.file; }

class PyfaiReference : public ::testing::TestWithParam<Case> {};

TEST_P(PyfaiReference, IntensityAndSigmaAgreeBinByBin) {
  const Case& c = GetParam();
  ANVIL_REFERENCE_FILE(path, "pyfai/" + c.file);
  ANVIL_REFERENCE_FILE(image_path, "pyfai/image_1043x981_f32le.bin");
  const DatFile ref = read_dat(path);
  ASSERT_EQ(ref.rows.size(), 1000u);

  const auto& px = pixels(c.unit);
  Binning binning;
  binning.radial_bins = 1000;
  binning.split = c.split;
  if (c.fixed) binning.radial_range = Range{1.0, 65.0};
  const Integrator integrator(px.positions, c.mask ? &inputs().mask : nullptr, binning);
  const PreparedCorrections corrections(kRows * kCols,
                                        {.solid_angle = px.solid_angle, .polarization = px.polarization});
  const IntegrationResult r = integrator.integrate({.pixels = inputs().image}, corrections);

  const double scale = c.unit == RadialUnit::two_theta_rad ? 180.0 / M_PI : 1.0;
  const double tol = c.split == PixelSplit::none ? 1e-5 : 1e-3;
  double max_i = 0, max_s = 0, max_pos = 0;
  std::size_t compared = 0;
  for (std::size_t b = 0; b < 1000; ++b) {
    const auto& row = ref.rows[b];
    max_pos = std::max(max_pos, rel_dev(integrator.radial_centers()[b] * scale, row[0]));
    if (c.split != PixelSplit::none && row[5] < 20) continue;
    ++compared;
    const double di = rel_dev(r.intensity[b], row[1]), ds = rel_dev(r.sigma[b], row[2]);
    max_i = std::max(max_i, di);
    max_s = std::max(max_s, ds);
    EXPECT_LE(di, tol) << c.file << " bin " << b << ": I anvil " << r.intensity[b] << " pyFAI " << row[1];
    EXPECT_LE(ds, tol) << c.file << " bin " << b << ": sigma anvil " << r.sigma[b] << " pyFAI " << row[2];
    if (c.split == PixelSplit::none) {
      EXPECT_EQ(r.count[b], row[5]) << c.file << " bin " << b;
    }
  }
  EXPECT_LE(max_pos, 1e-7) << "bin centres";
  std::printf("[ pyFAI    ] %-42s bins %4zu  max rel dev I %.2e  sigma %.2e  centre %.1e\n", c.file.c_str(),
              compared, max_i, max_s, max_pos);
  RecordProperty("max_rel_dev_I", std::to_string(max_i));
  RecordProperty("max_rel_dev_sigma", std::to_string(max_s));
}

INSTANTIATE_TEST_SUITE_P(
    Pilatus1M, PyfaiReference,
    ::testing::Values(Case{"int1d_no_histogram_nomask_auto.dat", PixelSplit::none, false, false},
                      Case{"int1d_no_histogram_mask_auto.dat", PixelSplit::none, true, false},
                      Case{"int1d_no_histogram_nomask_fixed.dat", PixelSplit::none, false, true},
                      Case{"int1d_no_histogram_mask_fixed.dat", PixelSplit::none, true, true},
                      Case{"int1d_bbox_csr_nomask_auto.dat", PixelSplit::bbox, false, false},
                      Case{"int1d_bbox_csr_mask_auto.dat", PixelSplit::bbox, true, false},
                      Case{"int1d_bbox_csr_nomask_fixed.dat", PixelSplit::bbox, false, true},
                      Case{"int1d_bbox_csr_mask_fixed.dat", PixelSplit::bbox, true, true},
                      Case{"int1d_full_csr_nomask_auto.dat", PixelSplit::full, false, false},
                      Case{"int1d_full_csr_mask_auto.dat", PixelSplit::full, true, false},
                      Case{"int1d_full_csr_nomask_fixed.dat", PixelSplit::full, false, true},
                      Case{"int1d_full_csr_mask_fixed.dat", PixelSplit::full, true, true},
                      Case{"int1d_bbox_csr_nomask_auto_2th_deg.dat", PixelSplit::bbox, false, false,
                           RadialUnit::two_theta_rad}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
      std::string name = param_info.param.file.substr(6, param_info.param.file.size() - 10);
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(PyfaiReference, CakeBBoxMaskedAgreesBinByBin) {
  ANVIL_REFERENCE_FILE(path, "pyfai/cake_bbox_csr_mask_360x500_f32le.bin");
  ANVIL_REFERENCE_FILE(radial_path, "pyfai/cake_axes.txt");
  ANVIL_REFERENCE_FILE(azimuth_path, "pyfai/cake_azimuth_deg.txt");
  const auto ref = read_binary<float>(path, 360 * 500);
  const auto read_axis = [](const std::filesystem::path& p) {
    std::vector<double> v;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] != '#') v.push_back(std::stod(line));
    return v;
  };
  const auto radial_axis = read_axis(radial_path), azimuth_axis = read_axis(azimuth_path);
  ASSERT_EQ(radial_axis.size(), 500u);
  ASSERT_EQ(azimuth_axis.size(), 360u);

  const auto& px = pixels(RadialUnit::q_inv_nm);
  const Integrator integrator(px.positions, &inputs().mask,
                              Binning{.radial_bins = 500, .azimuth_bins = 360, .split = PixelSplit::bbox});
  const PreparedCorrections corrections(kRows * kCols,
                                        {.solid_angle = px.solid_angle, .polarization = px.polarization});
  const IntegrationResult r = integrator.integrate({.pixels = inputs().image}, corrections);

  double max_axis = 0;
  for (std::size_t i = 0; i < 500; ++i)
    max_axis = std::max(max_axis, rel_dev(integrator.radial_centers()[i], radial_axis[i]));
  for (std::size_t j = 0; j < 360; ++j)
    max_axis = std::max(
        max_axis, std::fabs(integrator.azimuth_centers_rad()[j] * 180.0 / M_PI - azimuth_axis[j]) / 180.0);
  EXPECT_LE(max_axis, 1e-7);

  double max_i = 0;
  std::size_t compared = 0, empty_mismatch = 0;
  for (std::size_t a = 0; a < 360; ++a)
    for (std::size_t q = 0; q < 500; ++q) {
      const double mine = r.intensity_at(q, a), theirs = ref[a * 500 + q];
      // Cake bins hold ~5 pixels each: every non-empty bin is compared.
      if (r.count[q * 360 + a] == 0) {
        if (theirs != 0) ++empty_mismatch;
        continue;
      }
      ++compared;
      const double d = rel_dev(mine, theirs);
      max_i = std::max(max_i, d);
      EXPECT_LE(d, 1e-3) << "cake chi bin " << a << " q bin " << q << ": anvil " << mine << " pyFAI "
                         << theirs;
    }
  EXPECT_EQ(empty_mismatch, 0u);
  EXPECT_GT(compared, 100000u);
  std::printf("[ pyFAI    ] %-42s bins %6zu max rel dev I %.2e axes %.1e\n", "cake_bbox_csr_mask_360x500",
              compared, max_i, max_axis);
}

TEST(ReferenceGeometry, PixelProbesMatchPyfai) {
  ANVIL_REFERENCE_FILE(path, "pyfai/README.json");
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  const test::PoniGeometry g;
  const auto& q = pixels(RadialUnit::q_inv_nm);
  const auto& tth = pixels(RadialUnit::two_theta_rad);
  ASSERT_EQ(doc["pixel_probes"].size(), 6u);
  for (const auto& probe : doc["pixel_probes"]) {
    const std::size_t i = probe["i_slow"], j = probe["j_fast"], k = i * g.cols + j;
    EXPECT_NEAR(tth.positions.radial[k], probe["tth_rad"].get<double>(), 1e-9);
    EXPECT_NEAR(q.positions.azimuth[k], probe["chi_rad"].get<double>(), 1e-9);
    EXPECT_NEAR(q.positions.radial[k], probe["q_nm^-1"].get<double>(), 1e-9);
    const double p1 = test::center_position(g.pixel1_m, i, g.poni1_m),
                 p2 = test::center_position(g.pixel2_m, j, g.poni2_m);
    EXPECT_NEAR(test::solid_angle(g, p1, p2), probe["solid_angle_rel"].get<double>(), 1e-9);
    // pyFAI stores the polarisation as float32.
    EXPECT_NEAR(q.polarization[k], probe["polarization"].get<double>(), 1e-7);
  }
}

}  // namespace
}  // namespace anvil::integrate
