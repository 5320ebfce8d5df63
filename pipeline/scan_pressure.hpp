// Per-frame pressure of a scan, from whichever log the beamline kept: a pressure table, a
// SPEC counter in GPa, or a SPEC counter of ruby R1 wavelengths converted with a chosen scale.
// Frames are tagged compression / decompression from the pressure sequence.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

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
};

struct ScanPressures {
  std::vector<std::optional<double>> pressure_gpa;  // per frame; empty where the log has no value
  std::vector<double> esd_gpa;                      // 0 where unknown
  std::vector<pressure::Direction> direction;       // Unknown for frames without pressure
  std::vector<std::string> warnings;                // sanity warnings, frames without pressure
};

// Pressures for frames 0..frame_count-1. A frame the log does not cover gets no pressure and a
// warning (the scan goes on); an unreadable log, a missing scan or counter is an InputError.
ScanPressures load_scan_pressures(const PressureSource& source, std::size_t frame_count);

}  // namespace anvil::pipeline
