// Calibration of real calibrant images (Dioptas test data) against their published geometry.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>

#include "azimuthal.hpp"
#include "calibration/active_area.hpp"
#include "calibration/calibrate.hpp"
#include "calibration/refine.hpp"
#include "calibration/ring_model.hpp"
#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"
#include "saxs/analysis.hpp"
#include "test_support.hpp"

namespace anvil::calibration {
namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

Calibrant library_calibrant(const std::string& name) {
  const auto path = std::filesystem::path(ANVIL_SOURCE_DIR) / "calib" / "calibrants" / (name + ".toml");
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_calibrant(ss.str(), path.string());
}

// RMS width (2θ, rad) of the integrated ring at t0: mean intensity in 0.0025° bins over
// ±0.08°, background from the outer sixths. A better geometry makes every ring narrower.
double integrated_ring_width(const ImageF& img, const Mask& mask, const Image<double>& tth, double t0) {
  const double hw = 0.08 / kDeg, step = 0.0025 / kDeg;
  const int n = static_cast<int>(2 * hw / step);
  std::vector<double> s(n, 0.0);
  std::vector<int> c(n, 0);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    const double t = tth.pixels[i];
    if (mask.pixels[i] || t < t0 - hw || t >= t0 + hw) continue;
    const int b = std::min(n - 1, static_cast<int>((t - (t0 - hw)) / step));
    s[b] += img.pixels[i];
    ++c[b];
  }
  double bg = 0;
  for (int b = 0; b < n / 6; ++b)
    bg += (s[b] / std::max(1, c[b]) + s[n - 1 - b] / std::max(1, c[n - 1 - b])) / (2 * (n / 6));
  double w = 0, wt = 0, wt2 = 0;
  for (int b = 0; b < n; ++b) {
    const double e = s[b] / std::max(1, c[b]) - bg;
    if (e <= 0) continue;
    const double t = t0 - hw + (b + 0.5) * step;
    w += e;
    wt += e * t;
    wt2 += e * t * t;
  }
  return std::sqrt(wt2 / w - (wt / w) * (wt / w));
}

void print_result(const CalibrationResult& r) {
  for (const auto& l : r.log) fmt::print("  {}\n", l);
  fmt::print("  {}: {}\n", status_name(r.status), r.message);
  const auto& g = r.geometry;
  fmt::print("  dist {:.4f} ± {:.4f} mm, poni1 {:.4f} ± {:.4f} mm, poni2 {:.4f} ± {:.4f} mm\n",
             g.dist_m * 1e3, r.sigma[0] * 1e3, g.poni1_m * 1e3, r.sigma[1] * 1e3, g.poni2_m * 1e3,
             r.sigma[2] * 1e3);
  fmt::print("  rot1 {:.5f} ± {:.5f}°, rot2 {:.5f} ± {:.5f}°, rot3 {:.5f}°, λ {:.6f} Å\n", g.rot1 * kDeg,
             r.sigma[3] * kDeg, g.rot2 * kDeg, r.sigma[4] * kDeg, g.rot3 * kDeg, g.wavelength_m * 1e10);
  for (const auto& f : r.rings) {
    const double pix = pixel_two_theta(r.geometry, f.two_theta_expected_rad);
    int fitted = 0;
    for (const auto& p : r.points) fitted += p.line == f.line && p.position == PeakPosition::ProfileFit;
    fmt::print(
        "    ({} {} {}) {:4} points ({} by profile fit), mean {:+.3f} ± {:.3f} px, RMS {:.3f} px; worst of "
        "{} arcs: {:+.3f} px at "
        "χ {:+.0f}° (3σ excess {:+.3f} px)\n",
        f.calibrant_line.hkl[0], f.calibrant_line.hkl[1], f.calibrant_line.hkl[2], f.points, fitted,
        f.mean_residual_rad / pix, f.mean_residual_sigma_rad / pix, f.rms_residual_rad / pix, f.arcs,
        f.worst_arc_mean_rad / pix, f.worst_arc_chi_rad * kDeg, f.worst_arc_excess_px);
  }
}

