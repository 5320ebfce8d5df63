// HDF5 / NeXus frame sources, including EIGER master files whose /entry/data/data_NNNNNN
// are external links to data files, and the bitshuffle+LZ4 chunks EIGER detectors write.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/frame_source.hpp"

namespace anvil::io {

// Opens `dataset` in `path` (2D image or 3D stack, any integer or float type). With an empty
// `dataset`, finds the images: an EIGER master's data_NNNNNN links, /entry/data/data, the
// NeXus default NXdata's signal, or else the largest 2D/3D numeric dataset in the file.
// Metadata come from the NeXus tree (NXdetector, NXbeam, NXmonochromator) where present; the
// detector's pixel_mask is applied to every frame.
std::unique_ptr<FrameSource> open_hdf5(const std::string& path, const std::string& dataset,
                                       const OpenOptions& options);

// Decodes one chunk written by the HDF5 bitshuffle filter (id 32008) in LZ4 mode: a 12-byte
// header (uncompressed size, block size; big-endian), then LZ4 blocks that are bit-unshuffled
// with Debian's bitshuffle library. Throws std::runtime_error on corrupt input.
std::vector<std::byte> decode_bitshuffle_lz4(std::span<const std::byte> chunk, std::size_t elem_size);

// The bytes of a whole dataset as HDF5 reads them (filters applied by the HDF5 library).
std::vector<std::byte> read_dataset_bytes(const std::string& path, const std::string& dataset);

// One stored chunk, still compressed, and the filter mask HDF5 reports for it.
struct RawChunk {
  std::vector<std::byte> bytes;
  unsigned filter_mask = 0;
};
RawChunk read_raw_chunk(const std::string& path, const std::string& dataset,
                        const std::vector<unsigned long long>& offset);

// --- writing (round-trip tests, benchmarks, the simulator) ---

enum class Hdf5Compression { None, Gzip, Lz4, BitshuffleLz4 };
enum class PixelType { UInt8, UInt16, UInt32, Int16, Int32, Float32, Float64 };

struct Hdf5StackOptions {
  std::string dataset = "/entry/data/data";
  PixelType pixel_type = PixelType::UInt32;
  Hdf5Compression compression = Hdf5Compression::BitshuffleLz4;
  FrameMetadata metadata;  // written as NeXus NXdetector / NXbeam fields
  Mask pixel_mask;         // written as /entry/instrument/detector/pixel_mask when not empty
  bool nexus = true;       // NX_class attributes and /entry/data as NXdata
};

// Appends frames one at a time to a chunked (1 × rows × cols) stack.
class Hdf5StackWriter {
 public:
  Hdf5StackWriter(const std::string& path, Shape shape, const Hdf5StackOptions& options);
  ~Hdf5StackWriter();
  Hdf5StackWriter(const Hdf5StackWriter&) = delete;
  Hdf5StackWriter& operator=(const Hdf5StackWriter&) = delete;
  void append(const ImageF& image);  // values are rounded and clamped to the pixel type
  void close();
  std::size_t frames_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes an EIGER-style master file: NeXus metadata plus /entry/data/data_NNNNNN external
// links to the given data files' /entry/data/data (paths stored relative to the master).
void write_eiger_master(const std::string& master_path, const std::vector<std::string>& data_files,
                        const FrameMetadata& metadata, const Mask& pixel_mask = {});

}  // namespace anvil::io
