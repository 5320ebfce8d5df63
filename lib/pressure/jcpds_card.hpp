// A JCPDS card as Dioptas and the APS/GSECARS tools use it: lattice, EOS (K0, K0') and the
// reflection list of a pressure marker. Plain data; io/jcpds.hpp reads it from a file and
// pressure/standard.hpp turns it into a pressure standard.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace anvil::pressure {

struct JcpdsReflection {
  double d0_angstrom = 0.0;  // d-spacing at ambient conditions
  double intensity = 0.0;    // relative, 0-100
  int h = 0, k = 0, l = 0;
};

struct JcpdsCard {
  int version = 4;                    // 4 = keyword format; 1 = old fixed format
  std::string name;                   // file name without extension ("au_Anderson")
  std::vector<std::string> comments;  // COMMENT: lines, in order
  double k0_gpa = 0.0;                // K0:  bulk modulus
  double k0_prime = 0.0;              // K0P: dK/dP
  double dk0_dt = 0.0;                // DK0DT:  GPa/K
  double dk0p_dt = 0.0;               // DK0PDT: 1/K
  std::string symmetry;               // SYMMETRY: CUBIC, HEXAGONAL, TETRAGONAL, ... (upper case)
  double a = 0.0;                     // A: (Angstrom)
  std::optional<double> b, c;         // B:, C: when given
  std::optional<double> alpha_deg, beta_deg, gamma_deg;
  std::optional<double> volume;              // VOLUME: when given
  double alpha_t = 0.0;                      // ALPHAT: thermal expansion, 1/K
  double dalpha_dt = 0.0;                    // DALPHADT: 1/K^2
  std::vector<JcpdsReflection> reflections;  // DIHKL: lines, in file order
};

}  // namespace anvil::pressure
