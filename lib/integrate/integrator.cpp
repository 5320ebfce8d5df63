// Building the integrator: bin boundaries and the CSR matrix (pyFAI 0.21.3 semantics).
#include "integrate/integrator.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "integrate/splitting.hpp"
#include "integrate/static_sums.hpp"

namespace anvil::integrate {

using detail::Axis;
using detail::Entry;

namespace {

constexpr double kTwoPi = 2.0 * 3.14159265358979323846;
constexpr std::size_t kChunkPixels = 16384;

void require(bool ok, const std::string& problem) {
  if (!ok) throw InputError("integrator", problem);
}

// Largest centre-to-corner distance, in radial unit and in χ (modulo 2π) — pyFAI's
// delta_array / calc_delta_chi.
struct Deltas {
  std::vector<double> radial;
  std::vector<double> azimuth;
};

Deltas corner_deltas(const PixelPositions& p, bool with_azimuth) {
  const std::size_t n = p.radial.size();
  Deltas d;
  d.radial.resize(n);
  if (with_azimuth) d.azimuth.resize(n);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, kChunkPixels), [&](const auto& r) {
    for (std::size_t i = r.begin(); i < r.end(); ++i) {
      double dr = 0, da = 0;
      for (int k = 0; k < 4; ++k) {
        dr = std::max(dr, std::fabs(p.corner_radial[4 * i + k] - p.radial[i]));
        if (with_azimuth) {
          double a = std::fabs(p.corner_azimuth[4 * i + k] - p.azimuth[i]);
          if (a > 0.5 * kTwoPi) a = kTwoPi - a;
          da = std::max(da, a);
        }
      }
      d.radial[i] = dr;
      if (with_azimuth) d.azimuth[i] = da;
    }
  });
  return d;
}

struct MinMax {
  double min0 = std::numeric_limits<double>::infinity();
  double max0 = -std::numeric_limits<double>::infinity();
  double min1 = std::numeric_limits<double>::infinity();
  double max1 = -std::numeric_limits<double>::infinity();
};

bool masked(const Mask* mask, std::size_t i) { return mask && mask->pixels[i]; }

// Extent of the (unmasked) pixels — pyFAI calc_boundaries for bbox and full splitting.
MinMax data_extent(const PixelPositions& p, const Mask* mask, PixelSplit split, const Deltas& d,
                   bool with_azimuth) {
  MinMax m;
  for (std::size_t i = 0; i < p.radial.size(); ++i) {
    if (masked(mask, i)) continue;
    if (split == PixelSplit::full) {
      for (int k = 0; k < 4; ++k) {
        m.min0 = std::min(m.min0, p.corner_radial[4 * i + k]);
        m.max0 = std::max(m.max0, p.corner_radial[4 * i + k]);
        if (with_azimuth) {
          m.min1 = std::min(m.min1, p.corner_azimuth[4 * i + k]);
          m.max1 = std::max(m.max1, p.corner_azimuth[4 * i + k]);
        }
      }
    } else {
      m.min0 = std::min(m.min0, p.radial[i] - d.radial[i]);
      m.max0 = std::max(m.max0, p.radial[i] + d.radial[i]);
      if (with_azimuth) {
        m.min1 = std::min(m.min1, p.azimuth[i] - d.azimuth[i]);
        m.max1 = std::max(m.max1, p.azimuth[i] + d.azimuth[i]);
      }
    }
  }
  return m;
}

Axis make_axis(double min, double max_in, std::size_t bins) {
  Axis a;
  a.min = min;
  a.max_in = max_in;
  a.max = detail::upper_bound(max_in);
  a.bins = bins;
  a.delta = (a.max - a.min) / static_cast<double>(bins);
  return a;
}

// Contributions of one pixel, appended to `out` (row = bin index).
struct PixelSplitter {
  const PixelPositions& p;
  const Deltas& d;
  Axis ax0, ax1;
  bool cake;
  bool check_azimuth;  // 1D restricted to an azimuth range

