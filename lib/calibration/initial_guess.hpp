// A first geometry from nothing but the image, the detector, the wavelength and the calibrant.
//
// 1. Beam centre: the point about which the image is most radially symmetric. For a candidate
//    centre the pixels are binned by radius; the score is the fraction of the image's variance
//    that the radial mean profile explains (adjusted R², i.e. 1 − within-bin variance / total
//    variance): at the true centre rings are sharp and the profile explains most of the image,
//    off it the rings smear. Coarse-to-fine over block-averaged images (√ of the clipped counts,
//    so a few hot pixels or spots do not dominate). Works for arcs: the centre may lie near or
//    beyond an edge.
// 2. Ring radii: peaks of the radial profile about that centre, above a rolling-minimum
//    background.
// 3. Distance: for an untilted detector r = D·tan 2θ, so every pairing of an observed peak with a
//    calibrant line proposes a D; the D that explains the most observed peaks while predicting
//    the fewest lines that are not seen wins (the second term breaks the scale ambiguities of
//    fcc and lamellar line series, D ↔ 2D), then D is least-squares refined on the matches.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "calibration/calibrant.hpp"
#include "core/image.hpp"

namespace anvil::calibration {

// Background under a radial profile: the rolling minimum over ±half_width bins, then the rolling
// mean of that minimum; NaN where the profile is NaN (no pixels).
std::vector<double> rolling_background(const std::vector<double>& profile, int half_width);

struct CenterSearch {
  std::optional<std::array<double, 2>> around;  // pixel-index (d1, d2); nullopt: the whole image
  double radius_px = 40.0;                      // half-size of the search box around `around`
};

struct CenterEstimate {
  std::array<double, 2> center{};  // pixel-index (d1, d2)
  double score = 0.0;              // fraction of the image variance the radial profile explains
  bool at_search_edge = false;     // the best centre lies on the border of the search box
};

// `mask`: 1 = excluded (may be empty). NaN pixels are ignored.
CenterEstimate find_beam_center(const ImageF& image, const Mask& mask, const CenterSearch& search = {});

struct RadialPeak {
  double r_px = 0.0;    // from the centre, pixels
  double height = 0.0;  // above the background, mean counts per pixel
  double snr = 0.0;
};

struct RadialProfilePeaks {
  std::vector<RadialPeak> peaks;  // by increasing radius
  double r_min_px = 0.0;          // the radii with valid pixels
  double r_max_px = 0.0;
};

RadialProfilePeaks radial_profile_peaks(const ImageF& image, const Mask& mask,
                                        const std::array<double, 2>& center, double min_snr = 6.0);

struct DistanceEstimate {
  double dist_m = 0.0;
  double explained_fraction = 0.0;  // of the observed peaks, matched to a line
  double missing_fraction = 0.0;    // of the lines predicted among the peaks, not observed
  int matched = 0;
  std::vector<std::pair<int, int>> matches;  // (peak index, line index)
};

// The distance that best maps the calibrant's lines onto the observed ring radii; nullopt when
// no distance in [dist_min_m, dist_max_m] explains at least two peaks.
std::optional<DistanceEstimate> estimate_distance(const RadialProfilePeaks& peaks,
                                                  std::span<const CalibrantLine> lines, double wavelength_m,
                                                  double pixel_m, double dist_min_m = 0.0,
                                                  double dist_max_m = 1e9);

}  // namespace anvil::calibration
