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

// A glassy-carbon standard measured with the same set-up ([saxs.normalization.glassy_carbon]):
// its image and the empty holder's, integrated as the frames are (mask, dark, flat, solid angle,
// polarisation), I_gc / (M · T) − I_empty / M per thickness, compared with its calibrated curve
// (1/cm): the median ratio is the absolute-scale factor (lib/saxs/absolute_scale.hpp).
struct GlassyCarbonConfig {
  std::string frames, empty;                      // images (averaged if several frames)
  std::string reference;                          // calibrated curve: q, I (1/cm)[, σ], '#' comments
  RadialUnit reference_unit = RadialUnit::QInvA;  // of its q (APS USAXS / Irena: 1/Å)
  double thickness_mm = 1.0;
  double transmission = 1.0;
  double monitor = 1.0;  // its monitor count, in the units of `monitor` (1: counts per exposure)
  std::optional<integrate::Range> q_range;  // nm⁻¹, where the ratio is taken
};

// Per-frame normalisation of the SAXS patterns ([saxs.normalization]): I / (M · T) with M the
// monitor (I0) count and T the transmission, less the empty cell's I_e / M_e, divided by the
// thickness and times an absolute-scale factor (given, or from a glassy-carbon standard): then
// I is in 1/cm. Applied to
// the NXcanSAS patterns; results.h5 keeps the integrated I and records the counters (NXmonitor).
struct NormalizationConfig {
  std::string monitor;                 // I0 counter (SPEC column), e.g. "ic0"; "" : M = 1
  std::string transmitted;             // counter behind the sample: T = (transmitted / monitor) / empty_ratio
  double empty_ratio = 1.0;            // transmitted / monitor measured with the empty cell
  std::string empty;                   // the empty cell's image(s): I_empty / empty_monitor subtracted
  double empty_monitor = 1.0;          // its monitor count (1 when the frames have no monitor)
  std::optional<double> thickness_mm;  // sample thickness
  std::optional<double> absolute_scale;             // to 1/cm
  std::optional<GlassyCarbonConfig> glassy_carbon;  // ... or from this standard
  // Where the counters are: a SPEC file and scan (default: [pressure]'s, when it is a SPEC log),
  // and the column numbering its points as frames (default: [pressure]'s frame_counter).
  std::string file, scan, frame_counter;
};

struct DetectorConfig {
  std::string name;                 // "waxs" or "saxs"
  std::vector<std::string> frames;  // sources: HDF5/NeXus (master), patterns, lists
  std::string poni;
  std::string mask, dark, flat;                                      // optional
  io::MaskOrientation mask_orientation = io::MaskOrientation::Auto;  // layout of the mask file
  std::string detector;                                              // preset overriding the .poni's detector
  bool flip_ud = false, flip_lr = false;
  IntegrationSettings integration;
  std::optional<NormalizationConfig> normalization;
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
