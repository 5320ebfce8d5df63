#include "calibration/control_points.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "calibration/ring_model.hpp"

namespace anvil::calibration {

namespace {

constexpr double kPi = std::numbers::pi;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Model value and derivatives for fit_peak_profile. The parameters are unconstrained:
// p = {a, b, h, x0, ω, φ} with Γ = Γmin + e^ω and η = 1 / (1 + e^−φ), so no step of the solver
// has to be clipped at a bound (clipping stalls Levenberg–Marquardt).
enum : int { kA = 0, kB, kH, kX0, kOmega, kPhi, kProfileParameters };
using ProfileParameters = std::array<double, kProfileParameters>;

struct ProfileModel {
  double xbar = 0.0, wmin = 0.0;
  double fwhm(const ProfileParameters& p) const { return wmin + std::exp(p[kOmega]); }
  static double eta(const ProfileParameters& p) { return 1.0 / (1.0 + std::exp(-p[kPhi])); }
  double value(const ProfileParameters& p, double x, ProfileParameters* grad) const {
    constexpr double kLn2 = std::numbers::ln2;
    const double d = x - p[kX0], w = fwhm(p);
    const double q = 4.0 * d * d / (w * w);
    const double gauss = std::exp(-kLn2 * q), lorentz = 1.0 / (1.0 + q);
    const double e = eta(p), shape = e * lorentz + (1.0 - e) * gauss;
    if (grad) {
      const double dshape_dq = -e * lorentz * lorentz - (1.0 - e) * kLn2 * gauss;
      (*grad)[kA] = 1.0;
      (*grad)[kB] = x - xbar;
      (*grad)[kH] = shape;
      (*grad)[kX0] = p[kH] * dshape_dq * (-8.0 * d / (w * w));
      (*grad)[kOmega] = p[kH] * dshape_dq * (-2.0 * q / w) * (w - wmin);
      (*grad)[kPhi] = p[kH] * (lorentz - gauss) * e * (1.0 - e);
    }
    return p[kA] + p[kB] * (x - xbar) + p[kH] * shape;
  }
};

}  // namespace

PeakProfileFit fit_peak_profile(std::span<const double> x, std::span<const double> y,
                                std::span<const double> weight, const PeakProfileStart& start,
                                double min_fwhm) {
  PeakProfileFit out;
  const std::size_t n = x.size();
  if (n != y.size() || n != weight.size() || n <= static_cast<std::size_t>(kProfileParameters)) return out;
  double sw = 0, swx = 0, xmin = x[0], xmax = x[0];
  for (std::size_t i = 0; i < n; ++i) {
    if (!(weight[i] > 0) || !std::isfinite(x[i]) || !std::isfinite(y[i])) return out;
    sw += weight[i];
    swx += weight[i] * x[i];
    xmin = std::min(xmin, x[i]);
    xmax = std::max(xmax, x[i]);
  }
  const double span = xmax - xmin;
  if (!(span > 0)) return out;
  ProfileModel model{swx / sw, std::max(min_fwhm, 1e-6 * span)};
  const double w0 = std::clamp(start.fwhm, 2.0 * model.wmin, 0.5 * span);
  ProfileParameters p{start.background + start.slope * (model.xbar - start.center),
                      start.slope,
                      start.height,
                      start.center,
                      std::log(w0 - model.wmin),
                      0.0};
  using Mat = Eigen::Matrix<double, kProfileParameters, kProfileParameters>;
  using Vec = Eigen::Matrix<double, kProfileParameters, 1>;
  auto cost_of = [&](const ProfileParameters& q) {
    double c = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = y[i] - model.value(q, x[i], nullptr);
      c += weight[i] * r * r;
    }
    return c;
  };
  auto normal_equations = [&](Mat& jtj, Vec& jtr) {
    jtj.setZero();
    jtr.setZero();
    ProfileParameters g{};
    for (std::size_t i = 0; i < n; ++i) {
      const double r = y[i] - model.value(p, x[i], &g);
      const Eigen::Map<const Vec> gv(g.data());
      jtj.noalias() += weight[i] * gv * gv.transpose();
      jtr.noalias() += weight[i] * r * gv;
    }
  };
  double cost = cost_of(p), lambda = 1e-3;
  Mat jtj;
  Vec jtr;
  bool converged = false;
  int it = 0;
  for (; it < 200 && !converged; ++it) {
    normal_equations(jtj, jtr);
    bool stepped = false;
    while (lambda < 1e12) {
      Mat a = jtj;
      for (int k = 0; k < kProfileParameters; ++k) a(k, k) += lambda * std::max(jtj(k, k), 1e-12);
      const Vec step = a.ldlt().solve(jtr);
      ProfileParameters trial = p;
      for (int k = 0; k < kProfileParameters; ++k) trial[k] += step[k];
      const double c = step.allFinite() ? cost_of(trial) : std::numeric_limits<double>::infinity();
      if (std::isfinite(c) && c <= cost) {
        // Converged when the cost stops falling or the centre and width stop moving.
        // (x is in bins here: 1e-4 of a bin is far below any position that matters.)
        converged = cost - c <= 1e-8 * cost || (std::fabs(step[kX0]) <= 1e-4 * std::max(1.0, span / 64) &&
                                                std::fabs(step[kOmega]) <= 1e-3);
        p = trial;
        cost = c;
        lambda = std::max(lambda / 3, 1e-12);
        stepped = true;
        break;
      }
      lambda *= 4;
    }
    if (!stepped) converged = true;  // no step lowers the cost: a minimum (to rounding)
  }
  out.iterations = it;
  if (!converged) return out;
  out.center = p[kX0];
  out.fwhm = model.fwhm(p);
  out.height = p[kH];
  out.eta = ProfileModel::eta(p);
  out.background = p[kA] + p[kB] * (p[kX0] - model.xbar);
  out.slope = p[kB];
  normal_equations(jtj, jtr);
  const double s2 = cost / static_cast<double>(n - kProfileParameters);
  // The centre's variance from the (a, b, h, x0) block: Γ and η may sit where their derivatives
  // vanish (η → 0 or 1), which leaves the full normal matrix singular without touching x0.
  const Eigen::Matrix4d cov = jtj.topLeftCorner<4, 4>().ldlt().solve(Eigen::Matrix4d::Identity());
  out.center_sigma = std::sqrt(std::max(0.0, cov(kX0, kX0) * s2));
  out.ok = std::isfinite(out.center) && std::isfinite(out.center_sigma) && out.height > 0 &&
           out.fwhm < span && out.center >= xmin && out.center <= xmax;
  return out;
}