  void none(std::size_t i, std::vector<Entry>& out) const {
    // pyFAI histogram: truncation towards zero, so positions just below the range land in bin 0.
    const auto bin = static_cast<std::ptrdiff_t>(ax0.bin_number(p.radial[i]));
    if (bin < 0 || bin >= static_cast<std::ptrdiff_t>(ax0.bins)) return;
    if (check_azimuth && (p.azimuth[i] < ax1.min || p.azimuth[i] > ax1.max_in)) return;
    if (!cake) {
      out.push_back({static_cast<std::uint32_t>(bin), 1.0f});
      return;
    }
    const auto bin1 = static_cast<std::ptrdiff_t>(ax1.bin_number(p.azimuth[i]));
    if (bin1 < 0 || bin1 >= static_cast<std::ptrdiff_t>(ax1.bins)) return;
    out.push_back({static_cast<std::uint32_t>(bin * static_cast<std::ptrdiff_t>(ax1.bins) + bin1), 1.0f});
  }

  void bbox_1d(std::size_t i, std::vector<Entry>& out) const {
    const double c0 = p.radial[i], d0 = d.radial[i];
    if (check_azimuth) {
      const double c1 = p.azimuth[i], d1 = d.azimuth[i];
      if (c1 + d1 < ax1.min || c1 - d1 > ax1.max_in) return;
    }
    const double f_min = ax0.bin_number(c0 - d0), f_max = ax0.bin_number(c0 + d0);
    auto b_min = static_cast<std::ptrdiff_t>(f_min), b_max = static_cast<std::ptrdiff_t>(f_max);
    const auto bins = static_cast<std::ptrdiff_t>(ax0.bins);
    if (b_max < 0 || b_min >= bins) return;
    b_max = std::min(b_max, bins - 1);
    b_min = std::max<std::ptrdiff_t>(b_min, 0);
    if (b_min == b_max) {
      out.push_back({static_cast<std::uint32_t>(b_min), 1.0f});
      return;
    }
    const double inv_area = 1.0 / (f_max - f_min);
    out.push_back({static_cast<std::uint32_t>(b_min), static_cast<float>(inv_area * ((b_min + 1) - f_min))});
    for (auto b = b_min + 1; b < b_max; ++b)
      out.push_back({static_cast<std::uint32_t>(b), static_cast<float>(inv_area)});
    out.push_back({static_cast<std::uint32_t>(b_max), static_cast<float>(inv_area * (f_max - b_max))});
  }

  void bbox_2d(std::size_t i, std::vector<Entry>& out) const {
    const double c0 = p.radial[i], d0 = d.radial[i], c1 = p.azimuth[i], d1 = d.azimuth[i];
    const double f0_min = ax0.bin_number(c0 - d0), f0_max = ax0.bin_number(c0 + d0);
    const double f1_min = ax1.bin_number(c1 - d1), f1_max = ax1.bin_number(c1 + d1);
    auto b0_min = static_cast<std::ptrdiff_t>(f0_min), b0_max = static_cast<std::ptrdiff_t>(f0_max);
    auto b1_min = static_cast<std::ptrdiff_t>(f1_min), b1_max = static_cast<std::ptrdiff_t>(f1_max);
    const auto bins0 = static_cast<std::ptrdiff_t>(ax0.bins), bins1 = static_cast<std::ptrdiff_t>(ax1.bins);
    if (b0_max < 0 || b0_min >= bins0 || b1_max < 0 || b1_min >= bins1) return;
    b0_max = std::min(b0_max, bins0 - 1);
    b0_min = std::max<std::ptrdiff_t>(b0_min, 0);
    b1_max = std::min(b1_max, bins1 - 1);
    b1_min = std::max<std::ptrdiff_t>(b1_min, 0);
    // Fractions along each axis, as pyFAI: the first and last bins get the partial overlap.
    const double inv0 = b0_min == b0_max ? 1.0 : 1.0 / (f0_max - f0_min);
    const double inv1 = b1_min == b1_max ? 1.0 : 1.0 / (f1_max - f1_min);
    const auto frac0 = [&](std::ptrdiff_t b) {
      if (b0_min == b0_max) return 1.0;
      if (b == b0_min) return static_cast<double>(b0_min + 1) - f0_min;
      if (b == b0_max) return f0_max - static_cast<double>(b0_max);
      return 1.0;
    };
    const auto frac1 = [&](std::ptrdiff_t b) {
      if (b1_min == b1_max) return 1.0;
      if (b == b1_min) return static_cast<double>(b1_min + 1) - f1_min;
      if (b == b1_max) return f1_max - static_cast<double>(b1_max);
      return 1.0;
    };
    const double inv_area = inv0 * inv1;
    for (auto b0 = b0_min; b0 <= b0_max; ++b0)
      for (auto b1 = b1_min; b1 <= b1_max; ++b1)
        out.push_back({static_cast<std::uint32_t>(b0 * bins1 + b1),
                       static_cast<float>(inv_area * frac0(b0) * frac1(b1))});
  }

