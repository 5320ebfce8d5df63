// Azimuthal integration with a precomputed sparse matrix, reproducing pyFAI 0.21.3 bin by bin.
//
// The integrator is built once from per-pixel positions (radial unit of the caller's choice,
// azimuth chi in radians), a static mask and the binning; pixel splitting happens while the
// CSR matrix is built. Each frame is then one fused preprocessing + sparse mat-vec.
// The integrator knows nothing about detector geometry: lib/geometry (or a test) supplies the
// positions. Formulas and their pyFAI counterparts are in docs/integration.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/image.hpp"
#include "integrate/csr.hpp"
#include "integrate/result.hpp"

namespace anvil::integrate {

// Per-pixel positions. `radial` and `azimuth` are pixel centres; the corner arrays hold 4
// values per pixel in pyFAI's corner order (i,j), (i+1,j), (i+1,j+1), (i,j+1) with the
// corner (i,j) at the pixel's top-left. Corners are needed by bbox and full splitting only;
// `azimuth` by 2D cakes and azimuth ranges.
struct PixelPositions {
  Shape shape;
  std::vector<double> radial;          // e.g. q in nm^-1, or 2θ in rad
  std::vector<double> azimuth;         // χ in rad, in [-π, π)
  std::vector<double> corner_radial;   // 4 per pixel
  std::vector<double> corner_azimuth;  // 4 per pixel, rad
};

// How a pixel is shared between bins (pyFAI's "split" axis of the method).
enum class PixelSplit {
  none,  // pixel centre only (pyFAI ("no", "histogram"))
  bbox,  // bounding box of the pixel, uniform density (pyFAI ("bbox", "csr"))
  full,  // exact polygon of the 4 corners (pyFAI ("full", "csr")); 1D only
};

struct Range {
  double min = 0.0;
  double max = 0.0;
};

struct Binning {
  std::size_t radial_bins = 1000;
  std::size_t azimuth_bins = 0;  // 0: 1D pattern; > 0: 2D cake (radial × azimuth)
  PixelSplit split = PixelSplit::bbox;
  std::optional<Range> radial_range;       // in the unit of PixelPositions::radial
  std::optional<Range> azimuth_range_rad;  // restricts a 1D pattern, or the cake's χ range
  bool allow_negative_radial = false;      // pyFAI's allow_pos0_neg
};

// Static per-pixel corrections; each vector is empty (no correction) or one value per pixel.
// Intensities are divided by solid_angle × polarization × flat; dark is subtracted.
struct Corrections {
  std::vector<float> solid_angle;
  std::vector<float> polarization;
  std::vector<float> flat;
  std::vector<float> dark;
};

// Corrections folded once per scan: the product of the normalisations and the dark.
class PreparedCorrections {
 public:
  PreparedCorrections() = default;
  PreparedCorrections(std::size_t pixel_count, const Corrections& corrections);
  std::span<const float> normalization() const { return normalization_; }  // empty = 1
  std::span<const float> dark() const { return dark_; }                    // empty = 0
  // Identifies the content (copies share it): the integrator caches per-corrections sums by it.
  std::uint64_t id() const { return id_; }

