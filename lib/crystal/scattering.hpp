// Atomic X-ray scattering factors f = f0(s) + f′(E) + i f″(E).
//
// f0: International Tables Vol. C (1992) 4-Gaussian fits (Table 6.1.1.4), as tabulated in gemmi's
//     it92.hpp (the `it1992` table of cctbx and CrysFML); s = sin θ / λ.
// f′, f″: either Cromer & Liberman, Acta Cryst. A37, 267 (1981) with the Kissel & Pratt (1990)
//     correction, computed for any element and energy by gemmi's fprime.hpp; or Henke, Gullikson &
//     Davis, At. Data Nucl. Data Tables 54, 181 (1993), linearly interpolated in energy as cctbx does,
//     for the elements of the default phases (see henke.hpp). Near the Cd K edge (26.711 keV) the two
//     differ by ~0.05 e in f′(Cd) at 25.5 keV; docs/crystal.md shows what that does to intensities.
#pragma once

#include <complex>
#include <string>

namespace anvil::crystal {

enum class Dispersion {
  None,            // f0 only
  CromerLiberman,  // gemmi::cromer_liberman, any element Z = 3..92
  Henke,  // Henke tables where compiled in (S, Se, Cd at 20–30 keV, henke.hpp), else Cromer–Liberman.
          // The default: it reproduces the cctbx reference intensities to ≤ 0.1 %, where
          // Cromer–Liberman alone differs by up to 1.9 % on the weak Cd–X difference lines.
};

const char* dispersion_name(Dispersion d);          // "none", "cromer-liberman", "henke"
Dispersion parse_dispersion(const std::string& s);  // the names above; throws InputError

// The scattering factor of one element at one energy.
struct AtomScattering {
  std::string element;
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}, c = 0;  // f0(s) = Σ a_i exp(−b_i s²) + c
  double fp = 0.0;                                         // f′ (e)
  double fpp = 0.0;                                        // f″ (e)

  double f0(double stol2) const;  // stol2 = (sin θ / λ)² = 1/(4d²), Å⁻²
  std::complex<double> f(double stol2) const { return {f0(stol2) + fp, fpp}; }
};

// Throws InputError for an unknown element or a non-positive energy.
AtomScattering atom_scattering(const std::string& element, double energy_kev, Dispersion dispersion);

}  // namespace anvil::crystal
