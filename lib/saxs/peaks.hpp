// Superlattice peaks on a flattened SAXS curve: found by a continuous wavelet transform with ridge
// linking (Du, Kibbe & Lin, Bioinformatics 22 (2006) 2059) and a noise-propagated significance, then
// refined as pseudo-Voigts on a local linear background (σ-weighted, Ceres), overlapping peaks
// together.
#pragma once

#include <vector>

namespace anvil::saxs {

struct PeakSearchSettings {
  double min_snr = 4.0;             // CWT ridge significance (coefficient / its propagated σ)
  double min_area_snr = 3.5;        // refined area / σ(area) at the fitted width and η
  int scales = 16;                  // Ricker widths, log-spaced
  double min_fwhm_points = 1.5;     // narrowest peak looked for, in points
  double max_fwhm = 0.3;            // broadest peak looked for, in q units
  double max_relative_fwhm = 0.35;  // FWHM / q above which a bump is not a Bragg peak
  // Height over the diffuse curve (I/B − 1) below which a bump is taken for baseline ripple, however
  // many counts make it "significant".
  double min_relative_height = 0.05;
  // A bump broader (narrower) than max_width_ratio × (÷) the width of the strongest peaks and lower
  // than broad_min_relative_height × the highest is dropped as baseline ripple (noise).
  double max_width_ratio = 2.5;
  double broad_min_relative_height = 0.05;
  int max_peaks = 40;
  bool add_missed_shoulders = true;  // search the refined residual for hidden shoulders once
};

// A candidate from the wavelet transform.
struct PeakCandidate {
  std::size_t index = 0;  // point of the ridge maximum
  double q = 0;
  double fwhm = 0;  // estimated from the best scale (FWHM ≈ Ricker width for a Gaussian)
  double snr = 0;
};

struct Peak {
  double q = 0, q_esd = 0;
  double fwhm = 0, fwhm_esd = 0;
  double area = 0, area_esd = 0;  // on the flattened curve (I/B − 1)·dq
  double height = 0;              // on the flattened curve
  double eta = 0;                 // Lorentzian fraction
  double snr = 0;                 // detection significance: area / σ(area) at the fitted shape
};

// Candidates on y (flattened, ≈ 0 away from peaks) with σ_y, on the grid q (ascending).
std::vector<PeakCandidate> find_peak_candidates(const std::vector<double>& q, const std::vector<double>& y,
                                                const std::vector<double>& sigma,
                                                const PeakSearchSettings& settings);

// Pseudo-Voigt refinement of the candidates; peaks that fail the area significance, the width
// limits or drift outside their window are dropped. Sorted by q.
std::vector<Peak> refine_peaks(const std::vector<double>& q, const std::vector<double>& y,
                               const std::vector<double>& sigma, const std::vector<PeakCandidate>& candidates,
                               const PeakSearchSettings& settings);

// Median FWHM of the (up to) three highest peaks: the width a lattice's reflections share.
double reference_width(const std::vector<Peak>& peaks);

// Normalised pseudo-Voigt (unit area) at dq from the centre.
double pseudo_voigt(double dq, double fwhm, double eta);

}  // namespace anvil::saxs
