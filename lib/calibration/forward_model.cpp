#include "calibration/forward_model.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calibration/ring_model.hpp"

namespace anvil::calibration {

double TwoThetaPattern::at(double t) const {
  const double x = (t - two_theta_start_rad) / step_rad;
  if (!(x >= 0) || x >= static_cast<double>(intensity.size()) - 1) return 0.0;
  const auto i = static_cast<std::size_t>(x);
  const double f = x - static_cast<double>(i);
  return intensity[i] * (1 - f) + intensity[i + 1] * f;
}

TwoThetaPattern calibrant_pattern(std::span<const CalibrantLine> lines, double wavelength_m,
                                  const RingPatternSettings& s) {
  TwoThetaPattern p;
  p.two_theta_start_rad = 0.0;
  p.step_rad = std::min(1e-5, s.fwhm_rad / 20);
  const auto n = static_cast<std::size_t>(s.max_two_theta_rad / p.step_rad) + 2;
  p.intensity.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    p.intensity[i] = std::max(0.0, s.background + s.background_slope * i * p.step_rad);
  const double sigma = s.fwhm_rad / (2 * std::sqrt(2 * std::log(2.0)));
  for (const auto& l : lines) {
    const double t0 = geometry::two_theta_from_d_spacing(l.d_angstrom, wavelength_m);
    if (std::isnan(t0) || t0 > s.max_two_theta_rad) continue;
    const double h = s.peak_counts * l.multiplicity / 8.0;
    const auto lo = static_cast<std::size_t>(std::max(0.0, (t0 - 6 * sigma) / p.step_rad));
    const auto hi = std::min(n - 1, static_cast<std::size_t>((t0 + 6 * sigma) / p.step_rad) + 1);
    for (std::size_t i = lo; i <= hi; ++i) {
      const double x = (i * p.step_rad - t0) / sigma;
      p.intensity[i] += h * std::exp(-0.5 * x * x);
    }
  }
  return p;
}

ImageF project_pattern(const geometry::Geometry& g, const TwoThetaPattern& pattern, int supersample) {
  const Shape shape = g.detector.shape;
  ImageF img(shape, 0.0f);
  double par[kGeometryParameterCount];
  geometry_parameters(g, par);
  const int m = std::max(1, supersample);
  tbb::parallel_for(std::size_t{0}, shape.rows, [&](std::size_t r) {
    for (std::size_t c = 0; c < shape.cols; ++c) {
      double sum = 0;
      for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b) {
          const double d1 = r - 0.5 + (a + 0.5) / m, d2 = c - 0.5 + (b + 0.5) / m;
          sum += pattern.at(model_two_theta(par, detector_point(g.detector, d1, d2), g.detector.pixel1_m,
                                            g.detector.pixel2_m));
        }
      img(r, c) = static_cast<float>(sum / (m * m));
    }
  });
  return img;
}

void add_poisson_noise(ImageF& image, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (float& v : image.pixels) {
    if (!(v > 0)) continue;
    std::poisson_distribution<long> d(v);
    v = static_cast<float>(d(rng));
  }
}

}  // namespace anvil::calibration
