#include "azimuthal.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "geometry/detector.hpp"

namespace anvil::pipeline {

namespace {

using integrate::Range;

// pyFAI integrates in an internal unit (2θ in rad, q in nm⁻¹, r in m) and scales the axis on
// output; anvil does the same so that bin edges fall exactly where pyFAI's do.
geometry::RadialUnit internal_unit(RadialUnit u) {
  switch (u) {
    case RadialUnit::TwoThetaDeg:
      return geometry::RadialUnit::TwoThetaRad;
    case RadialUnit::RMm:
      return geometry::RadialUnit::RM;
    default:
      return geometry::RadialUnit::QInvNm;
  }
}

double scale_of(RadialUnit u) {
  switch (u) {
    case RadialUnit::QInvNm:
      return 1.0;
    case RadialUnit::QInvA:
      return 0.1;
    case RadialUnit::TwoThetaDeg:
      return 180.0 / std::numbers::pi;
    case RadialUnit::RMm:
      return 1000.0;
    case RadialUnit::DSpacingA:
      return 1.0;  // integrated in q nm⁻¹, converted per bin
  }
  return 1.0;
}

// d (Å) ↔ q (nm⁻¹): q = 2π/d, with d in nm = d_Å/10.
double d_from_q(double q_inv_nm) { return q_inv_nm > 0 ? 20.0 * std::numbers::pi / q_inv_nm : INFINITY; }

integrate::Binning binning_from(const IntegrationSettings& s) {
  integrate::Binning b;
  b.radial_bins = s.radial_bins;
  b.azimuth_bins = s.azimuth_bins;
  b.split = s.split;
  if (s.radial_range) {
    Range r = *s.radial_range;
    if (!(r.max > r.min)) throw InputError("", fmt::format("empty radial range {}..{}", r.min, r.max));
    if (s.unit == RadialUnit::DSpacingA) {
      if (r.min <= 0) throw InputError("", "a d-spacing range must be positive");
      r = {d_from_q(r.max), d_from_q(r.min)};
    } else {
      const double k = scale_of(s.unit);
      r = {r.min / k, r.max / k};
    }
    b.radial_range = r;
  }
  if (s.azimuth_range_deg) {
    const auto a = *s.azimuth_range_deg;
    if (!(a.max > a.min)) throw InputError("", fmt::format("empty azimuth range {}..{}°", a.min, a.max));
    b.azimuth_range_rad = Range{a.min * std::numbers::pi / 180.0, a.max * std::numbers::pi / 180.0};
  }
  return b;
}

integrate::PixelPositions positions_for(const geometry::Geometry& g, const IntegrationSettings& s) {
  integrate::PixelPositions p;
  p.shape = g.detector.shape;
  const auto unit = internal_unit(s.unit);
  p.radial = geometry::radial_array(g, unit).pixels;
  const bool need_azimuth = s.azimuth_bins > 0 || s.azimuth_range_deg.has_value();
  if (need_azimuth) p.azimuth = geometry::chi_array(g).pixels;
  if (s.split != integrate::PixelSplit::none) {
    const auto corners = geometry::corner_array(g, unit);  // [pixel][4][radial, χ]
    const std::size_t n = p.shape.pixel_count();
    p.corner_radial.resize(4 * n);
    p.corner_azimuth.resize(4 * n);
    for (std::size_t i = 0; i < 4 * n; ++i) {
      p.corner_radial[i] = corners[2 * i];
      p.corner_azimuth[i] = corners[2 * i + 1];
    }
  }
  return p;
}

integrate::Integrator build(geometry::Geometry& g, Shape frame_shape, Mask& mask,
                            const IntegrationSettings& s) {
  if (!(g.wavelength_m > 0))
    throw InputError("geometry", "wavelength must be positive (is it missing from the .poni?)");
  if (!(g.dist_m > 0)) throw InputError("geometry", "sample–detector distance must be positive");
  if (s.radial_bins == 0) throw InputError("", "the number of radial bins must be positive");
  if (g.detector.shape.pixel_count() == 0) {
    g.detector.shape = frame_shape;
  } else if (g.detector.shape != frame_shape) {
    throw InputError("geometry", fmt::format("the detector '{}' is {}x{} pixels but the frames are {}x{}",
                                             g.detector.name, g.detector.shape.rows, g.detector.shape.cols,
                                             frame_shape.rows, frame_shape.cols));
  }
  if (!mask.empty() && mask.shape != frame_shape)
    throw InputError("mask", fmt::format("mask is {}x{} but the frames are {}x{}", mask.rows(), mask.cols(),
                                         frame_shape.rows, frame_shape.cols));
  if (mask.empty()) mask = Mask(frame_shape, 0);
  if (!g.detector.is_generic()) {
    const Mask gaps = g.detector.dead_pixel_mask();
    if (gaps.shape == mask.shape)
      for (std::size_t i = 0; i < gaps.pixels.size(); ++i) mask.pixels[i] |= gaps.pixels[i];
  }
  return integrate::Integrator(positions_for(g, s), &mask, binning_from(s));
}

std::vector<float> to_float(const Image<double>& img) { return {img.pixels.begin(), img.pixels.end()}; }

}  // namespace

std::optional<integrate::PixelSplit> parse_pixel_split(std::string_view name) {
  if (name == "no" || name == "none") return integrate::PixelSplit::none;
  if (name == "bbox" || name == "csr") return integrate::PixelSplit::bbox;
  if (name == "full") return integrate::PixelSplit::full;
  return std::nullopt;
}

std::optional<integrate::ErrorModel> parse_error_model(std::string_view name) {
  if (name == "poisson") return integrate::ErrorModel::poisson;
  if (name == "azimuthal") return integrate::ErrorModel::azimuthal;
  if (name == "none") return integrate::ErrorModel::none;
  return std::nullopt;
}

geometry::FramesGeometry frame_geometry(const std::string& poni, const std::string& detector_preset,
                                        geometry::ImageFlips flips) {
  geometry::PoniInfo info;
  auto file_geometry = geometry::read_poni(poni, &info);
  if (!detector_preset.empty()) {
    auto preset = geometry::detector_preset(detector_preset);
    preset.orientation = file_geometry.detector.orientation;  // the .poni's orientation stays
    file_geometry.detector = preset;
  }
  return geometry::geometry_for_frames(file_geometry, info, flips, poni);
}

void validate(const IntegrationSettings& s) {
  const std::string src = "integration settings";
  if (s.radial_bins == 0 || s.radial_bins > 1'000'000)
    throw InputError(src, fmt::format("{} radial bins: must be 1..1000000", s.radial_bins));
  if (s.azimuth_bins > 36'000) throw InputError(src, fmt::format("{} χ bins: at most 36000", s.azimuth_bins));
  if (s.azimuth_bins && s.radial_bins * s.azimuth_bins > 100'000'000)
    throw InputError(
        src, fmt::format("{} x {} bins: a cake of at most 10^8 cells", s.radial_bins, s.azimuth_bins));
  if (s.polarization_factor && !(std::abs(*s.polarization_factor) <= 1.0))
    throw InputError(src,
                     fmt::format("polarisation factor {} is not within [-1, 1]", *s.polarization_factor));
  if (s.sigma_clip && !(std::isfinite(*s.sigma_clip) && *s.sigma_clip > 0))
    throw InputError(src,
                     fmt::format("sigma-clip threshold {} is not a positive number of σ", *s.sigma_clip));
  if (s.sigma_clip_iterations < 1 || s.sigma_clip_iterations > 1000)
    throw InputError(src, fmt::format("{} sigma-clip iterations: must be 1..1000", s.sigma_clip_iterations));
  if (s.median_quantiles) {
    const auto q = *s.median_quantiles;
    if (!(q.min >= 0 && q.max <= 1 && q.min < q.max))
      throw InputError(src, fmt::format("quantiles {}, {}: need 0 <= q1 < q2 <= 1", q.min, q.max));
  }
  for (const auto& r : {s.radial_range, s.azimuth_range_deg})
    if (r && !(std::isfinite(r->min) && std::isfinite(r->max)))
      throw InputError(src, fmt::format("range [{}, {}] is not finite", r->min, r->max));
}

DetectorIntegrator::DetectorIntegrator(geometry::Geometry geometry, Shape frame_shape, const Mask& mask,
                                       const IntegrationSettings& settings, const ImageF* dark,
                                       const ImageF* flat)
    : geometry_(std::move(geometry)),
      settings_((validate(settings), settings)),
      mask_(mask),
      integrator_(build(geometry_, frame_shape, mask_, settings_)),
      output_scale_(scale_of(settings.unit)) {
  integrate::Corrections c;
  if (settings.correct_solid_angle) c.solid_angle = to_float(geometry::solid_angle_array(geometry_));
  if (settings.polarization_factor) {
    if (std::abs(*settings.polarization_factor) > 1.0)
      throw InputError("",
                       fmt::format("polarisation factor {} outside [-1, 1]", *settings.polarization_factor));
    c.polarization = to_float(geometry::polarization_array(geometry_, *settings.polarization_factor));
  }
  if (dark) {
    if (dark->shape != frame_shape) throw InputError("dark", "dark frame shape differs from the frames'");
    c.dark = dark->pixels;
  }
  if (flat) {
    if (flat->shape != frame_shape) throw InputError("flat", "flat frame shape differs from the frames'");
    c.flat = flat->pixels;
  }
  corrections_ = integrate::PreparedCorrections(frame_shape.pixel_count(), c);
  bool any = false;
  for (double v : integrator_.matrix().weights) {
    if (v > 0) {
      any = true;
      break;
    }
  }
  if (!any) throw InputError("", "no pixel falls in the requested radial/azimuthal range");
}

std::vector<double> DetectorIntegrator::radial_axis() const {
  std::vector<double> x = integrator_.radial_centers();
  if (settings_.unit == RadialUnit::DSpacingA)
    for (auto& v : x) v = d_from_q(v);
  else
    for (auto& v : x) v *= output_scale_;
  return x;
}

integrate::IntegrationResult DetectorIntegrator::run(const PixelsView& frame) const {
  if (frame.shape != integrator_.shape() || frame.pixels.size() != frame.shape.pixel_count())
    throw FrameError(std::string(frame.origin), frame.index,
                     fmt::format("frame is {}x{}, the integrator {}x{}", frame.shape.rows, frame.shape.cols,
                                 integrator_.shape().rows, integrator_.shape().cols));
  if (!frame.invalid.empty() && frame.invalid.size() != frame.pixels.size())
    throw FrameError(std::string(frame.origin), frame.index,
                     "the invalid-pixel mask is not the frame's size");
  integrate::FrameInput in;
  in.pixels = frame.pixels;
  if (!frame.invalid.empty()) in.invalid = frame.invalid;
  if (settings_.sigma_clip) {
    integrate::SigmaClipOptions o;
    o.threshold = *settings_.sigma_clip;
    o.max_iterations = settings_.sigma_clip_iterations;
    // Clipping needs the spread of the pixels around the ring (pyFAI's sigma_clip_ng uses the
    // azimuthal model too): with Poisson σ, rings whose intensity varies around the azimuth
    // (texture, polarisation residue) lose whole bins.
    o.error_model = integrate::ErrorModel::azimuthal;
    return integrator_.sigma_clip(in, corrections_, o);
  }
  if (settings_.median_quantiles) {
    integrate::MedianFilterOptions o;
    o.quantile_min = settings_.median_quantiles->min;
    o.quantile_max = settings_.median_quantiles->max;
    o.error_model = settings_.error_model;
    return integrator_.median_filter(in, corrections_, o);
  }
  integrate::IntegrateOptions o;
  o.error_model = settings_.error_model;
  return integrator_.integrate(in, corrections_, o);
}

// A frame with no usable pixel is an error for that frame, never a pattern of 0 ± 0.
static void check_usable(const PixelsView& frame, const integrate::IntegrationResult& r) {
  double pixels = 0, signal = 0;
  for (std::size_t i = 0; i < r.intensity.size(); ++i) {
    const double c = i < r.count.size() ? r.count[i] : 0.0;
    if (c > 0 && std::isfinite(r.intensity[i])) {
      pixels += c;
      signal += std::abs(r.intensity[i]);
    }
  }
  if (!(pixels > 0)) {
    const std::size_t invalid = std::count(frame.invalid.begin(), frame.invalid.end(), 1);
    throw FrameError(std::string(frame.origin), frame.index,
                     fmt::format("no valid pixel in the integration range ({} of {} pixels invalid: NaN, "
                                 "negative, saturated or detector-flagged; the rest masked)",
                                 invalid, frame.pixels.size()));
  }
  if (signal == 0)
    throw FrameError(std::string(frame.origin), frame.index,
                     "every valid pixel reads 0 counts (detector not read out, or shutter closed?)");
}

PixelsView DetectorIntegrator::view(const io::Frame& frame) {
  return {frame.image.shape, frame.image.pixels, frame.invalid.pixels, frame.origin, frame.index};
}

Pattern1D DetectorIntegrator::integrate(const io::Frame& frame) const { return integrate(view(frame)); }

Cake DetectorIntegrator::integrate_cake(const io::Frame& frame) const { return integrate_cake(view(frame)); }

Pattern1D DetectorIntegrator::integrate(const PixelsView& frame) const {
  if (integrator_.is_cake()) throw InputError("", "this integrator makes 2D cakes: use integrate_cake");
  const auto r = run(frame);
  check_usable(frame, r);
  return to_pattern(r);
}

std::vector<Pattern1D> DetectorIntegrator::integrate(std::span<const PixelsView> frames) const {
  if (integrator_.is_cake()) throw InputError("", "this integrator makes 2D cakes: use integrate_cake");
  std::vector<Pattern1D> out;
  out.reserve(frames.size());
  // Sigma clipping and quantile filtering work frame by frame.
  if (settings_.sigma_clip || settings_.median_quantiles) {
    for (const auto& f : frames) out.push_back(integrate(f));
    return out;
  }
  std::vector<integrate::FrameInput> in(frames.size());
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto& f = frames[k];
    if (f.shape != integrator_.shape() || f.pixels.size() != f.shape.pixel_count())
      throw FrameError(std::string(f.origin), f.index,
                       fmt::format("frame is {}x{}, the integrator {}x{}", f.shape.rows, f.shape.cols,
                                   integrator_.shape().rows, integrator_.shape().cols));
    if (!f.invalid.empty() && f.invalid.size() != f.pixels.size())
      throw FrameError(std::string(f.origin), f.index, "the invalid-pixel mask is not the frame's size");
    in[k].pixels = f.pixels;
    in[k].invalid = f.invalid;
  }
  integrate::IntegrateOptions o;
  o.error_model = settings_.error_model;
  const auto results = integrator_.integrate_frames(in, corrections_, o);
  for (std::size_t k = 0; k < frames.size(); ++k) {
    check_usable(frames[k], results[k]);
    out.push_back(to_pattern(results[k]));
  }
  return out;
}

Pattern1D DetectorIntegrator::to_pattern(const integrate::IntegrationResult& r) const {
  Pattern1D p;
  p.unit = settings_.unit;
  p.x = radial_axis();
  p.intensity = r.intensity;
  if (settings_.error_model != integrate::ErrorModel::none) p.sigma = r.sigma;
  p.count = r.count;
  if (settings_.unit == RadialUnit::DSpacingA) {  // ascending d
    std::reverse(p.x.begin(), p.x.end());
    std::reverse(p.intensity.begin(), p.intensity.end());
    std::reverse(p.sigma.begin(), p.sigma.end());
    std::reverse(p.count.begin(), p.count.end());
  }
  return p;
}

Cake DetectorIntegrator::integrate_cake(const PixelsView& frame) const {
  if (!integrator_.is_cake())
    throw InputError("", "this integrator makes 1D patterns: set azimuth bins for cakes");
  const auto r = run(frame);
  check_usable(frame, r);
  Cake c;
  c.unit = settings_.unit;
  c.radial = radial_axis();
  for (double a : integrator_.azimuth_centers_rad()) c.chi_deg.push_back(a * 180.0 / std::numbers::pi);
  const std::size_t nr = r.radial_bins, na = r.azimuth_bins;
  c.intensity.resize(nr * na);
  c.sigma.resize(nr * na);
  for (std::size_t i = 0; i < nr; ++i)
    for (std::size_t j = 0; j < na; ++j) {
      c.intensity[j * nr + i] = r.intensity[i * na + j];
      c.sigma[j * nr + i] = r.sigma.empty() ? 0.0 : r.sigma[i * na + j];
    }
  return c;
}

std::string DetectorIntegrator::describe() const {
  const char* split = settings_.split == integrate::PixelSplit::none   ? "no"
                      : settings_.split == integrate::PixelSplit::bbox ? "bbox"
                                                                       : "full";
  const char* err = settings_.error_model == integrate::ErrorModel::poisson     ? "poisson"
                    : settings_.error_model == integrate::ErrorModel::azimuthal ? "azimuthal"
                                                                                : "none";
  std::string s =
      fmt::format("anvil integrate: split={} csr, npt={}{}, unit={}, error_model={}, solid_angle={}", split,
                  settings_.radial_bins,
                  settings_.azimuth_bins ? fmt::format(" x {} azimuthal", settings_.azimuth_bins) : "",
                  unit_name(settings_.unit), err, settings_.correct_solid_angle ? "yes" : "no");
  if (settings_.polarization_factor)
    s += fmt::format(", polarization_factor={}", *settings_.polarization_factor);
  if (settings_.radial_range)
    s += fmt::format(", radial_range={}..{}", settings_.radial_range->min, settings_.radial_range->max);
  if (settings_.azimuth_range_deg)
    s += fmt::format(", azimuth_range={}..{} deg", settings_.azimuth_range_deg->min,
                     settings_.azimuth_range_deg->max);
  // ASCII only: GSAS-II and Fit2D-era readers take the header as bytes.
  if (settings_.sigma_clip)
    s += fmt::format(", sigma_clip={} sigma x{} passes", *settings_.sigma_clip,
                     settings_.sigma_clip_iterations);
  if (settings_.median_quantiles)
    s += fmt::format(", quantiles={}..{} (trimmed mean)", settings_.median_quantiles->min,
                     settings_.median_quantiles->max);
  return s;
}

}  // namespace anvil::pipeline
