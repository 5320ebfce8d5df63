#include "integrate/splitting.hpp"

#include <cmath>

namespace anvil::integrate::detail {

namespace {

// Area under y = slope·x + intercept between x = i1 and x = i2 (pyFAI _calc_area).
inline double area_under(double i1, double i2, double slope, double intercept) {
  return (i2 - i1) * (0.5 * slope * (i2 + i1) + intercept);
}

inline void add(std::vector<float>& buffer, std::ptrdiff_t i, double value) {
  buffer[static_cast<std::size_t>(i)] = static_cast<float>(buffer[static_cast<std::size_t>(i)] + value);
}

constexpr double kTwoPi = 2.0 * 3.14159265358979323846;

}  // namespace

void integrate_segment(std::vector<float>& buffer, double start0, double start1, double stop0, double stop1) {
  if (stop0 == start0) return;  // vertical segment: no area
  const auto size = static_cast<std::ptrdiff_t>(buffer.size());
  const auto istart0 = static_cast<std::ptrdiff_t>(std::floor(start0));
  const auto istop0 = static_cast<std::ptrdiff_t>(std::floor(stop0));
  const double slope = (stop1 - start1) / (stop0 - start0);
  const double intercept = start1 - slope * start0;

  if (istop0 == istart0 && istart0 >= 0 && istart0 < size) {
    add(buffer, istart0, area_under(start0, stop0, slope, intercept));
    return;
  }
  if (stop0 > start0) {
    if (start0 >= 0 && start0 < static_cast<double>(size))
      add(buffer, istart0, area_under(start0, std::floor(start0 + 1), slope, intercept));
    for (std::ptrdiff_t i = std::max<std::ptrdiff_t>(istart0 + 1, 0); i < std::min(istop0, size); ++i)
      add(buffer, i, area_under(static_cast<double>(i), static_cast<double>(i + 1), slope, intercept));
    if (stop0 >= 0 && stop0 < static_cast<double>(size))
      add(buffer, istop0, area_under(static_cast<double>(istop0), stop0, slope, intercept));
  } else {
    if (start0 >= 0 && start0 < static_cast<double>(size))
      add(buffer, istart0, area_under(start0, static_cast<double>(istart0), slope, intercept));
    const std::ptrdiff_t last = std::max<std::ptrdiff_t>(istop0, -1);
    for (std::ptrdiff_t i = std::min(istart0, size) - 1; i > last; --i)
      add(buffer, i, area_under(static_cast<double>(i + 1), static_cast<double>(i), slope, intercept));
    if (stop0 >= 0 && stop0 < static_cast<double>(size))
      add(buffer, istop0, area_under(std::floor(stop0 + 1), stop0, slope, intercept));
  }
}

void recenter_azimuth(const double rad[4], double chi[4]) {
  // pyFAI's area4p (an approximate algebraic area, kept as written there so that the same
  // pixels are detected): negative for ordinary pixels, positive across the discontinuity.
  const auto area = [&] {
    return 0.5 * ((rad[2] - rad[0]) * (chi[3] - chi[1])) - ((chi[2] - chi[0]) * (rad[3] - rad[1]));
  };
  if (area() <= 0) return;
  double center = 0;
  for (int k = 0; k < 4; ++k) {
    if (chi[k] < 0) chi[k] += kTwoPi;
    center += 0.25 * chi[k];
  }
  if (center > 0.5 * kTwoPi)
    for (int k = 0; k < 4; ++k) chi[k] -= kTwoPi;
}

}  // namespace anvil::integrate::detail
