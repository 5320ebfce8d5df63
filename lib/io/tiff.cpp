#include "io/tiff.hpp"

#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "io/detector_file.hpp"
#include "io/pilatus_header.hpp"

namespace anvil::io {
namespace {

using detail::SampleType;

// What libtiff said while a handle was open: it goes into exception text, never to stderr.
struct TiffMessages {
  std::string errors;
  std::string warnings;
};

void append_message(std::string& to, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (to.size() > 2000) return;  // a corrupt file can produce thousands; the first ones say enough
  if (!to.empty()) to += "; ";
  to += buf;
}

int on_tiff_error(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  append_message(static_cast<TiffMessages*>(user)->errors, fmt, ap);
  return 1;  // handled: the global handler (stderr) is not called
}

int on_tiff_warning(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  append_message(static_cast<TiffMessages*>(user)->warnings, fmt, ap);
  return 1;
}

// A TIFF byte buffer seen through libtiff's client I/O callbacks.
struct MemoryFile {
  const unsigned char* data = nullptr;
  std::uint64_t size = 0;
  std::uint64_t pos = 0;
};

tmsize_t memory_read(thandle_t h, void* buf, tmsize_t n) {
  auto* f = static_cast<MemoryFile*>(h);
  if (n <= 0 || f->pos >= f->size) return 0;
  const std::uint64_t count = std::min<std::uint64_t>(static_cast<std::uint64_t>(n), f->size - f->pos);
  std::memcpy(buf, f->data + f->pos, count);
  f->pos += count;
  return static_cast<tmsize_t>(count);
}

tmsize_t memory_write(thandle_t, void*, tmsize_t) { return -1; }

toff_t memory_seek(thandle_t h, toff_t offset, int whence) {
  auto* f = static_cast<MemoryFile*>(h);
  std::uint64_t base = 0;
  if (whence == SEEK_CUR) base = f->pos;
  if (whence == SEEK_END) base = f->size;
  if (offset > std::numeric_limits<std::uint64_t>::max() - base) return static_cast<toff_t>(-1);
  f->pos = base + offset;
  return f->pos;
}

int memory_close(thandle_t) { return 0; }
toff_t memory_size(thandle_t h) { return static_cast<MemoryFile*>(h)->size; }
int memory_map(thandle_t, void**, toff_t*) { return 0; }
void memory_unmap(thandle_t, void*, toff_t) {}

// One open libtiff handle with its message sink (declared first: it outlives TIFFClose).
class TiffHandle {
 public:
  // `bytes` empty: open the file `name`; otherwise read `bytes`, which must outlive the handle.
  TiffHandle(const std::string& name, const char* mode, std::span<const std::byte> bytes = {},
             std::size_t max_alloc = 0) {
    TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, &messages_);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, &messages_);
    if (max_alloc) TIFFOpenOptionsSetMaxSingleMemAlloc(opts, static_cast<tmsize_t>(max_alloc));
    if (bytes.empty()) {
      tif_ = TIFFOpenExt(name.c_str(), mode, opts);
    } else {
      memory_.data = reinterpret_cast<const unsigned char*>(bytes.data());
      memory_.size = bytes.size();
      tif_ = TIFFClientOpenExt(name.c_str(), mode, &memory_, memory_read, memory_write, memory_seek,
                               memory_close, memory_size, memory_map, memory_unmap, opts);
    }
    TIFFOpenOptionsFree(opts);
  }
  ~TiffHandle() { close(); }
  TiffHandle(const TiffHandle&) = delete;
  TiffHandle& operator=(const TiffHandle&) = delete;

  TIFF* get() const { return tif_; }
  void close() {
    if (tif_) TIFFClose(tif_);
    tif_ = nullptr;
  }
  // libtiff's own words about the latest failure, for exception text.
  std::string explain(const std::string& fallback) {
    std::string s = messages_.errors.empty() ? fallback : messages_.errors;
    messages_.errors.clear();
    return s;
  }
  bool has_errors() const { return !messages_.errors.empty(); }

 private:
  TiffMessages messages_;
  MemoryFile memory_;
  TIFF* tif_ = nullptr;
};

// A problem with one page; callers turn it into InputError or FrameError.
struct PageProblem {
  std::string what;
};

struct PageLayout {
  std::uint32_t width = 0, height = 0;
  std::uint16_t bits = 0;  // 1 for bilevel, else 8 * type.bytes
  SampleType type;
  std::string compression;
  FrameMetadata metadata;
};

