#include "pressure/eos.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace anvil::pressure {
namespace {

void check(const Eos& eos) {
  if (!(eos.v0 > 0.0) || !std::isfinite(eos.v0) || !(eos.k0_gpa > 0.0) || !std::isfinite(eos.k0_gpa) ||
      !std::isfinite(eos.k0_prime))
    throw InputError("EOS",
                     fmt::format("{} parameters must be positive and finite: V0 = {}, K0 = {} GPa, K0' = {}",
                                 eos_form_name(eos.form), eos.v0, eos.k0_gpa, eos.k0_prime));
}

double k0_prime_of(const Eos& eos) { return eos.form == EosForm::BM2 ? 4.0 : eos.k0_prime; }

// Brent's method (R. P. Brent 1973, "Algorithms for Minimization without Derivatives", ch. 4)
// on a bracket [a, b] with f(a), f(b) of opposite sign.
template <class F>
double brent_root(F&& f, double a, double b, double fa, double fb, double tol) {
  double c = a, fc = fa, d = b - a, e = d;
  for (int iter = 0; iter < 200; ++iter) {
    if ((fb > 0.0) == (fc > 0.0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::abs(fc) < std::abs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const double tol1 = 2.0 * 1e-16 * std::abs(b) + 0.5 * tol;
    const double xm = 0.5 * (c - b);
    if (std::abs(xm) <= tol1 || fb == 0.0) return b;
    if (std::abs(e) >= tol1 && std::abs(fa) > std::abs(fb)) {
      const double s = fb / fa;
      double p, q;
      if (a == c) {  // secant
        p = 2.0 * xm * s;
        q = 1.0 - s;
      } else {  // inverse quadratic interpolation
        const double qq = fa / fc, r = fb / fc;
        p = s * (2.0 * xm * qq * (qq - r) - (b - a) * (r - 1.0));
        q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
      }
      if (p > 0.0) q = -q;
      p = std::abs(p);
      if (2.0 * p < std::min(3.0 * xm * q - std::abs(tol1 * q), std::abs(e * q))) {
        e = d;
        d = p / q;
      } else {  // bisection
        d = xm;
        e = d;
      }
    } else {
      d = xm;
      e = d;
    }
    a = b;
    fa = fb;
    b += std::abs(d) > tol1 ? d : (xm > 0.0 ? tol1 : -tol1);
    fb = f(b);
  }
  return b;
}

}  // namespace

std::string_view eos_form_name(EosForm form) {
  switch (form) {
    case EosForm::BM2:
      return "BM2";
    case EosForm::BM3:
      return "BM3";
    case EosForm::Vinet:
      return "Vinet";
  }
  return "?";
}

EosForm parse_eos_form(std::string_view name) {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  if (key == "bm2") return EosForm::BM2;
  if (key == "bm3" || key == "birch-murnaghan" || key == "birchmurnaghan") return EosForm::BM3;
  if (key == "vinet") return EosForm::Vinet;
  throw InputError("EOS", fmt::format("unknown equation of state '{}'; valid: BM2, BM3, Vinet", name));
}

double Eos::pressure_gpa(double volume) const {
  check(*this);
  if (!(volume > 0.0) || !std::isfinite(volume))
    throw InputError("EOS", fmt::format("volume must be positive and finite, got {}", volume));
  const double x = volume / v0;
  const double kp = k0_prime_of(*this);
  if (form == EosForm::Vinet) {
    const double eta = std::cbrt(x);
    return 3.0 * k0_gpa * (1.0 - eta) / (eta * eta) * std::exp(1.5 * (kp - 1.0) * (1.0 - eta));
  }
  const double f = 0.5 * (std::pow(x, -2.0 / 3.0) - 1.0);
  return 3.0 * k0_gpa * f * std::pow(1.0 + 2.0 * f, 2.5) * (1.0 + 1.5 * (kp - 4.0) * f);
}

double Eos::bulk_modulus_gpa(double volume) const {
  check(*this);
  if (!(volume > 0.0) || !std::isfinite(volume))
    throw InputError("EOS", fmt::format("volume must be positive and finite, got {}", volume));
  const double x = volume / v0;
  const double kp = k0_prime_of(*this);
  if (form == EosForm::Vinet) {
    // K = -V dP/dV = K0 eta^-2 exp[xi (1 - eta)] [1 + (1 - eta)(xi eta + 1)], xi = 3/2 (K0' - 1).
    const double eta = std::cbrt(x);
    const double xi = 1.5 * (kp - 1.0);
    return k0_gpa / (eta * eta) * std::exp(xi * (1.0 - eta)) * (1.0 + (1.0 - eta) * (xi * eta + 1.0));
  }
  // With df/dV = -(1 + 2f)/(3V): K = (1 + 2f)/3 dP/df
  //   = K0 (1 + 2f)^5/2 [(1 + 7f)(1 + a f) + a f (1 + 2f)],  a = 3/2 (K0' - 4).
  const double f = 0.5 * (std::pow(x, -2.0 / 3.0) - 1.0);
  const double a = 1.5 * (kp - 4.0);
  return k0_gpa * std::pow(1.0 + 2.0 * f, 2.5) * ((1.0 + 7.0 * f) * (1.0 + a * f) + a * f * (1.0 + 2.0 * f));
}

double Eos::volume_at(double pressure) const {
  check(*this);
  if (!std::isfinite(pressure))
    throw InputError("EOS", fmt::format("pressure must be finite, got {}", pressure));
  if (pressure == 0.0) return v0;
  auto g = [&](double v) { return pressure_gpa(v) - pressure; };
  // Walk from V0 in small steps towards the root so that the first sign change found is on
  // the physical branch (BM3 with K0' < 4 turns over at strong compression).
  const bool compress = pressure > 0.0;
  const double step = compress ? 0.98 : 1.01;
  const double limit = compress ? 0.05 * v0 : 2.0 * v0;
  double v_prev = v0, g_prev = -pressure;
  for (;;) {
    double v = v_prev * step;
    if (compress ? v < limit : v > limit) v = limit;
    const double gv = g(v);
    if ((gv >= 0.0) == (g_prev < 0.0) || gv == 0.0) {
      if (gv == 0.0) return v;
      return brent_root(g, v_prev, v, g_prev, gv, 1e-12 * v0);
    }
    if (v == limit) break;
    v_prev = v;
    g_prev = gv;
  }
  throw InputError("EOS",
                   fmt::format("{} GPa is outside the range of this {} EOS (K0 = {} GPa, K0' = {}) for "
                               "{:.2f} V0 <= V <= {:.2f} V0",
                               pressure, eos_form_name(form), k0_gpa, k0_prime_of(*this), 0.05, 2.0));
}

}  // namespace anvil::pressure
