// Isothermal equations of state P(V) for internal pressure standards (room temperature).
//
// BM3 (third-order Birch-Murnaghan), x = V/V0, f = (x^-2/3 - 1)/2:
//   P = 3 K0 f (1 + 2f)^5/2 [1 + (3/2)(K0' - 4) f]
//     = (3K0/2)[x^-7/3 - x^-5/3]{1 + (3/4)(K0' - 4)(x^-2/3 - 1)}
// BM2: BM3 with K0' = 4.
// Vinet (Vinet et al. 1987, J. Geophys. Res. 92, 9319), eta = x^1/3:
//   P = 3 K0 (1 - eta)/eta^2 exp[(3/2)(K0' - 1)(1 - eta)]
// Forms as in pytheos `eqn_bm3.py` / `eqn_vinet.py` (SHDShim/pytheos).
#pragma once

#include <string_view>

namespace anvil::pressure {

enum class EosForm { BM2, BM3, Vinet };

std::string_view eos_form_name(EosForm form);  // "BM2", "BM3", "Vinet"
// Case-insensitive: "bm2", "bm3", "birch-murnaghan" (= BM3), "vinet". Throws InputError otherwise.
EosForm parse_eos_form(std::string_view name);

struct Eos {
  EosForm form = EosForm::BM3;
  double v0 = 0.0;        // volume at P = 0 (A^3 per unit cell; any unit works if V uses it too)
  double k0_gpa = 0.0;    // isothermal bulk modulus at P = 0
  double k0_prime = 4.0;  // dK/dP at P = 0 (ignored by BM2, which fixes it to 4)

  // Pressure (GPa) at volume `volume` (same unit as v0). Throws InputError for V <= 0 or
  // parameters that are not positive.
  double pressure_gpa(double volume) const;

  // Volume at `pressure_gpa`: the root of P(V) = p on the physical branch, found by scanning
  // down from V0 (up, for negative pressure) to a bracket and then Brent's method, to a
  // relative precision of 1e-12. Searches 0.05 V0 <= V <= 2 V0; throws InputError when the
  // pressure is outside what the EOS reaches there.
  double volume_at(double pressure_gpa) const;

  // Isothermal bulk modulus K = -V dP/dV (GPa) at `volume` (analytic).
  double bulk_modulus_gpa(double volume) const;
};

}  // namespace anvil::pressure
