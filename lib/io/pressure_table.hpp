// Pressure per frame, read from a CSV table written by hand or by a ruby/standard fit.
//
// Format:
//   # comments start with '#', anywhere on a line; blank lines are ignored
//   frame, pressure_gpa, pressure_esd_gpa      <- header, required, column order free
//   0, 0.52, 0.03
//   1, 1.10                                    <- esd may be left out (or empty)
// Columns are matched by name, case-insensitively: `frame` and `pressure_gpa` are required,
// `pressure_esd_gpa` optional; other columns are ignored. Fields may carry spaces around
// them. Frames are non-negative integers, each at most once; rows are returned sorted by frame.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace anvil::io {

struct PressurePoint {
  std::size_t frame = 0;
  double pressure_gpa = 0.0;
  std::optional<double> esd_gpa;
  std::size_t line = 0;  // 1-based line in the file, for messages
};

struct PressureTable {
  std::string source;                 // the file read
  std::vector<PressurePoint> points;  // sorted by frame, at least one
  std::vector<std::string> warnings;  // sanity warnings ("line 7: pressure 1200 GPa ..."), not errors

  // The point of `frame`, or nullptr.
  const PressurePoint* find(std::size_t frame) const;
  // The point of `frame`; throws InputError naming the table and the frames it does cover.
  const PressurePoint& at(std::size_t frame) const;
  double pressure_gpa(std::size_t frame) const { return at(frame).pressure_gpa; }

  std::vector<double> pressures_gpa() const;  // in frame order
  // esd per point in frame order, 0 where not given.
  std::vector<double> esds_gpa() const;
};

// Reads a pressure table. Throws InputError naming the file (and line) for an unreadable file,
// a missing header or required column, a non-numeric value, a negative or non-integer frame,
// a frame given twice, a negative esd, or a table without data rows.
// Warns (in `warnings`) about pressures above 500 GPa or below -1 GPa (wrong units?).
PressureTable read_pressure_table(const std::filesystem::path& path);

// The same, from text already in memory; `source` names it in messages.
PressureTable parse_pressure_table(std::string_view text, const std::string& source);

}  // namespace anvil::io
