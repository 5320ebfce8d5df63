#include "crystal/scattering.hpp"

#include <fmt/core.h>

#include <cmath>
#include <gemmi/elem.hpp>
#include <gemmi/fprime.hpp>
#include <gemmi/it92.hpp>
#include <stdexcept>

#include "core/error.hpp"
#include "crystal/henke.hpp"

namespace anvil::crystal {

const char* dispersion_name(Dispersion d) {
  switch (d) {
    case Dispersion::None:
      return "none";
    case Dispersion::CromerLiberman:
      return "cromer-liberman";
    case Dispersion::Henke:
      return "henke";
  }
  return "?";
}

Dispersion parse_dispersion(const std::string& s) {
  for (Dispersion d : {Dispersion::None, Dispersion::CromerLiberman, Dispersion::Henke})
    if (s == dispersion_name(d)) return d;
  throw InputError("dispersion", "unknown model '" + s + "' (none, cromer-liberman, henke)");
}

double AtomScattering::f0(double stol2) const {
  double f = c;
  for (int i = 0; i < 4; ++i) f += a[i] * std::exp(-b[i] * stol2);
  return f;
}

AtomScattering atom_scattering(const std::string& element, double energy_kev, Dispersion dispersion) {
  const gemmi::Element el(element);
  if (el.elem == gemmi::El::X || el.elem == gemmi::El::END || !gemmi::IT92<double>::has(el.elem))
    throw InputError("scattering factors", "no X-ray scattering factor for element '" + element + "'");
  if (!(energy_kev > 0.0) || !std::isfinite(energy_kev))
    throw InputError("scattering factors", fmt::format("X-ray energy {} keV is not positive", energy_kev));
  AtomScattering s;
  s.element = el.name();
  const auto& coef = gemmi::IT92<double>::get(el.elem);
  for (int i = 0; i < 4; ++i) {
    s.a[i] = coef.a(i);
    s.b[i] = coef.b(i);
  }
  s.c = coef.c();
  const int z = el.atomic_number();
  const double energy_ev = 1000.0 * energy_kev;
  if (dispersion == Dispersion::Henke) {
    if (auto h = henke_fp_fdp(z, energy_ev)) {
      s.fp = h->first;
      s.fpp = h->second;
      return s;
    }
    dispersion = Dispersion::CromerLiberman;  // element or energy outside the compiled-in Henke data
  }
  if (dispersion == Dispersion::CromerLiberman && z >= 3 && z <= 92)
    s.fp = gemmi::cromer_liberman(z, energy_ev, &s.fpp);
  return s;
}

}  // namespace anvil::crystal
