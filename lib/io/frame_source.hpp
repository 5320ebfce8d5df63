// Frame sources: one interface over every detector file format a beamline writes.
//
// A source knows how many frames it holds and reads them one at a time, on demand, so
// a 1000-frame scan is never all in memory. Each frame comes as float32 pixels plus a
// mask of the pixels the detector itself marks invalid (gaps, dead pixels, saturated
// or overflowed counts, NeXus pixel_mask bits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/image.hpp"

namespace anvil::io {

// What the file says about the experiment. Every field is optional: formats differ.
struct FrameMetadata {
  std::optional<double> wavelength_m;
  std::optional<double> distance_m;
  std::optional<double> beam_center_x_px;  // fast axis (column), as NeXus writes it
  std::optional<double> beam_center_y_px;  // slow axis (row)
  std::optional<double> pixel_size_x_m;    // fast axis
  std::optional<double> pixel_size_y_m;    // slow axis
  std::optional<double> count_time_s;
  std::optional<double> saturation_value;  // counts at and above this are masked
  std::string detector;                    // e.g. "Pilatus 1M", "EIGER2 X 4M"

  // Fill every unset field of *this from `other` (file-level defaults under per-frame values).
  void merge_defaults(const FrameMetadata& other);
};

struct Frame {
  std::size_t index = 0;  // the frame's number in the scan (FrameSource::first_number() + position)
  ImageF image;           // float32 counts
  Mask invalid;           // 1 where the detector says the pixel is not a measurement
  FrameMetadata metadata;
  std::string origin;  // "file.h5:/entry/data/data[12]" — where the pixels came from
};

// Pixel type as stored in the file ("uint32", "int32", "float32", ...).
std::string dtype_name(bool is_float, bool is_signed, std::size_t bytes);

struct SourceInfo {
  std::string path;     // the file (or pattern) opened
  std::string dataset;  // HDF5 dataset read, empty for other formats
  std::string format;   // "HDF5", "NeXus/EIGER master", "TIFF", "CBF", "EDF", "file list"
  std::string dtype;
  std::string compression;  // "bitshuffle+LZ4", "gzip", "none", "CBF byte-offset", ...
  std::size_t frame_count = 0;
  Shape shape;
  FrameMetadata metadata;  // scan-level metadata (first frame's where per-frame)
};

struct OpenOptions {
  bool flip_up_down = false;     // Dioptas-style geometries expect the image flipped up-down
  bool flip_left_right = false;  // applied after the up-down flip
  // Mask the detector's sentinel values: negative counts (Pilatus gaps -1, bad pixels -2),
  // counts >= saturation_value, the all-ones value of unsigned integer types (EIGER).
  bool mask_sentinels = true;
  std::optional<double> saturation_value;  // overrides the file's value
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const SourceInfo& info() const = 0;
  std::size_t frame_count() const { return info().frame_count; }
  Shape shape() const { return info().shape; }
  // A frame is its number in the scan, never its place among the files that happen to exist:
  // frames are numbered first_number() .. first_number() + frame_count() - 1 — the index in a
  // stack (from 0), the number in the names of a numbered file series (scan_{:05d}.tif, from
  // the lowest number present; a file missing inside the series is one unreadable frame).
  virtual std::size_t first_number() const { return 0; }
  // Reads the frame at `position` (0-based, number - first_number()). Throws FrameError for a
  // frame that cannot be read (the others are still readable), InputError for a position out
  // of range. Implementations are safe to call from several threads at once.
  virtual Frame read(std::size_t position) const = 0;
  // Where the pixels of the frame at `position` come from, as a stable text: file (and dataset)
  // and index in it; for a file holding one frame also its size and modification time, so that
  // a result computed from it can tell when the file was replaced (run checkpoints).
  virtual std::string frame_identity(std::size_t position) const;
};

// " (size N, mtime T)" of a regular file, "" when it is not one: part of frame identities.
std::string file_stamp(const std::string& path);

// Opens any supported source:
//  - "file.h5" (the first image-like dataset: /entry/data/data or a NeXus NXdata signal),
//    "file.h5:/path/to/dataset", an EIGER master file (external links data_000001...)
//  - "*.tif|*.tiff" (single or multi-page), "*.cbf", "*.edf"
//  - a pattern with a {} / {:05d} field ("scan_{:05d}.tif"): a numbered series, one frame per
//    file, frame N from the file numbered N (numbers from the lowest present to the highest; a
//    gap is a frame that fails with "file not found")
//  - a glob with * or ? ("scan_*.tif"): every file that exists, concatenated in natural order
// Throws InputError naming the file and the problem.
std::unique_ptr<FrameSource> open_frames(const std::string& spec, const OpenOptions& options = {});

// Several files read as one scan, frames concatenated in the order given.
std::unique_ptr<FrameSource> open_frames(const std::vector<std::string>& files,
                                         const OpenOptions& options = {});

// Expand a "{:05d}"-style pattern (or a glob with * and ?) to existing files in natural order.
std::vector<std::string> expand_pattern(const std::string& pattern);

// The files of a numbered series ("scan_{:05d}.tif", exactly one number field), by number;
// more than one file per number when the field is not zero-padded ("{}": f1 and f01).
std::map<std::size_t, std::vector<std::string>> numbered_files(const std::string& pattern);

// Sort file names so that "f2" < "f10" (numbers compared by value).
void natural_sort(std::vector<std::string>& names);

// Mark sentinel pixels of a freshly read image (see OpenOptions::mask_sentinels).
// `integer_max` is the all-ones value of the stored unsigned integer type, if any.
void mask_sentinels(const ImageF& image, Mask& invalid, std::optional<double> saturation,
                    std::optional<double> integer_max);

// Apply flips from the options to a frame (image and invalid mask together).
void apply_orientation(Frame& frame, const OpenOptions& options);

// Iterate all frames, handing each good one to `on_frame` and each unreadable one to
// `on_error`; a bad frame never stops the loop. Returns the number of good frames.
std::size_t for_each_frame(const FrameSource& source, const std::function<void(Frame&&)>& on_frame,
                           const std::function<void(const FrameError&)>& on_error);

}  // namespace anvil::io
