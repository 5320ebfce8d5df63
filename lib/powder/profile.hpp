// Line profiles of the powder model, all normalised to unit area in 2θ (degrees).
//
//  - Pseudo-Voigt with the Thompson–Cox–Hastings mixing: Thompson, Cox & Hastings,
//    J. Appl. Cryst. 20, 79 (1987), eqs. 3–4: total FWHM Γ and Lorentzian fraction η from the
//    Gaussian FWHM Γ_G and Lorentzian FWHM Γ_L.
//  - Instrumental Gaussian width, Caglioti, Paoletti & Ricci, Nucl. Instrum. 3, 223 (1958):
//    Γ_G² = U tan²θ + V tanθ + W.
//  - Exact size profile of a sphere of diameter D: the cosine transform of the common-volume
//    function V(L) = 1 − 3L/2D + L³/2D³ (L ≤ D), e.g. Langford & Wilson, J. Appl. Cryst. 11,
//    102 (1978); Ida, Shimazaki, Hibino & Toraya, J. Appl. Cryst. 36, 1107 (2003). In
//    s = 2 sinθ/λ: P(Δs) = 2D·F(2πDΔs) with F(y) = 3/(2y²) − 3 sin y/y³ + 3(1 − cos y)/y⁴,
//    unit area, integral breadth 4/(3D), FWHM = 1.1067/D.
#pragma once

#include <cmath>
#include <vector>

namespace anvil::powder {

inline constexpr double kDeg = M_PI / 180.0;
inline constexpr double kLn2 = 0.69314718055994530942;

// TCH total width and mixing, with their derivatives with respect to Γ_G and Γ_L.
struct TchWidth {
  double fwhm = 0, eta = 0;
  double dfwhm_dg = 0, dfwhm_dl = 0;
  double deta_dg = 0, deta_dl = 0;
};
TchWidth tch_width(double gamma_g, double gamma_l);

// Value of the unit-area pseudo-Voigt η·L + (1−η)·G of FWHM Γ at offset z = x − x0, and the
// partial derivatives with respect to x0, Γ and η.
struct PvSample {
  double value, d_center, d_fwhm, d_eta;
};
PvSample pseudo_voigt(double z, double fwhm, double eta);

// Caglioti Gaussian FWHM (degrees) at Bragg angle θ (radians); U, V, W in deg².
inline double caglioti_fwhm(double u, double v, double w, double theta) {
  const double t = std::tan(theta);
  const double g2 = u * t * t + v * t + w;
  return std::sqrt(g2 > 1e-12 ? g2 : 1e-12);
}

// Sphere size function F(y) (above) and dF/dy; stable at small y (power series).
double sphere_f(double y);
double sphere_df(double y);

// F and dF/dy tabulated (cubic Hermite, step 0.02) up to |y| = 200 and asymptotic beyond
// (3/(2y²) + 3/y⁴; the dropped oscillating term is < 1e-6 of F(0)): about 10× faster than the
// closed form, agrees with it to < 1e-9 of F(0).
class SphereTable {
 public:
  SphereTable();
  void eval(double y, double* f, double* df) const {
    const double sign = y < 0 ? -1.0 : 1.0;
    y = std::fabs(y);
    if (y >= kMax) {
      const double iy = 1.0 / y, iy2 = iy * iy;
      *f = 1.5 * iy2 + 3.0 * iy2 * iy2;
      *df = sign * (-3.0 * iy2 * iy - 12.0 * iy2 * iy2 * iy);
      return;
    }
    const double u = y * kInvStep;
    const auto i = static_cast<std::size_t>(u);
    const double t = u - static_cast<double>(i), t2 = t * t, t3 = t2 * t;
    const double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
    *f = h00 * f_[i] + h10 * kStep * df_[i] + h01 * f_[i + 1] + h11 * kStep * df_[i + 1];
    *df = sign * (h00 * df_[i] + h10 * kStep * ddf_[i] + h01 * df_[i + 1] + h11 * kStep * ddf_[i + 1]);
  }

 private:
  static constexpr double kStep = 0.02, kInvStep = 50.0, kMax = 200.0;
  std::vector<double> f_, df_, ddf_;
};

// Fourier transform of the sphere profile in s: V(L) = 1 − 3L/2D + L³/2D³ for 0 ≤ L ≤ D, and
// dV/dD; L, D in Å.
inline double sphere_common_volume(double l, double d) {
  l = std::fabs(l);
  if (l >= d) return 0.0;
  const double x = l / d;
  return 1.0 - 1.5 * x + 0.5 * x * x * x;
}
inline double sphere_common_volume_dd(double l, double d) {
  l = std::fabs(l);
  if (l >= d) return 0.0;
  const double x = l / d;
  return (1.5 * x - 1.5 * x * x * x) / d;
}

}  // namespace anvil::powder
