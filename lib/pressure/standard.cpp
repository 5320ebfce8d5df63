#include "pressure/standard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.hpp"
#include "core/text.hpp"

namespace anvil::pressure {
namespace {

// 300 K isotherms. V0 per cubic cell as in pytheos (SHDShim/pytheos, pytheos/scales/*.py):
//   Au  v_ref = 4.07860^3 (Z = 4), Pt v_ref = 3.9231^3 (Z = 4),
//   NaCl-B1 v_ref = 179.44 A^3 (Z = 4, 27.015 cm3/mol), NaCl-B2 v_ref = 41.35 A^3 (Z = 1,
//   24.53 cm3/mol), Ne v_ref = 88.967 A^3 (Z = 4).
constexpr double kAuV0 = 4.0786 * 4.0786 * 4.0786;
constexpr double kPtV0 = 3.9231 * 3.9231 * 3.9231;
constexpr double kNaClB1V0 = 179.44;
constexpr double kNaClB2V0 = 41.35;
constexpr double kNeV0 = 88.967;

constexpr const char* kFei2007 = "Fei et al. 2007, PNAS 104, 9182";
constexpr const char* kDorfman2012 = "Dorfman et al. 2012, JGR 117, B08210";
constexpr const char* kDD2007 = "Dorogokupets & Dewaele 2007, High Press. Res. 27, 431";
constexpr const char* kYokoo2009 = "Yokoo et al. 2009, PRB 80, 104114";

std::vector<PressureStandard> make_standards() {
  using enum EosForm;
  // The first entry of each material is its default.
  return {
      {"Au-Fei2007-Vinet", "Au", "fcc", 4, {Vinet, kAuV0, 167.0, 6.00}, kFei2007},
      {"Au-Fei2007-BM3", "Au", "fcc", 4, {BM3, kAuV0, 167.0, 5.77}, kFei2007},
      {"Au-Dorfman2012", "Au", "fcc", 4, {Vinet, kAuV0, 167.0, 5.88}, kDorfman2012},
      {"Au-Dorogokupets2007", "Au", "fcc", 4, {Vinet, kAuV0, 167.0, 5.90}, kDD2007},
      {"Au-Yokoo2009", "Au", "fcc", 4, {BM3, kAuV0, 167.5, 5.79}, kYokoo2009},
      {"Pt-Fei2007-Vinet", "Pt", "fcc", 4, {Vinet, kPtV0, 277.0, 5.08}, kFei2007},
      {"Pt-Fei2007-BM3", "Pt", "fcc", 4, {BM3, kPtV0, 277.0, 4.95}, kFei2007},
      {"Pt-Dorfman2012", "Pt", "fcc", 4, {Vinet, kPtV0, 277.0, 5.43}, kDorfman2012},
      {"Pt-Dorogokupets2007", "Pt", "fcc", 4, {Vinet, kPtV0, 277.3, 5.12}, kDD2007},
      // pytheos sodium_chloride.py: Dorogokupets2007, static part Vinet K0 = 23.83, K0' = 5.09.
      {"NaCl-B1-Dorogokupets2007", "NaCl-B1", "B1 (rock salt)", 4, {Vinet, kNaClB1V0, 23.83, 5.09}, kDD2007},
      // pytheos sodium_chloride_b2.py: Fei2007vinet (26.86(2.9), 5.25(26)), Fei2007bm3
      // (30.69, 4.33), Dorogokupets2007 (29.72, 5.14).
      {"NaCl-B2-Fei2007-Vinet", "NaCl-B2", "B2 (CsCl)", 1, {Vinet, kNaClB2V0, 26.86, 5.25}, kFei2007},
      {"NaCl-B2-Fei2007-BM3", "NaCl-B2", "B2 (CsCl)", 1, {BM3, kNaClB2V0, 30.69, 4.33}, kFei2007},
      {"NaCl-B2-Dorogokupets2007", "NaCl-B2", "B2 (CsCl)", 1, {Vinet, kNaClB2V0, 29.72, 5.14}, kDD2007},
      // pytheos neon.py: Fei2007vinet (K0 = 1.16(14), K0' = 8.23(31)), Fei2007bm3 (1.43, 8.02).
      {"Ne-Fei2007-Vinet", "Ne", "fcc", 4, {Vinet, kNeV0, 1.16, 8.23}, kFei2007},
      {"Ne-Fei2007-BM3", "Ne", "fcc", 4, {BM3, kNeV0, 1.43, 8.02}, kFei2007},
  };
}

const std::vector<PressureStandard>& all_standards() {
  static const std::vector<PressureStandard> standards = make_standards();
  return standards;
}

void check_positive(double value, const char* what) {
  if (!(value > 0.0) || !std::isfinite(value))
    throw InputError("pressure standard", fmt::format("{} must be positive and finite, got {}", what, value));
}

}  // namespace

Hkl parse_hkl(std::string_view text) {
  std::string s;
  for (char c : text)
    if (c != '(' && c != ')' && c != '[' && c != ']') s += c;
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == ',' || c == '\t') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  // "111" / "-111": three single-digit indices run together.
  if (parts.size() == 1) {
    std::vector<std::string> split;
    const std::string& p = parts[0];
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] == '-' && i + 1 < p.size()) {
        split.push_back(p.substr(i, 2));
        ++i;
      } else {
        split.push_back(p.substr(i, 1));
      }
    }
    parts = split;
  }
  auto bad = [&] {
    return InputError("hkl",
                      fmt::format("cannot read Miller indices from '{}'; expected e.g. 111, \"2 0 0\" or "
                                  "\"1,1,1\"",
                                  text));
  };
  if (parts.size() != 3) throw bad();
  int idx[3];
  for (int i = 0; i < 3; ++i) {
    const std::string& p = parts[static_cast<std::size_t>(i)];
    std::size_t used = 0;
    try {
      idx[i] = std::stoi(p, &used);
    } catch (const std::exception&) {
      throw bad();
    }
    if (used != p.size()) throw bad();
  }
  Hkl hkl{idx[0], idx[1], idx[2]};
  if (hkl.sum_of_squares() == 0) throw InputError("hkl", "(000) is not a reflection");
  return hkl;
}