std::string compression_name(std::uint16_t scheme) {
  if (scheme == COMPRESSION_NONE) return "none";
  if (const TIFFCodec* codec = TIFFFindCODEC(scheme)) return codec->name;
  return "compression scheme " + std::to_string(scheme);
}

// Reads the current page's tags and checks it is an image anvil can decode.
PageLayout read_layout(TiffHandle& h, std::size_t max_pixels) {
  TIFF* tif = h.get();
  PageLayout p;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p.width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p.height))
    throw PageProblem{"no ImageWidth/ImageLength tag"};
  if (p.width == 0 || p.height == 0)
    throw PageProblem{"empty image (" + std::to_string(p.width) + " x " + std::to_string(p.height) + ")"};
  const std::uint64_t pixels = std::uint64_t{p.width} * p.height;
  if (pixels > max_pixels)
    throw PageProblem{std::to_string(p.width) + " x " + std::to_string(p.height) +
                      " pixels is larger than any detector (limit " + std::to_string(max_pixels) + ")"};
  std::uint16_t bps = 1, spp = 1, format = SAMPLEFORMAT_UINT, scheme = COMPRESSION_NONE;
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &scheme);
  if (spp != 1)
    throw PageProblem{std::to_string(spp) + " samples per pixel (a colour image); detector images have 1"};
  if (!TIFFIsCODECConfigured(scheme))
    throw PageProblem{compression_name(scheme) + " is not supported by this libtiff"};
  p.compression = compression_name(scheme);
  p.bits = bps;
  switch (format) {
    case SAMPLEFORMAT_UINT:
    case SAMPLEFORMAT_VOID:
      if (bps != 1 && bps != 8 && bps != 16 && bps != 32 && bps != 64)
        throw PageProblem{std::to_string(bps) + "-bit unsigned samples are not supported"};
      p.type = {false, false, bps == 1 ? std::size_t{1} : bps / 8u};
      break;
    case SAMPLEFORMAT_INT:
      if (bps != 8 && bps != 16 && bps != 32 && bps != 64)
        throw PageProblem{std::to_string(bps) + "-bit signed samples are not supported"};
      p.type = {false, true, bps / 8u};
      break;
    case SAMPLEFORMAT_IEEEFP:
      if (bps != 32 && bps != 64)
        throw PageProblem{std::to_string(bps) + "-bit floating-point samples are not supported"};
      p.type = {true, true, bps / 8u};
      break;
    default:
      throw PageProblem{"sample format " + std::to_string(format) + " (complex) is not supported"};
  }
  if (char* text = nullptr; TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &text) && text)
    p.metadata = parse_pilatus_header(text);
  if (char* model = nullptr;
      p.metadata.detector.empty() && TIFFGetField(tif, TIFFTAG_MODEL, &model) && model) {
    std::string m = model;
    while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back()))) m.pop_back();
    p.metadata.detector = m;
  }
  return p;
}

// Converts `n` samples of one row (byte-aligned start) to float.
void convert_row(const unsigned char* src, std::size_t n, const PageLayout& p, float* out) {
  if (p.bits == 1) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>((src[i / 8] >> (7 - i % 8)) & 1u);
    return;
  }
  detail::convert_samples(src, n, p.type, false, out);  // libtiff already swapped to native order
}

std::uint64_t row_bytes_needed(std::uint64_t n, const PageLayout& p) {
  return p.bits == 1 ? (n + 7) / 8 : n * p.type.bytes;
}

