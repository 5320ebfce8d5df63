// The calibration's diagnostic picture (PLplot, PNG through the cairo driver): the calibrant
// image on a log scale with the fitted rings and the control points drawn over it, and the
// control points' 2θ residuals against 2θ.
#pragma once

#include <string>

#include "calibration/calibrate.hpp"
#include "core/image.hpp"

namespace anvil::cli {

// Writes `path` (PNG). Throws InputError when PLplot cannot write it.
void plot_calibration(const std::string& path, const ImageF& image, const Mask& mask,
                      const std::vector<calibration::CalibrantLine>& lines,
                      const calibration::CalibrationResult& result, const std::string& title);

}  // namespace anvil::cli
