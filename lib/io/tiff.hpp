// TIFF detector images (Pilatus, MAR, Perkin-Elmer, Dioptas masks) read through libtiff.
//
// Every page (IFD) of a file is one frame. Samples may be 1-bit, (u)int8/16/32/64 or
// float32/64, stored in strips or tiles with any compression libtiff decodes; only
// single-channel (grey) images are detector images. Row 0 is the first row in the file
// (TIFF's default top-left origin); the Orientation tag is not applied.
//
// Pilatus TIFFs hold int32 counts with -1 in module gaps and -2 in bad pixels, and their
// ImageDescription carries the "# Key value" mini-header (see pilatus_header.hpp): that
// becomes the frame metadata, Count_cutoff the saturation value.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/frame_source.hpp"

namespace anvil::io {

// Opens a TIFF (any extension: Dioptas writes masks as "*.mask"). Reads only the page
// directory now; pixels are read by FrameSource::read, one page at a time.
std::unique_ptr<FrameSource> open_tiff(const std::string& path, const OpenOptions& options = {});

// Decodes every page of a TIFF held in memory (fuzzing, network buffers). `name` labels
// errors and Frame::origin. Pages larger than `max_pixels` are rejected before allocating.
// Throws InputError for anything unreadable, including one bad page.
std::vector<Frame> read_tiff_memory(std::span<const std::byte> bytes, const OpenOptions& options = {},
                                    const std::string& name = "<memory>",
                                    std::size_t max_pixels = std::size_t{1} << 28);

enum class TiffSampleType { uint8, int8, uint16, int16, uint32, int32, float32, float64 };
enum class TiffCompression { none, deflate, lzw, packbits };

struct TiffWriteOptions {
  TiffSampleType type = TiffSampleType::float32;
  TiffCompression compression = TiffCompression::none;
  std::size_t tile_size = 0;       // 0: strips; else square tiles of this edge (a multiple of 16)
  std::size_t rows_per_strip = 0;  // 0: libtiff's default (~8 KiB strips)
  std::string description;         // ImageDescription, e.g. a Pilatus "# Key value" header
};

// Writes one page per image. Values are rounded to the nearest integer and clamped to the
// type's range for integer types. Throws InputError (naming the path) when writing fails.
void write_tiff(const std::string& path, const std::vector<ImageF>& pages,
                const TiffWriteOptions& options = {});

// Writes a mask as Dioptas does: one uint8 page, 1 = masked, deflate-compressed.
void write_tiff_mask(const std::string& path, const Mask& mask);

}  // namespace anvil::io
