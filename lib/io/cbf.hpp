// CBF (Crystallographic Binary File) detector images through CBFlib: the Pilatus/EIGER
// "mini-CBF" (one image, byte-offset compressed, "# Key value" header in
// _array_data.header_contents) and full imgCIF files.
//
// Every binary _array_data.data value in every data block is one frame, in file order.
// Rows are the slow axis (X-Binary-Size-Second-Dimension), columns the fast axis
// (X-Binary-Size-Fastest-Dimension), so pixel (row, col) = data[row * fast + col], the
// orientation fabio and pyFAI use. Integer and real arrays of any element size CBFlib
// decodes are read; Pilatus's -1 (gaps) and -2 (bad pixels) are masked as sentinels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/frame_source.hpp"

namespace anvil::io {

// Opens a CBF and lists its images; pixels are decoded by FrameSource::read. CBFlib is
// not documented as thread-safe, so calls into it are serialised inside anvil.
std::unique_ptr<FrameSource> open_cbf(const std::string& path, const OpenOptions& options = {});

// Decodes every image of a CBF held in memory (fuzzing). `name` labels errors; images
// with more than `max_pixels` pixels (in total) are rejected before allocating.
std::vector<Frame> read_cbf_memory(std::span<const std::byte> bytes, const OpenOptions& options = {},
                                   const std::string& name = "<memory>",
                                   std::size_t max_pixels = std::size_t{1} << 28);

// Writes a Pilatus-style mini-CBF: one int32 image, byte-offset compressed, with the set
// metadata fields as a PILATUS_1.2 header. Throws InputError naming the path on failure.
void write_cbf(const std::string& path, const Image<std::int32_t>& image, const FrameMetadata& metadata = {});

}  // namespace anvil::io