  void full_1d(std::size_t i, std::vector<Entry>& out, std::vector<float>& buffer) const {
    double rad[4], chi[4], f[4];
    for (int k = 0; k < 4; ++k) {
      rad[k] = p.corner_radial[4 * i + k];
      chi[k] = p.corner_azimuth.empty() ? 0.0 : p.corner_azimuth[4 * i + k];
    }
    detail::recenter_azimuth(rad, chi);
    for (int k = 0; k < 4; ++k) f[k] = ax0.bin_number(rad[k]);
    const double min0 = std::min({f[0], f[1], f[2], f[3]});
    const double max0 = std::max({f[0], f[1], f[2], f[3]});
    const auto bins = static_cast<std::ptrdiff_t>(ax0.bins);
    if (max0 < 0 || min0 >= static_cast<double>(bins)) return;
    if (check_azimuth) {
      const double min1 = std::min({chi[0], chi[1], chi[2], chi[3]});
      const double max1 = std::max({chi[0], chi[1], chi[2], chi[3]});
      if (max1 < ax1.min || min1 > ax1.max_in) return;
    }
    auto b_min = static_cast<std::ptrdiff_t>(std::floor(min0));
    auto b_max = static_cast<std::ptrdiff_t>(std::floor(max0));
    if (b_min == b_max) {
      out.push_back({static_cast<std::uint32_t>(b_min), 1.0f});
      return;
    }
    b_min = std::max<std::ptrdiff_t>(0, b_min);
    b_max = std::min(bins, b_max + 1);
    // Signed area of the polygon in (bin, χ) space, bin by bin (pyFAI _integrate1d).
    detail::integrate_segment(buffer, f[0], chi[0], f[1], chi[1]);
    detail::integrate_segment(buffer, f[1], chi[1], f[2], chi[2]);
    detail::integrate_segment(buffer, f[2], chi[2], f[3], chi[3]);
    detail::integrate_segment(buffer, f[3], chi[3], f[0], chi[0]);
    double sum_area = 0;
    for (auto b = b_min; b < b_max; ++b) sum_area += buffer[static_cast<std::size_t>(b)];
    if (sum_area != 0) {
      const double inv_area = 1.0 / sum_area;
      for (auto b = b_min; b < b_max; ++b) {
        const auto w = static_cast<float>(buffer[static_cast<std::size_t>(b)] * inv_area);
        if (w != 0.0f) out.push_back({static_cast<std::uint32_t>(b), w});
      }
    }
    for (auto b = b_min; b < b_max; ++b) buffer[static_cast<std::size_t>(b)] = 0.0f;
  }
};

}  // namespace

PreparedCorrections::PreparedCorrections(std::size_t pixel_count, const Corrections& c) {
  const auto check = [&](const std::vector<float>& v, const char* name) {
    require(v.empty() || v.size() == pixel_count, std::string(name) + " has " + std::to_string(v.size()) +
                                                      " values, expected " + std::to_string(pixel_count));
  };
  check(c.solid_angle, "solid angle");
  check(c.polarization, "polarization");
  check(c.flat, "flat");
  check(c.dark, "dark");
  if (!c.solid_angle.empty() || !c.polarization.empty() || !c.flat.empty()) {
    normalization_.assign(pixel_count, 1.0f);
    for (std::size_t i = 0; i < pixel_count; ++i) {
      // pyFAI order: flat × polarization × solid angle.
      float n = c.flat.empty() ? 1.0f : c.flat[i];
      if (!c.polarization.empty()) n *= c.polarization[i];
      if (!c.solid_angle.empty()) n *= c.solid_angle[i];
      normalization_[i] = n;
    }
  }
  dark_ = c.dark;
  static std::atomic<std::uint64_t> next_id{1};
  id_ = next_id.fetch_add(1, std::memory_order_relaxed);
}