// Pilatus 1M, CeO2, 30.5 keV; the published .poni (pyFAI 2015) fits the image flipped up-down.
TEST(CalibrateReal, CeO2_Pilatus1M_from_a_rough_guess_recovers_the_published_poni) {
  ANVIL_REFERENCE_FILE(tif, "real/CeO2_Pilatus1M.tif");
  ANVIL_REFERENCE_FILE(poni, "real/CeO2_Pilatus1M.poni");
  io::OpenOptions open;
  open.flip_up_down = true;
  const auto frame = io::open_frames(tif.string(), open)->read(0);
  const geometry::Geometry ref = geometry::read_poni(poni);
  const geometry::Detector det = geometry::detector_preset("Pilatus1M");
  const auto lines = calibrant_lines_to_two_theta(library_calibrant("CeO2"), ref.wavelength_m, 1.2);

  // The guess: distance 10 % long, beam centre 20 px off in both directions, no tilt.
  geometry::Geometry ref_det = ref;
  ref_det.detector = det;
  const auto centre = beam_center_px(ref_det);
  ASSERT_TRUE(centre);
  CalibrationStart start;
  start.dist_m = ref.dist_m * 1.10;
  start.center_px = std::array<double, 2>{(*centre)[0] + 20, (*centre)[1] - 20};

  const auto started = std::chrono::steady_clock::now();
  const CalibrationResult r = calibrate(frame.image, frame.invalid, det, ref.wavelength_m, lines, start);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_result(r);
  fmt::print("  {:.2f} s\n", seconds);
  ASSERT_TRUE(r.ok()) << r.message;
  const auto& g = r.geometry;
  // The verdict's own numbers: every ring traced by 30 points or more sits within 0.1 px
  // (≈0.004° here) of its CeO2 line, the 2θ map is determined to well under a pixel, and refits
  // from perturbed starts come back to the same geometry.
  for (const auto& f : r.rings)
    if (f.points >= 30) {
      EXPECT_LT(std::fabs(f.mean_residual_rad) / pixel_two_theta(g, f.two_theta_expected_rad), 0.1);
      EXPECT_LT(std::fabs(f.mean_residual_rad) * kDeg, 0.004);
    }
  EXPECT_LT(r.two_theta_sigma_px, 0.05);
  EXPECT_LT(r.instability_px, 0.01);
  EXPECT_LE(r.rms_px, 0.4);
  // pyFAI 0.21.3 on the same flipped image (tools/bench/pyfai_calibrate_reference.py: its own
  // control points, SingleGeometry.extract_cp around the published geometry, then refine2 with
  // rot3 and λ fixed; ≈3766 points on 17 rings, RMS 0.237 px), mean ± standard deviation over 10
  // seeds of its peak search: dist 208.6765 ± 0.0014 mm, poni1 87.3384 ± 0.0093 mm, poni2
  // 80.0664 ± 0.0084 mm, rot1 −1.03391 ± 0.0021°, rot2 0.22815 ± 0.0023°. Tolerances: 3σ of the
  // difference, with anvil's own σ (dist 1.7 µm, poni 13 µm, rot 0.0033°) and pyFAI's spread.
  // The published .poni is outside them (0.025 mm in distance, 0.106 mm in poni2, 0.023° in
  // rot1 from pyFAI's mean): this part fails for a geometry of that quality.
  EXPECT_NEAR(g.dist_m * 1e3, 208.6765, 0.0065);
  EXPECT_NEAR(g.poni1_m * 1e3, 87.3384, 0.047);
  EXPECT_NEAR(g.poni2_m * 1e3, 80.0664, 0.047);
  EXPECT_NEAR(g.rot1 * kDeg, -1.03391, 0.012);
  EXPECT_NEAR(g.rot2 * kDeg, 0.22815, 0.012);
  // Against the published (Dioptas, 2015) .poni:
  EXPECT_NEAR(g.dist_m * 1e3, ref.dist_m * 1e3, 0.05);
  // rot1 lands 0.020° from the published value, on the 0.02° limit (see below for why
  // anvil's value is the better one); rot2 within 0.01°.
  EXPECT_NEAR(g.rot1 * kDeg, ref.rot1 * kDeg, 0.025);
  EXPECT_NEAR(g.rot2 * kDeg, ref.rot2 * kDeg, 0.02);
  EXPECT_GE(r.rings.size(), 15u);
  EXPECT_LT(r.rms_px, 0.3);
  // poni1/poni2 differ from the published values by more than 0.02 mm (0.04 / 0.09 mm): the PONI
  // moves with rot1/rot2 (Δponi2 ≈ dist·Δrot1 = 0.07 mm for Δrot1 = 0.02°). anvil's answer is
  // the better one by two independent measures: its control points (2400 on 17 rings) fit it
  // with a lower RMS than the published geometry, and integrating the image with it gives
  // narrower rings (the sum of the RMS widths of the 12 strongest lines).
  EXPECT_NEAR(g.poni1_m * 1e3, ref.poni1_m * 1e3, 0.06);
  EXPECT_NEAR(g.poni2_m * 1e3, ref.poni2_m * 1e3, 0.12);
  geometry::Geometry published = ref;
  published.detector = r.geometry.detector;
  const auto res_pub = two_theta_residuals(published, r.points, lines);
  double ss = 0;
  for (double x : res_pub) ss += x * x;
  const double rms_pub = std::sqrt(ss / res_pub.size());
  fmt::print("  control-point RMS: anvil {:.5f}°, published {:.5f}°\n", r.rms_rad * kDeg, rms_pub * kDeg);
  EXPECT_LT(r.rms_rad, 0.95 * rms_pub);
  Mask mask = frame.invalid;
  const Mask gaps = det.dead_pixel_mask();
  for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= gaps.pixels[i];
  const auto tth_anvil = geometry::two_theta_array(r.geometry),
             tth_pub = geometry::two_theta_array(published);
  double w_anvil = 0, w_pub = 0;
  for (int k = 0; k < 12; ++k) {
    const double t0 = geometry::two_theta_from_d_spacing(lines[k].d_angstrom, ref.wavelength_m);
    w_anvil += integrated_ring_width(frame.image, mask, tth_anvil, t0);
    w_pub += integrated_ring_width(frame.image, mask, tth_pub, t0);
  }
  fmt::print("  sum of integrated ring widths: anvil {:.5f}°, published {:.5f}°\n", w_anvil * kDeg,
             w_pub * kDeg);
  EXPECT_LT(w_anvil, w_pub);
}

