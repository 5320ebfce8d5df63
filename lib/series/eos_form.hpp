// The equations of state of lib/pressure/eos.hpp written once more as templates, so that Ceres
// can differentiate them (automatic differentiation with Jets) with respect to V, V0, K0, K0′.
// The forms are the same (BM3, BM2 = BM3 with K0′ = 4, Vinet); see pressure/eos.hpp.
#pragma once

#include <cmath>

#include "pressure/eos.hpp"

namespace anvil::series {

template <class T>
T eos_pressure(pressure::EosForm form, const T& volume, const T& v0, const T& k0, const T& k0_prime) {
  using std::cbrt;
  using std::exp;
  using std::pow;
  const T x = volume / v0;
  if (form == pressure::EosForm::Vinet) {
    const T eta = cbrt(x);
    return 3.0 * k0 * (1.0 - eta) / (eta * eta) * exp(1.5 * (k0_prime - 1.0) * (1.0 - eta));
  }
  const T kp = form == pressure::EosForm::BM2 ? T(4.0) : k0_prime;
  const T f = 0.5 * (pow(x, -2.0 / 3.0) - 1.0);
  return 3.0 * k0 * f * pow(1.0 + 2.0 * f, 2.5) * (1.0 + 1.5 * (kp - 4.0) * f);
}

}  // namespace anvil::series
