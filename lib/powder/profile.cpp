#include "powder/profile.hpp"

#include <algorithm>

namespace anvil::powder {

TchWidth tch_width(double g, double l) {
  g = std::max(g, 1e-9);
  l = std::max(l, 0.0);
  // Thompson, Cox & Hastings (1987) eq. 3.
  constexpr double c1 = 2.69269, c2 = 2.42843, c3 = 4.47163, c4 = 0.07842;
  const double g2 = g * g, g3 = g2 * g, g4 = g3 * g, g5 = g4 * g;
  const double l2 = l * l, l3 = l2 * l, l4 = l3 * l, l5 = l4 * l;
  const double p = g5 + c1 * g4 * l + c2 * g3 * l2 + c3 * g2 * l3 + c4 * g * l4 + l5;
  const double dp_dg = 5 * g4 + 4 * c1 * g3 * l + 3 * c2 * g2 * l2 + 2 * c3 * g * l3 + c4 * l4;
  const double dp_dl = c1 * g4 + 2 * c2 * g3 * l + 3 * c3 * g2 * l2 + 4 * c4 * g * l3 + 5 * l4;
  TchWidth w;
  w.fwhm = std::pow(p, 0.2);
  const double f4 = std::pow(w.fwhm, 4);
  w.dfwhm_dg = dp_dg / (5.0 * f4);
  w.dfwhm_dl = dp_dl / (5.0 * f4);
  // Eq. 4: η = 1.36603 q − 0.47719 q² + 0.11116 q³, q = Γ_L/Γ.
  const double q = l / w.fwhm;
  w.eta = std::clamp(1.36603 * q - 0.47719 * q * q + 0.11116 * q * q * q, 0.0, 1.0);
  const double deta_dq = 1.36603 - 2 * 0.47719 * q + 3 * 0.11116 * q * q;
  const double dq_dg = -l / (w.fwhm * w.fwhm) * w.dfwhm_dg;
  const double dq_dl = 1.0 / w.fwhm - l / (w.fwhm * w.fwhm) * w.dfwhm_dl;
  w.deta_dg = deta_dq * dq_dg;
  w.deta_dl = deta_dq * dq_dl;
  return w;
}

PvSample pseudo_voigt(double z, double fwhm, double eta) {
  const double inv = 1.0 / fwhm;
  const double u = 4.0 * z * z * inv * inv;  // (2z/Γ)²
  // Lorentzian 2/(πΓ)/(1+u), Gaussian (2/Γ)√(ln2/π)·exp(−ln2·u).
  const double lor = 2.0 / M_PI * inv / (1.0 + u);
  const double gau = 2.0 * std::sqrt(kLn2 / M_PI) * inv * std::exp(-kLn2 * u);
  const double dl_dc = lor * (8.0 * z * inv * inv) / (1.0 + u);
  const double dg_dc = gau * 8.0 * kLn2 * z * inv * inv;
  const double dl_df = lor * (-inv + 2.0 * u * inv / (1.0 + u));
  const double dg_df = gau * (-inv + 2.0 * kLn2 * u * inv);
  return {eta * lor + (1 - eta) * gau, eta * dl_dc + (1 - eta) * dg_dc, eta * dl_df + (1 - eta) * dg_df,
          lor - gau};
}

namespace {
// F(y) = Σ_n (−1)ⁿ y²ⁿ/(2n)! · [1/(2n+1) − 3/(2(2n+2)) + 1/(2(2n+4))]
double series_coefficient(int n) {
  double fact = 1;
  for (int i = 2; i <= 2 * n; ++i) fact *= i;
  const double c = 1.0 / (2 * n + 1) - 1.5 / (2 * n + 2) + 0.5 / (2 * n + 4);
  return ((n % 2) ? -c : c) / fact;
}
constexpr double kSeriesLimit = 1.0;
}  // namespace

double sphere_f(double y) {
  y = std::fabs(y);
  if (y < kSeriesLimit) {
    const double y2 = y * y;
    double sum = 0, p = 1;
    for (int n = 0; n < 9; ++n, p *= y2) sum += series_coefficient(n) * p;
    return sum;
  }
  const double s = std::sin(y), c = std::cos(y);
  const double iy = 1.0 / y, iy2 = iy * iy;
  return 1.5 * iy2 - 3.0 * s * iy2 * iy + 3.0 * (1.0 - c) * iy2 * iy2;
}

double sphere_df(double y) {
  const double sign = y < 0 ? -1.0 : 1.0;
  y = std::fabs(y);
  if (y < kSeriesLimit) {
    const double y2 = y * y;
    double sum = 0, p = y;  // d/dy y²ⁿ = 2n y²ⁿ⁻¹
    for (int n = 1; n < 10; ++n, p *= y2) sum += 2 * n * series_coefficient(n) * p;
    return sign * sum;
  }
  const double s = std::sin(y), c = std::cos(y);
  const double iy = 1.0 / y, iy3 = iy * iy * iy;
  return sign * (-3.0 * iy3 - 3.0 * c * iy3 + 12.0 * s * iy3 * iy - 12.0 * (1.0 - c) * iy3 * iy * iy);
}

SphereTable::SphereTable() {
  const auto n = static_cast<std::size_t>(kMax * kInvStep) + 2;
  f_.resize(n);
  df_.resize(n);
  ddf_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double y = kStep * static_cast<double>(i), e = 1e-4;
    f_[i] = sphere_f(y);
    df_[i] = sphere_df(y);
    ddf_[i] = (sphere_df(y + e) - sphere_df(y - e)) / (2 * e);
  }
}

}  // namespace anvil::powder
