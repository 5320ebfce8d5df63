// The per-bin sums of an integration and what is derived from them (pyFAI's Integrate1dtpl).
#pragma once

#include <cstddef>
#include <vector>

namespace anvil::integrate {

// Bins are ordered as the CSR rows: radial index major, azimuth index minor
// (bin = radial·azimuth_bins + azimuth) for cakes.
struct IntegrationResult {
  std::size_t radial_bins = 0;
  std::size_t azimuth_bins = 0;  // 0 for a 1D pattern

  std::vector<double> sum_signal;            // Σ c·(raw − dark)
  std::vector<double> sum_variance;          // Σ c²·variance (azimuthal: weighted spread)
  std::vector<double> sum_normalization;     // Σ c·norm
  std::vector<double> sum_normalization_sq;  // Σ (c·norm)²
  std::vector<double> count;                 // Σ c over valid pixels

  std::vector<double> intensity;  // Σsignal / Σnorm
  std::vector<double> sigma;      // standard error of the mean: sqrt(Σvariance) / Σnorm
  std::vector<double> std_dev;    // spread of pixels: sqrt(Σvariance / Σnorm²)

  std::size_t size() const { return intensity.size(); }
  // Cake accessor: value at (radial bin, azimuth bin).
  double intensity_at(std::size_t radial, std::size_t azimuth) const {
    return intensity[radial * azimuth_bins + azimuth];
  }
};

}  // namespace anvil::integrate
