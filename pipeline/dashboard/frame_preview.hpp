// A detector frame made small enough to send to a browser: blocks of b×b pixels averaged over
// their valid pixels, log-scaled to 1..255 (0: masked or invalid), with the radial coordinate
// (2θ for WAXS, q for SAXS) at each block's centre so the page can draw rings; and the counts an
// operator watches frame by frame: the detector's invalid pixels outside the static mask,
// saturated pixels, and pixels far above their ring (single-crystal diamond spots, a gasket
// edge moving in).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/image.hpp"
#include "geometry/geometry.hpp"
#include "io/frame_source.hpp"
#include "scan_config.hpp"

namespace anvil::dashboard {

// What stays the same for every frame of a detector: made once.
struct PreviewGeometry {
  std::string detector;  // "waxs" or "saxs"
  Shape shape;           // the frames'
  std::size_t block = 1;
  Shape preview;              // ceil(shape / block)
  Mask static_mask;           // the scan's mask (1 = excluded), frames' shape (empty: none)
  std::string radial_unit;    // "2th_deg" (WAXS) or "q_nm^-1" (SAXS)
  std::vector<float> radial;  // at each preview pixel's centre
  // Per frame pixel: its ring (radial bin) for the spot statistics; kNoRing where masked.
  std::vector<std::uint16_t> ring;
  std::size_t rings = 0;
  std::vector<std::size_t> ring_pixels;     // pixels per ring
  std::vector<std::uint32_t> column_block;  // a frame column's preview column
  double wavelength_m = 0;
  static constexpr std::uint16_t kNoRing = 0xFFFF;
};

// `max_side`: the longest side of the preview in its pixels.
PreviewGeometry make_preview_geometry(const std::string& detector, const geometry::Geometry& g, Shape shape,
                                      const Mask& static_mask, std::size_t max_side = 480);

struct FramePreview {
  std::size_t frame = 0;
  std::string detector;
  std::vector<std::uint8_t> pixels;  // preview.rows × preview.cols; 0 masked, 1..255 log10 scale
  double log_min = 0, log_max = 0;   // log10(1 + counts) at 1 and at 255
  std::size_t flagged = 0;           // the detector's invalid pixels outside the static mask
  std::size_t saturated = 0;         // at or above the detector's saturation value
  std::size_t spots = 0;             // valid pixels > median + 10·max(σ_MAD, √median) of their ring
};

FramePreview make_preview(const PreviewGeometry& g, std::size_t frame, const ImageF& image,
                          const Mask& invalid, std::optional<double> saturation);

// {"frame", "detector", "width", "height", "block", "pixels" (base64), "log_min", "log_max",
//  "flagged", "saturated", "spots"}
nlohmann::json preview_json(const FramePreview& p, const PreviewGeometry& g);
// {"detector", "width", "height", "block", "radial_unit", "radial" (base64 uint16 little-endian,
//  radial_min + k·(radial_max − radial_min)/65535), "radial_min", "radial_max"}: once per detector.
nlohmann::json geometry_preview_json(const PreviewGeometry& g);

std::string base64(const std::uint8_t* data, std::size_t size);

// Reads a scan's frames again for previews of frames other than the latest: the scan
// description's sources, flips, geometry and mask (not its dark and flat). Thread-safe; the
// sources are opened on first use.
class FrameReader {
 public:
  explicit FrameReader(pipeline::ScanConfig config);
  // nullopt when the detector is not part of the scan or has no such frame; FrameError or
  // InputError when the frame cannot be read.
  std::optional<FramePreview> preview(const std::string& detector, std::size_t number);
  std::shared_ptr<const PreviewGeometry> geometry(const std::string& detector);

 private:
  struct Detector {
    std::shared_ptr<const io::FrameSource> source;  // opened again when a scan being written grew
    std::shared_ptr<const PreviewGeometry> geometry;
  };
  Detector* open(const std::string& detector);
  pipeline::ScanConfig config_;
  std::mutex mutex_;
  std::map<std::string, Detector> detectors_;
};

}  // namespace anvil::dashboard