namespace {

struct RingLayout {
  RingTarget target;
  int sectors = 0;
  int bins = 0;
  double bin_rad = 0.0;
  double t0 = 0.0;  // lower edge of the window
  std::size_t offset = 0;
};

struct BinSums {
  double intensity = 0.0;
  double two_theta = 0.0;
  double chi = 0.0;
  std::uint32_t count = 0;
  std::uint32_t masked = 0;
};

// One sector's peak: its centroid and, when asked for and the profile fits a single peak, the
// fitted centre (NaN otherwise). Height and FWHM are read off the smoothed profile, so that the
// spot and width tests below treat both positions alike.
struct SectorPeak {
  bool ok = false;
  double two_theta_centroid = 0.0, two_theta_fit = std::nan("");
  double chi = 0.0, height = 0.0, fwhm = 0.0, snr = 0.0;
};

// The peak of one sector's profile (bins b = 0..n−1 of `sums`, bin b spanning 2θ from
// t0 + b·bin_rad).
SectorPeak analyse_sector(const BinSums* sums, int n, double t0, double bin_rad, const PickOptions& opt) {
  SectorPeak out;
  std::vector<double> mean(n, std::nan("")), tth(n, 0.0);
  int valid = 0;
  for (int b = 0; b < n; ++b) {
    if (sums[b].count == 0) continue;
    mean[b] = sums[b].intensity / sums[b].count;
    tth[b] = sums[b].two_theta / sums[b].count;
    ++valid;
  }
  if (valid < std::max(8, (6 * n) / 10)) return out;
  // Background: a straight line through the outer fifth of the window on each side.
  const int edge = std::max(2, n / 5);
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  int nl = 0, nr = 0;
  for (int b = 0; b < n; ++b) {
    if (std::isnan(mean[b]) || (b >= edge && b < n - edge)) continue;
    (b < edge ? nl : nr)++;
    const double x = b;
    sw += 1;
    sx += x;
    sy += mean[b];
    sxx += x * x;
    sxy += x * mean[b];
  }
  if (nl < 2 || nr < 2) return out;
  const double det = sw * sxx - sx * sx;
  const double slope = det != 0 ? (sw * sxy - sx * sy) / det : 0.0;
  const double icpt = (sy - slope * sx) / sw;
  double ss = 0;
  for (int b = 0; b < n; ++b) {
    if (std::isnan(mean[b]) || (b >= edge && b < n - edge)) continue;
    const double r = mean[b] - (icpt + slope * b);
    ss += r * r;
  }
  const double noise = std::max(std::sqrt(ss / std::max(1.0, sw - 2)), 1e-6 * std::fabs(icpt) + 1e-12);
  // Smoothed excess over the background; the peak must lie inside the window.
  std::vector<double> ex(n, std::nan(""));
  for (int b = 0; b < n; ++b) {
    double s = 0;
    int c = 0;
    for (int k = std::max(0, b - 1); k <= std::min(n - 1, b + 1); ++k)
      if (!std::isnan(mean[k])) {
        s += mean[k] - (icpt + slope * k);
        ++c;
      }
    if (c > 0) ex[b] = s / c;
  }
  int bmax = -1;
  for (int b = edge; b < n - edge; ++b)
    if (!std::isnan(ex[b]) && (bmax < 0 || ex[b] > ex[bmax])) bmax = b;
  if (bmax < 0) return out;
  const double h = ex[bmax];
  if (!(h > 0) || h / noise < opt.min_snr) return out;
  // The peak's extent: contiguous bins above 15 % of the height (one missing bin tolerated).
  auto extent = [&](double frac, int step) {
    int b = bmax;
    while (true) {
      int nb = b + step;
      if (nb < 0 || nb >= n) return -1;  // runs off the window: not an isolated peak
      if (std::isnan(ex[nb])) {
        nb += step;
        if (nb < 0 || nb >= n || std::isnan(ex[nb])) return -1;
      }
      if (ex[nb] <= frac * h) return b;
      b = nb;
    }
  };
  const int lo = extent(0.15, -1), hi = extent(0.15, +1);
  if (lo < 0 || hi < 0) return out;
  const int hlo = extent(0.5, -1), hhi = extent(0.5, +1);
  double w = 0, wt = 0, npx = 0, nmask = 0;
  for (int b = lo; b <= hi; ++b) {
    nmask += sums[b].masked;
    npx += sums[b].count;
    if (std::isnan(mean[b])) continue;
    const double e = mean[b] - (icpt + slope * b);
    if (e <= 0) continue;
    w += e;
    wt += e * tth[b];
  }
  if (!(w > 0) || npx == 0) return out;
  if (nmask / (nmask + npx) > opt.max_masked_fraction) return out;
  out.two_theta_centroid = wt / w;
  out.height = h;
  out.fwhm = (hhi - hlo + 1) * bin_rad;
  if (opt.position != PeakPosition::Centroid) {
    // The whole window's profile, x in bins about the centroid, each mean weighted by its pixel
    // count. The fitted centre must stay within the peak's extent found above.
    std::vector<double> xs, ys, ws;
    for (int b = 0; b < n; ++b) {
      if (std::isnan(mean[b])) continue;
      xs.push_back((tth[b] - out.two_theta_centroid) / bin_rad);
      ys.push_back(mean[b]);
      ws.push_back(sums[b].count);
    }
    PeakProfileStart start;
    start.center = 0.0;
    start.fwhm = hhi - hlo + 1;
    start.height = h;
    start.slope = slope;
    start.background = icpt + slope * ((out.two_theta_centroid - t0) / bin_rad - 0.5);
    const PeakProfileFit fit = fit_peak_profile(xs, ys, ws, start, 0.25);
    const double fitted = out.two_theta_centroid + fit.center * bin_rad;
    if (fit.ok && fitted >= t0 + lo * bin_rad && fitted <= t0 + (hi + 1) * bin_rad)
      out.two_theta_fit = fitted;
  }
  out.ok = true;
  double chi_sum = 0;
  std::uint32_t chi_n = 0;
  for (int b = lo; b <= hi; ++b) {
    chi_sum += sums[b].chi;
    chi_n += sums[b].count;
  }
  out.chi = chi_sum / chi_n;
  out.snr = h / noise;
  return out;
}

}  // namespace

