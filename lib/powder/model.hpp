// The calculated powder pattern:
//
//   y(2θ) = Σ_p S_p Σ_hkl m·|F|²·LP(θ)·exp(−2B s²)·Φ(2θ − 2θ_hkl − Δ) + background(2θ)
//
// with s = sinθ/λ, Φ the unit-area line profile (profile.hpp), Δ the zero shift plus the
// sample-displacement shift, and background = Σ c_k T_k(x) (Chebyshev, x ∈ [−1, 1] over the
// fitted range) + A·exp(−(u−u₀)²/2w²) (amorphous hump, u = 2θ or q) + s_e·E(2θ) (a measured
// empty-cell pattern). The model and its analytic Jacobian are evaluated together.
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "crystal/lorentz_polarisation.hpp"
#include "powder/phase.hpp"
#include "powder/profile.hpp"

namespace anvil::powder {

// Lorentz(–polarisation) factor applied to each line.
//  - LorentzOnly: 1/(sin²θ cosθ). For a pattern that was azimuthally integrated per solid angle
//    AND polarisation-corrected (pyFAI integrate1d with polarization_factor): the usual case.
//  - Unpolarised: (1 + cos²2θ)/(sin²θ cosθ). Laboratory unpolarised beam, or a linearly polarised
//    synchrotron beam averaged over the full ring without polarisation correction (the same
//    factor up to a constant).
//  - None: 1 (intensities already corrected).

// Crystallite-size broadening.
//  - None: instrument (and strain) only.
//  - Lorentzian: Scherrer with K = 1 on the FWHM, Γ = λ/(L cosθ) (the TOPAS/xrayutilities
//    convention; a sphere of diameter D has the same FWHM with L = D/1.1067).
//  - Sphere: the exact profile of a sphere of diameter D, convolved (FFTW) with the instrument
//    pseudo-Voigt and the strain Lorentzian.
enum class SizeProfile { None, Lorentzian, Sphere };

// Axis of the amorphous hump.
enum class HumpAxis { TwoTheta, Q };

// Instrumental resolution, refined once on a calibrant and then fixed.
struct Instrument {
  double wavelength_a = 0.0;         // Å
  double u = 0.0, v = 0.0, w = 0.0;  // Caglioti, deg²
};

struct ModelSettings {
  Instrument instrument;
  crystal::LpModel lp = crystal::LpModel::PolarisationCorrected;
  SizeProfile size_profile = SizeProfile::Sphere;
  HumpAxis hump_axis = HumpAxis::TwoTheta;
  int background_terms = 8;  // Chebyshev T_0 … T_{n−1}
};
// The calculated curve is evaluated on a uniform 2θ grid with the smallest data spacing and
// interpolated linearly onto the data points (the identity when the data are uniform in 2θ).

// One refinable number: value, bounds (both finite), and whether it is refined.
struct Param {
  double value = 0.0;
  double lower = -1e300;
  double upper = 1e300;
  bool refine = false;
};

struct PhaseParameters {
  Param scale;    // S_p (data units per e²·LP)
  Param a;        // Å
  Param c;        // Å, hexagonal only
  Param size_nm;  // D (sphere) or L (Scherrer), nm
  Param strain;   // apparent microstrain ε: Lorentzian FWHM 4ε·tanθ (rad)
  Param b_iso;    // Å², intensities × exp(−2B sin²θ/λ²)
};

// Where each parameter sits in the flat vector (PatternParameters::flat, PatternModel's values):
// the globals, the background's Chebyshev terms, then one block per phase. Code names a slot
// (layout.phase(p, PhaseParam::A)) or asks what an index is (layout.locate(i)), never counts.
enum class GlobalParam : std::size_t {
  CagliotiU,
  CagliotiV,
  CagliotiW,
  Zero,
  Displacement,
  HumpAmplitude,
  HumpCenter,
  HumpWidth,
  EmptyScale,
};
enum class PhaseParam : std::size_t { Scale, A, C, Size, Strain, BIso };

struct ParameterSlot {
  enum class Kind { Global, Background, Phase };
  Kind kind = Kind::Global;
  std::size_t phase = 0;  // Phase: which one
  std::size_t index = 0;  // Global: GlobalParam; Background: the term; Phase: PhaseParam
  bool is(GlobalParam g) const { return kind == Kind::Global && index == static_cast<std::size_t>(g); }
  bool is(PhaseParam k) const { return kind == Kind::Phase && index == static_cast<std::size_t>(k); }
};

class ParameterLayout {
 public:
  static constexpr std::size_t kGlobal = 9;    // GlobalParam values
  static constexpr std::size_t kPerPhase = 6;  // PhaseParam values
  ParameterLayout(std::size_t background_terms, std::size_t phases)
      : background_terms_(background_terms), phases_(phases) {}
  std::size_t size() const { return kGlobal + background_terms_ + kPerPhase * phases_; }
  std::size_t phases() const { return phases_; }
  std::size_t background_terms() const { return background_terms_; }
  static constexpr std::size_t global(GlobalParam g) { return static_cast<std::size_t>(g); }
  std::size_t background(std::size_t k) const { return kGlobal + k; }
  std::size_t phase(std::size_t p, PhaseParam k) const {
    return kGlobal + background_terms_ + kPerPhase * p + static_cast<std::size_t>(k);
  }
  ParameterSlot locate(std::size_t i) const {
    if (i < kGlobal) return {ParameterSlot::Kind::Global, 0, i};
    if (i < kGlobal + background_terms_) return {ParameterSlot::Kind::Background, 0, i - kGlobal};
    const std::size_t j = i - kGlobal - background_terms_;
    return {ParameterSlot::Kind::Phase, j / kPerPhase, j % kPerPhase};
  }

