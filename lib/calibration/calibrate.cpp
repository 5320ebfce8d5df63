#include "calibration/calibrate.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>

#include "calibration/active_area.hpp"
#include "calibration/initial_guess.hpp"
#include "calibration/ring_model.hpp"
#include "core/error.hpp"

namespace anvil::calibration {

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

constexpr double kPi = std::numbers::pi;
constexpr int kMinPointsPerMean = 5;  // a ring's or an arc's mean is judged from this many points

// Mean of residuals[idx], its standard error (sample σ / √n) and the RMS.
struct MeanResidual {
  double mean = 0.0, sigma = 0.0, rms = 0.0;
};
MeanResidual mean_residual(const std::vector<double>& residuals, const std::vector<std::size_t>& idx) {
  MeanResidual m;
  const double n = static_cast<double>(idx.size());
  if (idx.empty()) return m;
  double s = 0, s2 = 0;
  for (std::size_t i : idx) {
    s += residuals[i];
    s2 += residuals[i] * residuals[i];
  }
  m.mean = s / n;
  m.rms = std::sqrt(s2 / n);
  if (idx.size() > 1) m.sigma = std::sqrt(std::max(0.0, (s2 - n * m.mean * m.mean) / (n - 1)) / n);
  return m;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

std::string hkl_text(const std::array<int, 3>& h) { return fmt::format("({} {} {})", h[0], h[1], h[2]); }

struct Coverage {
  double tth_min = 0.0, tth_max = 0.0;
};

Coverage coverage(const PixelMaps& maps, const Mask& mask) {
  Coverage c{std::numeric_limits<double>::infinity(), 0.0};
  for (std::size_t i = 0; i < maps.two_theta.pixels.size(); ++i) {
    if (mask.pixels[i]) continue;
    const double t = maps.two_theta.pixels[i];
    c.tth_min = std::min(c.tth_min, t);
    c.tth_max = std::max(c.tth_max, t);
  }
  return c;
}

std::vector<double> line_two_thetas(const std::vector<CalibrantLine>& lines, double wavelength_m) {
  std::vector<double> t;
  for (const auto& l : lines) t.push_back(geometry::two_theta_from_d_spacing(l.d_angstrom, wavelength_m));
  return t;
}

// Peaks of the 2θ mean profile, split into those a calibrant line explains and those none
// does (another phase, a gasket — or the wrong calibrant or wavelength). Inside the calibrant's
// first line (its largest d) nothing is judged: there lie the beamstop, the direct beam's halo
// round it and small-angle scattering, which no calibrant line explains or contradicts.
struct ProfilePeaks {
  std::vector<double> unexplained_tth;  // rad
  double explained_height = 0.0, unexplained_height = 0.0;
};

ProfilePeaks profile_peaks(const ImageF& image, const Mask& mask, const geometry::Geometry& g,
                           const PixelMaps& maps, const std::vector<double>& line_tth,
                           double max_relative_height) {
  ProfilePeaks out;
  const Coverage cov = coverage(maps, mask);
  const double step = 0.5 * pixel_two_theta(g, 0.0);
  const int n = static_cast<int>((cov.tth_max - cov.tth_min) / step) + 1;
  if (n < 20 || n > 2000000) return out;
  std::vector<double> sum(n, 0.0);
  std::vector<int> cnt(n, 0);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    if (mask.pixels[i] || std::isnan(image.pixels[i])) continue;
    const int b = std::min(n - 1, static_cast<int>((maps.two_theta.pixels[i] - cov.tth_min) / step));
    sum[b] += image.pixels[i];
    ++cnt[b];
  }
  std::vector<double> prof(n, std::nan(""));
  for (int b = 0; b < n; ++b)
    if (cnt[b] >= 5) prof[b] = sum[b] / cnt[b];
  const int H = 24;
  const std::vector<double> bg = rolling_background(prof, H);
  std::vector<double> ex(n, std::nan(""));
  for (int b = 0; b < n; ++b)
    if (!std::isnan(prof[b])) ex[b] = prof[b] - bg[b];
  std::vector<double> diffs;
  double top = 0;
  for (int b = 1; b < n; ++b) {
    if (!std::isnan(ex[b]) && !std::isnan(ex[b - 1])) diffs.push_back(std::fabs(ex[b] - ex[b - 1]));
    if (!std::isnan(ex[b])) top = std::max(top, ex[b]);
  }
  const double noise = 1.4826 * median(diffs) / std::sqrt(2.0);
  for (int b = 3; b < n - 3; ++b) {
    if (std::isnan(ex[b]) || ex[b] < 10 * noise || ex[b] < max_relative_height * top) continue;
    bool is_max = true;
    for (int k = b - 3; k <= b + 3; ++k)
      if (k != b && !std::isnan(ex[k]) && ex[k] >= ex[b]) is_max = false;
    if (!is_max) continue;
    const double t = cov.tth_min + (b + 0.5) * step;
    const double tol = 4.0 * pixel_two_theta(g, t);
    if (!line_tth.empty() && t < *std::min_element(line_tth.begin(), line_tth.end()) - tol) continue;
    const bool explained =
        std::any_of(line_tth.begin(), line_tth.end(), [&](double lt) { return std::fabs(lt - t) <= tol; });
    if (explained) {
      out.explained_height += ex[b];
    } else {
      out.unexplained_height += ex[b];
      out.unexplained_tth.push_back(t);
    }
  }
  return out;
}

// g's parameters on another detector: refinement starts from the base detector (its own
// distortion) and adds the refined RingDistortion to it.
geometry::Geometry on_detector(geometry::Geometry g, const geometry::Detector& det) {
  g.detector = det;
  return g;
}

struct PassState {
  geometry::Geometry geometry;       // with the refined distortion in its detector
  geometry::Detector base_detector;  // the detector as given (its own distortion, if any)
  RingDistortion distortion;
  std::vector<ControlPoint> points;
  RefinedGeometry refined;
  int passes = 0;
  bool failed = false;
  std::string failure;
};

// Drop points further than 4 robust σ (and 0.3 px) from their ring.
std::vector<ControlPoint> drop_outliers(const geometry::Geometry& g, const std::vector<ControlPoint>& pts,
                                        const std::vector<CalibrantLine>& lines,
                                        const std::vector<double>& line_tth) {
  const auto res = two_theta_residuals(g, pts, lines);
  std::vector<double> scaled(res.size());
  for (std::size_t i = 0; i < res.size(); ++i)
    scaled[i] = std::fabs(res[i]) / pixel_two_theta(g, line_tth[pts[i].line]);
  const double sigma = 1.4826 * median(scaled);
  const double cut = std::max(4.0 * sigma, 0.3);
  std::vector<ControlPoint> kept;
  for (std::size_t i = 0; i < pts.size(); ++i)
    if (scaled[i] <= cut) kept.push_back(pts[i]);
  return kept;
}

PassState run_passes(const ImageF& image, const Mask& mask, geometry::Geometry g,
                     const std::vector<CalibrantLine>& lines, const CalibrationOptions& opt,
                     std::vector<std::string>& log) {
  PassState st;
  st.base_detector = g.detector;
  static constexpr double kWindowsPx[] = {20, 12, 8, 6, 5};
  double fwhm_px = 2.0;
  double tth_limit = -1;
  bool tilts = false;
  double last_change = std::numeric_limits<double>::infinity();
  bool all_in = false;
  for (int pass = 0; pass < opt.max_passes; ++pass) {
    st.passes = pass + 1;
    const PixelMaps maps = pixel_maps(g);
    const Coverage cov = coverage(maps, mask);
    const auto tth = line_two_thetas(lines, g.wavelength_m);
    std::vector<int> cand;
    for (int k = 0; k < static_cast<int>(lines.size()); ++k)
      if (!std::isnan(tth[k]) && tth[k] > cov.tth_min && tth[k] < cov.tth_max) cand.push_back(k);
    if (cand.empty()) {
      st.failed = true;
      st.failure = fmt::format("no calibrant line falls on the detector (2θ {:.3f}°–{:.3f}°)",
                               cov.tth_min * kDeg, cov.tth_max * kDeg);
      return st;
    }
    if (tth_limit < 0) tth_limit = tth[cand[std::min<std::size_t>(cand.size() - 1, 3)]];
    const double window_px = std::max(pass < 5 ? kWindowsPx[pass] : 5.0, 3.0 * fwhm_px);
    std::vector<RingTarget> targets;
    for (int k : cand) {
      if (tth[k] > tth_limit * 1.0000001) continue;
      double sep = std::numeric_limits<double>::infinity();
      if (k > 0 && !std::isnan(tth[k - 1])) sep = std::min(sep, tth[k] - tth[k - 1]);
      if (k + 1 < static_cast<int>(lines.size()) && !std::isnan(tth[k + 1]))
        sep = std::min(sep, tth[k + 1] - tth[k]);
      const double pix = pixel_two_theta(g, tth[k]);
      const double hw = std::min(window_px * pix, 0.45 * sep);
      if (hw < std::max(2.5, 1.5 * fwhm_px) * pix) continue;  // unresolved from its neighbour
      targets.push_back({k, tth[k], hw});
    }
    std::vector<ControlPoint> pts = pick_control_points(image, mask, g, maps, targets, opt.pick);
    std::map<int, int> per_ring;
    for (const auto& p : pts) ++per_ring[p.line];
    const int nrings = static_cast<int>(per_ring.size());
    if (nrings < opt.min_rings || static_cast<int>(pts.size()) < opt.min_points) {
      st.failed = true;
      st.failure = fmt::format("pass {}: only {} control points on {} ring(s) (need {} on {})", pass + 1,
                               pts.size(), nrings, opt.min_points, opt.min_rings);
      if (pass > 0)
        st.failure += fmt::format("; the previous pass fitted {} points with RMS residual {:.4f}° 2θ",
                                  st.points.size(), st.refined.rms_rad * kDeg);
      else
        st.failure += "; no residuals to report";
      st.points = pts;
      return st;
    }
    if (nrings >= 3) tilts = true;
    FreeParameters free = opt.free;
    if (!tilts) free.rot1 = free.rot2 = free.rot3 = false;
    if (!all_in) free.wavelength = free.distortion = false;
    std::vector<double> fw;
    for (const auto& p : pts) fw.push_back(p.fwhm_rad / pixel_two_theta(g, tth[p.line]));
    fwhm_px = std::clamp(median(fw), 1.0, 10.0);
    const double huber = pixel_two_theta(g, tth[pts.front().line]);
    RefineOptions ro{free, huber, 100, false};
    RefinedGeometry r = refine_geometry(on_detector(g, st.base_detector), pts, lines, ro, st.distortion);
    pts = drop_outliers(r.geometry, pts, lines, tth);
    r = refine_geometry(on_detector(r.geometry, st.base_detector), pts, lines, ro, r.distortion);
    // Parameter change in pixels: centre shift and distance change at the detector.
    const auto c0 = beam_center_px(g), c1 = beam_center_px(r.geometry);
    double change = std::fabs(r.geometry.dist_m - g.dist_m) / g.detector.pixel1_m;
    if (c0 && c1) change = std::max(change, std::hypot((*c0)[0] - (*c1)[0], (*c0)[1] - (*c1)[1]));
    log.push_back(
        fmt::format("pass {}: {} rings to 2θ {:.2f}°, window ±{:.0f} px, {} points ({}), RMS {:.3f} px-eq, "
                    "dist {:.3f} mm, "
                    "rot1 {:.4f}°, rot2 {:.4f}°, change {:.3f} px{}",
                    pass + 1, nrings, std::min(tth_limit, cov.tth_max) * kDeg, window_px, pts.size(),
                    pts.front().position == PeakPosition::Centroid ? "centroids" : "profile fits",
                    r.rms_rad / pixel_two_theta(r.geometry, tth[pts.front().line]), r.geometry.dist_m * 1e3,
                    r.geometry.rot1 * kDeg, r.geometry.rot2 * kDeg, change, tilts ? "" : " (tilts fixed)"));
    g = r.geometry;
    st.distortion = r.distortion;
    st.points = pts;
    st.refined = r;
    const bool was_all_in = all_in;
    all_in = tth_limit >= cov.tth_max;
    double reached = 0;
    for (const auto& [k, n] : per_ring) reached = std::max(reached, tth[k]);
    if (tilts)
      tth_limit = std::max(tth_limit, std::max(reached, tth_limit) * 1.5);
    else
      tth_limit = std::max(tth_limit, reached * 1.25);
    if (was_all_in && pass >= 3 && change < 0.05 && last_change < 0.1) break;
    last_change = change;
  }
  st.geometry = g;
  return st;
}

// The largest 1σ of the fitted 2θ map (pixel-equivalents) over the unmasked pixels (every
// fourth row and column) inside the outermost fitted ring: σ² = J·C·Jᵀ with C the parameters'
// covariance and J the derivatives of the pixel's 2θ in them (central differences of the
// refinement's own model). Geometry that the points leave loose (tilt against beam centre with
// few rings) shows here even where each parameter's σ alone looks harmless, and vice versa.
double two_theta_sigma_px(const RefinedGeometry& answer, const geometry::Detector& base, const Mask& mask,
                          double outer) {
  constexpr int kN = RefinedGeometry::kCovarianceSize;
  const auto& cov = answer.covariance;
  for (double c : cov)
    if (!std::isfinite(c)) return std::numeric_limits<double>::infinity();
  std::array<double, kN> p{};
  geometry_parameters(answer.geometry, p.data());
  p[kGeometryParameterCount + kK1] = answer.distortion.k1;
  p[kGeometryParameterCount + kB1] = answer.distortion.b1;
  p[kGeometryParameterCount + kB2] = answer.distortion.b2;
  std::array<bool, kN> used{};
  for (int i = 0; i < kN; ++i) used[i] = cov[i * kN + i] > 0;
  const std::array<double, kN> step{1e-7, 1e-8, 1e-8, 1e-8, 1e-8, 1e-8, 1e-8, 1e-8, 1e-8};
  const DistortionFrame frame(base);
  const double pixel1 = base.pixel1_m, pixel2 = base.pixel2_m;
  auto model = [&](const std::array<double, kN>& q, const DetectorPoint& pt) {
    double y, x;
    frame.displace(q.data() + kGeometryParameterCount, pt.y, pt.x, y, x);
    return model_two_theta_at(q.data(), y, x, pixel1, pixel2);
  };
  const geometry::Geometry& g = answer.geometry;
  double worst = 0;
  for (std::size_t row = 0; row < g.detector.shape.rows; row += 4)
    for (std::size_t col = 0; col < g.detector.shape.cols; col += 4) {
      if (mask.pixels[row * g.detector.shape.cols + col]) continue;
      const DetectorPoint pt = detector_point(base, static_cast<double>(row), static_cast<double>(col));
      const double t = model(p, pt);
      if (!(t <= outer)) continue;
      std::array<double, kN> jac{};
      for (int i = 0; i < kN; ++i) {
        if (!used[i]) continue;
        std::array<double, kN> hi = p, lo = p;
        hi[i] += step[i];
        lo[i] -= step[i];
        jac[i] = (model(hi, pt) - model(lo, pt)) / (2 * step[i]);
      }
      double var = 0;
      for (int i = 0; i < kN; ++i)
        for (int j = 0; j < kN; ++j) var += jac[i] * cov[i * kN + j] * jac[j];
      worst = std::max(worst, std::sqrt(std::max(0.0, var)) / pixel_two_theta(g, t));
    }
  return worst;
}

// Refits of the final points from four starts around the answer (distance ±1 %, beam centre
// ±3 px in each direction, tilts at zero): the largest 2θ difference from the answer, in
// pixel-equivalents, over the unmasked pixels (every fourth row and column) inside the outermost
// fitted ring. Least squares on points that pin the geometry comes back to the same minimum; a
// flat or multiple minimum (too few rings for the free tilts, points on one arc) does not.
double refit_spread_px(const PassState& st, const RefinedGeometry& answer,
                       const std::vector<ControlPoint>& pts, const std::vector<CalibrantLine>& lines,
                       RefineOptions ro, const Mask& mask, double outer) {
  ro.covariance = false;
  const geometry::Geometry& g = answer.geometry;
  const Image<double> tth = geometry::two_theta_array(g);
  const double shift = 3.0 * 0.5 * (g.detector.pixel1_m + g.detector.pixel2_m);
  double worst = 0;
  for (int k = 0; k < 4; ++k) {
    geometry::Geometry start = on_detector(g, st.base_detector);
    start.dist_m *= k % 2 ? 0.99 : 1.01;
    start.poni1_m += k < 2 ? shift : -shift;
    start.poni2_m += k % 2 ? shift : -shift;
    if (ro.free.rot1) start.rot1 = 0;
    if (ro.free.rot2) start.rot2 = 0;
    const RefinedGeometry again = refine_geometry(start, pts, lines, ro, answer.distortion);
    if (!again.converged) return std::numeric_limits<double>::infinity();
    for (std::size_t row = 0; row < tth.rows(); row += 4)
      for (std::size_t col = 0; col < tth.cols(); col += 4) {
        const std::size_t i = row * tth.cols() + col;
        const double t = tth.pixels[i];
        if (mask.pixels[i] || !(t <= outer)) continue;
        const double d = std::fabs(
            geometry::two_theta(again.geometry, static_cast<double>(row), static_cast<double>(col)) - t);
        worst = std::max(worst, d / pixel_two_theta(g, t));
      }
  }
  return worst;
}

}  // namespace

