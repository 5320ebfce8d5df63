// Per-frame pressure of a scan, from whichever log the beamline kept: a pressure table, a
// SPEC counter in GPa, or a SPEC counter of ruby R1 wavelengths converted with a chosen scale.
// Frames are tagged compression / decompression from the pressure sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/spec.hpp"
#include "pressure/direction.hpp"
#include "pressure/ruby.hpp"

namespace anvil::pipeline {

struct PressureSource {
  enum class Kind { Table, SpecPressure, SpecRuby };
  Kind kind = Kind::Table;
  std::string path;                // CSV table or SPEC file
  std::string spec_scan;           // "12" or "12.2"
  std::string spec_counter;        // column label
  std::string spec_frame_counter;  // optional column giving the frame of each point
  pressure::RubyScale ruby_scale = pressure::RubyScale::Shen2020;
  std::optional<double> ruby_lambda0_nm;  // reference R1 at ambient (default: the scale's)
  std::optional<double> ruby_esd_nm;      // uncertainty of the R1 position, propagated to GPa
  // The log's frame number of the scan's first frame ([pressure] first_frame): states the
  // numbering instead of letting anvil decide it (io::match_frame_numbers).
  std::optional<std::int64_t> first_frame;
};

struct ScanPressures {
  std::vector<std::optional<double>> pressure_gpa;  // per frame; empty where the log has no value
  std::vector<double> esd_gpa;                      // 0 where unknown
  std::vector<pressure::Direction> direction;       // Unknown for frames without pressure
  std::vector<std::string> warnings;                // sanity warnings, frames without pressure
  std::string numbering;                            // how log frames were matched to scan frames
};

// Pressures of the scan's frames numbered first_frame .. first_frame + frame_count - 1, indexed
// by position (number - first_frame). The log's frame numbers are matched to the scan's by
// io::match_frame_numbers (a table numbered 1..N for frames 0..N-1 is read as 1-based and said
// so; any other mismatch is an InputError naming the frames). A scan frame the log does not
// cover gets no pressure and a warning; an unreadable log, a missing scan or counter is an
// InputError. `growing`: live mode, rows for frames not yet written are kept for later.
// Which scan frame each point of a SPEC scan is (by position number - first_frame; none for a
// point outside the scan): point i in order, from `log_first_frame` (default 0), or the value of
// the `frame_counter` column matched by io::match_frame_numbers. `where` names the log in errors.
struct SpecPointFrames {
  std::vector<std::optional<std::size_t>> position;  // per point
  std::string note;
  std::vector<std::string> warnings;
};
SpecPointFrames spec_point_frames(const io::SpecScan& scan, const std::string& frame_counter,
                                  std::optional<std::int64_t> log_first_frame, std::size_t first_frame,
                                  std::size_t frame_count, bool growing, const std::string& where);

// A SPEC counter (a monitor, a transmission diode) per scan frame, its points matched to frames as
// the pressure's are; NaN for a frame without a point. InputError naming the file, scan or counter.
std::vector<double> load_scan_counter(const std::string& spec_path, const std::string& scan,
                                      const std::string& counter, const std::string& frame_counter,
                                      std::optional<std::int64_t> log_first_frame, std::size_t first_frame,
                                      std::size_t frame_count, bool growing = false);

ScanPressures load_scan_pressures(const PressureSource& source, std::size_t first_frame,
                                  std::size_t frame_count, bool growing = false);

}  // namespace anvil::pipeline
