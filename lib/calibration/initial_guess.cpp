#include "calibration/initial_guess.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace anvil::calibration {

std::vector<double> rolling_background(const std::vector<double>& profile, int half_width) {
  const int n = static_cast<int>(profile.size());
  std::vector<double> mn(profile.size(), std::nan("")), bg(profile.size(), std::nan(""));
  for (int b = 0; b < n; ++b) {
    if (std::isnan(profile[b])) continue;
    double m = profile[b];
    for (int k = std::max(0, b - half_width); k <= std::min(n - 1, b + half_width); ++k)
      if (!std::isnan(profile[k])) m = std::min(m, profile[k]);
    mn[b] = m;
  }
  for (int b = 0; b < n; ++b) {
    if (std::isnan(profile[b])) continue;
    double s = 0;
    int c = 0;
    for (int k = std::max(0, b - half_width); k <= std::min(n - 1, b + half_width); ++k)
      if (!std::isnan(mn[k])) {
        s += mn[k];
        ++c;
      }
    bg[b] = s / c;
  }
  return bg;
}

namespace {

// Valid (block-averaged) pixels as a flat list, for the many passes of the centre search.
struct Samples {
  std::vector<float> d1, d2, v;
  double sum = 0.0, sum2 = 0.0;
};

bool valid_pixel(const ImageF& image, const Mask& mask, std::size_t i) {
  return !std::isnan(image.pixels[i]) && (mask.pixels.empty() || mask.pixels[i] == 0);
}

double clip_level(const ImageF& image, const Mask& mask) {
  std::vector<float> sample;
  const std::size_t n = image.pixels.size();
  const std::size_t step = std::max<std::size_t>(1, n / 200000);
  for (std::size_t i = 0; i < n; i += step)
    if (valid_pixel(image, mask, i)) sample.push_back(image.pixels[i]);
  if (sample.empty()) return 0.0;
  const auto k = sample.begin() + static_cast<std::ptrdiff_t>(0.995 * (sample.size() - 1));
  std::nth_element(sample.begin(), k, sample.end());
  return std::max(0.0f, *k);
}

Samples block_samples(const ImageF& image, const Mask& mask, int f, double clip) {
  Samples s;
  const std::size_t rows = image.rows(), cols = image.cols();
  for (std::size_t r0 = 0; r0 < rows; r0 += f)
    for (std::size_t c0 = 0; c0 < cols; c0 += f) {
      double sum = 0;
      int n = 0, total = 0;
      for (std::size_t r = r0; r < std::min(rows, r0 + f); ++r)
        for (std::size_t c = c0; c < std::min(cols, c0 + f); ++c) {
          ++total;
          const std::size_t i = r * cols + c;
          if (!valid_pixel(image, mask, i)) continue;
          sum += std::sqrt(std::clamp(static_cast<double>(image.pixels[i]), 0.0, clip));
          ++n;
        }
      if (n * 2 < total || n == 0) continue;
      const double v = sum / n;
      s.d1.push_back(static_cast<float>(r0 + 0.5 * (std::min(rows, r0 + f) - r0) - 0.5));
      s.d2.push_back(static_cast<float>(c0 + 0.5 * (std::min(cols, c0 + f) - c0) - 0.5));
      s.v.push_back(static_cast<float>(v));
      s.sum += v;
      s.sum2 += v * v;
    }
  return s;
}

// Adjusted R² of the radial mean profile about (c1, c2), radial bins of width w pixels.
double radial_symmetry(const Samples& s, double c1, double c2, double w, std::vector<double>& sums,
                       std::vector<std::uint32_t>& counts) {
  std::fill(sums.begin(), sums.end(), 0.0);
  std::fill(counts.begin(), counts.end(), 0u);
  const std::size_t n = s.v.size();
  const double inv_w = 1.0 / w;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = s.d1[i] - c1, b = s.d2[i] - c2;
    const std::size_t bin = static_cast<std::size_t>(std::sqrt(a * a + b * b) * inv_w);
    if (bin >= sums.size()) continue;
    sums[bin] += s.v[i];
    ++counts[bin];
  }
  double between = 0;
  std::size_t bins = 0;
  for (std::size_t k = 0; k < sums.size(); ++k)
    if (counts[k]) {
      between += sums[k] * sums[k] / counts[k];
      ++bins;
    }
  const double N = static_cast<double>(n);
  const double total = s.sum2 - s.sum * s.sum / N;
  const double within = s.sum2 - between;
  if (total <= 0 || N <= bins + 1) return 0.0;
  return 1.0 - (within / (N - bins)) / (total / (N - 1));
}

struct Level {
  int f;
  double step;
  double half_range_1, half_range_2;
};

}  // namespace