 private:
  std::size_t background_terms_, phases_;
};

struct PatternParameters {
  Param caglioti_u, caglioti_v, caglioti_w;  // deg²; refined only on a calibrant (TCH profiles)
  Param zero_deg;                            // 2θ_obs = 2θ_calc + zero
  Param displacement;                        // δ/R: flat detector, Δ2θ = −(δ/R)·sin2θ·cos2θ (rad)
  Param hump_amplitude, hump_center, hump_width;  // 2θ (deg) or q (Å⁻¹) per HumpAxis
  Param empty_scale;                              // multiplies the empty-cell pattern
  std::vector<Param> background;                  // Chebyshev coefficients
  std::vector<PhaseParameters> phases;

  // Flat view in ParameterLayout's order: U, V, W, zero, displacement, hump ×3, empty, background…,
  // then per phase scale, a, c, size_nm, strain, b_iso.
  ParameterLayout layout() const { return {background.size(), phases.size()}; }
  std::size_t size() const { return layout().size(); }
  std::size_t background_index(std::size_t k) const { return layout().background(k); }
  std::size_t phase_index(std::size_t p, PhaseParam k) const { return layout().phase(p, k); }
  std::vector<Param*> flat();
  std::vector<const Param*> flat() const;
  std::vector<std::string> names(const std::vector<PowderPhase>& phases) const;
};

// Reasonable starting values and bounds for the phases at ambient (their a, c, b_iso), all
// phase parameters refined except strain and B, zero refined, displacement and hump fixed,
// scales 1 (use PatternModel::estimate_scales for a start from the data).
PatternParameters default_parameters(const std::vector<PowderPhase>& phases, const ModelSettings& settings,
                                     double size_nm = 5.0);

class PatternModel {
 public:
  // `two_theta_deg`: the data points (increasing); `empty_pattern`: same length or empty.
  // Throws InputError for a phase without a reflection in range, bad settings, bad points.
  PatternModel(ModelSettings settings, std::vector<PowderPhase> phases, std::vector<double> two_theta_deg,
               std::vector<double> empty_pattern = {});
  ~PatternModel();
  PatternModel(PatternModel&&) noexcept;
  PatternModel& operator=(PatternModel&&) noexcept;

  std::size_t num_points() const { return x_.size(); }
  std::size_t num_parameters() const { return num_params_; }
  const std::vector<double>& two_theta_deg() const { return x_; }
  const std::vector<PowderPhase>& phases() const { return phases_; }
  const ModelSettings& settings() const { return settings_; }

  // Calculated pattern at the data points. `jacobian` (column-major, num_points × num_parameters,
  // or null) receives ∂y/∂p for the columns where `need_column` is nonzero (all when empty);
  // `per_phase` (or null) receives each phase's curve; `background` (or null) the background.
  void evaluate(const std::vector<double>& flat_values, double* model, double* jacobian = nullptr,
                const std::vector<char>& need_column = {},
                std::vector<std::vector<double>>* per_phase = nullptr,
                std::vector<double>* background = nullptr) const;

  // Phase patterns at unit scale at the given parameters (for a linear start of the scales).
  std::vector<std::vector<double>> unit_phase_patterns(const std::vector<double>& flat_values) const;

  // Bragg position 2θ (deg, without zero shift) of a reflection; NaN when out of reach.
  double bragg_two_theta(std::size_t phase, const PowderReflection& r, double a, double c) const;

 private:
  struct Workspace;
  ModelSettings settings_;
  std::vector<PowderPhase> phases_;
  std::vector<double> x_;
  std::vector<double> empty_;
  std::size_t num_params_ = 0;
  // Uniform evaluation grid and the linear interpolation from it onto the data points.
  double grid0_ = 0, grid_step_ = 0;
  std::size_t grid_n_ = 0;
  bool grid_is_data_ = false;
  std::vector<std::size_t> interp_index_;
  std::vector<double> interp_frac_;
  std::unique_ptr<Workspace> ws_;
  std::shared_ptr<const SphereTable> sphere_table_;
};

}  // namespace anvil::powder
