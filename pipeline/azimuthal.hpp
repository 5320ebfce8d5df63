// A detector's azimuthal integration for a whole scan: geometry + masks + dark/flat + bins,
// built once, then applied to every frame (one CSR mat-vec each). This is where the pyFAI
// geometry (lib/geometry) meets the integration engine (lib/integrate).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/image.hpp"
#include "core/pattern.hpp"
#include "geometry/geometry.hpp"
#include "geometry/poni.hpp"
#include "integrate/integrator.hpp"
#include "io/frame_source.hpp"

namespace anvil::pipeline {

struct IntegrationSettings {
  RadialUnit unit = RadialUnit::QInvNm;
  std::size_t radial_bins = 1000;
  std::size_t azimuth_bins = 0;  // > 0: a 2D cake
  integrate::PixelSplit split = integrate::PixelSplit::bbox;
  integrate::ErrorModel error_model = integrate::ErrorModel::poisson;
  bool correct_solid_angle = true;
  std::optional<double> polarization_factor;          // e.g. 0.99 for a horizontally polarised beam
  std::optional<integrate::Range> radial_range;       // in `unit`
  std::optional<integrate::Range> azimuth_range_deg;  // χ, degrees
  std::optional<double> sigma_clip;                   // threshold (σ); rejects diamond spots
  int sigma_clip_iterations = 5;
  std::optional<integrate::Range> median_quantiles;  // e.g. {0.2, 0.8}: trimmed mean per bin
};

// The geometry of frames read with `flips`, from a .poni of any version and an optional
// detector preset that replaces the .poni's detector but keeps its orientation; the note says
// how the .poni's orientation was read (geometry::geometry_for_frames).
geometry::FramesGeometry frame_geometry(const std::string& poni, const std::string& detector_preset,
                                        geometry::ImageFlips flips);

// Pixel splitting by name: "no"/"none", "bbox" (pyFAI's "csr" too), "full"; nullopt otherwise.
std::optional<integrate::PixelSplit> parse_pixel_split(std::string_view name);
// Error model by name: "poisson", "azimuthal", "none"; nullopt otherwise.
std::optional<integrate::ErrorModel> parse_error_model(std::string_view name);

// Throws InputError (source "integration settings") for settings no integration can honour:
// a polarisation factor outside [-1, 1] or not finite, a sigma-clip threshold that is not a
// positive finite number, quantiles not 0 <= q1 < q2 <= 1, zero or absurd bin counts (more than
// 10^6 radial bins, 36000 χ bins, 10^8 cells), non-finite ranges. The CLI and the scan
// description check the same earlier, naming their option or key.
void validate(const IntegrationSettings& settings);

// A 2D cake: intensity[azimuth][radial] as pyFAI returns it (rows = χ bins).
struct Cake {
  RadialUnit unit = RadialUnit::QInvNm;
  std::vector<double> radial;     // bin centres in `unit`
  std::vector<double> chi_deg;    // bin centres
  std::vector<double> intensity;  // chi_deg.size() × radial.size(), row-major
  std::vector<double> sigma;
};

// A frame's pixels as integrate reads them, without a copy: row-major float32, the detector's
// invalid pixels (1 = no measurement; empty: none), and where they come from (for errors).
struct PixelsView {
  Shape shape;
  std::span<const float> pixels;
  std::span<const std::uint8_t> invalid;
  std::string_view origin;
  std::size_t index = 0;
};

class DetectorIntegrator {
 public:
  // `mask` (1 = excluded) may be empty; the detector's module gaps are added when the
  // geometry names a known detector. `dark`/`flat` may be null. The geometry's detector
  // shape must equal the frames' (`frame_shape`); a generic detector takes it.
  // Throws InputError for nonsense: zero wavelength or distance, shape mismatches, an empty
  // radial range, a range outside the detector.
  DetectorIntegrator(geometry::Geometry geometry, Shape frame_shape, const Mask& mask,
                     const IntegrationSettings& settings, const ImageF* dark = nullptr,
                     const ImageF* flat = nullptr);

  const IntegrationSettings& settings() const { return settings_; }
  const geometry::Geometry& geometry() const { return geometry_; }
  const integrate::Integrator& integrator() const { return integrator_; }
  const Mask& static_mask() const { return mask_; }

  // Bin centres in the output unit.
  std::vector<double> radial_axis() const;

  Pattern1D integrate(const io::Frame& frame) const;  // 1D (settings.azimuth_bins == 0)
  Cake integrate_cake(const io::Frame& frame) const;  // 2D (settings.azimuth_bins > 0)
  // The same on pixels held elsewhere (a NumPy array): no copy.
  Pattern1D integrate(const PixelsView& frame) const;
  Cake integrate_cake(const PixelsView& frame) const;
  // Several frames at once (1D): the pixel-to-bin table is streamed once for up to four frames
  // and the frames are spread over the calling TBB arena's threads — several times the
  // throughput of one call per frame; each frame's pattern is the same to the last bit.
  std::vector<Pattern1D> integrate(std::span<const PixelsView> frames) const;
  static PixelsView view(const io::Frame& frame);

  // A one-line description of the method for file headers.
  std::string describe() const;

 private:
  integrate::IntegrationResult run(const PixelsView& frame) const;
  Pattern1D to_pattern(const integrate::IntegrationResult& r) const;

  geometry::Geometry geometry_;
  IntegrationSettings settings_;
  Mask mask_;
  integrate::Integrator integrator_;
  integrate::PreparedCorrections corrections_;
  double output_scale_ = 1.0;  // internal positions (q nm⁻¹, 2θ rad) to the output unit
};

}  // namespace anvil::pipeline
