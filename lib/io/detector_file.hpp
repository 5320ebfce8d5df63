// Shared steps of the single-file image readers (TIFF, CBF, EDF): turning stored samples
// into float32 and a decoded image into a Frame. Internal to lib/io.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "io/frame_source.hpp"

namespace anvil::io::detail {

static_assert(std::endian::native == std::endian::little, "anvil's readers assume a little-endian host");

// How one stored sample is encoded.
struct SampleType {
  bool is_float = false;
  bool is_signed = false;
  std::size_t bytes = 4;

  // The all-ones value of an unsigned integer type (EIGER/Pilatus3 overflow marker).
  std::optional<double> integer_max() const {
    if (is_float || is_signed || bytes == 0 || bytes > 8) return std::nullopt;
    return bytes == 8 ? 18446744073709551615.0 : static_cast<double>((std::uint64_t{1} << (8 * bytes)) - 1);
  }
  std::string name() const { return dtype_name(is_float, is_signed, bytes); }
};

// Reads sample `i` of a packed array as double; `swap` reverses the bytes of each sample.
inline double sample_at(const unsigned char* data, std::size_t i, const SampleType& t, bool swap) {
  unsigned char b[8];
  std::memcpy(b, data + i * t.bytes, t.bytes);
  if (swap)
    for (std::size_t k = 0; k < t.bytes / 2; ++k) std::swap(b[k], b[t.bytes - 1 - k]);
  if (t.is_float) {
    if (t.bytes == 4) {
      float v;
      std::memcpy(&v, b, 4);
      return v;
    }
    double v;
    std::memcpy(&v, b, 8);
    return v;
  }
  switch (t.bytes) {
    case 1:
      return t.is_signed ? static_cast<double>(static_cast<std::int8_t>(b[0])) : static_cast<double>(b[0]);
    case 2: {
      std::uint16_t u;
      std::memcpy(&u, b, 2);
      return t.is_signed ? static_cast<double>(static_cast<std::int16_t>(u)) : static_cast<double>(u);
    }
    case 4: {
      std::uint32_t u;
      std::memcpy(&u, b, 4);
      return t.is_signed ? static_cast<double>(static_cast<std::int32_t>(u)) : static_cast<double>(u);
    }
    default: {
      std::uint64_t u;
      std::memcpy(&u, b, 8);
      return t.is_signed ? static_cast<double>(static_cast<std::int64_t>(u)) : static_cast<double>(u);
    }
  }
}

// Converts `n` packed samples to float32 (native byte order unless `swap`).
inline void convert_samples(const unsigned char* data, std::size_t n, const SampleType& t, bool swap,
                            float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(sample_at(data, i, t, swap));
}

// Stores `n` floats as samples of type `t` (byte-reversed if `swap`): integers are rounded
// and clamped to the type's range, NaN becomes 0.
inline void pack_samples(const float* in, std::size_t n, const SampleType& t, bool swap, unsigned char* out) {
  for (std::size_t i = 0; i < n; ++i) {
    double v = in[i];
    unsigned char b[8];
    if (t.is_float) {
      if (t.bytes == 4) {
        const float f = in[i];
        std::memcpy(b, &f, 4);
      } else {
        std::memcpy(b, &v, 8);
      }
    } else {
      const double bits = 8.0 * static_cast<double>(t.bytes);
      const double lo = t.is_signed ? -std::exp2(bits - 1) : 0.0;
      const double hi = t.is_signed ? std::exp2(bits - 1) - 1 : std::exp2(bits) - 1;
      v = std::isnan(v) ? 0.0 : std::clamp(std::nearbyint(v), lo, hi);
      if (t.is_signed) {
        const auto x = v >= 9223372036854775807.0 ? std::numeric_limits<std::int64_t>::max()
                                                  : static_cast<std::int64_t>(v);
        std::memcpy(b, &x, 8);  // little-endian host: the low bytes come first
      } else {
        const auto x = v >= 18446744073709551615.0 ? std::numeric_limits<std::uint64_t>::max()
                                                   : static_cast<std::uint64_t>(v);
        std::memcpy(b, &x, 8);
      }
    }
    if (swap)
      for (std::size_t k = 0; k < t.bytes / 2; ++k) std::swap(b[k], b[t.bytes - 1 - k]);
    std::memcpy(out + i * t.bytes, b, t.bytes);
  }
}

// A decoded image becomes a Frame: sentinels masked (OpenOptions::mask_sentinels, with the
// options' saturation overriding the file's), then the requested flips.
inline Frame finish_frame(ImageF image, FrameMetadata metadata, std::optional<double> integer_max,
                          std::size_t index, std::string origin, const OpenOptions& options) {
  Frame frame;
  frame.index = index;
  frame.origin = std::move(origin);
  if (options.saturation_value) metadata.saturation_value = options.saturation_value;
  frame.invalid = Mask(image.shape, 0);
  if (options.mask_sentinels) mask_sentinels(image, frame.invalid, metadata.saturation_value, integer_max);
  frame.image = std::move(image);
  frame.metadata = std::move(metadata);
  apply_orientation(frame, options);
  return frame;
}

}  // namespace anvil::io::detail
