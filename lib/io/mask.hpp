// Masks, dark and flat frames: the per-pixel corrections that come as files.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "io/frame_source.hpp"

namespace anvil::io {

// How a mask file is laid out relative to the frames as their files store them.
//
// Dioptas flips every image up-down when it loads it (ImgModel.load_PIL, FabioLoader.get_image
// and Hdf5Image.get_image all return `data[::-1]`) and draws the mask on that flipped image;
// "Save mask" with its default filter "Mask (*.mask)" writes the mask array as it is
// (MaskModel.save_mask, flipud=False): a Dioptas .mask is up-down flipped relative to the
// detector files. Only its "Vertically flipped mask" filter (*.npy, *.edf) flips it back.
enum class MaskOrientation {
  Auto,     // Dioptas for a file whose name ends in ".mask", Raw for any other
  Raw,      // as the frames are stored (pyFAI, silx, fabio, anvil's own TIFF/EDF/HDF5 masks)
  Dioptas,  // as Dioptas shows the frames: up-down flipped relative to the files
};

// "auto", "raw", "dioptas" (any case); anything else is an InputError naming `what` (the
// option or key) and the accepted values.
MaskOrientation parse_mask_orientation(std::string_view text, const std::string& what);
std::string_view mask_orientation_name(MaskOrientation o);

// The layout `spec` is read in: `requested` unless Auto, which is Dioptas for a ".mask" file
// (the extension Dioptas saves masks with) and Raw for anything else, "file.h5:/path" included.
MaskOrientation resolve_mask_orientation(const std::string& spec, MaskOrientation requested);

// The flips that bring a mask stored in layout `stored` (Raw or Dioptas) onto frames read with
// `frames`' flips. A Raw mask takes the frames' flips; a Dioptas mask is already up-down
// flipped, so it is flipped up-down exactly when the frames are not (and left-right with them).
OpenOptions mask_flips(MaskOrientation stored, const OpenOptions& frames);

// One line for the log: which layout `spec` was read in and which flips were applied.
std::string describe_mask_orientation(const std::string& spec, MaskOrientation stored,
                                      const OpenOptions& frames);

// Reads a mask (1 = masked, any non-zero or NaN value counts as masked) from any image
// format open_frames reads: TIFF, a Dioptas ".mask" (a TIFF), EDF (silx/pyFAI), CBF, or
// HDF5 ("mask.h5:/path"), and lays it over frames read with `frames`' flips according to
// `stored` (see MaskOrientation). With `expected` set, a mask of another shape is an
// InputError naming both shapes.
Mask read_mask(const std::string& spec, std::optional<Shape> expected = std::nullopt,
               const OpenOptions& frames = {}, MaskOrientation stored = MaskOrientation::Auto);

// Writes `mask`, given in the orientation of the frame files, as Dioptas saves a ".mask":
// up-down flipped, uint8 TIFF (io::write_tiff_mask).
void write_dioptas_mask(const std::string& path, Mask mask);

// A dark or flat frame: the pixel-wise mean of every frame in `spec` (a dark series is
// averaged), read with the frames' flips. Pixels invalid in any frame are flagged in `invalid`
// (if given).
ImageF read_mean_frame(const std::string& spec, std::optional<Shape> expected = std::nullopt,
                       const OpenOptions& orientation = {}, Mask* invalid = nullptr);

// Every pixel masked in `extra` becomes masked in `mask` (shapes must agree).
void merge_mask(Mask& mask, const Mask& extra);

}  // namespace anvil::io
