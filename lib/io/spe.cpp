#include "io/spe.hpp"

#include <fmt/core.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/detector_file.hpp"

namespace anvil::io {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeaderBytes = 4100;

template <class T>
T read_le(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // x86-64 and ARM64 Linux are little-endian, as SPE is
  return v;
}

struct SpeType {
  detail::SampleType sample;
  const char* name;
};

SpeType spe_type(int code, const std::string& path) {
  switch (code) {
    case 0:
      return {{true, true, 4}, "float32"};
    case 1:
      return {{false, true, 4}, "int32"};
    case 2:
      return {{false, true, 2}, "int16"};
    case 3:
      return {{false, false, 2}, "uint16"};
    case 5:
      return {{true, true, 8}, "float64"};
    case 6:
      return {{false, false, 1}, "uint8"};
    case 8:
      return {{false, false, 4}, "uint32"};
    default:
      throw InputError(path, fmt::format("unknown SPE datatype {} (expected 0, 1, 2, 3, 5, 6 or 8)", code));
  }
}

template <class T>
void to_float(const unsigned char* src, std::size_t n, float* dst) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(read_le<T>(src + i * sizeof(T)));
}

class SpeSource final : public FrameSource {
 public:
  SpeSource(const std::string& path, const OpenOptions& options) : options_(options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path, fs::exists(path) ? "cannot open" : "file not found");
    unsigned char h[kHeaderBytes];
    in.read(reinterpret_cast<char*>(h), kHeaderBytes);
    if (static_cast<std::size_t>(in.gcount()) != kHeaderBytes)
      throw InputError(path, "shorter than the 4100-byte SPE header (truncated or not an SPE file)");
    const std::size_t cols = read_le<std::uint16_t>(h + 42);
    const std::size_t rows = read_le<std::uint16_t>(h + 656);
    const int frames = read_le<std::int32_t>(h + 1446);
    type_ = spe_type(read_le<std::int16_t>(h + 108), path);
    const float exposure = read_le<float>(h + 10);
    const float version = read_le<float>(h + 1992);
    if (rows == 0 || cols == 0)
      throw InputError(path, fmt::format("SPE header gives an empty image {}x{}", rows, cols));
    if (frames <= 0 || frames > 1000000)
      throw InputError(path, fmt::format("SPE header gives {} frames", frames));
    frame_bytes_ = rows * cols * type_.sample.bytes;
    const auto size = fs::file_size(path);
    const std::size_t whole = size >= kHeaderBytes ? (size - kHeaderBytes) / frame_bytes_ : 0;
    if (whole == 0)
      throw InputError(path, fmt::format("truncated: {} bytes of data, one {}x{} {} frame needs {}",
                                         size - std::min<std::uintmax_t>(size, kHeaderBytes), rows, cols,
                                         type_.name, frame_bytes_));
    declared_frames_ = static_cast<std::size_t>(frames);
    info_.path = path;
    info_.format = fmt::format("SPE (Princeton Instruments, header v{:.1f})", version);
    info_.dtype = type_.name;
    info_.compression = "none";
    info_.shape = {rows, cols};
    info_.frame_count = declared_frames_;  // frames missing from a cut file are bad frames
    available_frames_ = std::min(declared_frames_, whole);
    if (std::isfinite(exposure) && exposure > 0) info_.metadata.count_time_s = exposure;
    info_.metadata.detector = "Princeton Instruments CCD";
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    if (index >= info_.frame_count)
      throw InputError(info_.path,
                       fmt::format("frame {} out of range ({} frames)", index, info_.frame_count));
    if (index >= available_frames_)
      throw FrameError(info_.path, index, "file is truncated before this frame");
    std::ifstream in(info_.path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(kHeaderBytes + index * frame_bytes_));
    std::vector<unsigned char> buf(frame_bytes_);
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(frame_bytes_));
    if (static_cast<std::size_t>(in.gcount()) != frame_bytes_)
      throw FrameError(info_.path, index, "short read");
    Frame f;
    f.index = index;
    f.origin = fmt::format("{}[{}]", info_.path, index);
    f.metadata = info_.metadata;
    f.image = ImageF(info_.shape);
    const std::size_t n = info_.shape.pixel_count();
    float* dst = f.image.pixels.data();
    const auto& s = type_.sample;
    if (s.is_float) {
      s.bytes == 4 ? to_float<float>(buf.data(), n, dst) : to_float<double>(buf.data(), n, dst);
    } else if (s.bytes == 1) {
      to_float<std::uint8_t>(buf.data(), n, dst);
    } else if (s.bytes == 2) {
      s.is_signed ? to_float<std::int16_t>(buf.data(), n, dst) : to_float<std::uint16_t>(buf.data(), n, dst);
    } else {
      s.is_signed ? to_float<std::int32_t>(buf.data(), n, dst) : to_float<std::uint32_t>(buf.data(), n, dst);
    }
    f.invalid = Mask(info_.shape, 0);
    if (options_.mask_sentinels)
      mask_sentinels(f.image, f.invalid, options_.saturation_value,
                     s.is_float || s.is_signed ? std::nullopt : s.integer_max());
    apply_orientation(f, options_);
    return f;
  }

 private:
  OpenOptions options_;
  SourceInfo info_;
  SpeType type_;
  std::size_t frame_bytes_ = 0;
  std::size_t declared_frames_ = 0;
  std::size_t available_frames_ = 0;
};

template <class T>
void put(std::vector<unsigned char>& b, std::size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}

}  // namespace

std::unique_ptr<FrameSource> open_spe(const std::string& path, const OpenOptions& options) {
  return std::make_unique<SpeSource>(path, options);
}

void write_spe(const std::string& path, const std::vector<ImageF>& frames, bool as_float, float exposure_s) {
  if (frames.empty()) throw InputError(path, "no frames to write");
  const Shape s = frames.front().shape;
  if (s.rows > 65535 || s.cols > 65535) throw InputError(path, "SPE images are at most 65535 pixels a side");
  std::vector<unsigned char> h(kHeaderBytes, 0);
  put<float>(h, 10, exposure_s);
  put<std::uint16_t>(h, 42, static_cast<std::uint16_t>(s.cols));
  put<std::int16_t>(h, 108, static_cast<std::int16_t>(as_float ? 0 : 3));
  put<std::uint16_t>(h, 656, static_cast<std::uint16_t>(s.rows));
  put<std::int32_t>(h, 1446, static_cast<std::int32_t>(frames.size()));
  put<float>(h, 1992, 2.5f);
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(path, "cannot create file");
  out.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
  for (const auto& f : frames) {
    if (f.shape != s) throw InputError(path, "all SPE frames must have the same shape");
    for (float v : f.pixels) {
      if (as_float) {
        out.write(reinterpret_cast<const char*>(&v), 4);
      } else {
        const auto u = static_cast<std::uint16_t>(std::clamp(std::nearbyint(v), 0.0f, 65535.0f));
        out.write(reinterpret_cast<const char*>(&u), 2);
      }
    }
  }
  if (!out) throw InputError(path, "write failed");
}

}  // namespace anvil::io