// Decodes the current page's pixels (strips or tiles) into a float image.
ImageF decode_pixels(TiffHandle& h, const PageLayout& p, std::size_t max_pixels) {
  TIFF* tif = h.get();
  ImageF image(Shape{p.height, p.width});
  std::vector<unsigned char> buf;
  if (TIFFIsTiled(tif)) {
    std::uint32_t tw = 0, th = 0;
    if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) ||
        tw == 0 || th == 0)
      throw PageProblem{"tiled image without a valid TileWidth/TileLength"};
    if (std::uint64_t{tw} * th > max_pixels) throw PageProblem{"tiles larger than the pixel limit"};
    const tmsize_t tile_bytes = TIFFTileSize(tif);
    const tmsize_t tile_row = TIFFTileRowSize(tif);
    if (tile_bytes <= 0 || tile_row <= 0 || static_cast<std::uint64_t>(tile_row) < row_bytes_needed(tw, p) ||
        static_cast<std::uint64_t>(tile_bytes) < static_cast<std::uint64_t>(tile_row) * th)
      throw PageProblem{h.explain("inconsistent tile size")};
    buf.resize(static_cast<std::size_t>(tile_bytes));
    for (std::uint32_t y = 0; y < p.height; y += th) {
      for (std::uint32_t x = 0; x < p.width; x += tw) {
        const ttile_t tile = TIFFComputeTile(tif, x, y, 0, 0);
        const tmsize_t got = TIFFReadEncodedTile(tif, tile, buf.data(), tile_bytes);
        if (got < tile_bytes)
          throw PageProblem{"tile " + std::to_string(tile) + " (x " + std::to_string(x) + ", y " +
                            std::to_string(y) + "): " + h.explain("could not be decoded")};
        const std::uint32_t rows = std::min(th, p.height - y), cols = std::min(tw, p.width - x);
        for (std::uint32_t r = 0; r < rows; ++r)
          convert_row(buf.data() + static_cast<std::size_t>(r) * tile_row, cols, p, &image(y + r, x));
      }
    }
  } else {
    std::uint32_t rows_per_strip = p.height;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
    if (rows_per_strip == 0 || rows_per_strip > p.height) rows_per_strip = p.height;
    const tmsize_t row_bytes = TIFFScanlineSize(tif);
    if (row_bytes <= 0 || static_cast<std::uint64_t>(row_bytes) < row_bytes_needed(p.width, p))
      throw PageProblem{h.explain("inconsistent row size")};
    const std::uint32_t strips = (p.height - 1) / rows_per_strip + 1;
    if (TIFFNumberOfStrips(tif) < strips)
      throw PageProblem{"has " + std::to_string(TIFFNumberOfStrips(tif)) + " strips, " +
                        std::to_string(strips) + " are needed for " + std::to_string(p.height) + " rows"};
    buf.resize(static_cast<std::size_t>(row_bytes) * rows_per_strip);
    for (std::uint32_t s = 0; s < strips; ++s) {
      const std::uint32_t first = s * rows_per_strip;
      const std::uint32_t rows = std::min(rows_per_strip, p.height - first);
      const tmsize_t want = row_bytes * static_cast<tmsize_t>(rows);
      const tmsize_t got = TIFFReadEncodedStrip(tif, s, buf.data(), want);
      if (got < want)
        throw PageProblem{
            "strip " + std::to_string(s) + " of " + std::to_string(strips) + ": " +
            h.explain(got < 0 ? "could not be decoded"
                              : "only " + std::to_string(got) + " of " + std::to_string(want) + " bytes")};
      for (std::uint32_t r = 0; r < rows; ++r)
        convert_row(buf.data() + static_cast<std::size_t>(r) * row_bytes, p.width, p, &image(first + r, 0));
    }
  }
  return image;
}

std::optional<double> integer_max(const PageLayout& p) {
  return p.bits == 1 ? std::nullopt : p.type.integer_max();
}

std::string dtype_of(const PageLayout& p) { return p.bits == 1 ? "bit" : p.type.name(); }

// libtiff caps single allocations at this (strip offsets, decode buffers of a lying file).
std::size_t alloc_cap(std::size_t max_pixels) {
  return std::max<std::size_t>(max_pixels, std::size_t{1} << 20) * 8 + (std::size_t{64} << 20);
}

