#include "calibration/control_points.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

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

struct SectorPeak {
  bool ok = false;
  double two_theta = 0.0, chi = 0.0, height = 0.0, fwhm = 0.0, snr = 0.0;
};

// The peak of one sector's profile (bins b = 0..n−1 of `sums`).
SectorPeak analyse_sector(const BinSums* sums, int n, double bin_rad, const PickOptions& opt) {
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
  double w = 0, wt = 0, wc = 0, npx = 0, nmask = 0;
  for (int b = lo; b <= hi; ++b) {
    nmask += sums[b].masked;
    npx += sums[b].count;
    if (std::isnan(mean[b])) continue;
    const double e = mean[b] - (icpt + slope * b);
    if (e <= 0) continue;
    w += e;
    wt += e * tth[b];
    wc += sums[b].chi;
  }
  if (!(w > 0) || npx == 0) return out;
  if (nmask / (nmask + npx) > opt.max_masked_fraction) return out;
  out.ok = true;
  out.two_theta = wt / w;
  double chi_sum = 0;
  std::uint32_t chi_n = 0;
  for (int b = lo; b <= hi; ++b) {
    chi_sum += sums[b].chi;
    chi_n += sums[b].count;
  }
  out.chi = chi_sum / chi_n;
  out.height = h;
  out.fwhm = (hhi - hlo + 1) * bin_rad;
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
  for (const RingLayout& r : rings) {
    std::vector<ControlPoint> ring;
    for (int s = 0; s < r.sectors; ++s) {
      const SectorPeak p =
          analyse_sector(&sums[r.offset + static_cast<std::size_t>(s) * r.bins], r.bins, r.bin_rad, opt);
      if (!p.ok) continue;
      const auto px = pixel_at(g, p.two_theta, p.chi);
      if (!px || (*px)[0] < -0.5 || (*px)[1] < -0.5 || (*px)[0] > rows - 0.5 || (*px)[1] > cols - 0.5)
        continue;
      ring.push_back({r.target.line, (*px)[0], (*px)[1], p.two_theta, p.chi, p.height, p.fwhm, p.snr});
    }
    if (static_cast<int>(ring.size()) < opt.min_points_per_ring) continue;
    // Spots and odd widths, judged against the ring's own medians.
    std::vector<double> heights, widths;
    for (const auto& p : ring) {
      heights.push_back(p.height);
      widths.push_back(p.fwhm_rad);
    }
    const double hmed = median(heights), wmed = median(widths);
    std::vector<ControlPoint> kept;
    for (const auto& p : ring)
      if (p.height <= opt.spot_factor * hmed && p.fwhm_rad <= opt.width_factor * wmed &&
          p.fwhm_rad * opt.width_factor >= wmed)
        kept.push_back(p);
    if (static_cast<int>(kept.size()) < opt.min_points_per_ring) continue;
    out.insert(out.end(), kept.begin(), kept.end());
  }
  return out;
}

}  // namespace anvil::calibration
