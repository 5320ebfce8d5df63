// q calibration from a lamellar standard of known period (cholesteryl palmitate, silver behenate):
// its orders 00l sit at q = 2πl/d, so the measured positions give the map q_true = scale·q + offset
// that puts them there (the offset only with three or more orders).
#pragma once

#include <vector>

#include "core/pattern.hpp"
#include "saxs/analysis.hpp"

namespace anvil::saxs {

struct QCalibration {
  double d_nm = 0;  // the standard's period
  double scale = 1, scale_esd = 0;
  double offset_inv_nm = 0, offset_esd_inv_nm = 0;
  std::vector<int> orders;                 // the 00l orders used
  std::vector<double> q_measured, q_true;  // nm⁻¹
  double rms_residual_inv_nm = 0;          // after the fit
  double d_measured_nm = 0;                // the period the uncalibrated pattern gives

  double apply(double q) const { return scale * q + offset_inv_nm; }
};

// Indexes `standard` as lamellar (with `settings`, lattices overridden) and fits the map. Throws
// InputError when no lamellar series of at least two orders is found or d is not positive.
QCalibration calibrate_q_lamellar(const Pattern1D& standard, double d_nm, const SaxsSettings& settings);

// The pattern with its q axis mapped (converted to nm⁻¹ first).
Pattern1D apply_q_calibration(const Pattern1D& pattern, const QCalibration& calibration);

}  // namespace anvil::saxs
