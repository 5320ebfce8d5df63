// Rietveld-style refinement of a PatternModel against one measured pattern (Ceres Solver,
// Levenberg–Marquardt, analytic Jacobian), with standard uncertainties from the covariance
// scaled by √(χ²_ν), and Hill–Howard phase fractions.
#pragma once

#include <string>
#include <vector>

#include "powder/model.hpp"
#include "powder/phase.hpp"

namespace anvil::powder {

// A measured pattern in 2θ (degrees). `sigma` may be empty: then σ = √max(I, 1).
struct PowderPattern {
  std::vector<double> two_theta_deg;
  std::vector<double> intensity;
  std::vector<double> sigma;
};

// Checks a pattern (finite values, increasing 2θ, σ > 0, equal lengths); throws InputError.
void validate_pattern(const PowderPattern& pattern, const std::string& source = "pattern");

// The points with two_theta_min ≤ 2θ ≤ two_theta_max.
PowderPattern select_range(const PowderPattern& pattern, double two_theta_min, double two_theta_max);

struct RefineOptions {
  int max_iterations = 200;
  // Start the scales and the background from a weighted linear least-squares fit (the model is
  // linear in them), scales clamped ≥ 0.
  bool estimate_scales = true;
  // Staged: phases with (almost) no weight after the linear start keep their cell, size, strain
  // and B fixed until their scale comes back; without estimate_scales the linear parameters
  // are first refined alone by the solver.
  bool staged = true;
  // A phase whose weight fraction is below this after the fit is "absent": its other
  // parameters are held fixed for the covariance (they are undetermined) and it is reported
  // with fraction 0 ± σ.
  double absent_fraction = 1e-3;
  // Staged: a phase below this weight fraction after the linear start is held (see `staged`).
  double hold_fraction = 0.02;
  double function_tolerance = 1e-8;
  double parameter_tolerance = 1e-8;
  double gradient_tolerance = 1e-12;
  int num_threads = 1;
};

enum class FitStatus { Converged, NotConverged, Failed };
const char* status_name(FitStatus s);

struct LineD {
  int h, k, l;
  double two_theta_deg;  // at the refined cell, with the zero shift
  double d_a, d_esd;
  double intensity;  // integrated (data units · deg)
};

struct PhaseResult {
  std::string name;
  bool absent = false;
  double scale = 0, scale_esd = 0;
  double fraction = 0, fraction_esd = 0;  // Hill–Howard weight (= formula-unit for polymorphs)
  double a = 0, a_esd = 0, c = 0, c_esd = 0;
  double volume = 0, volume_esd = 0;  // Å³
  double size_nm = 0, size_esd = 0;
  double strain = 0, strain_esd = 0;
  double b_iso = 0, b_esd = 0;
  std::vector<LineD> main_lines;  // the strongest lines in range, strongest first
  std::vector<double> curve;      // this phase's calculated intensity at the data points
};

struct FitResult {
  FitStatus status = FitStatus::Failed;
  std::string reason;  // why not converged / failed, or notes (empty when all is well)
  double rp = 0, rwp = 0, rexp = 0;
  double chi2_reduced = 0;  // χ²/(N − P)
  double gof = 0;           // = χ²_ν (Rwp/Rexp)²
  int iterations = 0;
  int num_points = 0, num_free = 0;
  double seconds = 0;
  PatternParameters parameters;  // refined values
  std::vector<std::string> parameter_names;
  std::vector<double> esd;  // per flat parameter; 0 for fixed ones, NaN when unknown
  std::vector<double> two_theta_deg, observed, sigma, model, background;
  std::vector<PhaseResult> phases;
};

// Refines `start` (bounds, which parameters are refined) against `pattern`. Throws InputError
// for unusable input (NaN, σ ≤ 0, a phase without a reflection in range, a start outside its
// bounds). A fit that does not converge returns status != Converged and the reason.
FitResult refine(const PowderPattern& pattern, const std::vector<PowderPhase>& phases,
                 const ModelSettings& settings, const PatternParameters& start,
                 const RefineOptions& options = {});

// The same on a prepared model (reuse it across frames of one scan: the points must be the
// model's).
FitResult refine(const PatternModel& model, const PowderPattern& pattern, const PatternParameters& start,
                 const RefineOptions& options = {});

}  // namespace anvil::powder
