// The whole-pattern check of a superlattice: a Le Bail fit for SAXS (Le Bail, Duroy & Fourquet,
// Mater. Res. Bull. 23 (1988) 447). On the flattened curve y = I/B − 1 (≈ S(q) − 1 where the diffuse
// model holds), a lattice is the set of its reflections at the positions its constants give, all of
// one width law, with free non-negative intensities; whatever it leaves unexplained is fitted by free
// peaks. "No lattice" is the free peaks alone. Models are compared by the Bayesian information
// criterion (Schwarz, Ann. Stat. 6 (1978) 461), χ²/s² + k ln n, with s² the reduced χ² of the free-peak
// model when that is above 1 (quasi-likelihood: a misfit both models share is not evidence).
#pragma once

#include <vector>

#include "saxs/peaks.hpp"

namespace anvil::saxs {

// The curve the peaks were found on, on ascending q, with its σ.
struct FlatCurve {
  std::vector<double> q, y, sigma;
};

// A peak shape at a given place: a unit-area pseudo-Voigt.
struct Profile {
  double q = 0, fwhm = 0, eta = 0;
};

struct WholePatternSettings {
  // Relative model error added in quadrature to σ: measured superlattice peaks are not exact
  // pseudo-Voigts (finite-size fringes, strain, slit smearing, a shifted envelope), and without it the
  // strongest peak's shape alone would decide between models.
  double model_error = 0.1;
  double support_fwhm = 6.0;  // a profile is evaluated within ± this many FWHM
  // A smooth baseline shared by every model (the wings of finite grains, the diffuse hump the flattening
  // leaves): cubic B-splines with knots this many reference peak widths apart; its coefficients are
  // projected out of every fit and cost every model the same.
  double baseline_knot_fwhm = 4.0;
};

struct ModelFit {
  std::vector<double> amplitude;  // the lines in the order given, then the free peaks used
  double chi2 = 0;                // weighted, over the whole curve
  int positive_lines = 0;         // lines with a non-zero intensity
  int positive_free = 0;          // free peaks with a non-zero area
};

// The curve, its weights and the free peaks, set up once per pattern; then any number of models.
class WholePattern {
 public:
  WholePattern(const FlatCurve& curve, const std::vector<Peak>& peaks, const WholePatternSettings& settings);

  // Lines (a lattice's reflections, of one or more phases) plus the peaks with free[i] as free peaks.
  ModelFit fit(const std::vector<Profile>& lines, const std::vector<bool>& free) const;
  // Every peak free: "no lattice".
  const ModelFit& no_lattice() const { return none_; }
  int no_lattice_parameters() const { return 3 * none_.positive_free; }

  // BIC of a fit with `parameters` free parameters (constants, width law, positive intensities,
  // 3 per free peak used).
  double bic(const ModelFit& fit, int parameters) const;
  double scale() const { return s2_; }  // s²
  // The weights every model is fitted with: 1/σ², σ² raised to the local variance of what the free-peak
  // model leaves and by the model error.
  const std::vector<double>& weights() const { return w_; }
  std::size_t points() const { return n_; }
  // σ of the line amplitudes of a fit (from the normal matrix over the positive ones, × s).
  std::vector<double> amplitude_esd(const std::vector<Profile>& lines, const std::vector<bool>& free,
                                    const ModelFit& fit) const;

 private:
  struct Column {
    std::size_t start = 0;
    std::vector<double> v;
  };
  // G and h of the non-negative amplitudes with the baseline projected out.
  struct Normal {
    std::vector<double> g, h;
    double yy = 0;
  };
  Column column(const Profile& p) const;
  double dot(const Column& a, const Column& b) const;
  double dot_y(const Column& a) const;
  Normal normal_equations(const std::vector<Profile>& lines, const std::vector<bool>& free,
                          std::vector<int>& free_used) const;
  void set_up(const std::vector<double>& sigma, const std::vector<double>* model);

  std::vector<double> q_;
  std::vector<double> y_, w_;
  WholePatternSettings settings_;
  std::vector<Profile> peak_profiles_;
  std::vector<Column> peak_columns_;
  std::vector<double> peak_h_;  // Σ w y v per peak
  std::vector<double> peak_g_;  // peaks × peaks
  std::vector<Column> base_columns_;
  std::vector<double> base_inv_;   // (Σ w B Bᵀ)⁻¹
  std::vector<double> base_h_;     // Σ w y B
  std::vector<double> peak_base_;  // peaks × baseline: Σ w v B
  double yy_ = 0;                  // Σ w y²
  double residual_width_ = 0;      // window of the local residual variance
  std::size_t n_ = 0;
  ModelFit none_;
  double s2_ = 1;
};

// min ½xᵀGx − hᵀx over x ≥ 0 (G k×k, row-major, positive semi-definite) by cyclic coordinate descent;
// returns x and sets the minimum.
std::vector<double> nonnegative_least_squares(const std::vector<double>& g, const std::vector<double>& h,
                                              double& minimum);

}  // namespace anvil::saxs
