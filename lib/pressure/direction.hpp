// Compression or decompression: the branch of a pressure cycle each frame of a scan is on.
//
// The rule (a hysteresis "zig-zag" on the frame-ordered pressures):
//  * A change counts only if it exceeds the tolerance
//      tol(i, j) = max(min_step_gpa, esd_factor * sqrt(esd_i^2 + esd_j^2))
//    between frames i and j (esd = pressure uncertainty; 0 where not given), so noise below
//    the tolerance never flips the direction.
//  * While compressing, the running maximum is tracked. A frame more than tol below it
//    confirms a turn: the frames after the maximum (the peak itself stays Compression) up to
//    this one become Decompression, and the running minimum is tracked from here on; and
//    symmetrically for decompression. Frames within tol of the extreme keep the current
//    direction. Multiple cycles are handled the same way.
//  * The frames before the first significant change take the direction of that change
//    (a typical scan starts by compressing). If the pressure never changes by more than tol,
//    every frame is Unknown; so is a frame whose pressure is not finite (NaN = not measured).
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace anvil::pressure {

enum class Direction { Compression, Decompression, Unknown };

std::string_view direction_name(Direction d);  // "compression", "decompression", "unknown"

struct DirectionOptions {
  double min_step_gpa = 0.05;  // smallest change that counts, whatever the esd
  double esd_factor = 2.0;     // a change must exceed this many combined esd
};

// One Direction per frame of `pressure_gpa` (frame order = time order). `esd_gpa` is empty
// or one esd per frame. Throws InputError if the sizes differ or an option is negative.
std::vector<Direction> tag_directions(std::span<const double> pressure_gpa,
                                      std::span<const double> esd_gpa = {},
                                      const DirectionOptions& options = {});

}  // namespace anvil::pressure