double PressureStandard::a0_angstrom() const { return std::cbrt(eos.v0); }

double PressureStandard::pressure_from_volume_gpa(double volume_a3) const {
  check_positive(volume_a3, "unit-cell volume (A^3)");
  return eos.pressure_gpa(volume_a3);
}

double PressureStandard::pressure_from_lattice_gpa(double a_angstrom) const {
  check_positive(a_angstrom, "lattice parameter a (A)");
  return eos.pressure_gpa(a_angstrom * a_angstrom * a_angstrom);
}

double PressureStandard::pressure_from_d_gpa(double d_angstrom, Hkl hkl) const {
  check_positive(d_angstrom, "d-spacing (A)");
  if (hkl.sum_of_squares() == 0) throw InputError("hkl", "(000) is not a reflection");
  return pressure_from_lattice_gpa(d_angstrom * std::sqrt(static_cast<double>(hkl.sum_of_squares())));
}

double PressureStandard::lattice_at(double pressure_gpa) const {
  return std::cbrt(eos.volume_at(pressure_gpa));
}

double PressureStandard::d_at(double pressure_gpa, Hkl hkl) const {
  if (hkl.sum_of_squares() == 0) throw InputError("hkl", "(000) is not a reflection");
  return lattice_at(pressure_gpa) / std::sqrt(static_cast<double>(hkl.sum_of_squares()));
}

std::span<const PressureStandard> pressure_standards() { return all_standards(); }

std::vector<std::string> standard_names() {
  std::vector<std::string> names;
  for (const auto& s : all_standards()) names.push_back(s.name);
  for (const auto& s : all_standards())
    if (std::find(names.begin(), names.end(), s.material) == names.end()) names.push_back(s.material);
  names.push_back("NaCl");
  return names;
}

const PressureStandard& find_standard(std::string_view name) {
  std::string key = lower(name);
  if (key == "nacl") key = "nacl-b1";
  for (const auto& s : all_standards())
    if (lower(s.name) == key) return s;
  for (const auto& s : all_standards())  // first entry of a material = its default
    if (lower(s.material) == key) return s;
  std::string valid;
  for (const auto& n : standard_names()) valid += fmt::format("{}{}", valid.empty() ? "" : ", ", n);
  throw InputError("pressure standard", fmt::format("unknown standard '{}'; valid names: {}", name, valid));
}

PressureStandard standard_from_jcpds(const JcpdsCard& card) {
  const std::string source = card.name.empty() ? std::string("JCPDS card") : card.name + ".jcpds";
  if (lower(card.symmetry) != "cubic")
    throw InputError(source,
                     fmt::format("only cubic JCPDS cards can serve as a pressure standard (this one is {})",
                                 card.symmetry.empty() ? "of unknown symmetry" : card.symmetry));
  if (!(card.k0_gpa > 0.0)) throw InputError(source, "the card has no positive K0, so no equation of state");
  if (!(card.a > 0.0)) throw InputError(source, "the card has no positive lattice parameter A");
  PressureStandard s;
  s.name = card.name.empty() ? "jcpds" : card.name;
  s.material = s.name;
  s.structure = "cubic";
  s.z = 0;  // not on the card
  // Dioptas (jcpds.py) uses BM3 with the card's K0, K0' and V0 from the cell.
  const double v0 = card.volume.value_or(card.a * card.a * card.a);
  s.eos = Eos{EosForm::BM3, v0, card.k0_gpa, card.k0_prime};
  s.source = card.comments.empty() ? source : fmt::format("{} ({})", card.comments.front(), source);
  return s;
}

}  // namespace anvil::pressure
