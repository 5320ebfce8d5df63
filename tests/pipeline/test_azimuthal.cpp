// A real detector frame through geometry + integration: the Pilatus 1M CeO2 image with its
// Dioptas geometry puts the CeO2 lines where NIST SRM 674b says they are.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include "azimuthal.hpp"
#include "core/error.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"
#include "test_support.hpp"

using namespace anvil;

namespace {

// d-spacings of a pyFAI calibrant file ("d  # (h k l) mult intensity").
std::vector<double> read_d_spacings(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<double> d;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    double v = 0;
    if (ss >> v) d.push_back(v);
  }
  return d;
}

// Centroid of the peak nearest `expected` (degrees): a linear background through the edges of
// a ±window, then the intensity-weighted mean of the points above half the peak height.
double peak_centroid(const Pattern1D& p, double expected, double window) {
  std::size_t lo = 0, hi = 0;
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    if (p.x[i] < expected - window) lo = i + 1;
    if (p.x[i] <= expected + window) hi = i;
  }
  const double x0 = p.x[lo], x1 = p.x[hi], y0 = p.intensity[lo], y1 = p.intensity[hi];
  std::vector<double> net(hi - lo + 1);
  double top = 0;
  for (std::size_t i = lo; i <= hi; ++i) {
    net[i - lo] = p.intensity[i] - (y0 + (y1 - y0) * (p.x[i] - x0) / (x1 - x0));
    top = std::max(top, net[i - lo]);
  }
  double sw = 0, swx = 0;
  for (std::size_t i = lo; i <= hi; ++i)
    if (net[i - lo] > 0.5 * top) {
      sw += net[i - lo];
      swx += net[i - lo] * p.x[i];
    }
  return swx / sw;
}

}  // namespace

TEST(Azimuthal, CeO2PilatusLinesSitAtSrm674bPositions) {
  ANVIL_REFERENCE_FILE(image, "real/CeO2_Pilatus1M.tif");
  ANVIL_REFERENCE_FILE(poni, "real/CeO2_Pilatus1M.poni");
  ANVIL_REFERENCE_FILE(calibrant, "calibrants/CeO2.D");
  io::OpenOptions open;
  open.flip_up_down = true;  // the geometry was made in Dioptas, which flips images on load
  const auto frame = io::open_frames(image.string(), open)->read(0);
  const auto g = geometry::read_poni(poni);
  pipeline::IntegrationSettings s;
  s.unit = RadialUnit::TwoThetaDeg;
  s.radial_bins = 4000;
  s.split = integrate::PixelSplit::full;
  s.polarization_factor = 0.99;
  const pipeline::DetectorIntegrator di(g, frame.image.shape, {}, s);
  const auto pattern = di.integrate(frame);
  const auto d = read_d_spacings(calibrant);
  ASSERT_GE(d.size(), 12u);
  const double wavelength_a = g.wavelength_m * 1e10;
  double worst = 0;
  for (std::size_t k = 0; k < 12; ++k) {
    const double expected = 2.0 * std::asin(wavelength_a / (2.0 * d[k])) * 180.0 / std::numbers::pi;
    const double found = peak_centroid(pattern, expected, 0.12);
    worst = std::max(worst, std::abs(found - expected));
    EXPECT_NEAR(found, expected, 0.005) << "CeO2 line " << k << " d = " << d[k] << " Å";
  }
  RecordProperty("worst_deviation_deg", std::to_string(worst));
}

TEST(Azimuthal, NonsenseSetupsAreRefusedBeforeAnyWork) {
  geometry::Geometry g;
  g.dist_m = 0.2;
  g.poni1_m = g.poni2_m = 0.05;
  g.wavelength_m = 0.5e-10;
  g.detector = geometry::detector_preset("Pilatus1M");
  pipeline::IntegrationSettings s;
  // a detector larger than the frames
  EXPECT_THROW(pipeline::DetectorIntegrator(g, Shape{619, 487}, {}, s), InputError);
  // zero wavelength
  auto bad = g;
  bad.wavelength_m = 0;
  EXPECT_THROW(pipeline::DetectorIntegrator(bad, Shape{1043, 981}, {}, s), InputError);
  // a mask of the wrong shape
  EXPECT_THROW(pipeline::DetectorIntegrator(g, Shape{1043, 981}, Mask({10, 10}, 0), s), InputError);
  // an empty q range, and one entirely off the detector
  s.radial_range = integrate::Range{5.0, 5.0};
  EXPECT_THROW(pipeline::DetectorIntegrator(g, Shape{1043, 981}, {}, s), InputError);
  s.radial_range = integrate::Range{900.0, 1000.0};
  EXPECT_THROW(pipeline::DetectorIntegrator(g, Shape{1043, 981}, {}, s), InputError);
}

TEST(Azimuthal, UnitsAgreeWithEachOther) {
  ANVIL_REFERENCE_FILE(image, "real/CeO2_Pilatus1M.tif");
  ANVIL_REFERENCE_FILE(poni, "real/CeO2_Pilatus1M.poni");
  io::OpenOptions open;
  open.flip_up_down = true;
  const auto frame = io::open_frames(image.string(), open)->read(0);
  const auto g = geometry::read_poni(poni);
  pipeline::IntegrationSettings s;
  s.split = integrate::PixelSplit::none;
  s.unit = RadialUnit::QInvNm;
  const auto q_nm = pipeline::DetectorIntegrator(g, frame.image.shape, {}, s).integrate(frame);
  s.unit = RadialUnit::QInvA;
  const auto q_a = pipeline::DetectorIntegrator(g, frame.image.shape, {}, s).integrate(frame);
  s.unit = RadialUnit::DSpacingA;
  const auto d_a = pipeline::DetectorIntegrator(g, frame.image.shape, {}, s).integrate(frame);
  ASSERT_EQ(q_nm.x.size(), q_a.x.size());
  for (std::size_t i = 0; i < q_nm.x.size(); ++i) {
    EXPECT_NEAR(q_a.x[i], q_nm.x[i] / 10.0, 1e-12);
    EXPECT_EQ(q_a.intensity[i], q_nm.intensity[i]);
  }
  // d ascending, the same bins reversed
  const std::size_t n = d_a.x.size();
  EXPECT_NEAR(d_a.x[0], 20.0 * std::numbers::pi / q_nm.x[n - 1], 1e-9);
  EXPECT_EQ(d_a.intensity[0], q_nm.intensity[n - 1]);
}