class TiffSource final : public FrameSource {
 public:
  TiffSource(const std::string& path, const OpenOptions& options) : options_(options) {
    info_.path = path;
    info_.format = "TIFF";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
    TiffHandle h(path, "rm");
    if (!h.get()) throw InputError(path, "not a readable TIFF: " + h.explain("libtiff could not open it"));
    // The page directory: each IFD's offset, so read(i) can jump straight to page i.
    do {
      offsets_.push_back(TIFFCurrentDirOffset(h.get()));
    } while (offsets_.size() < kMaxPages && TIFFReadDirectory(h.get()));
    // A broken IFD chain after good pages leaves those pages readable: libtiff has
    // stopped at the last directory it could read.
    h.explain("");
    if (!TIFFSetDirectory(h.get(), 0)) throw InputError(path, "first page: " + h.explain("cannot be read"));
    try {
      const PageLayout p = read_layout(h, kMaxPixels);
      info_.shape = Shape{p.height, p.width};
      info_.dtype = dtype_of(p);
      info_.compression = p.compression;
      info_.metadata = p.metadata;
      if (options.saturation_value) info_.metadata.saturation_value = options.saturation_value;
    } catch (const PageProblem& e) {
      throw InputError(path, (offsets_.size() > 1 ? "page 0: " : "") + e.what);
    }
    info_.frame_count = offsets_.size();
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    const std::string& path = info_.path;
    if (index >= offsets_.size())
      throw InputError(path, "frame " + std::to_string(index) + " out of range: the file has " +
                                 std::to_string(offsets_.size()) + " page(s)");
    try {
      TiffHandle h(path, "rm");  // one handle per call: libtiff handles are not shareable
      if (!h.get()) throw PageProblem{"cannot reopen: " + h.explain("libtiff could not open it")};
      if (index > 0 && !TIFFSetSubDirectory(h.get(), offsets_[index]))
        throw PageProblem{h.explain("directory cannot be read")};
      const PageLayout p = read_layout(h, kMaxPixels);
      if (Shape{p.height, p.width} != info_.shape)
        throw PageProblem{"is " + std::to_string(p.height) + " x " + std::to_string(p.width) +
                          ", page 0 is " + std::to_string(info_.shape.rows) + " x " +
                          std::to_string(info_.shape.cols)};
      ImageF image = decode_pixels(h, p, kMaxPixels);
      const std::string origin = offsets_.size() > 1 ? path + "[" + std::to_string(index) + "]" : path;
      return detail::finish_frame(std::move(image), p.metadata, integer_max(p), index, origin, options_);
    } catch (const PageProblem& e) {
      throw FrameError(path, index, e.what);
    }
  }

 private:
  static constexpr std::size_t kMaxPages = 1'000'000;
  static constexpr std::size_t kMaxPixels = std::size_t{1} << 28;
  SourceInfo info_;
  OpenOptions options_;
  std::vector<std::uint64_t> offsets_;
};

// --- writing ---

SampleType write_type(TiffSampleType t) {
  switch (t) {
    case TiffSampleType::uint8:
      return {false, false, 1};
    case TiffSampleType::int8:
      return {false, true, 1};
    case TiffSampleType::uint16:
      return {false, false, 2};
    case TiffSampleType::int16:
      return {false, true, 2};
    case TiffSampleType::uint32:
      return {false, false, 4};
    case TiffSampleType::int32:
      return {false, true, 4};
    case TiffSampleType::float32:
      return {true, true, 4};
    case TiffSampleType::float64:
      return {true, true, 8};
  }
  return {true, true, 4};
}

std::uint16_t compression_tag(TiffCompression c) {
  switch (c) {
    case TiffCompression::none:
      return COMPRESSION_NONE;
    case TiffCompression::deflate:
      return COMPRESSION_ADOBE_DEFLATE;
    case TiffCompression::lzw:
      return COMPRESSION_LZW;
    case TiffCompression::packbits:
      return COMPRESSION_PACKBITS;
  }
  return COMPRESSION_NONE;
}

}  // namespace

std::unique_ptr<FrameSource> open_tiff(const std::string& path, const OpenOptions& options) {
  return std::make_unique<TiffSource>(path, options);
}

std::vector<Frame> read_tiff_memory(std::span<const std::byte> bytes, const OpenOptions& options,
                                    const std::string& name, std::size_t max_pixels) {
  if (bytes.size() < 8)
    throw InputError(name, "too short to be a TIFF (" + std::to_string(bytes.size()) + " bytes)");
  TiffHandle h(name, "rm", bytes, alloc_cap(max_pixels));
  if (!h.get()) throw InputError(name, "not a readable TIFF: " + h.explain("libtiff could not open it"));
  std::vector<Frame> frames;
  std::size_t total_pixels = 0;
  for (std::size_t page = 0;; ++page) {
    try {
      const PageLayout p = read_layout(h, max_pixels - total_pixels);
      total_pixels += std::size_t{p.width} * p.height;
      ImageF image = decode_pixels(h, p, max_pixels);
      frames.push_back(detail::finish_frame(std::move(image), p.metadata, integer_max(p), page,
                                            name + "[" + std::to_string(page) + "]", options));
    } catch (const PageProblem& e) {
      throw InputError(name, "page " + std::to_string(page) + ": " + e.what);
    }
    if (!TIFFReadDirectory(h.get())) break;
  }
  if (h.has_errors())
    throw InputError(name, "after page " + std::to_string(frames.size() - 1) + ": " + h.explain(""));
  return frames;
}