const char* status_name(CalibrationStatus s) {
  switch (s) {
    case CalibrationStatus::Converged:
      return "converged";
    case CalibrationStatus::NoRings:
      return "no rings";
    case CalibrationStatus::PoorFit:
      return "poor fit";
    case CalibrationStatus::NotConverged:
      return "not converged";
  }
  return "?";
}

namespace {

CalibrationResult finish(const ImageF& image, const Mask& mask, PassState st,
                         const std::vector<CalibrantLine>& lines, const CalibrationOptions& opt,
                         std::vector<std::string> log) {
  CalibrationResult res;
  res.log = std::move(log);
  res.passes = st.passes;
  res.geometry = st.geometry;
  if (st.failed) {
    res.status = CalibrationStatus::NoRings;
    res.points = st.points;
    res.message = "calibration failed: " + st.failure;
    return res;
  }
  // Final refinement with uncertainties.
  RefineOptions ro{opt.free, 0.0, 200, true};
  const auto tth0 = line_two_thetas(lines, st.geometry.wavelength_m);
  ro.huber_scale_rad = pixel_two_theta(st.geometry, tth0[st.points.front().line]);
  RefinedGeometry r =
      refine_geometry(on_detector(st.geometry, st.base_detector), st.points, lines, ro, st.distortion);
  res.geometry = r.geometry;
  res.sigma = r.sigma;
  res.distortion = r.distortion;
  res.distortion_sigma = r.distortion_sigma;
  res.points = st.points;
  res.residuals_rad = r.residuals_rad;
  res.rms_rad = r.rms_rad;
  const auto tth = line_two_thetas(lines, r.geometry.wavelength_m);
  double ss = 0;
  std::map<int, std::vector<std::size_t>> by_ring;  // point indices per line
  for (std::size_t i = 0; i < res.points.size(); ++i) {
    const int k = res.points[i].line;
    const double px = res.residuals_rad[i] / pixel_two_theta(r.geometry, tth[k]);
    ss += px * px;
    by_ring[k].push_back(i);
  }
  res.rms_px = std::sqrt(ss / std::max<std::size_t>(1, res.points.size()));
  for (const auto& [k, idx] : by_ring) {
    const MeanResidual m = mean_residual(res.residuals_rad, idx);
    RingFit f;
    f.line = k;
    f.calibrant_line = lines[k];
    f.two_theta_expected_rad = tth[k];
    f.points = static_cast<int>(idx.size());
    f.mean_residual_rad = m.mean;
    f.mean_residual_sigma_rad = m.sigma;
    f.rms_residual_rad = m.rms;
    f.two_theta_observed_rad = tth[k] + f.mean_residual_rad;
    // The ring in eight arcs of χ: the mean of each against the ring's expected 2θ.
    constexpr int kArcs = 8;
    std::array<std::vector<std::size_t>, kArcs> arcs;
    for (std::size_t i : idx) {
      const double c = res.points[i].chi_rad;
      arcs[std::clamp(static_cast<int>((c + kPi) / (2 * kPi) * kArcs), 0, kArcs - 1)].push_back(i);
    }
    const double pix = pixel_two_theta(r.geometry, tth[k]);
    for (int j = 0; j < kArcs; ++j) {
      if (static_cast<int>(arcs[j].size()) < kMinPointsPerMean) continue;
      const MeanResidual a = mean_residual(res.residuals_rad, arcs[j]);
      const double excess = (std::fabs(a.mean) - 3 * a.sigma) / pix;
      if (f.arcs == 0 || excess > f.worst_arc_excess_px) {
        f.worst_arc_excess_px = excess;
        f.worst_arc_mean_rad = a.mean;
        f.worst_arc_chi_rad = -kPi + (j + 0.5) * 2 * kPi / kArcs;
      }
      ++f.arcs;
    }
    res.rings.push_back(f);
  }
  const std::string summary =
      fmt::format("{} control points on {} rings, RMS residual {:.4f}° 2θ ({:.3f} px-equivalent)",
                  res.points.size(), res.rings.size(), res.rms_rad * kDeg, res.rms_px);
  if (static_cast<int>(res.rings.size()) < opt.min_rings ||
      static_cast<int>(res.points.size()) < opt.min_points) {
    res.status = CalibrationStatus::NoRings;
    res.message = "calibration failed: too few rings: " + summary;
    return res;
  }
  if (!r.converged) {
    res.status = CalibrationStatus::NotConverged;
    res.message = "calibration did not converge (" + r.solver_report + "): " + summary;
    return res;
  }
  // The verdict rests on what the geometry is for — putting every ring where the calibrant says,
  // all the way round — and on the geometry being determined by the points; not on how much the
  // points scatter, which a coarse-grained powder (spotty rings) raises without making the ring
  // means any less certain. The scatter only has a wide outer bound.
  if (res.rms_px > opt.max_rms_px) {
    res.status = CalibrationStatus::PoorFit;
    res.message = fmt::format(
        "calibration did not converge to a geometry that fits the rings: {} exceeds the {:.2f} px allowed; "
        "check the calibrant, the wavelength and the start geometry",
        summary, opt.max_rms_px);
    return res;
  }
  // 1. Ring means: each ring's mean residual within max_ring_offset_px beyond 3 standard errors.
  double worst_ring = 0, worst_arc = -std::numeric_limits<double>::infinity();
  for (const auto& f : res.rings) {
    if (f.points < kMinPointsPerMean) continue;
    const double pix = pixel_two_theta(r.geometry, f.two_theta_expected_rad);
    const double off = std::fabs(f.mean_residual_rad) / pix, se = f.mean_residual_sigma_rad / pix;
    worst_ring = std::max(worst_ring, off);
    if (off > opt.max_ring_offset_px + 3 * se) {
      res.status = CalibrationStatus::PoorFit;
      res.message = fmt::format(
          "calibration did not converge: ring {} (d = {:.5f} Å) sits {:.2f} ± {:.2f} px-equivalent ({:.4f}° "
          "2θ) off its expected position, more than the {:.2f} px allowed (+3σ); the rings do not fit one "
          "geometry at this wavelength: {}",
          hkl_text(f.calibrant_line.hkl), f.calibrant_line.d_angstrom, off, se, f.mean_residual_rad * kDeg,
          opt.max_ring_offset_px, summary);
      return res;
    }
  }
  // 2. Ring shape: the mean of every eighth of a ring within max_arc_offset_px beyond 3 standard
  //    errors (an elliptical ring on a distorted detector has means right and arcs off).
  for (const auto& f : res.rings) {
    if (f.arcs == 0) continue;
    worst_arc = std::max(worst_arc, f.worst_arc_excess_px);
    if (f.worst_arc_excess_px > opt.max_arc_offset_px) {
      const double pix = pixel_two_theta(r.geometry, f.two_theta_expected_rad);
      res.status = CalibrationStatus::PoorFit;
      res.message = fmt::format(
          "calibration did not converge to a geometry that fits the rings' shape: ring {} (d = {:.5f} Å) "
          "sits {:.2f} px-equivalent ({:.4f}° 2θ) off around χ = {:.0f}° (beyond 3σ of that arc's mean: "
          "{:.2f} "
          "px, {:.2f} allowed); a distorted detector (try --refine-distortion) or a wrong detector "
          "model: {}",
          hkl_text(f.calibrant_line.hkl), f.calibrant_line.d_angstrom, std::fabs(f.worst_arc_mean_rad) / pix,
          f.worst_arc_mean_rad * kDeg, f.worst_arc_chi_rad * kDeg, f.worst_arc_excess_px,
          opt.max_arc_offset_px, summary);
      return res;
    }
  }
  // 3. Stability: the parameters' covariance leaves the 2θ map determined inside the outermost
  //    fitted ring, and refits from perturbed starts give the same 2θ there.
  double outer = 0;
  for (const auto& f : res.rings) outer = std::max(outer, f.two_theta_expected_rad);
  res.two_theta_sigma_px = two_theta_sigma_px(r, st.base_detector, mask, outer);
  if (!(res.two_theta_sigma_px <= opt.max_two_theta_sigma_px)) {
    res.status = CalibrationStatus::PoorFit;
    res.message = fmt::format(
        "calibration did not converge to a determined geometry: the parameters' uncertainties leave 2θ "
        "uncertain by up to {:.3f} px-equivalent (1σ) inside the outermost ring ({:.2f} allowed); more "
        "rings, "
        "or fewer free parameters (--fix): {}",
        res.two_theta_sigma_px, opt.max_two_theta_sigma_px, summary);
    return res;
  }
  res.instability_px = refit_spread_px(st, r, res.points, lines, ro, mask, outer);
  if (!(res.instability_px <= opt.max_instability_px)) {
    res.status = CalibrationStatus::PoorFit;
    res.message = fmt::format(
        "calibration did not converge to a determined geometry: refits from starts 1 % / 3 px away give "
        "2θ up to {:.3f} px-equivalent apart inside the outermost ring ({:.2f} allowed); the points do not "
        "pin the free parameters (fix some with --fix): {}",
        res.instability_px, opt.max_instability_px, summary);
    return res;
  }
  const PixelMaps maps = pixel_maps(r.geometry);
  const ProfilePeaks pk = profile_peaks(image, mask, r.geometry, maps, tth, opt.max_unexplained_peak);
  std::string extra;
  for (double t : pk.unexplained_tth) extra += fmt::format("{}{:.3f}°", extra.empty() ? "" : ", ", t * kDeg);
  if (pk.unexplained_height > pk.explained_height) {
    res.status = CalibrationStatus::PoorFit;
    res.message = fmt::format(
        "calibration did not converge to a consistent answer: most of the ring intensity is at 2θ = {}, "
        "where the "
        "calibrant has no line at λ = {:.5f} Å (wrong calibrant or wavelength?); {}",
        extra, r.geometry.wavelength_m * 1e10, summary);
    return res;
  }
  if (!extra.empty())
    res.log.push_back(
        fmt::format("note: rings at 2θ = {} are not calibrant lines (another phase, a gasket?)", extra));
  res.status = CalibrationStatus::Converged;
  res.message = fmt::format(
      "calibration converged: {}; ring means within {:.3f} px-equivalent, arcs within 3σ + {:.3f} px, 2θ "
      "determined to {:.3f} px (1σ) inside the outermost ring, refits from perturbed starts within {:.4f} px",
      summary, worst_ring, std::max(0.0, worst_arc), res.two_theta_sigma_px, res.instability_px);
  return res;
}

}  // namespace

