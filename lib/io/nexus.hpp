// Internal (lib/io only): the NeXus pieces every file anvil writes shares, so that results.h5,
// `anvil integrate -o x.h5` and saxs_nxcansas.h5 take one path.
#pragma once

#include <hdf5.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/pattern.hpp"
#include "io/results_file.hpp"

namespace anvil::io::nx {

// Moves a finished temporary file to its name; a failure is an InputError naming the file (and
// the temporary is removed).
void rename_into_place(const std::filesystem::path& tmp, const std::filesystem::path& path);

// The NXdata layout of a stack of patterns, one for `anvil run` and `anvil integrate`: @signal
// "I", @axes ["frame_index", RADIAL] (cakes: ["frame_index", "chi", RADIAL]), @frame_index_indices
// 0, @RADIAL_indices 1 (cakes: @chi_indices 1, @RADIAL_indices 2), and the radial (and χ) axis
// with units and long_name. The caller writes frame_index, I and I_errors (tag_stack_fields
// gives them their units).
void tag_pattern_stack(hid_t group, RadialUnit unit, const std::vector<double>& x,
                       const std::vector<double>& chi_deg, const std::string& origin);
// units on frame_index ("1"), I and I_errors (`intensity_units`), once they are written.
void tag_stack_fields(hid_t group, const std::string& intensity_units);

// A 1-D float64 dataset with units (none when empty).
void write_1d(hid_t loc, const std::string& name, const std::vector<double>& v, const std::string& units,
              const std::string& origin);

// `group` and everything in it, under `parent`.
void write_group(hid_t parent, const NxGroup& group, const std::string& origin);
// What `group` holds (its name aside), into the open group `id`.
void write_group_contents(hid_t id, const NxGroup& group, const std::string& origin);

}  // namespace anvil::io::nx
