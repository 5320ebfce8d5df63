// Forward projection: a 1D powder pattern onto a detector through a geometry, for synthetic
// calibrant images with a known answer (tests, benchmarks, the documentation's accuracy table).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "calibration/calibrant.hpp"
#include "core/image.hpp"
#include "geometry/geometry.hpp"

namespace anvil::calibration {

// A 1D pattern on a uniform 2θ grid: intensity[i] at two_theta_start_rad + i·step_rad.
struct TwoThetaPattern {
  double two_theta_start_rad = 0.0;
  double step_rad = 1e-5;
  std::vector<double> intensity;
  double at(double two_theta_rad) const;  // linear interpolation, 0 outside
};

struct RingPatternSettings {
  double fwhm_rad = 5e-4;         // Gaussian rings
  double peak_counts = 1000.0;    // height of a multiplicity-8 ring (heights ∝ multiplicity)
  double background = 20.0;       // flat
  double background_slope = 0.0;  // added background per rad of 2θ (air scatter falling off: < 0)
  double max_two_theta_rad = 1.2;
};

// Gaussian rings at the calibrant lines' 2θ for this wavelength.
TwoThetaPattern calibrant_pattern(std::span<const CalibrantLine> lines, double wavelength_m,
                                  const RingPatternSettings& settings);

// Each pixel takes the pattern's mean over supersample × supersample points spread over it.
ImageF project_pattern(const geometry::Geometry& g, const TwoThetaPattern& pattern, int supersample = 3);

// Replace every pixel by a Poisson draw with that mean (deterministic for a seed).
void add_poisson_noise(ImageF& image, std::uint64_t seed);

}  // namespace anvil::calibration
