// The scan's results file (results.h5, NeXus): every frame's patterns for each detector as
// NXdata stacks, the groups the pipeline builds from its tables (docs/formats.md), and the
// provenance of every number. Written whole, to a
// temporary name, then renamed: a reader never sees a half-written file.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/pattern.hpp"

namespace anvil::io {

struct PatternStackData {
  std::string name;  // group under /entry, e.g. "waxs"
  RadialUnit unit = RadialUnit::QInvNm;
  std::vector<double> x;
  std::vector<std::int64_t> frame_index;       // one per row
  std::vector<double> pressure_gpa;            // one per row (NaN: none), or empty
  std::vector<std::vector<double>> intensity;  // rows (frames) × bins
  std::vector<std::vector<double>> sigma;      // same shape, or empty
  std::string intensity_units = "arbitrary";
};

struct TableColumn {
  std::string name;
  std::string units;
  std::vector<double> numbers;       // numeric column, or
  std::vector<std::string> strings;  // text column
};

// One NeXus field: a 1-D numeric or text dataset (a scalar when `scalar`), with its units
// (every numeric field has them; "1" for a dimensionless number) and other string attributes.
struct NxField {
  std::string name;
  std::string units;
  std::vector<double> numbers;
  std::vector<std::string> strings;
  bool text = false;    // a text field (strings), even when empty
  bool scalar = false;  // numbers[0] or strings[0] as a scalar dataset
  std::vector<std::pair<std::string, std::string>> attributes;  // long_name, note, ...
};

// One NeXus group: its class, attributes (text, text arrays such as @axes, integers such as
// @AXIS_indices), fields and the groups inside it.
struct NxGroup {
  std::string name;
  std::string nx_class;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<std::pair<std::string, std::vector<std::string>>> array_attributes;
  std::vector<std::pair<std::string, std::int64_t>> int_attributes;
  std::vector<NxField> fields;
  std::vector<NxGroup> groups;
};

struct ResultsContent {
  std::vector<PatternStackData> patterns;                       // /entry/<name>, NXdata
  NxGroup entry;                                                // /entry's own fields and other groups
  std::vector<std::pair<std::string, std::string>> provenance;  // /entry/process/<key>
  std::string default_group;                                    // NXdata a viewer opens first
};

void write_results_file(const std::filesystem::path& path, const ResultsContent& content);

// Writes a CSV table atomically: a header line, then one row per entry of the columns (all the
// same length); numbers with full precision, empty cells for NaN.
void write_csv(const std::filesystem::path& path, const std::vector<TableColumn>& columns);

}  // namespace anvil::io

namespace anvil::io {

// SAXS patterns as NXcanSAS (the canSAS 1D standard SasView, Irena and DAWN read): one
// SASentry per frame with SASdata (Q in 1/nm, I and Idev in `intensity_units`: "1/cm" on
// absolute scale, else "arbitrary"), SASsample (name, pressure, thickness, transmission),
// SASinstrument (SASsource: radiation, wavelength; SASdetector: name, SDD, pixel sizes) and
// SASprocess (name, date, what was done, as notes). Written to a temporary name, then renamed.
struct CanSasFrame {
  std::int64_t frame = 0;
  std::string title;  // e.g. "frame 12, 6.2 GPa, compression"
  std::vector<double> q_inv_nm, intensity, sigma;
  double pressure_gpa = NAN, pressure_esd_gpa = NAN;  // NaN: unknown
  std::string direction;                              // compression | decompression | ""
  double monitor = NAN, transmission = NAN;           // the frame's normalisation, NaN: none
};
// What every entry shares.
struct CanSasRun {
  std::string intensity_units = "arbitrary";
  std::string sample_name, sample_details;
  double thickness_mm = NAN;
  std::string radiation = "Synchrotron X-ray Source";
  double wavelength_a = NAN;
  std::string detector_name;
  double distance_m = NAN, pixel_x_m = NAN, pixel_y_m = NAN;
  std::string process_name = "anvil", process_date, process_description;
  std::vector<std::pair<std::string, std::string>> process_notes;  // SASprocess/<key>: what was done
};
void write_nxcansas(const std::filesystem::path& path, const std::vector<CanSasFrame>& frames,
                    const CanSasRun& run = {});

// A flat HDF5 file of named 1-D float64 arrays and string attributes: what anvil caches between
// runs (the Debye model's pair sums, pipeline/debye_fit.cpp). Written to a temporary name and
// renamed, so a reader never sees a half-written file; read back whole. read_array_file throws
// InputError naming the file for a file that is not one.
struct ArrayFile {
  std::map<std::string, std::vector<double>> arrays;
  std::map<std::string, std::string> text;
};
void write_array_file(const std::filesystem::path& path, const ArrayFile& content);
ArrayFile read_array_file(const std::filesystem::path& path);

}  // namespace anvil::io
