// Detector distortion: bicubic splines (FITPACK), Fit2D spline files, and the geometry with a
// distortion, against values computed by pyFAI 0.21.3 (pyFAI.spline.Spline + Detector(splineFile)
// + AzimuthalIntegrator.tth/chi) for the spline file below (random coefficients, written by pyFAI).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "geometry/distortion.hpp"
#include "geometry/geometry.hpp"
#include "geometry/poni.hpp"

namespace anvil::geometry {
namespace {

constexpr const char* kReferenceSpline =
    "SPATIAL DISTORTION SPLINE INTERPOLATION COEFFICIENTS\n"
    "\n"
    "  VALID REGION\n"
    " 0.0000000E+00 0.0000000E+00 5.1200000E+02 4.0000000E+02\n"
    "\n"
    "  GRID SPACING, X-PIXEL SIZE, Y-PIXEL SIZE\n"
    " 2.0000000E+02 5.0000000E+01 6.0000000E+01\n"
    "\n"
    "  X-DISTORTION\n"
    "    10     9\n"
    " 0.0000000E+00 0.0000000E+00 0.0000000E+00 0.0000000E+00 1.7050000E+02\n"
    " 3.4125000E+02 5.1200000E+02 5.1200000E+02 5.1200000E+02 5.1200000E+02\n"
    " 0.0000000E+00 0.0000000E+00 0.0000000E+00 0.0000000E+00 2.0000000E+02\n"
    " 4.0000000E+02 4.0000000E+02 4.0000000E+02 4.0000000E+02\n"
    " 7.5060000E-01 2.3833000E+00 1.6541000E+00-1.6488000E+00-1.1990000E+00\n"
    " 2.2413000E+00-2.9684000E+00 1.9274000E+00 1.7824000E+00-1.9240000E-01\n"
    "-1.1818000E+00-1.3294000E+00-1.4708000E+00-3.2950000E-01 2.7300000E-02\n"
    " 3.2100000E-01 2.9730000E+00 1.7560000E+00 7.3310000E-01 2.9338000E+00\n"
    "-1.7081000E+00-2.0387000E+00 6.7520000E-01-2.7363000E+00-2.7859000E+00\n"
    " 8.9300000E-02-2.0280000E-01 2.5030000E+00 7.7540000E-01 8.4700000E-02\n"
    "\n"
    "  Y-DISTORTION\n"
    "    10     9\n"
    " 0.0000000E+00 0.0000000E+00 0.0000000E+00 0.0000000E+00 1.7050000E+02\n"
    " 3.4125000E+02 5.1200000E+02 5.1200000E+02 5.1200000E+02 5.1200000E+02\n"
    " 0.0000000E+00 0.0000000E+00 0.0000000E+00 0.0000000E+00 2.0000000E+02\n"
    " 4.0000000E+02 4.0000000E+02 4.0000000E+02 4.0000000E+02\n"
    "-1.8800000E-02-1.5149000E+00-2.9292000E+00-1.8456000E+00 1.1522000E+00\n"
    "-1.7964000E+00-7.8280000E-01-2.9776000E+00 1.9803000E+00-2.0732000E+00\n"
    "-1.3944000E+00 2.2820000E+00 5.8700000E-02 2.0829000E+00 8.3830000E-01\n"
    " 1.4506000E+00-2.4510000E+00 2.4690000E-01 4.6600000E-02 2.2280000E+00\n"
    "-8.3240000E-01 5.8910000E-01-2.6445000E+00-6.7420000E-01-1.0618000E+00\n"
    "-2.0988000E+00 1.8980000E+00-7.2330000E-01 2.8725000E+00 5.4000000E-01\n"
    "\n";

struct PyfaiPoint {
  double d1, d2, dx, dy, tth, chi;
};
// d1, d2 pixel indices; dx, dy = splineFuncX/Y at the pixel centre (float32 in pyFAI); tth, chi
// from AzimuthalIntegrator(dist=0.1, poni1=0.01, poni2=0.012, rot1=0.02, rot2=-0.01, rot3=0.03,
// wavelength=1e-10, detector=Detector(splineFile=...)).
constexpr PyfaiPoint kPyfai[] = {
    {0.0, 0.0, 0.77539194, -0.045428775, 0.13264372734583726, -2.437140537214893},
    {10.0, 300.0, -0.14424536, 0.17183796, 0.09718412033404752, -1.0602866157972104},
    {123.4, 77.7, -0.41942307, -0.8735917, 0.06301154288817118, -2.9128732697817785},
    {399.0, 511.0, 0.06477104, 0.5433008, 0.2138587811265322, 0.7365472169880305},
    {250.0, 500.0, 0.9117073, 0.7393736, 0.16157856363078357, 0.35302935204331254},
};

Geometry reference_geometry() {
  Geometry g;
  g.dist_m = 0.1;
  g.poni1_m = 0.01;
  g.poni2_m = 0.012;
  g.rot1 = 0.02;
  g.rot2 = -0.01;
  g.rot3 = 0.03;
  g.wavelength_m = 1e-10;
  const SplineDistortion s = parse_fit2d_spline(kReferenceSpline, "reference.spline");
  g.detector = generic_detector(s.pixel_y_um * 1e-6, s.pixel_x_um * 1e-6, s.shape());
  g.detector.distortion = s;
  return g;
}

TEST(Distortion, Fit2dSplineMatchesPyfai) {
  const SplineDistortion s = parse_fit2d_spline(kReferenceSpline, "reference.spline");
  EXPECT_EQ(s.shape(), (Shape{400, 512}));
  EXPECT_DOUBLE_EQ(s.pixel_x_um, 50.0);
  EXPECT_DOUBLE_EQ(s.pixel_y_um, 60.0);
  EXPECT_EQ(s.dx.knots_x.size(), 10u);
  EXPECT_EQ(s.dx.knots_y.size(), 9u);
  for (const auto& p : kPyfai) {
    const auto d = s.displacement(p.d1 + 0.5, p.d2 + 0.5);
    EXPECT_NEAR(d[1], p.dx, 2e-6) << p.d1 << ", " << p.d2;
    EXPECT_NEAR(d[0], p.dy, 2e-6) << p.d1 << ", " << p.d2;
  }
}

TEST(Distortion, GeometryWithSplineMatchesPyfai) {
  const Geometry g = reference_geometry();
  for (const auto& p : kPyfai) {
    EXPECT_NEAR(two_theta(g, p.d1, p.d2), p.tth, 1e-9) << p.d1 << ", " << p.d2;
    EXPECT_NEAR(chi(g, p.d1, p.d2), p.chi, 1e-8) << p.d1 << ", " << p.d2;
  }
  // Arrays and corners take the same path as the scalar functions.
  const Image<double> tth = two_theta_array(g);
  EXPECT_DOUBLE_EQ(tth(10, 300), two_theta(g, 10, 300));
  EXPECT_NEAR(tth(399, 511), kPyfai[3].tth, 1e-9);
  const CornerGrid cg = corner_grid(g, RadialUnit::TwoThetaRad);
  EXPECT_DOUBLE_EQ(cg.radial[10 * 513 + 300], two_theta(g, 9.5, 299.5));
}

TEST(Distortion, ZeroDisplacementChangesNothing) {
  Geometry g = reference_geometry();
  Geometry flat = g;
  flat.detector.distortion.reset();
  g.detector.distortion =
      fit_spline_distortion(g.detector.shape, g.detector.pixel1_m, g.detector.pixel2_m, [](double, double) {
        return std::array<double, 2>{0.0, 0.0};
      });
  const auto a = two_theta_array(g), b = two_theta_array(flat);
  for (std::size_t i = 0; i < a.pixels.size(); i += 97) EXPECT_NEAR(a.pixels[i], b.pixels[i], 1e-15);
  const auto sa = solid_angle_array(g), sb = solid_angle_array(flat);
  EXPECT_NEAR(sa(200, 100), sb(200, 100), 1e-15);
}

TEST(Distortion, CubicFieldsAreFittedExactlyAndInverted) {
  // Radial (pincushion) plus shear and anisotropy: cubic in x and y, so in the spline space.
  auto field = [](double y, double x) {
    const double u = (x - 256) / 256, v = (y - 200) / 256, r2 = u * u + v * v;
    return std::array<double, 2>{256 * (0.003 * v * r2 + 0.002 * u - 0.001 * v),
                                 256 * (0.003 * u * r2 + 0.001 * u + 0.002 * v)};
  };
  const SplineDistortion s = fit_spline_distortion({400, 512}, 60e-6, 50e-6, field, 64.0);
  for (double y : {0.0, 17.3, 200.0, 399.9, 400.0})
    for (double x : {0.0, 55.5, 256.0, 511.2, 512.0}) {
      const auto d = s.displacement(y, x), e = field(y, x);
      EXPECT_NEAR(d[0], e[0], 1e-9);
      EXPECT_NEAR(d[1], e[1], 1e-9);
      const auto back = s.undistort(y + d[0], x + d[1]);
      EXPECT_NEAR(back[0], y, 1e-7);
      EXPECT_NEAR(back[1], x, 1e-7);
    }
}

TEST(Distortion, Fit2dTextRoundTrips) {
  const SplineDistortion s = parse_fit2d_spline(kReferenceSpline, "reference.spline");
  const std::string text = format_fit2d_spline(s);
  EXPECT_EQ(text, std::string(kReferenceSpline));  // byte for byte what pyFAI wrote
  const SplineDistortion back = parse_fit2d_spline(text, "again");
  EXPECT_EQ(back.dx, s.dx);
  EXPECT_EQ(back.dy, s.dy);
}

TEST(Distortion, PoniNamesItsSplineFile) {
  const auto dir = std::filesystem::temp_directory_path() / "anvil_test_distortion";
  std::filesystem::create_directories(dir);
  Geometry g = reference_geometry();
  g.detector.distortion->file = (dir / "det.spline").string();
  write_fit2d_spline(g.detector.distortion->file, *g.detector.distortion);
  write_poni(dir / "det.poni", g);
  const Geometry back = read_poni(dir / "det.poni");
  ASSERT_TRUE(back.detector.distortion);
  EXPECT_EQ(back.detector.shape, (Shape{400, 512}));
  EXPECT_DOUBLE_EQ(back.detector.pixel1_m, 60e-6);
  EXPECT_NEAR(two_theta(back, 123.4, 77.7), kPyfai[2].tth, 1e-9);
  // A relative path is found next to the .poni; a missing file is named.
  std::ofstream(dir / "rel.poni") << "poni_version: 2\nDetector: Detector\n"
                                     "Detector_config: {\"splineFile\": \"det.spline\"}\n"
                                     "Distance: 0.1\nWavelength: 1e-10\n";
  EXPECT_TRUE(read_poni(dir / "rel.poni").detector.distortion);
  std::ofstream(dir / "v1.poni") << "PixelSize1: 6e-05\nPixelSize2: 5e-05\nSplineFile: nowhere.spline\n"
                                    "Distance: 0.1\nWavelength: 1e-10\n";
  try {
    read_poni(dir / "v1.poni");
    FAIL() << "a missing spline file must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere.spline"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(Distortion, BadSplineFilesAreNamed) {
  EXPECT_THROW(parse_fit2d_spline("hello\n", "x.spline"), InputError);
  std::string text = kReferenceSpline;
  // Drop one coefficient line of the X block: the counts no longer match.
  const auto at = text.find(" 7.5060000E-01");
  std::string cut = text;
  cut.erase(at, cut.find('\n', at) - at + 1);
  try {
    parse_fit2d_spline(cut, "cut.spline");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.spline: X-DISTORTION"), std::string::npos) << e.what();
  }
  std::string garbled = text;
  garbled.replace(text.find("2.3833000E+00"), 13, "2.38330xxE+00");
  EXPECT_THROW(parse_fit2d_spline(garbled, "bad.spline"), InputError);
  std::string no_y = text.substr(0, text.find("  Y-DISTORTION"));
  EXPECT_THROW(parse_fit2d_spline(no_y, "noy.spline"), InputError);
}

}  // namespace
}  // namespace anvil::geometry