Integrator::Integrator(const PixelPositions& p, const Mask* mask, const Binning& binning)
    : binning_(binning), shape_(p.shape) {
  const std::size_t n = p.shape.pixel_count();
  const bool cake = binning.azimuth_bins > 0;
  const bool need_azimuth = cake || binning.azimuth_range_rad.has_value();
  const bool need_corners = binning.split != PixelSplit::none;
  require(n > 0, "empty detector shape");
  require(n < std::numeric_limits<std::uint32_t>::max(), "detector too large for 32-bit pixel indices");
  require(binning.radial_bins > 0, "the number of radial bins must be positive");
  require(p.radial.size() == n, "radial positions: " + std::to_string(p.radial.size()) + " values for " +
                                    std::to_string(n) + " pixels");
  require(!need_azimuth || p.azimuth.size() == n, "azimuth positions are needed (cake or azimuth range)");
  require(!need_corners || p.corner_radial.size() == 4 * n,
          "pixel splitting needs 4 radial corners per pixel");
  require(!(need_corners && (need_azimuth || binning.split == PixelSplit::full)) ||
              p.corner_azimuth.size() == 4 * n,
          "pixel splitting needs 4 azimuthal corners per pixel");
  require(!(cake && binning.split == PixelSplit::full), "full pixel splitting is implemented for 1D only");
  require(!mask || mask->shape == p.shape, "mask shape differs from the detector shape");
  require(!binning.radial_range || binning.radial_range->max > binning.radial_range->min,
          "radial range must have max > min");
  require(!binning.azimuth_range_rad || binning.azimuth_range_rad->max > binning.azimuth_range_rad->min,
          "azimuth range must have max > min");

  // --- boundaries (pyFAI calc_boundaries / histogram engine) ---
  Deltas deltas;
  if (need_corners) deltas = corner_deltas(p, need_azimuth && binning.split == PixelSplit::bbox);
  double min0, max0, min1 = -kTwoPi, max1 = kTwoPi;
  if (binning.split == PixelSplit::none) {
    // The histogram engine takes the range over all pixels, masked or not.
    const auto [lo, hi] = std::minmax_element(p.radial.begin(), p.radial.end());
    min0 = *lo;
    max0 = *hi;
    if (cake) {
      const auto [alo, ahi] = std::minmax_element(p.azimuth.begin(), p.azimuth.end());
      min1 = *alo;
      max1 = *ahi;
    }
  } else {
    const MinMax m = data_extent(p, mask, binning.split, deltas, cake);
    require(std::isfinite(m.min0), "every pixel is masked");
    min0 = m.min0;
    max0 = m.max0;
    if (!binning.allow_negative_radial) {
      min0 = std::max(0.0, min0);
      max0 = std::max(0.0, max0);
    }
    if (cake) {
      min1 = std::max(m.min1, -detail::kPiFloat);
      max1 = std::min(m.max1, detail::kPiFloat);
    }
  }
  if (binning.radial_range) {
    min0 = binning.radial_range->min;
    max0 = binning.radial_range->max;
  }
  if (binning.azimuth_range_rad) {
    min1 = binning.azimuth_range_rad->min;
    max1 = binning.azimuth_range_rad->max;
  }
  const Axis ax0 = make_axis(min0, max0, binning.radial_bins);
  const Axis ax1 = make_axis(min1, max1, cake ? binning.azimuth_bins : 1);
  radial_bounds_ = {ax0.min, ax0.max};
  radial_centers_.resize(ax0.bins);
  for (std::size_t i = 0; i < ax0.bins; ++i)
    radial_centers_[i] = ax0.min + (static_cast<double>(i) + 0.5) * ax0.delta;
  if (cake) {
    azimuth_bounds_ = {ax1.min, ax1.max};
    azimuth_centers_.resize(ax1.bins);
    for (std::size_t i = 0; i < ax1.bins; ++i)
      azimuth_centers_[i] = ax1.min + (static_cast<double>(i) + 0.5) * ax1.delta;
  } else if (binning.azimuth_range_rad) {
    azimuth_bounds_ = {ax1.min, ax1.max_in};
  }

  // --- contributions, pixel by pixel, in chunks (parallel, order-preserving) ---
  const PixelSplitter splitter{p, deltas, ax0, ax1, cake, !cake && binning.azimuth_range_rad.has_value()};
  const std::size_t chunks = (n + kChunkPixels - 1) / kChunkPixels;
  struct Chunk {
    std::vector<Entry> entries;
    std::vector<std::uint32_t> pixel;
  };
  std::vector<Chunk> parts(chunks);
  tbb::parallel_for(std::size_t{0}, chunks, [&](std::size_t c) {
    Chunk& part = parts[c];
    std::vector<float> buffer(binning.split == PixelSplit::full ? ax0.bins : 0, 0.0f);
    const std::size_t begin = c * kChunkPixels, end = std::min(n, begin + kChunkPixels);
    part.entries.reserve((end - begin) * (binning.split == PixelSplit::none ? 1 : 3));
    for (std::size_t i = begin; i < end; ++i) {
      if (masked(mask, i)) continue;
      switch (binning.split) {
        case PixelSplit::none:
          splitter.none(i, part.entries);
          break;
        case PixelSplit::bbox:
          cake ? splitter.bbox_2d(i, part.entries) : splitter.bbox_1d(i, part.entries);
          break;
        case PixelSplit::full:
          splitter.full_1d(i, part.entries, buffer);
          break;
      }
      part.pixel.resize(part.entries.size(), static_cast<std::uint32_t>(i));
    }
  });

  // --- counting sort into CSR rows; pixels stay in ascending order within a row ---
  const std::size_t rows = ax0.bins * (cake ? ax1.bins : 1);
  matrix_.row_ptr.assign(rows + 1, 0);
  for (const Chunk& part : parts)
    for (const Entry& e : part.entries) ++matrix_.row_ptr[e.row + 1];
  for (std::size_t r = 0; r < rows; ++r) matrix_.row_ptr[r + 1] += matrix_.row_ptr[r];
  const std::size_t nnz = matrix_.row_ptr[rows];
  matrix_.col_idx.resize(nnz);
  matrix_.weights.resize(nnz);
  std::vector<std::uint32_t> fill(matrix_.row_ptr.begin(), matrix_.row_ptr.end() - 1);
  pixel_row_lo_.assign(n, std::numeric_limits<std::uint32_t>::max());
  pixel_row_hi_.assign(n, 0);
  for (const Chunk& part : parts) {
    for (std::size_t k = 0; k < part.entries.size(); ++k) {
      const std::uint32_t row = part.entries[k].row, pixel = part.pixel[k];
      const std::uint32_t at = fill[row]++;
      matrix_.col_idx[at] = pixel;
      matrix_.weights[at] = part.entries[k].weight;
      pixel_row_lo_[pixel] = std::min(pixel_row_lo_[pixel], row);
      pixel_row_hi_[pixel] = std::max(pixel_row_hi_[pixel], row);
    }
  }
  static_sums_ = std::make_shared<detail::StaticSumsCache>();

  // --- pixel-major copy for 1D patterns: entries of a pixel are in ascending bin order ---
  if (!cake && rows <= 0xFFFF) {  // bins and counts fit 16 bits
    scatter_bins_.assign(n, 0);
    bool unit = true;
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (pixel_row_lo_[i] <= pixel_row_hi_[i]) {
        const std::size_t count = pixel_row_hi_[i] - pixel_row_lo_[i] + 1;
        if (count > 1) unit = false;
        total += count;
      }
    for (const Chunk& part : parts)
      for (const Entry& e : part.entries) unit = unit && e.weight == 1.0f;
    scatter_unit_ = unit;
    if (!unit) scatter_weights_.assign(total, 0.0f);
    std::size_t offset = 0;
    std::uint32_t current = std::numeric_limits<std::uint32_t>::max();
    for (const Chunk& part : parts)
      for (std::size_t k = 0; k < part.entries.size(); ++k) {
        const std::uint32_t pixel = part.pixel[k];
        const std::uint32_t lo = pixel_row_lo_[pixel], hi = pixel_row_hi_[pixel];
        if (pixel != current) {
          if (current != std::numeric_limits<std::uint32_t>::max())
            offset += pixel_row_hi_[current] - pixel_row_lo_[current] + 1;
          current = pixel;
          scatter_bins_[pixel] = lo | ((hi - lo + 1) << 16);
        }
        if (!unit) scatter_weights_[offset + (part.entries[k].row - lo)] += part.entries[k].weight;
      }
  }
}

}  // namespace anvil::integrate