// The same image and start with the energy 0.5 % high (30.65 instead of 30.5 keV): the distance
// stretches to match the inner rings (≈ +1.2 mm) and the points still fit with an RMS of ≈0.19
// px, which the verdict on scatter alone accepted. The ring means do not agree with one geometry
// (outer rings ≈0.3 px off, ±0.03): refused, naming the ring.
TEST(CalibrateReal, CeO2_Pilatus1M_with_the_energy_half_a_percent_off_is_refused) {
  ANVIL_REFERENCE_FILE(tif, "real/CeO2_Pilatus1M.tif");
  ANVIL_REFERENCE_FILE(poni, "real/CeO2_Pilatus1M.poni");
  io::OpenOptions open;
  open.flip_up_down = true;
  const auto frame = io::open_frames(tif.string(), open)->read(0);
  const geometry::Geometry ref = geometry::read_poni(poni);
  const geometry::Detector det = geometry::detector_preset("Pilatus1M");
  const double wrong = ref.wavelength_m / 1.005;
  const auto lines = calibrant_lines_to_two_theta(library_calibrant("CeO2"), wrong, 1.2);
  geometry::Geometry ref_det = ref;
  ref_det.detector = det;
  const auto centre = beam_center_px(ref_det);
  CalibrationStart start;
  start.dist_m = ref.dist_m * 1.10;
  start.center_px = std::array<double, 2>{(*centre)[0] + 20, (*centre)[1] - 20};
  const CalibrationResult r = calibrate(frame.image, frame.invalid, det, wrong, lines, start);
  print_result(r);
  EXPECT_EQ(r.status, CalibrationStatus::PoorFit);
  EXPECT_NE(r.message.find("off its expected position"), std::string::npos) << r.message;
  EXPECT_LT(r.rms_px, 0.75) << "the scatter alone would have passed the old verdict";
}

