// Calibrants: a crystal (cell + space group + sites) or a lamellar standard, and the powder
// lines it diffracts, computed from the cell and the symmetry rather than typed from a table.
//
// A reflection hkl is a line when the space group allows it (gemmi GroupOps::
// is_systematically_absent: lattice centring, screw axes, glide planes) and, when sites are
// given, when at least one site's orbit does not cancel it (the geometric structure factor
// Σ exp(2πi h·x) over the site's equivalent positions; International Tables Vol. A §2.2.13,
// "special reflection conditions": e.g. Si on 8a kills 222 and 442). Reflections with the same
// d (symmetry-equivalent, or accidentally equal such as CeO2 333/511) are one line whose
// multiplicity counts them all, Friedel mates included, as pyFAI's .D files do.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::calibration {

struct CalibrantSite {
  std::string label;
  std::array<double, 3> xyz{};  // fractional coordinates
};

struct Calibrant {
  std::string name;                  // "CeO2"
  std::string description;           // "Cerium(IV) oxide (ceria), fluorite structure"
  std::string standard;              // "NIST SRM 674b"
  std::string citation;              // where the cell comes from
  std::string space_group;           // Hermann–Mauguin, as gemmi reads it ("F m -3 m", "R -3 c:H")
  std::array<double, 6> cell{};      // a, b, c (Å), α, β, γ (degrees)
  std::vector<CalibrantSite> sites;  // empty: space-group absences only
  std::optional<double> lamellar_d001_angstrom;  // lamellar standards (AgBh): lines are 00l only
};

struct CalibrantLine {
  double d_angstrom = 0.0;
  std::array<int, 3> hkl{};  // one representative reflection (the largest indices first)
  int multiplicity = 0;      // reflections with this d, Friedel mates included
};

// The lines with d >= d_min_angstrom, largest d first. Reflections closer in d than
// merge_tolerance_angstrom are one line. Throws InputError for an unknown space group.
std::vector<CalibrantLine> calibrant_lines(const Calibrant& calibrant, double d_min_angstrom,
                                           double merge_tolerance_angstrom = 1e-7);

// The lines whose 2θ is below max_two_theta_rad at this wavelength (d >= λ / (2 sin(θmax))).
std::vector<CalibrantLine> calibrant_lines_to_two_theta(const Calibrant& calibrant, double wavelength_m,
                                                        double max_two_theta_rad);

// A calibrant file (TOML, see calib/calibrants/): name, space_group, cell = {a, b, c, alpha,
// beta, gamma} (missing lengths and angles follow from the crystal system), sites = [{label,
// xyz}], or lamellar_d001 for a lamellar standard. `source` names the file in errors.
Calibrant parse_calibrant(std::string_view toml_text, const std::string& source);

// A calibrant from a CIF (the first block with a cell): cell, space group and sites via gemmi.
Calibrant calibrant_from_cif(std::string_view cif_text, const std::string& source);

// "any cubic/hexagonal phase given as a cell": "Fm-3m:4.0786" (cubic: a), "P63/mmc:3.21,5.21"
// (hexagonal/tetragonal: a,c), "P1:a,b,c,al,be,ga", or "lamellar:58.38". No sites: space-group
// absences only. Throws InputError for a malformed spec.
Calibrant calibrant_from_cell_spec(std::string_view spec);

// d from a cell (Å, degrees) and hkl: the metric-tensor formula via gemmi::UnitCell::calculate_d.
double d_spacing(const std::array<double, 6>& cell, const std::array<int, 3>& hkl);

}  // namespace anvil::calibration