CenterEstimate find_beam_center(const ImageF& image, const Mask& mask, const CenterSearch& search) {
  const double rows = static_cast<double>(image.rows()), cols = static_cast<double>(image.cols());
  const double clip = clip_level(image, mask);
  const int f1 = std::max(1, static_cast<int>(std::lround(std::max(rows, cols) / 128.0)));
  std::array<double, 2> centre = search.around.value_or(std::array<double, 2>{rows / 2, cols / 2});
  std::vector<Level> levels;
  if (search.around) {
    const int f = std::max(1, f1 / 2);
    levels.push_back({f, static_cast<double>(f), search.radius_px, search.radius_px});
  } else {
    levels.push_back({f1, 2.0 * f1, 0.75 * rows, 0.75 * cols});
    levels.push_back({std::max(1, f1 / 2), std::max(1.0, f1 / 2.0), 3.0 * f1, 3.0 * f1});
  }
  const int fmid = std::max(1, f1 / 4);
  levels.push_back({fmid, 1.0, 2.0 * levels.back().step, 2.0 * levels.back().step});
  levels.push_back({1, 0.5, 2.0, 2.0});
  CenterEstimate best;
  bool first = true;
  for (const Level& lv : levels) {
    const Samples s = block_samples(image, mask, lv.f, clip);
    if (s.v.size() < 100) break;
    const int n1 = static_cast<int>(std::floor(lv.half_range_1 / lv.step));
    const int n2 = static_cast<int>(std::floor(lv.half_range_2 / lv.step));
    const int m1 = 2 * n1 + 1, m2 = 2 * n2 + 1;
    std::vector<double> score(static_cast<std::size_t>(m1) * m2, -1.0);
    const double w = std::max(1.0, static_cast<double>(lv.f));
    const double reach = std::hypot(rows + lv.half_range_1 + std::fabs(centre[0]),
                                    cols + lv.half_range_2 + std::fabs(centre[1]));
    const std::size_t nbins = static_cast<std::size_t>(reach / w) + 2;
    tbb::parallel_for(0, m1, [&](int i) {
      std::vector<double> sums(nbins);
      std::vector<std::uint32_t> counts(nbins);
      for (int j = 0; j < m2; ++j) {
        const double c1 = centre[0] + (i - n1) * lv.step, c2 = centre[1] + (j - n2) * lv.step;
        score[static_cast<std::size_t>(i) * m2 + j] = radial_symmetry(s, c1, c2, w, sums, counts);
      }
    });
    const auto it = std::max_element(score.begin(), score.end());
    const int k = static_cast<int>(it - score.begin());
    const int bi = k / m2, bj = k % m2;
    centre = {centre[0] + (bi - n1) * lv.step, centre[1] + (bj - n2) * lv.step};
    best.score = *it;
    if (first && search.around) best.at_search_edge = bi == 0 || bi == m1 - 1 || bj == 0 || bj == m2 - 1;
    first = false;
  }
  best.center = centre;
  return best;
}

RadialProfilePeaks radial_profile_peaks(const ImageF& image, const Mask& mask,
                                        const std::array<double, 2>& center, double min_snr) {
  RadialProfilePeaks out;
  const std::size_t rows = image.rows(), cols = image.cols();
  const double w = 1.0;
  double rmin = std::numeric_limits<double>::infinity(), rmax = 0;
  const double reach = std::hypot(rows + std::fabs(center[0]), cols + std::fabs(center[1]));
  const std::size_t nb = static_cast<std::size_t>(reach / w) + 2;
  std::vector<double> sum(nb, 0.0);
  std::vector<std::uint32_t> cnt(nb, 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      if (!valid_pixel(image, mask, i)) continue;
      const double rad = std::hypot(r - center[0], c - center[1]);
      const std::size_t b = static_cast<std::size_t>(rad / w);
      sum[b] += image.pixels[i];
      ++cnt[b];
      rmin = std::min(rmin, rad);
      rmax = std::max(rmax, rad);
    }
  out.r_min_px = rmin;
  out.r_max_px = rmax;
  const int n = static_cast<int>(nb);
  std::vector<double> prof(n, std::nan(""));
  for (int b = 0; b < n; ++b)
    if (cnt[b] >= 3) prof[b] = sum[b] / cnt[b];
  // Background: rolling minimum, then rolling mean of it (±H bins).
  const int H = 12;
  const std::vector<double> bg = rolling_background(prof, H);
  std::vector<double> ex(n, std::nan(""));
  for (int b = 0; b < n; ++b)
    if (!std::isnan(prof[b])) ex[b] = prof[b] - bg[b];
  // Noise from first differences (robust: rings are sparse).
  std::vector<double> diffs;
  for (int b = 1; b < n; ++b)
    if (!std::isnan(ex[b]) && !std::isnan(ex[b - 1])) diffs.push_back(std::fabs(ex[b] - ex[b - 1]));
  if (diffs.size() < 10) return out;
  const auto mid = diffs.begin() + static_cast<std::ptrdiff_t>(diffs.size() / 2);
  std::nth_element(diffs.begin(), mid, diffs.end());
  const double noise = std::max(1.4826 * *mid / std::sqrt(2.0), 1e-12);
  for (int b = 2; b < n - 2; ++b) {
    if (std::isnan(ex[b]) || ex[b] < min_snr * noise) continue;
    bool is_max = true;
    for (int k = std::max(0, b - 3); k <= std::min(n - 1, b + 3) && is_max; ++k)
      if (k != b && !std::isnan(ex[k]) && (ex[k] > ex[b] || (ex[k] == ex[b] && k < b))) is_max = false;
    if (!is_max) continue;
    double sw = 0, swr = 0;
    for (int k = b - 2; k <= b + 2; ++k)
      if (!std::isnan(ex[k]) && ex[k] > 0) {
        sw += ex[k];
        swr += ex[k] * (k + 0.5) * w;
      }
    out.peaks.push_back({swr / sw, ex[b], ex[b] / noise});
  }
  // Keep rings, not ripples: peaks weaker than 3 % of the strongest are dropped.
  double top = 0;
  for (const auto& p : out.peaks) top = std::max(top, p.height);
  std::erase_if(out.peaks, [&](const RadialPeak& p) { return p.height < 0.03 * top; });
  return out;
}

