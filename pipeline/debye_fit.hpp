// The WAXS fit of `anvil run` and `anvil fit` with Debye-function phases (lib/debye): names →
// CIFs → clusters and Debye sums (built once) → a per-frame DAC fit. Gasket and pressure-marker
// phases are Le Bail peaks phases, fitted and reported apart from the fractions. The result is
// the same JSON as the Bragg fit's (pipeline/waxs_fit.hpp), so every table reads it, plus
// "model": "debye", the size distribution and "others" (the peaks phases' cells).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/pattern.hpp"
#include "debye/debye.hpp"
#include "debye/fit.hpp"
#include "integrate/integrator.hpp"
#include "powder/phase.hpp"

namespace anvil::pipeline {

struct DebyeFitSettings {
  std::vector<std::string> phases;  // sample phases: short names or CIF paths
  std::vector<std::string> others;  // gasket, pressure markers: Le Bail peaks phases
  std::filesystem::path phase_dir;
  double wavelength_a = 0.0;
  std::optional<integrate::Range> range_deg;  // 2θ range fitted
  debye::ClusterSettings clusters;
  debye::FitOptions fit;
  // Where the phases' pair sums are kept between runs (default_debye_cache_dir()); empty: not
  // kept. A file that does not match the phase and cluster settings it is named for is rebuilt.
  std::filesystem::path cache_dir;
  // WZ ↔ ZB stacking faults: the hexagonal phase and its zinc-blende partner fitted as one
  // faulted phase ("CdSe-WZ/CdSe-ZB") with a refined fault probability α (0: WZ, 1: ZB).
  bool faulted = false;
};

// $ANVIL_CACHE_DIR, else $XDG_CACHE_HOME/anvil, else $HOME/.cache/anvil; empty when
// ANVIL_CACHE_DIR is "none" or no home is known.
std::filesystem::path default_debye_cache_dir();

class DebyeFitter {
 public:
  // Builds every phase's clusters and Debye sums (the one-time set-up: ~1 s per phase on one
  // core for the default size grid). Throws InputError naming a phase that cannot be built.
  explicit DebyeFitter(DebyeFitSettings settings);
  const DebyeFitSettings& settings() const { return settings_; }
  // The sample phases as Bragg phases: for EOS seeds, main lines and the densest phase.
  const std::vector<powder::PowderPhase>& powder_phases() const { return powder_; }
  double setup_seconds() const { return setup_seconds_; }
  // How the set-up went with the cache: "3 of 3 phases from the cache", "built, cached in …",
  // or why it could not be kept.
  const std::string& cache_note() const { return cache_note_; }

  // Fits one pattern; `start_cells` (a, c per sample phase; 0 = the CIF's) seed the cells and
  // bound them to ±1 % (±8 % around the CIF's without). `pressure_gpa`, when known, centres a
  // pressure marker's Le Bail window on its EOS there (else on its CIF's cell). The JSON of
  // fit_result_json, with "model": "debye".
  nlohmann::json fit(const Pattern1D& pattern, const std::vector<std::pair<double, double>>& start_cells = {},
                     std::optional<double> pressure_gpa = std::nullopt) const;
  // The JSON of a fit_raw result (what fit() returns).
  nlohmann::json result_json(const debye::FitResult& result) const;
  debye::FitResult fit_raw(const Pattern1D& pattern,
                           const std::vector<std::pair<double, double>>& start_cells,
                           std::optional<double> pressure_gpa = std::nullopt) const;

 private:
  DebyeFitSettings settings_;
  std::vector<crystal::Phase> crystal_;
  std::vector<debye::PairSums> sums_;
  std::vector<std::vector<crystal::AtomScattering>> f_;
  std::vector<debye::PeaksPhase> others_;
  std::vector<powder::PowderPhase> powder_;
  double setup_seconds_ = 0.0;
  std::optional<std::size_t> faulted_index_;  // the faulted phase among the phases
  debye::StackingModel fault_model_;
  std::vector<double> fault_alpha_;
  std::vector<debye::PairSums> fault_sums_;  // per α of fault_alpha_
  std::string cache_note_;
};

}  // namespace anvil::pipeline
