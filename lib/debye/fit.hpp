// A WAXS pattern of a diamond-anvil cell fitted with Debye-function phases (debye.hpp):
//
//   I(q) = A(q) · Σ_p k_p I_p(q; λ_p, d, σ, B)  +  background(q)  +  hump(q)  +  Σ_g peaks_g(q)
//
// - sample phases p (WZ, ZB, RS of one compound): k_p counts formula units, so the reported
//   fractions x_p = k_p / Σ k are fractions of formula units (weight fractions for polymorphs) —
//   no Hill–Howard factor, the model is per formula unit already. The polymorphs share one
//   log-normal size distribution (median d, width σ) and one B: they are the same particles.
//   Each phase's lattice scale λ_p = a_p/a₀ is bounded around a starting cell (an EOS at the
//   frame's pressure) so that a phase cannot become a filler with a nonsense cell.
// - A(q) = exp(−m (1/cos 2θ − 1)), m ≥ 0: the longer path through the downstream anvil at
//   higher angle.
// - background: a Chebyshev series in q; hump: the pressure medium's amorphous scattering, a
//   split Gaussian in q (each side its own bounded width).
// - peaks phases (gasket, pressure marker, calibrant; Le Bail): pseudo-Voigt lines at the
//   positions of a cubic or hexagonal cell, one width, free non-negative intensities — for
//   textured, coarse-grained phases whose intensities no structure factor predicts. They are
//   fitted and reported apart (cell), never part of the fractions.
// Ceres (trust region) refines everything with an analytic Jacobian (PopulationAtQ gives each
// phase's derivatives along λ, d, σ, B; the Le Bail lines theirs along cell and width). A phase is reported
// absent when removing it costs less than the BIC penalty of its parameters, Δχ² counted in units of χ²_red
// (a quasi-likelihood criterion: misfit means the data's σ understate the error), or when its
// fraction is below `min_fraction`, or when it is a minor phase (< 25 %) whose cell ends on
// the edge of its window (a filler: no such crystal fits there); σ of the fractions are scaled
// by √(χ²_red) likewise.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "debye/debye.hpp"

namespace anvil::debye {

struct FitResult;

struct SamplePhase {
  std::string name;
  const PairSums* sums = nullptr;
  std::vector<crystal::AtomScattering> f;
  double a0 = 0.0;               // Å, the cell the clusters were cut from
  double start_lambda = 1.0;     // a/a₀ to start from (EOS at the frame's pressure)
  double lambda_margin = 0.015;  // λ kept within start·(1 ± margin)
  // A faulted WZ ↔ ZB phase (stacking_sums): its pair sums on a grid of fault probabilities α
  // (increasing; `sums` is one of them, for the size grid), α refined within the grid and the
  // pattern interpolated linearly in α between its two neighbours. Empty: an ordinary phase.
  std::vector<const PairSums*> alpha_sums;
  std::vector<double> alpha_grid;
  double start_alpha = 0.5;
};

struct PeaksPhase {
  std::string name;  // "gasket", "Fe-fcc", ...
  bool hexagonal = false;
  double a = 0.0, c = 0.0;              // starting cell (Å)
  std::vector<std::array<int, 3>> hkl;  // reflections allowed by the space group
  double cell_margin = 0.03;            // a within start·(1 ± margin)
};

struct FitOptions {
  int background_terms = 6;
  bool hump = true;
  bool absorption = true;
  double wavelength_a = 0.0;
  double median_d_a = 48.0, sigma_ln = 0.12, b_iso = 0.5;  // starting values
  double min_fraction = 0.02;
  // The hump's starting centre (Å⁻¹); 0: looked for over the whole range (several starts).
  double hump_centre = 0.0;
  // Polymorphs of the same particles share one size distribution; false: each phase its own
  // (median and σ), for a sample of different particles.
  bool shared_size = true;
  // Start from a converged fit of the same pattern or a neighbouring frame instead of from
  // scratch (a model choice's refit, the next frame of a scan): its phases are matched by
  // name, its hump is not looked for again. Not owned; null: from scratch.
  const FitResult* start_from = nullptr;
  // Told each step (refinements with their iterations and χ², presence decisions, model
  // choices), for `anvil fit --verbose`; empty: silent.
  std::function<void(const std::string&)> log;
  bool presence_test = true;
  // Model error: refit with other reasonable background choices (fewer and more Chebyshev
  // terms, the medium hump off) and add the spread of the fractions, in quadrature, to their σ.
  // Statistical σ alone cover noise, not the model's own misfit (on dac_dev they were ~20×
  // smaller than the real error).
  bool model_spread = true;
};

struct SampleResult {
  std::string name;
  double fraction = 0, fraction_esd = 0;
  double fraction_spread = 0;  // model-choice part of fraction_esd (FitOptions::model_spread)
  double scale = 0;
  double lambda = 1, lambda_esd = 0;
  double a = 0, a_esd = 0;                                // λ·a₀
  double median_d_a = 0, median_d_esd = 0, sigma_ln = 0;  // its size distribution (shared or its own)
  double alpha = -1, alpha_esd = 0;                       // a faulted phase's α (−1: not one)
  bool absent = false;
};

struct PeaksResult {
  std::string name;
  double a = 0, a_esd = 0, c = 0;
  double fwhm_inv_a = 0;  // FWHM = fwhm_inv_a + fwhm_slope·q (Å⁻¹)
  double fwhm_slope = 0;
  bool cell_at_bound = false;   // the cell ended on the edge of its ±cell_margin window
  std::vector<double> heights;  // per reflection of PeaksPhase::hkl
};

// The medium's hump as fitted (a split Gaussian in q, Å⁻¹).
struct Hump {
  double height = 0, centre = 0, width_low = 0, width_high = 0;
};

struct FitResult {
  bool converged = false;
  std::string message;
  std::vector<SampleResult> phases;
  std::vector<PeaksResult> peaks;
  double median_d_a = 0, median_d_esd = 0, sigma_ln = 0, b_iso = 0, absorption_m = 0;
  std::optional<Hump> hump;
  std::vector<double> chebyshev;  // background coefficients
  double rwp = 0, gof = 0;
  std::size_t points = 0;
  std::vector<double> q, observed, calculated, background;  // background: all but the sample phases
  std::vector<std::vector<double>> phase_curves;            // per sample phase, scaled as fitted
};

// Fits q (Å⁻¹, increasing), I, σ (> 0). Throws InputError for mismatched or non-finite data,
// no sample phase, or fewer points than parameters.
FitResult fit_pattern(const std::vector<double>& q, const std::vector<double>& intensity,
                      const std::vector<double>& sigma, const std::vector<SamplePhase>& phases,
                      const std::vector<PeaksPhase>& peaks, const FitOptions& options);

}  // namespace anvil::debye