std::optional<DistanceEstimate> estimate_distance(const RadialProfilePeaks& prof,
                                                  std::span<const CalibrantLine> lines, double wavelength_m,
                                                  double pixel_m, double dist_min_m, double dist_max_m) {
  const auto& peaks = prof.peaks;
  if (peaks.size() < 2) return std::nullopt;
  std::vector<double> tan2t;
  std::vector<double> line_weight;
  for (const auto& l : lines) {
    const double s = wavelength_m * 1e10 / (2 * l.d_angstrom);
    if (s >= 1) break;
    const double tth = 2 * std::asin(s);
    if (tth > 80.0 * M_PI / 180.0) break;
    tan2t.push_back(std::tan(tth));
    line_weight.push_back(std::sqrt(static_cast<double>(std::max(1, l.multiplicity))));
  }
  if (tan2t.empty()) return std::nullopt;
  std::vector<double> r(peaks.size()), w(peaks.size());
  double wsum = 0;
  for (std::size_t j = 0; j < peaks.size(); ++j) {
    r[j] = peaks[j].r_px * pixel_m;
    w[j] = std::sqrt(peaks[j].snr);
    wsum += w[j];
  }
  auto tol = [&](double rj) { return std::max(3.0 * pixel_m, 0.015 * rj); };
  // Each observed peak is explained by its nearest line (if close enough); a line counts as
  // seen only when it is some peak's nearest line, so a dense comb of lines at a too-short
  // distance cannot claim every peak and every line at once.
  auto evaluate = [&](double D, DistanceEstimate& e) {
    e = {};
    e.dist_m = D;
    double explained = 0;
    std::vector<bool> seen(tan2t.size(), false);
    for (std::size_t j = 0; j < r.size(); ++j) {
      int best = -1;
      double bd = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < tan2t.size(); ++k) {
        const double dd = std::fabs(D * tan2t[k] - r[j]);
        if (dd < bd) {
          bd = dd;
          best = static_cast<int>(k);
        }
      }
      if (best >= 0 && bd <= tol(r[j])) {
        explained += w[j];
        seen[best] = true;
        e.matches.emplace_back(static_cast<int>(j), best);
      }
    }
    double predicted = 0, missing = 0;
    for (std::size_t k = 0; k < tan2t.size(); ++k) {
      const double rho = D * tan2t[k];
      if (rho < r.front() - tol(r.front()) || rho > r.back() + tol(r.back())) continue;
      predicted += line_weight[k];
      if (!seen[k]) missing += line_weight[k];
    }
    e.explained_fraction = explained / wsum;
    e.missing_fraction = predicted > 0 ? missing / predicted : 1.0;
    e.matched = static_cast<int>(e.matches.size());
    return e.explained_fraction - e.missing_fraction;
  };
  // Strongest peaks propose distances.
  std::vector<std::size_t> order(peaks.size());
  for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return peaks[a].snr > peaks[b].snr; });
  std::optional<DistanceEstimate> best;
  double best_score = -std::numeric_limits<double>::infinity();
  const std::size_t nprop = std::min<std::size_t>(order.size(), 8);
  const std::size_t nlines = std::min<std::size_t>(tan2t.size(), 25);
  for (std::size_t a = 0; a < nprop; ++a)
    for (std::size_t k = 0; k < nlines; ++k) {
      double D = r[order[a]] / tan2t[k];
      if (D < dist_min_m || D > dist_max_m) continue;
      DistanceEstimate e;
      double score = evaluate(D, e);
      // Least-squares D over the matches, then re-evaluate once.
      for (int iter = 0; iter < 2 && e.matched >= 2; ++iter) {
        double num = 0, den = 0;
        for (auto [j, kk] : e.matches) {
          num += r[j] * tan2t[kk];
          den += tan2t[kk] * tan2t[kk];
        }
        const double D2 = num / den;
        if (D2 < dist_min_m || D2 > dist_max_m) break;
        DistanceEstimate e2;
        const double s2 = evaluate(D2, e2);
        if (s2 + 1e-12 < score) break;
        e = e2;
        score = s2;
      }
      if (e.matched < 2) continue;
      if (score > best_score + 1e-9) {
        best_score = score;
        best = e;
      }
    }
  return best;
}

}  // namespace anvil::calibration