 private:
  std::vector<float> normalization_;
  std::vector<float> dark_;
  std::uint64_t id_ = 0;  // 0: no corrections
};

namespace detail {
struct StaticSumsCache;
}

enum class ErrorModel {
  none,       // no variance
  variance,   // FrameInput::variance given by the caller
  poisson,    // variance = max(1, raw) (+ dark when subtracted)
  azimuthal,  // spread of the normalised pixel values within the bin
};

// One frame: raw counts, optionally a per-frame invalid mask (1 = invalid) and variance.
struct FrameInput {
  std::span<const float> pixels;
  std::span<const std::uint8_t> invalid = {};
  std::span<const float> variance = {};
  float normalization_factor = 1.0f;  // monitor: multiplies every pixel's normalisation
};

struct IntegrateOptions {
  ErrorModel error_model = ErrorModel::poisson;
  double empty = 0.0;  // intensity and σ of bins nothing contributes to
};

// pyFAI sigma_clip_ng: per bin, iteratively reject pixels whose normalised value is further
// than thres·σ from the bin mean, then integrate the survivors.
struct SigmaClipOptions {
  double threshold = 5.0;  // "thres"; the Chauvenet cut-off is used when it is larger
  int max_iterations = 5;  // "max_iter"
  ErrorModel error_model = ErrorModel::azimuthal;
  double empty = 0.0;
};

// pyFAI medfilt1d_ng: per bin, sort pixels by normalised value and average those whose
// cumulative weight lies within [quantile_min, quantile_max] of the bin's total weight.
struct MedianFilterOptions {
  double quantile_min = 0.5;
  double quantile_max = 0.5;
  ErrorModel error_model = ErrorModel::poisson;
  double empty = 0.0;
};

class Integrator {
 public:
  // `mask` (1 = excluded) may be null. Throws InputError for inconsistent inputs.
  Integrator(const PixelPositions& positions, const Mask* mask, const Binning& binning);

  const Binning& binning() const { return binning_; }
  Shape shape() const { return shape_; }
  const CsrMatrix& matrix() const { return matrix_; }
  std::size_t bin_count() const { return matrix_.rows(); }
  bool is_cake() const { return binning_.azimuth_bins > 0; }

  // Bin centres: min + (i + 0.5)·δ, δ = (max − min)/bins, max = upper bound of the range.
  const std::vector<double>& radial_centers() const { return radial_centers_; }
  const std::vector<double>& azimuth_centers_rad() const { return azimuth_centers_; }
  Range radial_bounds() const { return radial_bounds_; }    // [min, max) of the bins
  Range azimuth_bounds() const { return azimuth_bounds_; }  // rad; cakes only

  IntegrationResult integrate(const FrameInput& frame, const PreparedCorrections& corrections = {},
                              const IntegrateOptions& options = {}) const;

  // Several frames at once, spread over the calling TBB arena's threads; results are
  // bit-identical whatever the number of threads.
  std::vector<IntegrationResult> integrate_frames(std::span<const FrameInput> frames,
                                                  const PreparedCorrections& corrections = {},
                                                  const IntegrateOptions& options = {}) const;

  IntegrationResult sigma_clip(const FrameInput& frame, const PreparedCorrections& corrections,
                               const SigmaClipOptions& options) const;

  IntegrationResult median_filter(const FrameInput& frame, const PreparedCorrections& corrections,
                                  const MedianFilterOptions& options) const;

 private:
  Binning binning_;
  Shape shape_;
  CsrMatrix matrix_;
  std::vector<double> radial_centers_;
  std::vector<double> azimuth_centers_;
  Range radial_bounds_;
  Range azimuth_bounds_;
  // Rows each pixel contributes to: [lo, hi] (lo > hi: none). Used to re-integrate, with the
  // exact per-pixel checks, the rows touched by a frame's invalid pixels.
  std::vector<std::uint32_t> pixel_row_lo_, pixel_row_hi_;
  // The same matrix pixel by pixel, for 1D patterns (the per-frame kernel streams the frame and
  // scatters into the bins): per pixel, first bin (low 16 bits) and number of consecutive bins
  // (high 16 bits); their weights follow pixel after pixel (zeros fill holes). No weights when
  // every pixel goes whole into one bin (no splitting). Empty: the kernel gathers along rows.
  std::vector<std::uint32_t> scatter_bins_;
  std::vector<float> scatter_weights_;
  bool scatter_unit_ = false;
  // Frame-independent sums (Σc·norm, Σ(c·norm)², Σc) per corrections, computed on first use.
  std::shared_ptr<detail::StaticSumsCache> static_sums_;
};

}  // namespace anvil::integrate
