// The scan description: one TOML file says where a scan's frames, geometry, masks and pressure
// log are, how to integrate each detector, which phases to fit and which superlattices to try.
// Relative paths are relative to the TOML file. Unknown keys and wrong types are errors that
// name the key and its line. The reference with a commented example is docs/scan_description.md.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "azimuthal.hpp"
#include "io/mask.hpp"
#include "scan_pressure.hpp"

namespace anvil::pipeline {

struct DetectorConfig {
  std::string name;                 // "waxs" or "saxs"
  std::vector<std::string> frames;  // sources: HDF5/NeXus (master), patterns, lists
  std::string poni;
  std::string mask, dark, flat;                                      // optional
  io::MaskOrientation mask_orientation = io::MaskOrientation::Auto;  // layout of the mask file
  std::string detector;                                              // preset overriding the .poni's detector
  bool flip_ud = false, flip_lr = false;
  IntegrationSettings integration;
};

struct FitConfig {
  std::vector<std::string> phases;           // sample phases: short names (CdSe-WZ) or CIF paths
  std::string model = "bragg";               // bragg (Rietveld) | debye (Debye-function clusters, lib/debye)
  std::vector<std::string> others;           // gasket / pressure markers: fitted apart, Le Bail (debye model)
  std::optional<integrate::Range> sizes_nm;  // debye: the cluster diameters' grid (nm)
  std::string shape = "sphere";              // debye: sphere | cylinder (rods, platelets)
  double aspect = 1.0;                       // debye cylinders: length / diameter
  std::array<int, 3> axis_uvw{0, 0, 1};      // debye cylinders: the axis as a lattice direction
  bool shared_size = true;                   // debye: polymorphs share one size distribution of formula units
  bool faulted = false;                      // debye: WZ and ZB as one faulted phase with a refined α
  bool le_bail = false;                      // every phase profile-matched (cells, a marker's pressure)
  std::string mode = "independent";          // independent | sequential
  std::string instrument;                    // instrument profile (JSON), optional
  std::optional<integrate::Range> range;     // in the WAXS pattern's unit
};

struct SaxsIndexConfig {
  std::vector<std::string> lattices = {"fcc", "bcc", "sc", "hcp", "hex2d", "hex3d", "lamellar"};
  std::optional<integrate::Range> q_range_inv_nm;
};

// What was in the cell ([sample]): recorded in results.h5 (NXsample) and saxs_nxcansas.h5.
struct SampleConfig {
  std::string name;         // default: the scan's name
  std::string medium;       // pressure-transmitting medium, e.g. "silicone oil", "Ne"
  std::string description;  // free text
};

struct ScanConfig {
  std::filesystem::path file;  // the TOML read
  std::string name;            // scan name (default: the TOML's stem)
  std::optional<DetectorConfig> waxs;
  std::optional<DetectorConfig> saxs;
  std::optional<PressureSource> pressure;
  SampleConfig sample;
  FitConfig fit;
  SaxsIndexConfig saxs_index;
  std::size_t frames_in_flight = 8;  // memory bound of the flow graph
};

ScanConfig load_scan_config(const std::filesystem::path& toml_file);
ScanConfig parse_scan_config(const std::string& text, const std::filesystem::path& source_name);

}  // namespace anvil::pipeline