// Control points on the real image, picked under the published geometry with each position
// estimator and refined: on these rings (coarse CeO2 grains — spots a few pixels apart along a
// ring, at slightly different radii) the profile fit scatters more than the centroid, which
// averages the spots; Auto sees that in the sector-to-sector differences and takes the centroid.
// (On smooth synthetic rings it is the other way round: test_control_points.cpp.)
TEST(CalibrateReal, CeO2_Pilatus1M_control_points_take_the_steadier_position) {
  ANVIL_REFERENCE_FILE(tif, "real/CeO2_Pilatus1M.tif");
  ANVIL_REFERENCE_FILE(poni, "real/CeO2_Pilatus1M.poni");
  io::OpenOptions open;
  open.flip_up_down = true;
  const auto frame = io::open_frames(tif.string(), open)->read(0);
  geometry::Geometry ref = geometry::read_poni(poni);
  const geometry::Detector det = geometry::detector_preset("Pilatus1M");
  ref.detector = det;
  const auto lines = calibrant_lines_to_two_theta(library_calibrant("CeO2"), ref.wavelength_m, 1.2);
  Mask mask = frame.invalid;
  const Mask gaps = det.dead_pixel_mask();
  for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= gaps.pixels[i];
  const PixelMaps maps = pixel_maps(ref);
  std::vector<RingTarget> targets;
  for (int k = 0; k < 12; ++k) {
    const double t = geometry::two_theta_from_d_spacing(lines[k].d_angstrom, ref.wavelength_m);
    const double gap = geometry::two_theta_from_d_spacing(lines[k + 1].d_angstrom, ref.wavelength_m) - t;
    const double hw = std::min(5 * pixel_two_theta(ref, t), 0.45 * gap);
    if (hw >= 3 * pixel_two_theta(ref, t)) targets.push_back({k, t, hw});
  }
  auto rms_px = [&](PeakPosition pos, PeakPosition* used) {
    PickOptions opt;
    opt.position = pos;
    const auto pts = pick_control_points(frame.image, mask, ref, maps, targets, opt);
    RefineOptions ro;
    ro.covariance = false;
    const RefinedGeometry rg = refine_geometry(ref, pts, lines, ro);
    double ss = 0;
    for (std::size_t i = 0; i < pts.size(); ++i)
      ss += std::pow(rg.residuals_rad[i] / pixel_two_theta(rg.geometry, pts[i].two_theta_rad), 2);
    if (used && !pts.empty()) *used = pts.front().position;
    fmt::print("  {:>11}: {} points, RMS {:.3f} px-equivalent\n",
               pos == PeakPosition::Auto       ? "auto"
               : pos == PeakPosition::Centroid ? "centroid"
                                               : "profile fit",
               pts.size(), std::sqrt(ss / static_cast<double>(pts.size())));
    EXPECT_GT(pts.size(), 1000u);
    return std::sqrt(ss / static_cast<double>(pts.size()));
  };
  PeakPosition chosen = PeakPosition::Auto;
  const double centroid = rms_px(PeakPosition::Centroid, nullptr);
  const double fit = rms_px(PeakPosition::ProfileFit, nullptr);
  const double automatic = rms_px(PeakPosition::Auto, &chosen);
  EXPECT_LE(automatic, std::min(centroid, fit) + 1e-9);
  EXPECT_EQ(chosen, centroid < fit ? PeakPosition::Centroid : PeakPosition::ProfileFit);
  EXPECT_LE(automatic, 0.4);
}

}  // namespace
}  // namespace anvil::calibration

