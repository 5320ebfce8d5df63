// Absolute intensity scale from a secondary standard (glassy carbon): the factor that puts a
// measured, corrected curve onto the standard's calibrated one (1/cm). No I/O: the caller reads
// the images and the calibrated curve (pipeline/scan_outputs.cpp).
#pragma once

#include <optional>
#include <vector>

namespace anvil::saxs {

struct AbsoluteScale {
  double factor = 0;           // median over q of I_calibrated(q) / I_measured(q)
  double relative_spread = 0;  // half the interquartile range of the ratio / the median
  std::size_t points = 0;      // measured points used
  double q_min_inv_nm = 0, q_max_inv_nm = 0;
};

// `q_inv_nm`, `measured`: the standard's pattern, corrected and per unit thickness (dark, empty
// cell, transmission, monitor); `reference_q_inv_nm`, `reference`: its calibrated curve (1/cm),
// interpolated log-log at the measured q. Points outside the reference's q, outside `q_range`
// (nm⁻¹) or not positive are left out. InputError when fewer than 5 points remain or q is not
// increasing.
AbsoluteScale absolute_scale_factor(const std::vector<double>& q_inv_nm, const std::vector<double>& measured,
                                    const std::vector<double>& reference_q_inv_nm,
                                    const std::vector<double>& reference,
                                    std::optional<std::pair<double, double>> q_range = std::nullopt);

}  // namespace anvil::saxs
