// Pixel splitting: how much of each pixel lands in each bin (pyFAI splitBBox_common.pyx,
// splitpixel_common.pyx, regrid_common.pxi). Used by the Integrator while building its matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace anvil::integrate::detail {

// pyFAI's EPS32 = 1 + float32 machine epsilon: the upper bound of a range is stretched by it
// so that the largest position still falls inside the last bin.
inline constexpr double kEps32 = 1.0 + static_cast<double>(std::numeric_limits<float>::epsilon());
// π as pyFAI stores it (a C float), used to clip the azimuthal range of cakes.
inline constexpr double kPiFloat = static_cast<double>(static_cast<float>(3.14159265358979323846));

inline double upper_bound(double maximum) { return maximum > 0 ? maximum * kEps32 : maximum / kEps32; }

// Bin axis: bins of width delta from `min`.
struct Axis {
  double min = 0;
  double max_in = 0;  // largest position before stretching (pyFAI pos0_maxin)
  double max = 0;     // upper_bound(max_in)
  double delta = 1;
  std::size_t bins = 1;
  double bin_number(double x) const { return (x - min) / delta; }  // fractional bin
};

// One contribution of a pixel to a bin, produced pixel by pixel.
struct Entry {
  std::uint32_t row;
  float weight;
};

// Accumulates 1D full-split polygon areas into a float buffer, exactly as pyFAI's
// _integrate1d: the signed area under the segment (start0,start1)→(stop0,stop1), x in bins.
void integrate_segment(std::vector<float>& buffer, double start0, double start1, double stop0, double stop1);

// pyFAI's _recenter: a pixel whose corners straddle the χ discontinuity (positive algebraic
// area) gets its azimuths unwrapped by 2π. Modifies chi[4] in place.
void recenter_azimuth(const double rad[4], double chi[4]);

}  // namespace anvil::integrate::detail
