// Fitting one integrated WAXS pattern with phase models: names → crystal phases → powder
// model → Ceres refinement; the result as JSON and as a figure. Used by `anvil fit` and by
// the WAXS stage of `anvil run`.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/pattern.hpp"
#include "integrate/integrator.hpp"
#include "powder/refine.hpp"

namespace anvil::pipeline {

struct WaxsFitSettings {
  std::vector<std::string> phases;  // "CdSe-WZ" or CIF paths
  std::filesystem::path phase_dir;  // where short names are looked up (calib/phases)
  double wavelength_a = 0.0;
  std::optional<integrate::Range> range_deg;  // 2θ range fitted
  powder::ModelSettings model;                // instrument (wavelength is set from wavelength_a)
  double size_nm = 5.0;                       // starting crystallite size
  // Calibrant mode: refine the instrument's Caglioti U, V, W (with a pseudo-Voigt profile; a
  // calibrant's crystallites are too large to broaden its lines), to be fixed afterwards.
  bool refine_instrument = false;
};

// Writes the instrument (u, v, w, wavelength_a, lp, size_profile) as read_instrument reads it.
void write_instrument(const std::filesystem::path& path, const powder::FitResult& r,
                      const WaxsFitSettings& s);

// Reads an instrument file (JSON): {"u", "v", "w" (Caglioti, deg²), "lp": "lorentz" |
// "unpolarised" | "none", "size_profile": "sphere" | "lorentzian" | "none",
// "background_terms": 8, "wavelength_a"}. Unknown keys are errors.
void read_instrument(const std::filesystem::path& path, WaxsFitSettings& settings);

// The pattern as 2θ (degrees) with σ: q patterns are converted with the wavelength; missing σ
// become √max(I, 1).
powder::PowderPattern to_two_theta(const Pattern1D& pattern, double wavelength_a);

// The pattern a fit sees: in 2θ (to_two_theta), cut to `range_deg` when given, checked
// (powder::validate_pattern: InputError for too few or unusable points).
powder::PowderPattern fit_pattern_data(const Pattern1D& pattern, double wavelength_a,
                                       const std::optional<integrate::Range>& range_deg);

class WaxsFitter {
 public:
  explicit WaxsFitter(WaxsFitSettings settings);
  const WaxsFitSettings& settings() const { return settings_; }
  const std::vector<powder::PowderPhase>& phases() const { return phases_; }
  powder::FitResult fit(const Pattern1D& pattern) const;
  // With starting cells (e.g. from an EOS at the frame's pressure): a, c per phase (0 = keep).
  powder::FitResult fit(const Pattern1D& pattern,
                        const std::vector<std::pair<double, double>>& start_cells) const;

 private:
  WaxsFitSettings settings_;
  std::vector<powder::PowderPhase> phases_;
};

nlohmann::json fit_result_json(const powder::FitResult& r, const std::vector<std::string>& phase_names);

// Data, model, difference and tick marks per phase.
void plot_fit(const std::filesystem::path& file, const powder::FitResult& r, const std::string& title);

}  // namespace anvil::pipeline
