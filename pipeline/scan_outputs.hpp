// Tables and figures of a finished scan, made from the per-frame results (run_scan.hpp).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "geometry/geometry.hpp"
#include "io/results_file.hpp"
#include "run_scan.hpp"
#include "saxs/absolute_scale.hpp"

namespace anvil::pipeline {

// The scan's tables as typed columns, exactly as the CSV writers below write them (each column
// with its units): results.h5 is written from these (scan_outputs_nexus.hpp), never from the
// CSV files, so the two hold the same numbers. A writer given `tables` fills its part.
struct ScanTables {
  std::vector<std::string> phases, others;  // sample phases, gasket / marker phases
  std::vector<io::TableColumn> frames;      // frames.csv
  std::vector<io::TableColumn> fractions;   // phase_fractions.csv
  std::vector<io::TableColumn> lattice;     // lattice.csv
  std::vector<io::TableColumn> other_phases, eos, transitions, superlattice;
};

// The column called `name` of `table` (std::logic_error if there is none: a bug).
const io::TableColumn& column(const std::vector<io::TableColumn>& table, const std::string& name);

// phase_fractions.csv (frame, pressure_gpa, direction, <phase>, <phase>_esd …, rwp, status) and
// lattice.csv (frame, pressure_gpa, direction, phase, a, a_esd, c, c_esd, volume, volume_esd,
// d1_hkl, d1_spacing_A, d1_spacing_esd_A, d2…, d3…, size_nm, size_esd_nm) from the WAXS fits. Returns the
// files written. other_phases.csv: per frame and gasket/marker phase (fitted apart from the fractions, the
// Debye model's Le Bail phases): frame, pressure_gpa, direction, phase, a_A, a_esd_A, fwhm_inv_A, fwhm_slope,
// and for a pressure marker (Au, Pt, NaCl-B1, Ne) marker_pressure_gpa and its esd.
std::filesystem::path write_other_phases_table(const std::filesystem::path& dir,
                                               const std::vector<FrameResult>& frames,
                                               const std::vector<std::string>& others,
                                               ScanTables* tables = nullptr);

std::vector<std::filesystem::path> write_phase_tables(const std::filesystem::path& dir,
                                                      const std::vector<FrameResult>& frames,
                                                      const std::vector<std::string>& phases,
                                                      ScanTables* tables = nullptr);

// eos.csv (per phase: BM3, Vinet, BM2 and F–f fits of volume vs pressure with σ) and
// transitions.csv (onset, midpoint, width of the change of the high-pressure phase's fraction on
// compression and decompression, hysteresis, retained fraction at the lowest pressure) from the
// WAXS fits, through lib/series and in the layout of series_tables.hpp (as `anvil fit-series`);
// `high_pressure_phase` indexes `phases`. Returns the files written.
std::vector<std::filesystem::path> write_series_tables(const std::filesystem::path& dir,
                                                       const std::vector<FrameResult>& frames,
                                                       const std::vector<std::string>& phases,
                                                       std::size_t high_pressure_phase,
                                                       ScanTables* tables = nullptr);

// superlattice.csv (frame, pressure_gpa, direction, lattice, a_nm, a_esd_nm, c_nm, c_esd_nm,
// d_first_nm, d_nn_nm, domain_nm, score, status, change, runner_up, runner_up_a_nm,
// runner_up_score) from the SAXS indexing, and the figure of the lattice constant (and d of the
// first peak) vs pressure coloured by lattice type.
std::vector<std::filesystem::path> write_superlattice_outputs(const std::filesystem::path& dir,
                                                              const std::vector<FrameResult>& frames,
                                                              ScanTables* tables = nullptr);

// The SAXS detector as saxs_nxcansas.h5 describes it, and the counters its frames are normalised
// with ([saxs.normalization]): monitor and transmitted counts per frame of `frames` (same order,
// NaN where the log has none), read from `counters_source`.
struct SaxsDescription {
  std::string scan_name;
  std::optional<saxs::AbsoluteScale> glassy_carbon;  // the factor from [saxs.normalization.glassy_carbon]
  std::optional<Pattern1D> empty;                    // the empty cell, integrated as the frames
  SampleConfig sample;
  const DetectorConfig* config = nullptr;
  geometry::Geometry geometry;
  std::string integration;  // DetectorIntegrator::describe()
  std::string counters_source;
  std::vector<double> monitor, transmitted;
};

// The absolute-scale factor from the glassy-carbon standard of `c` ([saxs.normalization.glassy_carbon]):
// its image and the empty holder's read (with the frames' flips) and integrated by `integrator`
// (the frames' mask, dark, flat and corrections), I_gc / (M · T) − I_empty / M per cm of
// thickness compared with the calibrated curve. InputError naming the file for unreadable
// images or curve, patterns not in q, or no overlap.
saxs::AbsoluteScale glassy_carbon_scale(const DetectorConfig& c, const DetectorIntegrator& integrator);

// An image (the mean of its frames) read with the frames' flips and integrated as they are.
Pattern1D integrate_image(const std::string& file, const DetectorConfig& c,
                          const DetectorIntegrator& integrator);

// saxs_nxcansas.h5 from the SAXS patterns in q: one SASentry per frame with SASsample (pressure
// as a field), SASinstrument, SASprocess (mask, dark, flat, corrections, normalisation, .poni,
// anvil's version). With [saxs.normalization], I and Idev are divided by the frame's monitor and
// transmission (and the thickness, times absolute_scale: then in 1/cm); a frame without counts is
// left out, with a warning. Returns the file, or "" when no frame has a pattern in q.
std::filesystem::path write_saxs_nxcansas(const std::filesystem::path& dir,
                                          const std::vector<FrameResult>& frames, const SaxsDescription& saxs,
                                          std::vector<std::string>& warnings);

// Waterfalls of the WAXS (linear, coloured by the dominant phase) and SAXS (log) patterns, and
// with fits: phase fraction vs pressure (compression filled/solid, decompression open/dashed)
// and cell volume vs pressure. PNG and SVG. Returns the files written.
std::vector<std::filesystem::path> write_scan_plots(const std::filesystem::path& dir,
                                                    const std::vector<FrameResult>& frames,
                                                    const std::vector<std::string>& phases);

// report.html: one page tying the scan together — what was run, how many frames succeeded and
// why others failed, the transition and EOS numbers, and every figure in `dir`.
std::filesystem::path write_report(const std::filesystem::path& dir, const std::string& scan_name,
                                   const std::vector<FrameResult>& frames,
                                   const std::vector<std::string>& phases,
                                   const std::vector<std::filesystem::path>& outputs,
                                   const std::string& command_line);

}  // namespace anvil::pipeline
