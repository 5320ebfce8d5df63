// A synthetic compression–decompression scan of CdSe nanocrystals made with anvil's own powder
// model and Poisson noise: WZ → RS on compression, RS → ZB on decompression with a chosen
// retained RS fraction. The truths (EOS, fractions) are what the series analysis must recover.
#pragma once

#include <cstdint>
#include <vector>

#include "powder/model.hpp"
#include "series/phase_eos.hpp"
#include "series/series.hpp"

namespace anvil::series::test {

constexpr double kWavelength = 0.4859;  // Å, 25.5 keV

// True equations of state of the simulated sample (deliberately not the defaults).
PhaseEos true_eos_wz();
PhaseEos true_eos_zb();
PhaseEos true_eos_rs();

// True RS fraction: compression midpoint 6.5 GPa (width 0.5); decompression midpoint 2.0 GPa
// (width 0.4), falling to `retained`.
double true_rs_fraction(double pressure_gpa, bool compression, double retained);

struct Scan {
  std::vector<powder::PowderPhase> phases;  // CdSe-WZ, CdSe-ZB, CdSe-RS (+ Au when asked)
  powder::ModelSettings settings;
  std::vector<SeriesFrame> frames;
  std::vector<std::vector<double>> fractions;  // truth per frame and phase (sample only)
  std::vector<bool> compression;               // truth per frame
};

struct ScanSpec {
  std::vector<double> compression_gpa;    // pressures going up
  std::vector<double> decompression_gpa;  // then going down
  double retained = 0.55;
  std::size_t points = 800;  // 2θ 6–22°
  double peak_counts = 2e4;
  bool with_gold = false;  // add Au lines (10 % of the formula units) and give no pressures
  std::uint32_t seed = 1;
};

Scan make_scan(const ScanSpec& spec);

// The default scan: 0…14 GPa in 1 GPa steps, then 13…0.
ScanSpec full_scan(double retained);

// Start parameters for the fits (Lorentzian size broadening, sizes from 4 nm).
powder::PatternParameters fit_start(const Scan& scan);

}  // namespace anvil::series::test
