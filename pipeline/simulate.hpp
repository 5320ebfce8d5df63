// `anvil simulate`: anvil's own forward model of a diamond-anvil-cell scan. A pressure path
// (compression, then decompression) with a phase-transition history and a superlattice history
// becomes, frame by frame, WAXS and SAXS 1D patterns from lib/powder and lib/saxs, projected onto
// two area detectors through pyFAI geometries (solid angle, polarisation, tilt, module gaps, a
// beamstop), with Poisson noise, saturated diamond Bragg spots and a weak gasket ring, written as
// a beamline writes it: EIGER-style NeXus masters with bitshuffle-LZ4 data files, .poni files,
// Dioptas masks, a pressure table, a SPEC file with a ruby R1 column, calibrant images, the scan
// description `anvil run` reads, and the truth (truth.json). The same settings and seed always
// give the same bytes. docs/simulate.md describes the model, the parameters and the truth file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace anvil::pipeline {

// Third-order Birch–Murnaghan EOS of one phase: V0 is the phase file's cell.
struct SimPhaseEos {
  double k0_gpa = 53.0;
  double k0_prime = 4.0;
};

struct SimulationConfig {
  // --- scan
  std::string name = "cdse_dac";
  std::size_t frames = 20;
  std::uint64_t seed = 1;
  std::string detector_size = "small";  // "small" (Pilatus 300K-sized) or "pilatus1m"
  double p_start_gpa = 0.1;
  double p_max_gpa = 11.0;
  double p_end_gpa = 0.2;
  double compression_share = 0.55;  // share of the frames on the way up (the peak frame included)
  double pressure_esd_gpa = 0.05;   // ruby reading noise: σ = esd + 0.01·P
  double count_time_s = 10.0;
  // --- WAXS sample (4.8-nm CdSe)
  double wavelength_a = 0.4859;
  double size_nm = 4.8;
  double initial_zb_fraction = 0.0;  // the rest is WZ
  double up_transition_gpa = 6.0;    // WZ(+ZB) → RS on compression: logistic centre ...
  double up_width_gpa = 0.6;         // ... and width
  double down_transition_gpa = 1.5;  // RS → ZB on decompression
  double down_width_gpa = 0.4;
  double retained_rs_fraction = 0.3;  // RS left at ambient after decompression
  SimPhaseEos eos_wz{53.0, 4.0}, eos_zb{53.0, 4.0}, eos_rs{74.0, 4.0};
  double waxs_peak_counts = 1500.0;  // strongest CdSe line at frame 0 (per pixel, before Ω·P)
  double waxs_background_counts = 150.0;
  double compton_counts = 120.0;  // diamond Compton hump height
  std::size_t diamond_spots = 4;  // saturated single-crystal diamond reflections per frame
  bool gasket = true;             // weak Re rings (hcp, a = 2.761 Å, c = 4.456 Å)
  double gasket_counts = 25.0;
  // --- SAXS superlattice (SCIENCE.md: fcc d111 = 5.03 nm, lamellar d = 5.81 nm at ambient)
  double d111_nm = 5.03;
  double fcc_shrink_per_gpa = 0.012;  // relative d111 change per GPa up to `fcc_distort_gpa`
  double fcc_distort_gpa = 7.5;       // above this d111 expands again ...
  double fcc_expand_per_gpa = 0.006;  // ... by this relative amount per GPa
  double lamellar_onset_gpa = 10.0;   // fcc → lamellar (irreversible) at and above this
  double lamellar_d_nm = 5.81;        // lamellar period at ambient
  double lamellar_shrink_per_gpa = 0.010;
  double particle_radius_nm = 2.4;
  double polydispersity = 0.10;
  double saxs_counts = 1500.0;  // counts at P·S = 1
  // --- where the phases and calibrants are
  std::filesystem::path phase_dir;      // calib/phases
  std::filesystem::path calibrant_dir;  // calib/calibrants
};

// Reads a truth file (TOML) over the defaults: sections [scan], [waxs], [transition], [eos],
// [saxs] with the keys named as the fields above (docs/simulate.md). Unknown keys and wrong types
// are InputErrors naming the key and line.
void load_simulation_truth(const std::filesystem::path& toml_file, SimulationConfig& config);

// The truth of one frame.
struct FrameTruth {
  std::size_t frame = 0;
  double pressure_gpa = 0;           // the true pressure
  double pressure_measured_gpa = 0;  // what the "ruby" log says (pressure.csv, SPEC)
  double pressure_esd_gpa = 0;
  std::string direction;                          // "compression" | "decompression"
  double wz = 0, zb = 0, rs = 0;                  // formula-unit (= weight) fractions
  double a_wz = 0, c_wz = 0, a_zb = 0, a_rs = 0;  // Å
  std::string superlattice;                       // "fcc" | "lamellar"
  double sl_a_nm = 0;                             // fcc cubic a, or the lamellar period
  double sl_d_first_nm = 0;                       // d111 (fcc) or d001 (lamellar)
};

// The per-frame truth of a configuration (no files, fast).
std::vector<FrameTruth> simulation_truth(const SimulationConfig& config);

struct SimulationOutput {
  std::filesystem::path scan_toml;  // the scan description `anvil run` reads
  std::vector<std::filesystem::path> files;
  std::vector<FrameTruth> truth;
};

// Writes the whole scan into `out_dir` (created). Throws InputError for a bad configuration.
SimulationOutput simulate_scan(const SimulationConfig& config, const std::filesystem::path& out_dir);

}  // namespace anvil::pipeline
