#include "frame_preview.hpp"

#include <algorithm>
#include <cmath>

#include "azimuthal.hpp"
#include "io/mask.hpp"

namespace anvil::dashboard {

using json = nlohmann::json;

namespace {

constexpr std::size_t kRings = 256;

// The p-quantile of v (reordered in place).
double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

std::string base64(const std::uint8_t* data, std::size_t size) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t b0 = data[i], b1 = i + 1 < size ? data[i + 1] : 0,
                        b2 = i + 2 < size ? data[i + 2] : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < size ? abc[(v >> 6) & 63] : '=';
    out += i + 2 < size ? abc[v & 63] : '=';
  }
  return out;
}

PreviewGeometry make_preview_geometry(const std::string& detector, const geometry::Geometry& g, Shape shape,
                                      const Mask& static_mask, std::size_t max_side) {
  PreviewGeometry p;
  p.detector = detector;
  p.shape = shape;
  p.block = std::max<std::size_t>(1, (std::max(shape.rows, shape.cols) + max_side - 1) / max_side);
  p.preview = {(shape.rows + p.block - 1) / p.block, (shape.cols + p.block - 1) / p.block};
  if (static_mask.shape == shape) p.static_mask = static_mask;
  p.wavelength_m = g.wavelength_m;
  const bool saxs = detector == "saxs";
  p.radial_unit = saxs ? "q_nm^-1" : "2th_deg";
  const auto radial_at = [&](double d1, double d2) {
    return saxs ? geometry::q_inv_nm(g, d1, d2) : geometry::two_theta(g, d1, d2) * 180.0 / M_PI;
  };
  p.radial.resize(p.preview.pixel_count());
  const double half = static_cast<double>(p.block - 1) / 2.0;
  for (std::size_t r = 0; r < p.preview.rows; ++r)
    for (std::size_t c = 0; c < p.preview.cols; ++c)
      p.radial[r * p.preview.cols + c] = static_cast<float>(
          radial_at(static_cast<double>(r * p.block) + half, static_cast<double>(c * p.block) + half));
  // Rings for the spot statistics: the radial range cut in kRings, each pixel's ring from the
  // preview's radial map (one value per block is fine: a ring is many blocks wide).
  const auto [lo, hi] = std::minmax_element(p.radial.begin(), p.radial.end());
  const double r0 = *lo, span = std::max(1e-12, static_cast<double>(*hi - *lo));
  p.rings = kRings;
  p.ring.assign(shape.pixel_count(), PreviewGeometry::kNoRing);
  p.ring_pixels.assign(kRings, 0);
  p.column_block.resize(shape.cols);
  for (std::size_t c = 0; c < shape.cols; ++c) p.column_block[c] = static_cast<std::uint32_t>(c / p.block);
  for (std::size_t r = 0; r < shape.rows; ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const std::size_t i = r * shape.cols + c;
      if (!p.static_mask.empty() && p.static_mask.pixels[i]) continue;
      const double v = p.radial[(r / p.block) * p.preview.cols + c / p.block];
      p.ring[i] = static_cast<std::uint16_t>(std::min<double>(kRings - 1, (v - r0) / span * kRings));
      ++p.ring_pixels[p.ring[i]];
    }
  return p;
}

FramePreview make_preview(const PreviewGeometry& g, std::size_t frame, const ImageF& image,
                          const Mask& invalid, std::optional<double> saturation) {
  FramePreview p;
  p.frame = frame;
  p.detector = g.detector;
  if (image.shape != g.shape) return p;
  const bool has_invalid = invalid.shape == g.shape;
  const bool has_mask = !g.static_mask.empty();
  const std::size_t cols = g.shape.cols, pcols = g.preview.cols;
  std::vector<double> sum(g.preview.pixel_count(), 0.0);
  std::vector<std::uint32_t> count(g.preview.pixel_count(), 0);
  // Per ring, every third valid pixel: its median and MAD.
  std::vector<std::vector<float>> ring_values(g.rings);
  for (std::size_t k = 0; k < g.rings; ++k) ring_values[k].reserve(g.ring_pixels[k] / 3 + 1);
  const double saturation_value = saturation.value_or(INFINITY);
  std::size_t sample = 0;
  for (std::size_t r = 0; r < g.shape.rows; ++r) {
    double* sum_row = sum.data() + (r / g.block) * pcols;
    std::uint32_t* count_row = count.data() + (r / g.block) * pcols;
    const float* row = image.pixels.data() + r * cols;
    const std::uint8_t* mask_row = has_mask ? g.static_mask.pixels.data() + r * cols : nullptr;
    const std::uint8_t* invalid_row = has_invalid ? invalid.pixels.data() + r * cols : nullptr;
    const std::uint16_t* ring_row = g.ring.data() + r * cols;
    for (std::size_t c = 0; c < cols; ++c) {
      const float v = row[c];
      const bool masked = mask_row && mask_row[c];
      const bool finite = std::isfinite(v);
      const bool bad = (invalid_row && invalid_row[c]) || !finite;
      p.flagged += bad && !masked;
      p.saturated += finite && v >= saturation_value;
      if (masked || bad) continue;
      const std::uint32_t b = g.column_block[c];
      sum_row[b] += v;
      ++count_row[b];
      if (++sample == 3) {
        sample = 0;
        if (ring_row[c] != PreviewGeometry::kNoRing) ring_values[ring_row[c]].push_back(v);
      }
    }
  }
  std::vector<float> threshold(g.rings, INFINITY);
  for (std::size_t k = 0; k < g.rings; ++k) {
    auto& v = ring_values[k];
    if (v.size() < 20) continue;
    const double median = percentile(v, 0.5);
    for (auto& x : v) x = std::abs(x - static_cast<float>(median));
    const double mad = 1.4826 * percentile(v, 0.5);
    threshold[k] = static_cast<float>(median + 10.0 * std::max(mad, std::sqrt(std::max(median, 1.0))));
  }
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    const std::uint16_t ring = g.ring[i];
    if (ring == PreviewGeometry::kNoRing || (has_invalid && invalid.pixels[i])) continue;
    if (image.pixels[i] > threshold[ring]) ++p.spots;
  }
  std::vector<float> logs;
  logs.reserve(sum.size());
  std::vector<float> block_log(sum.size(), NAN);
  for (std::size_t k = 0; k < sum.size(); ++k)
    if (count[k]) {
      block_log[k] = static_cast<float>(std::log10(1.0 + std::max(0.0, sum[k] / count[k])));
      logs.push_back(block_log[k]);
    }
  p.log_min = percentile(logs, 0.01);
  p.log_max = std::max(p.log_min + 1e-6, percentile(logs, 0.998));
  p.pixels.assign(sum.size(), 0);
  for (std::size_t k = 0; k < sum.size(); ++k)
    if (count[k]) {
      const double t = (block_log[k] - p.log_min) / (p.log_max - p.log_min);
      p.pixels[k] = static_cast<std::uint8_t>(1 + std::lround(254.0 * std::clamp(t, 0.0, 1.0)));
    }
  return p;
}