namespace anvil::calibration {
namespace {

// Centroid (2θ, degrees) of the integrated peak nearest t0_deg, background-subtracted over ±hw.
double peak_centroid_deg(const Pattern1D& p, double t0_deg, double hw_deg) {
  double bg_lo = 0, bg_hi = 0;
  int nlo = 0, nhi = 0;
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    const double dx = p.x[i] - t0_deg;
    if (dx < -hw_deg && dx > -1.3 * hw_deg) bg_lo += p.intensity[i], ++nlo;
    if (dx > hw_deg && dx < 1.3 * hw_deg) bg_hi += p.intensity[i], ++nhi;
  }
  const double b0 = bg_lo / std::max(1, nlo), b1 = bg_hi / std::max(1, nhi);
  double w = 0, wx = 0;
  for (std::size_t i = 0; i < p.x.size(); ++i) {
    const double dx = p.x[i] - t0_deg;
    if (std::fabs(dx) > hw_deg) continue;
    const double e = p.intensity[i] - (b0 + (b1 - b0) * (dx + hw_deg) / (2 * hw_deg));
    if (e <= 0) continue;
    w += e;
    wx += e * p.x[i];
  }
  return wx / w;
}

// Lab CCD, Mo Kα, CeO2, geometry unknown. The SPE header has no pixel size; 48 µm is assumed
// (a 2084² 24-µm CCD read with 2×2 binning). The pixel size only scales distance and PONI:
// every 2θ, and so this test, is the same for any choice.
TEST(CalibrateReal, CeO2_PI_CCD_Mo_from_nothing_puts_CeO2_peaks_at_SRM_positions) {
  ANVIL_REFERENCE_FILE(spe, "real/spe/CeO2_PI_CCD_Mo.SPE");
  std::unique_ptr<io::FrameSource> src;
  try {
    src = io::open_frames(spe.string());
  } catch (const InputError& e) {
    GTEST_SKIP() << "no SPE reader yet: " << e.what();
  }
  const auto frame = src->read(0);
  const double wavelength_m = 0.71073e-10;  // Mo Kα1/Kα2 weighted 2:1
  const auto det = geometry::generic_detector(48e-6, 48e-6);
  const auto lines = calibrant_lines_to_two_theta(library_calibrant("CeO2"), wavelength_m, 1.2);
  // Without a distortion model no PONI geometry fits this (fibre-optic taper) CCD: RMS 1.45 px,
  // ring means −13…+31 m°, and the rings are ellipses along the diagonals (±2 px): refused, on
  // its ring means and arcs (not on its scatter). With the radial + affine distortion refined,
  // the same control points fit to ≈0.27 px.
  const CalibrationResult flat = calibrate(frame.image, frame.invalid, det, wavelength_m, lines);
  print_result(flat);
  EXPECT_EQ(flat.status, CalibrationStatus::PoorFit) << flat.message;
  ASSERT_FALSE(flat.rings.empty());
  CalibrationOptions opt;
  opt.free.distortion = true;
  const CalibrationResult r = calibrate(frame.image, frame.invalid, det, wavelength_m, lines, {}, opt);
  print_result(r);
  fmt::print("  distortion k1 {:.3e} ± {:.1e}, b1 {:.3e} ± {:.1e}, b2 {:.3e} ± {:.1e}; flat RMS {:.3f} px\n",
             r.distortion.k1, r.distortion_sigma[0], r.distortion.b1, r.distortion_sigma[1], r.distortion.b2,
             r.distortion_sigma[2], flat.rms_px);
  ASSERT_TRUE(r.ok()) << r.message;
  ASSERT_TRUE(r.geometry.detector.distortion);
  EXPECT_NEAR(r.geometry.dist_m * 1e3, 55.5, 0.5);
  EXPECT_LT(r.rms_px, 0.4);
  EXPECT_LT(r.rms_px, 0.25 * flat.rms_px);
  for (const auto& ring : r.rings) EXPECT_LT(std::fabs(ring.mean_residual_rad) * kDeg, 0.003);
  // Each distortion term is far above its uncertainty (the detector really is distorted).
  EXPECT_GT(std::fabs(r.distortion.k1), 10 * r.distortion_sigma[0]);
  EXPECT_GT(std::fabs(r.distortion.b1), 10 * r.distortion_sigma[1]);
  EXPECT_GT(std::fabs(r.distortion.b2), 10 * r.distortion_sigma[2]);
  // Integrate with the calibrated geometry; CeO2 peaks against their SRM 674b positions.
  pipeline::IntegrationSettings s;
  s.unit = RadialUnit::TwoThetaDeg;
  s.radial_bins = 3000;
  s.radial_range = integrate::Range{5.0, 35.0};
  const pipeline::DetectorIntegrator di(r.geometry, frame.image.shape, frame.invalid, s);
  const Pattern1D p = di.integrate(frame);
  double worst = 0;
  for (int k = 0; k < 5; ++k) {
    const double t0 = geometry::two_theta_from_d_spacing(lines[k].d_angstrom, wavelength_m) * kDeg;
    const double c = peak_centroid_deg(p, t0, 0.35);
    fmt::print("  ({} {} {}) SRM {:.4f}°, integrated {:.4f}°, {:+.4f}°\n", lines[k].hkl[0], lines[k].hkl[1],
               lines[k].hkl[2], t0, c, c - t0);
    worst = std::max(worst, std::fabs(c - t0));
  }
  EXPECT_LT(worst, 0.01);
}

// MarCCD 165 (APS 15-ID, GSAS-II's SAXS exercise), silver behenate, λ = 1.0332 Å, ≈ 570 mm, 158 µm
// pixels. The CCD's round active area leaves the image's corners at exactly 0, and the beam sits
// ≈ 65 px from the image centre: the step at the circle's edge used to be taken for the image's
// ring system (centre found at the image centre, the fit refused). With the constant region
// masked the centre search finds the rings' centre; integrated (dark subtracted) and indexed, the
// pattern is lamellar with AgBh's period.
TEST(CalibrateReal, AgBh_MarCCD_with_a_round_active_area_calibrates_and_indexes_lamellar) {
  ANVIL_REFERENCE_FILE(image_path, "real/saxs_agbh_aps/AgBehenate_003.tif");
  ANVIL_REFERENCE_FILE(dark_path, "real/saxs_agbh_aps/Dark_5s_003.tif");
  const auto frame = io::open_frames(image_path.string())->read(0);
  const auto dark = io::open_frames(dark_path.string())->read(0);
  const double wavelength_m = 1.0332e-10;
  const auto det = geometry::generic_detector(158e-6, 158e-6);
  const auto lines = calibrant_lines_to_two_theta(library_calibrant("AgBh"), wavelength_m, 0.3);

  const auto inactive = find_inactive_area(frame.image, frame.invalid);
  ASSERT_TRUE(inactive.has_value()) << "the zero-valued corners outside the CCD's circle are found";
  EXPECT_EQ(inactive->value, 0.0f);
  // The inscribed circle of a 1024² image leaves (1 − π/4) = 21.5 % outside.
  EXPECT_NEAR(static_cast<double>(inactive->region_px) / frame.image.pixels.size(), 1 - std::numbers::pi / 4,
              0.01);

  CalibrationStart start;
  start.dist_m = 0.570;
  const CalibrationResult r = calibrate(frame.image, frame.invalid, det, wavelength_m, lines, start);
  print_result(r);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_GE(r.rings.size(), 5u);
  EXPECT_NEAR(r.geometry.dist_m * 1e3, 570.0, 15.0);
  const auto c = beam_center_px(r.geometry);
  ASSERT_TRUE(c.has_value());
  // The beamstop's centre on the image (row ≈ 575, column ≈ 485 by eye), far from the circle's (511.5).
  EXPECT_NEAR((*c)[0], 575.0, 10.0);
  EXPECT_NEAR((*c)[1], 485.0, 10.0);
  EXPECT_GT(std::hypot((*c)[0] - 511.5, (*c)[1] - 511.5), 40.0);
  // The flat fit is accepted at the edge of the ring-mean verdict (a taper CCD); with the distortion
  // refined the same start converges with room, on the same centre and distance.
  CalibrationOptions with_distortion;
  with_distortion.free.distortion = true;
  const CalibrationResult rd =
      calibrate(frame.image, frame.invalid, det, wavelength_m, lines, start, with_distortion);
  fmt::print("  with distortion: {}\n", rd.message);
  ASSERT_TRUE(rd.ok()) << rd.message;
  const auto cd = beam_center_px(rd.geometry);
  ASSERT_TRUE(cd.has_value());
  EXPECT_LT(std::hypot((*cd)[0] - (*c)[0], (*cd)[1] - (*c)[1]), 1.0);
  EXPECT_NEAR(rd.geometry.dist_m / r.geometry.dist_m, 1.0, 0.005);
  for (const auto& ring : rd.rings)
    EXPECT_LT(std::fabs(ring.mean_residual_rad) / pixel_two_theta(rd.geometry, ring.two_theta_expected_rad),
              0.25);
  // Integrated with the active area masked (its zeros would pull the outer bins down).
  Mask mask = frame.invalid;
  if (mask.pixels.empty()) mask = Mask(frame.image.shape, 0);
  for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= inactive->mask.pixels[i];

  pipeline::IntegrationSettings s;
  s.unit = RadialUnit::QInvNm;
  s.radial_bins = 1000;
  const pipeline::DetectorIntegrator di(r.geometry, frame.image.shape, mask, s, &dark.image);
  const Pattern1D p = di.integrate(frame);
  const saxs::SaxsResult sr = saxs::analyse_saxs(p, saxs::SaxsSettings{});
  ASSERT_FALSE(sr.phases.empty()) << sr.reason;
  const auto& sol = sr.phases.front().solution;
  for (const auto& ph : sr.phases)
    fmt::print("  indexed: {} a = {:.4f} ± {:.4f} nm ({} of {} peaks, {:.0f} % of the peak intensity)\n",
               saxs::lattice_name(ph.solution.lattice), ph.solution.a_nm, ph.solution.a_esd_nm,
               ph.solution.matched, ph.solution.observed, 100 * ph.solution.explained_fraction);
  EXPECT_EQ(sr.lattice, saxs::Lattice::lamellar);
  EXPECT_NEAR(sol.a_nm / 5.8380, 1.0, 0.01);
  EXPECT_GE(sol.matched, 4);
}

}  // namespace
}  // namespace anvil::calibration
