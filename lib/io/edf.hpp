// EDF (ESRF Data Format) images, the format of ESRF detectors, fit2d, pyFAI/silx masks.
//
// A file is a sequence of blocks, each an ASCII header "{ key = value ; ... }" padded with
// spaces to a multiple of 512 bytes and ending "}\n", followed by Size bytes of pixels.
// Dim_1 is the fast axis (columns), Dim_2 the slow axis (rows): pixel (row, col) is
// sample row * Dim_1 + col, the orientation fabio and pyFAI read. Every block with
// dimensions is one frame; a header-only block (Size 0, no Dim_1) is skipped.
// DataType accepts every name fabio knows (UnsignedByte ... DoubleIEEE64), ByteOrder
// LowByteFirst or HighByteFirst; only uncompressed data is read.
//
// Metadata comes from the ESRF SAXS keywords: WaveLength, SampleDistance, PSize_1/2 (m),
// Center_1/2 (pixels), ExposureTime (s).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/frame_source.hpp"

namespace anvil::io {

// Opens an EDF and reads all its headers; pixels are read by FrameSource::read. A block
// that is unreadable (truncated, a Size too small for its dimensions) becomes a FrameError
// for that frame; a file with no readable header at all is an InputError.
std::unique_ptr<FrameSource> open_edf(const std::string& path, const OpenOptions& options = {});

// Decodes every frame of an EDF held in memory (fuzzing). `name` labels errors; more than
// `max_pixels` pixels in total are rejected before allocating. Any bad block: InputError.
std::vector<Frame> read_edf_memory(std::span<const std::byte> bytes, const OpenOptions& options = {},
                                   const std::string& name = "<memory>",
                                   std::size_t max_pixels = std::size_t{1} << 28);

enum class EdfDataType { uint8, int8, uint16, int16, uint32, int32, float32, float64 };

struct EdfWriteOptions {
  EdfDataType type = EdfDataType::float32;
  bool big_endian = false;                                 // ByteOrder = HighByteFirst
  FrameMetadata metadata;                                  // written as the SAXS keywords above
  std::vector<std::pair<std::string, std::string>> extra;  // more "key = value ;" lines
};

// Writes one block per image, as silx/fabio do. Integer types round and clamp.
// Throws InputError naming the path when writing fails or a key/value cannot be written.
void write_edf(const std::string& path, const std::vector<ImageF>& frames,
               const EdfWriteOptions& options = {});

// Writes a mask as pyFAI does: one UnsignedByte block, 1 = masked.
void write_edf_mask(const std::string& path, const Mask& mask);

}  // namespace anvil::io