json preview_json(const FramePreview& p, const PreviewGeometry& g) {
  json j;
  j["frame"] = p.frame;
  j["detector"] = p.detector;
  j["width"] = g.preview.cols;
  j["height"] = g.preview.rows;
  j["block"] = g.block;
  j["pixels"] = base64(p.pixels.data(), p.pixels.size());
  j["log_min"] = p.log_min;
  j["log_max"] = p.log_max;
  j["flagged"] = p.flagged;
  j["saturated"] = p.saturated;
  j["spots"] = p.spots;
  return j;
}

json geometry_preview_json(const PreviewGeometry& g) {
  json j;
  j["detector"] = g.detector;
  j["width"] = g.preview.cols;
  j["height"] = g.preview.rows;
  j["block"] = g.block;
  j["radial_unit"] = g.radial_unit;
  const auto [lo, hi] = std::minmax_element(g.radial.begin(), g.radial.end());
  const double r0 = g.radial.empty() ? 0 : *lo, r1 = g.radial.empty() ? 1 : std::max(*hi, *lo + 1e-9f);
  std::vector<std::uint8_t> bytes(2 * g.radial.size());
  for (std::size_t k = 0; k < g.radial.size(); ++k) {
    const auto v = static_cast<std::uint16_t>(std::lround(65535.0 * (g.radial[k] - r0) / (r1 - r0)));
    bytes[2 * k] = static_cast<std::uint8_t>(v & 0xFF);  // little endian
    bytes[2 * k + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  j["radial"] = base64(bytes.data(), bytes.size());
  j["radial_min"] = r0;
  j["radial_max"] = r1;
  return j;
}

FrameReader::FrameReader(pipeline::ScanConfig config) : config_(std::move(config)) {}

FrameReader::Detector* FrameReader::open(const std::string& detector) {
  // Called under mutex_.
  if (auto it = detectors_.find(detector); it != detectors_.end()) return &it->second;
  const auto& c = detector == "waxs" ? config_.waxs : detector == "saxs" ? config_.saxs : std::nullopt;
  if (!c) return nullptr;
  Detector d;
  io::OpenOptions open;
  open.flip_up_down = c->flip_ud;
  open.flip_left_right = c->flip_lr;
  d.source = io::open_frames(c->frames, open);
  auto fg = pipeline::frame_geometry(c->poni, c->detector, {c->flip_ud, c->flip_lr});
  Mask mask;
  if (!c->mask.empty())
    mask = io::read_mask(c->mask, d.source->shape(), open,
                         io::resolve_mask_orientation(c->mask, c->mask_orientation));
  d.geometry = std::make_shared<const PreviewGeometry>(
      make_preview_geometry(detector, fg.geometry, d.source->shape(), mask));
  return &detectors_.emplace(detector, std::move(d)).first->second;
}

std::shared_ptr<const PreviewGeometry> FrameReader::geometry(const std::string& detector) {
  const std::lock_guard lock(mutex_);
  const auto* d = open(detector);
  return d ? d->geometry : nullptr;
}

std::optional<FramePreview> FrameReader::preview(const std::string& detector, std::size_t number) {
  std::shared_ptr<const PreviewGeometry> g;
  std::shared_ptr<const io::FrameSource> source;
  const auto has = [&] {
    const std::size_t first = source->first_number();
    return number >= first && number - first < source->frame_count();
  };
  {
    const std::lock_guard lock(mutex_);
    auto* d = open(detector);
    if (!d) return std::nullopt;
    g = d->geometry;
    source = d->source;
    if (!has()) {  // a scan being written: its files as they are now
      const auto& c = detector == "waxs" ? *config_.waxs : *config_.saxs;
      io::OpenOptions o;
      o.flip_up_down = c.flip_ud;
      o.flip_left_right = c.flip_lr;
      d->source = io::open_frames(c.frames, o);
      source = d->source;
    }
  }
  if (!has()) return std::nullopt;
  const auto frame = source->read(number - source->first_number());  // read() is thread-safe
  return make_preview(*g, number, frame.image, frame.invalid, frame.metadata.saturation_value);
}

}  // namespace anvil::dashboard
