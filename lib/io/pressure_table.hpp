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
#include <cstdint>
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

// How the frame numbers of a pressure log (a table's `frame` column, a SPEC frame counter) map
// onto a scan's frame numbers: log frame f is scan frame f - offset.
struct FrameNumbering {
  std::int64_t offset = 0;
  std::string note;                   // how the numbering was decided, for the log
  std::vector<std::string> warnings;  // rows ignored (beyond the scan, with an explicit numbering)
};

// Decides the numbering, for a scan whose frames are numbered scan_first..scan_last:
//  - `log_first` set (the log's number of the scan's first frame, [pressure] first_frame):
//    offset = log_first - scan_first; rows that then fall outside the scan are warnings;
//  - the log numbers exactly scan_first+1 .. scan_last+1 (beamlines count images from 1):
//    offset 1, said in `note`;
//  - every log frame is a scan frame: offset 0 (scan frames without a row get no pressure);
//  - `growing` (live mode: frames still arriving) and no log frame below scan_first: offset 0,
//    rows beyond the scan wait for their frames;
//  - anything else is an InputError naming `source` and the log frames that are not frames of
//    the scan, never a silent shift.
FrameNumbering match_frame_numbers(const std::vector<std::size_t>& log_frames, std::size_t scan_first,
                                   std::size_t scan_last, std::optional<std::int64_t> log_first, bool growing,
                                   const std::string& source);

// "0-11, 13, 15-20": a sorted list of frame numbers as ranges, for messages.
std::string frame_ranges(const std::vector<std::size_t>& sorted_frames);

// A frame given twice: an error (the default), or the first row kept and the others reported in
// `warnings`, so that a slip in a hand-written table does not stop a long series.
enum class RepeatedFrames { Error, KeepFirst };

// Reads a pressure table. Throws InputError naming the file (and line) for an unreadable file,
// a missing header or required column, a non-numeric value, a negative or non-integer frame,
// a frame given twice (unless KeepFirst), a negative esd, or a table without data rows.
// Warns (in `warnings`) about pressures above 500 GPa or below -1 GPa (wrong units?).
PressureTable read_pressure_table(const std::filesystem::path& path,
                                  RepeatedFrames repeated = RepeatedFrames::Error);

// The same, from text already in memory; `source` names it in messages.
PressureTable parse_pressure_table(std::string_view text, const std::string& source,
                                   RepeatedFrames repeated = RepeatedFrames::Error);

}  // namespace anvil::io
