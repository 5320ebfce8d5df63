// results.h5's NeXus groups from the scan's tables (scan_outputs.hpp's ScanTables, the columns
// the CSV writers write), the scan description and each detector's geometry: the layout is in
// docs/formats.md ("results.h5").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "geometry/geometry.hpp"
#include "io/results_file.hpp"
#include "scan_outputs.hpp"

namespace anvil::pipeline {

struct NexusDetector {
  std::string name;  // "waxs" or "saxs": the NXdetector is NAME_detector
  geometry::Geometry geometry;
};

// A beam monitor read per frame (I0 counter), one value per row of the frames table (NaN: none).
struct NexusMonitor {
  std::string counter, source;  // the counter's name, where it was read ("file scan 12")
  std::vector<double> counts;
};

struct NexusScan {
  std::string title;  // the scan's name
  std::string sample_name, sample_medium, sample_description;
  std::vector<NexusDetector> detectors;
  std::optional<NexusMonitor> monitor;
};

// A name NeXus accepts for a group or field: letters, digits and '_' ("CdSe-WZ" → "CdSe_WZ").
std::string nexus_name(const std::string& name);

// /entry's groups and fields (to io::ResultsContent::entry) and the NXdata it should open on
// (@default): "fractions" with phases fitted, else "superlattice", else "" (the patterns).
io::NxGroup results_entry(const ScanTables& tables, const NexusScan& scan, std::string* default_group);

}  // namespace anvil::pipeline