CalibrationResult calibrate(const ImageF& image, const Mask& mask_in, const geometry::Detector& detector_in,
                            double wavelength_m, const std::vector<CalibrantLine>& lines,
                            const CalibrationStart& start, const CalibrationOptions& opt_in) {
  geometry::Detector det = detector_in;
  det.shape = image.shape;
  std::vector<std::string> log;
  Mask mask(image.shape, 0);
  if (!mask_in.pixels.empty()) {
    if (mask_in.shape != image.shape)
      throw InputError("mask", fmt::format("{}×{} pixels, the image {}×{}", mask_in.shape.rows,
                                           mask_in.shape.cols, image.shape.rows, image.shape.cols));
    mask = mask_in;
  }
  if (det.modules || det.circular_active_area) {
    const Mask dead = det.dead_pixel_mask();
    for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= dead.pixels[i];
  }
  for (std::size_t i = 0; i < mask.pixels.size(); ++i)
    if (std::isnan(image.pixels[i])) mask.pixels[i] = 1;
  if (const auto inactive = find_inactive_area(image, mask)) {
    for (std::size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] |= inactive->mask.pixels[i];
    log.push_back(fmt::format(
        "note: {} pixels ({:.1f} % of the image) hold the constant {:g} and join the image border: no "
        "data (outside the detector's active area); masked with a {} px margin",
        inactive->region_px, 100.0 * inactive->region_px / static_cast<double>(mask.pixels.size()),
        inactive->value, InactiveAreaOptions{}.margin_px));
  }
  if (lines.empty()) throw InputError("calibrant", "no lines to calibrate on");
  CalibrationOptions opt = opt_in;
  if (opt.free.rot3) {
    // R = R3(rot3)·R2·R1: rot3 turns the lab frame about the beam, which changes χ but no 2θ.
    opt.free.rot3 = false;
    log.push_back(
        fmt::format("note: rot3 (a rotation about the beam) leaves every 2θ unchanged, so calibrant rings "
                    "cannot determine "
                    "it: kept at its start value ({:.4f}°)",
                    start.guess ? start.guess->rot3 * kDeg : 0.0));
  }
  if (!(wavelength_m > 0))
    throw InputError("calibrate", fmt::format("wavelength {} m is not positive", wavelength_m));

  if (start.guess) {
    geometry::Geometry g = *start.guess;
    g.detector = det;
    g.wavelength_m = wavelength_m;
    log.push_back(fmt::format("starting from the given geometry: dist {:.3f} mm, poni {:.3f}, {:.3f} mm",
                              g.dist_m * 1e3, g.poni1_m * 1e3, g.poni2_m * 1e3));
    PassState st = run_passes(image, mask, g, lines, opt, log);
    CalibrationResult res = finish(image, mask, st, lines, opt, log);
    if (res.ok()) return res;
    log = res.log;
    log.push_back("the given geometry did not lead to a fit (" + res.message + "); searching around it");
  }

  CenterSearch cs;
  std::optional<double> dist_guess = start.dist_m;
  if (start.center_px) {
    cs.around = start.center_px;
  } else if (start.guess) {
    cs.around = beam_center_px(*start.guess);
  }
  if (!dist_guess && start.guess) dist_guess = start.guess->dist_m;
  cs.radius_px = opt.search_radius_px;
  const CenterEstimate ce = find_beam_center(image, mask, cs);
  log.push_back(fmt::format(
      "beam centre search: row {:.1f}, column {:.1f} (radial symmetry {:.3f}){}", ce.center[0], ce.center[1],
      ce.score, ce.at_search_edge ? " — at the edge of the search box: the guess may be far off" : ""));
  const RadialProfilePeaks peaks = radial_profile_peaks(image, mask, ce.center);
  log.push_back(fmt::format("radial profile: {} peaks between {:.0f} and {:.0f} px", peaks.peaks.size(),
                            peaks.r_min_px, peaks.r_max_px));
  const double pixel = 0.5 * (det.pixel1_m + det.pixel2_m);
  const double dmin = dist_guess ? *dist_guess / opt.dist_search_factor : 0.0;
  const double dmax = dist_guess ? *dist_guess * opt.dist_search_factor : 1e9;
  const auto de = estimate_distance(peaks, lines, wavelength_m, pixel, dmin, dmax);
  if (!de) {
    CalibrationResult res;
    res.status = CalibrationStatus::NoRings;
    res.log = log;
    res.message = fmt::format(
        "calibration failed: no calibrant ring pattern found: {} radial peaks about the best centre (row "
        "{:.1f}, "
        "column {:.1f}), and no distance{} maps two or more calibrant lines onto them",
        peaks.peaks.size(), ce.center[0], ce.center[1],
        dist_guess ? fmt::format(" within {:.1f}–{:.1f} mm", dmin * 1e3, dmax * 1e3) : std::string());
    res.geometry = untilted_geometry(det, wavelength_m, dist_guess.value_or(0.1), ce.center[0], ce.center[1]);
    return res;
  }
  log.push_back(
      fmt::format("distance from ring radii: {:.2f} mm ({} of {} peaks matched, {:.0f} % of lines in range "
                  "unseen)",
                  de->dist_m * 1e3, de->matched, peaks.peaks.size(), 100 * de->missing_fraction));
  const geometry::Geometry g0 = untilted_geometry(det, wavelength_m, de->dist_m, ce.center[0], ce.center[1]);
  PassState st = run_passes(image, mask, g0, lines, opt, log);
  CalibrationResult res = finish(image, mask, st, lines, opt, log);
  if (!res.ok() && cs.around) {
    const double moved = std::hypot(ce.center[0] - (*cs.around)[0], ce.center[1] - (*cs.around)[1]);
    if (ce.at_search_edge || moved > 0.8 * opt.search_radius_px)
      res.message += fmt::format(
          "; the beam-centre search ended {:.0f} px from the given centre, at the edge of its "
          "±{:.0f} px box: the start geometry is far off",
          moved, opt.search_radius_px);
    else
      res.message += "; if the start geometry (distance, centre) may be far off, try without it";
  }
  return res;
}

}  // namespace anvil::calibration
