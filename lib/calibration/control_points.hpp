// Control points: where each expected calibrant ring actually is on the image.
//
// For each ring, the pixels within a radial window around its predicted 2θ are split into
// azimuthal sectors; each sector gives a mean-intensity profile in 2θ (means, not sums, so the
// growth of pixel count with radius does not pull the peak outward). A sector's control point
// is placed on the detector at the sector's mean χ and the 2θ of its peak, found two ways: the
// centre of a pseudo-Voigt + linear background fitted to the whole profile (sub-pixel: the bins
// are a quarter pixel wide and each holds its pixels' mean 2θ), and the background-subtracted
// centroid of the bins above 15 % of the peak. On smooth rings the fit is several times closer to
// the truth (the centroid locks towards pixel centres); on coarse-grained rings (spots along the
// ring at slightly different radii) the centroid, which averages the spots, scatters less. By
// default (PeakPosition::Auto) one of the two is taken for the whole image: the one whose points
// differ less between neighbouring sectors. A sector is rejected when its peak is weak
// (signal/noise), lies at the window's edge (the ring is elsewhere or a neighbour leaks in),
// falls on masked pixels (module gaps, beamstop), or — for the fit — its profile does not fit a
// single peak inside that extent.
// Per ring, points much brighter than the ring's median (single-crystal / diamond spots) or much
// wider or narrower than its median width are rejected, and rings with too few points dropped.
#pragma once

#include <span>
#include <vector>

#include "core/image.hpp"
#include "geometry/geometry.hpp"

namespace anvil::calibration {

// One ring to look for: the calibrant line index, its expected 2θ and the half-width of the
// radial search window (both rad).
struct RingTarget {
  int line = -1;
  double two_theta_rad = 0.0;
  double half_window_rad = 0.0;
};

// How a sector's profile gives the ring's position.
enum class PeakPosition {
  Auto,        // for the whole image, whichever of the two below scatters less between neighbouring
               // sectors (default)
  ProfileFit,  // centre of a pseudo-Voigt + linear background fitted to the whole window
  Centroid,    // background-subtracted centroid of the bins above 15 % of the peak
};

struct ControlPoint {
  int line = -1;    // calibrant line index (CalibrantLine order)
  double d1 = 0.0;  // pixel-index coordinates (row, column) of the point on the ring
  double d2 = 0.0;
  double two_theta_rad = 0.0;  // observed, under the geometry used to pick it
  double chi_rad = 0.0;
  double height = 0.0;                               // peak above background (mean counts per pixel)
  double fwhm_rad = 0.0;                             // in 2θ
  double snr = 0.0;                                  // height / background noise
  PeakPosition position = PeakPosition::ProfileFit;  // how two_theta_rad was found (never Auto)
};

struct PickOptions {
  PeakPosition position = PeakPosition::Auto;
  double sector_arc_px = 8.0;  // target arc length of one azimuthal sector
  int min_sectors = 12;
  int max_sectors = 360;
  double bin_px = 0.25;              // radial bin width, in pixel-equivalents of 2θ
  int max_bins = 80;                 // per sector profile (wide windows get coarser bins)
  double min_snr = 4.0;              // peak height / background noise
  double max_masked_fraction = 0.2;  // of the peak's pixels
  double spot_factor = 5.0;          // reject points brighter than this × the ring median
  double width_factor = 2.5;         // reject points wider/narrower than this × the ring median
  int min_points_per_ring = 5;
};

// A peak on a straight background, fitted by weighted least squares (Levenberg–Marquardt):
//   y(x) = a + b·(x − x̄) + h·[η·L(x) + (1 − η)·G(x)],
//   G = exp(−4·ln2·(x − x0)²/Γ²),  L = 1 / (1 + 4·(x − x0)²/Γ²),  0 ≤ η ≤ 1,  Γ > min_fwhm,
// x̄ the weighted mean of x. Weights are 1/variance up to a common factor (e.g. the pixel count
// of each mean); the centre's σ is scaled by the fit's own residual variance. Six parameters, a
// few dozen points: a small Gauss–Newton/LM on Eigen, a few µs per sector.
struct PeakProfileStart {
  double center = 0.0, fwhm = 1.0, height = 1.0, background = 0.0, slope = 0.0;
};
struct PeakProfileFit {
  bool ok = false;  // converged to a finite peak with h > 0 and Γ inside (min_fwhm, span of x)
  double center = 0.0, fwhm = 0.0, height = 0.0, eta = 0.0, background = 0.0, slope = 0.0;
  double center_sigma = 0.0;
  int iterations = 0;
};
PeakProfileFit fit_peak_profile(std::span<const double> x, std::span<const double> y,
                                std::span<const double> weight, const PeakProfileStart& start,
                                double min_fwhm = 0.0);

// Pixel positions for one geometry, computed once and shared between the picking passes.
struct PixelMaps {
  Image<double> two_theta;  // rad
  Image<double> chi;        // rad, in [−π, π]
};
PixelMaps pixel_maps(const geometry::Geometry& g);

// The radial size of one pixel in 2θ at angle two_theta_rad, for an untilted detector.
double pixel_two_theta(const geometry::Geometry& g, double two_theta_rad);

// Control points of every target ring. `mask` (1 = excluded; may be empty) must already hold
// the detector's invalid pixels; NaN pixels are skipped. Targets must not overlap.
std::vector<ControlPoint> pick_control_points(const ImageF& image, const Mask& mask,
                                              const geometry::Geometry& g, const PixelMaps& maps,
                                              std::span<const RingTarget> targets,
                                              const PickOptions& options = {});

}  // namespace anvil::calibration