void write_tiff(const std::string& path, const std::vector<ImageF>& pages, const TiffWriteOptions& options) {
  if (pages.empty()) throw InputError(path, "nothing to write: no pages");
  if (options.tile_size % 16 != 0) throw InputError(path, "TIFF tile size must be a multiple of 16");
  const SampleType w = write_type(options.type);
  const std::size_t bytes = w.bytes;
  const std::uint16_t bits = static_cast<std::uint16_t>(8 * bytes);
  const std::uint16_t format = w.is_float    ? SAMPLEFORMAT_IEEEFP
                               : w.is_signed ? SAMPLEFORMAT_INT
                                             : SAMPLEFORMAT_UINT;
  std::uint64_t total = 0;
  for (const auto& p : pages) total += p.pixels.size() * bytes;
  TiffHandle h(path, total > (std::uint64_t{3} << 30) ? "w8" : "w");  // BigTIFF past ~3 GiB
  if (!h.get())
    throw InputError(path, "cannot create: " + h.explain("libtiff could not open it for writing"));
  TIFF* tif = h.get();
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const ImageF& img = pages[i];
    if (img.empty()) throw InputError(path, "page " + std::to_string(i) + " is empty");
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(img.cols()));
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(img.rows()));
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, bits);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, std::uint16_t{1});
    TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, format);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, compression_tag(options.compression));
    if (!options.description.empty())
      TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, options.description.c_str());
    if (pages.size() > 1) {
      TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
      TIFFSetField(tif, TIFFTAG_PAGENUMBER, static_cast<std::uint16_t>(std::min<std::size_t>(i, 65535)),
                   static_cast<std::uint16_t>(std::min<std::size_t>(pages.size(), 65535)));
    }
    bool ok = true;
    if (options.tile_size) {
      const auto ts = static_cast<std::uint32_t>(options.tile_size);
      TIFFSetField(tif, TIFFTAG_TILEWIDTH, ts);
      TIFFSetField(tif, TIFFTAG_TILELENGTH, ts);
      std::vector<unsigned char> tile(std::size_t{ts} * ts * bytes);
      for (std::size_t y = 0; y < img.rows() && ok; y += ts) {
        for (std::size_t x = 0; x < img.cols() && ok; x += ts) {
          std::fill(tile.begin(), tile.end(), 0);
          const std::size_t rows = std::min<std::size_t>(ts, img.rows() - y);
          const std::size_t cols = std::min<std::size_t>(ts, img.cols() - x);
          for (std::size_t r = 0; r < rows; ++r)
            detail::pack_samples(&img(y + r, x), cols, w, false, &tile[r * ts * bytes]);
          ok = TIFFWriteEncodedTile(
                   tif,
                   TIFFComputeTile(tif, static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y), 0, 0),
                   tile.data(), static_cast<tmsize_t>(tile.size())) >= 0;
        }
      }
    } else {
      const std::uint32_t rps = options.rows_per_strip ? static_cast<std::uint32_t>(options.rows_per_strip)
                                                       : TIFFDefaultStripSize(tif, 0);
      TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
      std::vector<unsigned char> row(img.cols() * bytes);
      for (std::size_t r = 0; r < img.rows() && ok; ++r) {
        detail::pack_samples(&img(r, 0), img.cols(), w, false, row.data());
        ok = TIFFWriteScanline(tif, row.data(), static_cast<std::uint32_t>(r), 0) >= 0;
      }
    }
    if (!ok || !TIFFWriteDirectory(tif))
      throw InputError(path, "writing page " + std::to_string(i) + " failed: " + h.explain("libtiff error"));
  }
  h.close();
  if (h.has_errors()) throw InputError(path, "writing failed: " + h.explain(""));
}

void write_tiff_mask(const std::string& path, const Mask& mask) {
  ImageF page(mask.shape);
  std::transform(mask.pixels.begin(), mask.pixels.end(), page.pixels.begin(),
                 [](std::uint8_t m) { return static_cast<float>(m); });
  TiffWriteOptions options;
  options.type = TiffSampleType::uint8;
  options.compression = TiffCompression::deflate;
  write_tiff(path, {page}, options);
}

}  // namespace anvil::io
