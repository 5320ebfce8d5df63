// A 1D powder / SAXS pattern: intensity (with σ) against a radial coordinate.
#pragma once

#include <string>
#include <vector>

namespace anvil {

// Radial units as pyFAI names them.
enum class RadialUnit { QInvNm, QInvA, TwoThetaDeg, DSpacingA, RMm };

struct Pattern1D {
  RadialUnit unit = RadialUnit::QInvNm;
  std::vector<double> x;          // bin centres
  std::vector<double> intensity;  // I
  std::vector<double> sigma;      // σ(I); empty when unknown
  std::vector<double> count;      // pixels (or pixel fractions) per bin; may be empty
};

// "q_nm^-1", "q_A^-1", "2th_deg", "d_A", "r_mm" — pyFAI's unit names.
inline const char* unit_name(RadialUnit u) {
  switch (u) {
    case RadialUnit::QInvNm:
      return "q_nm^-1";
    case RadialUnit::QInvA:
      return "q_A^-1";
    case RadialUnit::TwoThetaDeg:
      return "2th_deg";
    case RadialUnit::DSpacingA:
      return "d_A";
    case RadialUnit::RMm:
      return "r_mm";
  }
  return "?";
}

// Name of the axis dataset in NeXus files: q, two_theta, d_spacing, r.
inline const char* axis_name(RadialUnit u) {
  switch (u) {
    case RadialUnit::QInvNm:
    case RadialUnit::QInvA:
      return "q";
    case RadialUnit::TwoThetaDeg:
      return "two_theta";
    case RadialUnit::DSpacingA:
      return "d_spacing";
    case RadialUnit::RMm:
      return "r";
  }
  return "x";
}

// NeXus/UDUNITS spelling of the unit.
inline const char* nexus_units(RadialUnit u) {
  switch (u) {
    case RadialUnit::QInvNm:
      return "1/nm";
    case RadialUnit::QInvA:
      return "1/angstrom";
    case RadialUnit::TwoThetaDeg:
      return "degree";
    case RadialUnit::DSpacingA:
      return "angstrom";
    case RadialUnit::RMm:
      return "mm";
  }
  return "";
}

}  // namespace anvil