PixelMaps pixel_maps(const geometry::Geometry& g) {
  return {geometry::two_theta_array(g), geometry::chi_array(g)};
}

double pixel_two_theta(const geometry::Geometry& g, double two_theta_rad) {
  const double pixel = 0.5 * (g.detector.pixel1_m + g.detector.pixel2_m);
  const double c = std::cos(two_theta_rad);
  return pixel * c * c / g.dist_m;
}

std::vector<ControlPoint> pick_control_points(const ImageF& image, const Mask& mask,
                                              const geometry::Geometry& g, const PixelMaps& maps,
                                              std::span<const RingTarget> targets, const PickOptions& opt) {
  std::vector<RingLayout> rings;
  std::size_t total = 0;
  for (const auto& t : targets) {
    RingLayout r;
    r.target = t;
    const double pix = pixel_two_theta(g, t.two_theta_rad);
    const double radius_px =
        g.dist_m * std::tan(t.two_theta_rad) / (0.5 * (g.detector.pixel1_m + g.detector.pixel2_m));
    r.sectors = std::clamp(static_cast<int>(2 * kPi * radius_px / opt.sector_arc_px), opt.min_sectors,
                           opt.max_sectors);
    r.bin_rad = std::max(opt.bin_px * pix, 2 * t.half_window_rad / opt.max_bins);
    r.bins = std::max(10, static_cast<int>(std::ceil(2 * t.half_window_rad / r.bin_rad)));
    r.t0 = t.two_theta_rad - 0.5 * r.bins * r.bin_rad;
    r.offset = total;
    total += static_cast<std::size_t>(r.sectors) * r.bins;
    rings.push_back(r);
  }
  std::sort(rings.begin(), rings.end(), [](const RingLayout& a, const RingLayout& b) {
    return a.target.two_theta_rad < b.target.two_theta_rad;
  });
  std::vector<double> lower(rings.size()), upper(rings.size());
  for (std::size_t k = 0; k < rings.size(); ++k) {
    lower[k] = rings[k].t0;
    upper[k] = rings[k].t0 + rings[k].bins * rings[k].bin_rad;
  }
  std::vector<BinSums> sums(total);
  const std::size_t npix = image.pixels.size();
  const bool has_mask = !mask.pixels.empty();
  for (std::size_t i = 0; i < npix; ++i) {
    const double t = maps.two_theta.pixels[i];
    const auto it = std::upper_bound(lower.begin(), lower.end(), t);
    if (it == lower.begin()) continue;
    const std::size_t k = static_cast<std::size_t>(it - lower.begin()) - 1;
    if (t >= upper[k]) continue;
    const RingLayout& r = rings[k];
    const double c = maps.chi.pixels[i];
    const int s = std::min(r.sectors - 1, static_cast<int>((c + kPi) / (2 * kPi) * r.sectors));
    const int b = std::min(r.bins - 1, static_cast<int>((t - r.t0) / r.bin_rad));
    BinSums& bs = sums[r.offset + static_cast<std::size_t>(s) * r.bins + b];
    const float v = image.pixels[i];
    if ((has_mask && mask.pixels[i]) || std::isnan(v)) {
      ++bs.masked;
      continue;
    }
    bs.intensity += v;
    bs.two_theta += t;
    bs.chi += c;
    ++bs.count;
  }
  std::vector<ControlPoint> out;
  const double rows = static_cast<double>(image.rows()), cols = static_cast<double>(image.cols());
  auto on_image = [&](double two_theta, double chi) -> std::optional<std::array<double, 2>> {
    const auto px = pixel_at(g, two_theta, chi);
    if (!px || (*px)[0] < -0.5 || (*px)[1] < -0.5 || (*px)[0] > rows - 0.5 || (*px)[1] > cols - 0.5)
      return std::nullopt;
    return px;
  };
  // Per ring, the sectors that pass, with both positions; spots and odd widths are judged
  // against the ring's own medians.
  struct RingPeaks {
    const RingLayout* layout;
    std::vector<std::pair<int, SectorPeak>> kept;  // sector index, peak
  };
  std::vector<RingPeaks> found;
  for (const RingLayout& r : rings) {
    std::vector<std::pair<int, SectorPeak>> ring;
    for (int s = 0; s < r.sectors; ++s) {
      const SectorPeak p = analyse_sector(&sums[r.offset + static_cast<std::size_t>(s) * r.bins], r.bins,
                                          r.t0, r.bin_rad, opt);
      if (p.ok && on_image(p.two_theta_centroid, p.chi)) ring.emplace_back(s, p);
    }
    if (static_cast<int>(ring.size()) < opt.min_points_per_ring) continue;
    std::vector<double> heights, widths;
    for (const auto& [s, p] : ring) {
      heights.push_back(p.height);
      widths.push_back(p.fwhm);
    }
    const double hmed = median(heights), wmed = median(widths);
    RingPeaks rp{&r, {}};
    for (const auto& sp : ring) {
      const SectorPeak& p = sp.second;
      if (p.height <= opt.spot_factor * hmed && p.fwhm <= opt.width_factor * wmed &&
          p.fwhm * opt.width_factor >= wmed)
        rp.kept.push_back(sp);
    }
    found.push_back(std::move(rp));
  }
  // Which position the points take. Auto: the one that scatters less from one sector to the
  // next, over all rings (differences of neighbouring sectors cancel whatever varies smoothly
  // along a ring — the geometry's error, a tilt not yet freed — and leave the estimator's own
  // noise). One choice for the whole image: the two can differ by a fraction of a pixel on
  // asymmetric rings, and mixing them would make the rings disagree by that much.
  PeakPosition position = opt.position;
  if (position == PeakPosition::Auto) {
    std::vector<double> dc, df;
    for (const RingPeaks& rp : found) {
      const double pix = pixel_two_theta(g, rp.layout->target.two_theta_rad);
      for (std::size_t i = 1; i < rp.kept.size(); ++i) {
        const SectorPeak &a = rp.kept[i - 1].second, &b = rp.kept[i].second;
        if (rp.kept[i].first != rp.kept[i - 1].first + 1 || std::isnan(a.two_theta_fit) ||
            std::isnan(b.two_theta_fit))
          continue;
        dc.push_back(std::fabs(b.two_theta_centroid - a.two_theta_centroid) / pix);
        df.push_back(std::fabs(b.two_theta_fit - a.two_theta_fit) / pix);
      }
    }
    position = !dc.empty() && median(dc) < median(df) ? PeakPosition::Centroid : PeakPosition::ProfileFit;
  }
  for (const RingPeaks& rp : found) {
    std::vector<ControlPoint> points;
    for (const auto& [s, p] : rp.kept) {
      const double t = position == PeakPosition::Centroid ? p.two_theta_centroid : p.two_theta_fit;
      if (std::isnan(t)) continue;  // the profile is not a single peak
      const auto px = on_image(t, p.chi);
      if (!px) continue;
      points.push_back(
          {rp.layout->target.line, (*px)[0], (*px)[1], t, p.chi, p.height, p.fwhm, p.snr, position});
    }
    if (static_cast<int>(points.size()) < opt.min_points_per_ring) continue;
    out.insert(out.end(), points.begin(), points.end());
  }
  return out;
}

}  // namespace anvil::calibration
