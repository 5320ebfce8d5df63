// Tables and figures of a finished scan, made from the per-frame results (run_scan.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "run_scan.hpp"

namespace anvil::pipeline {

// phase_fractions.csv (frame, pressure_gpa, direction, <phase>, <phase>_esd …, rwp, status) and
// lattice.csv (frame, pressure_gpa, direction, phase, a, a_esd, c, c_esd, volume, volume_esd,
// d1_hkl, d1_a, d1_esd, d2…, d3…) from the WAXS fits. Returns the files written.
// other_phases.csv: per frame and gasket/marker phase (fitted apart from the fractions, the Debye
// model's Le Bail phases): frame, pressure_gpa, direction, phase, a_A, a_esd_A, fwhm_inv_A,
// fwhm_slope, and for a pressure marker (Au, Pt, NaCl-B1, Ne) marker_pressure_gpa and its esd.
std::filesystem::path write_other_phases_table(const std::filesystem::path& dir,
                                               const std::vector<FrameResult>& frames,
                                               const std::vector<std::string>& others);

std::vector<std::filesystem::path> write_phase_tables(const std::filesystem::path& dir,
                                                      const std::vector<FrameResult>& frames,
                                                      const std::vector<std::string>& phases);

// eos.csv (per phase: BM3, Vinet, BM2 and F–f fits of volume vs pressure with σ) and
// transitions.csv (onset, midpoint, width of the change of the high-pressure phase's fraction on
// compression and decompression, hysteresis, retained fraction at the lowest pressure) from the
// WAXS fits, through lib/series and in the layout of series_tables.hpp (as `anvil fit-series`);
// `high_pressure_phase` indexes `phases`. Returns the files written.
std::vector<std::filesystem::path> write_series_tables(const std::filesystem::path& dir,
                                                       const std::vector<FrameResult>& frames,
                                                       const std::vector<std::string>& phases,
                                                       std::size_t high_pressure_phase);

// superlattice.csv (frame, pressure_gpa, direction, lattice, a_nm, a_esd_nm, c_nm, c_esd_nm,
// d_first_nm, d_nn_nm, domain_nm, score, status) from the SAXS indexing, and the figure of the
// lattice constant (and d of the first peak) vs pressure coloured by lattice type.
std::vector<std::filesystem::path> write_superlattice_outputs(const std::filesystem::path& dir,
                                                              const std::vector<FrameResult>& frames);

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
