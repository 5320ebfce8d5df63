// Phases from CIF files: what is read, what is derived (Z, formula, mass), the default phase
// folder and the errors a user sees for a bad file.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "crystal/phase.hpp"
#include "test_support.hpp"

namespace ac = anvil::crystal;

namespace {

const std::filesystem::path kPhaseDir = std::filesystem::path(ANVIL_SOURCE_DIR) / "calib" / "phases";

const char* kCdSeZbHeader = R"(data_test
_cell_length_a 6.077
_cell_length_b 6.077
_cell_length_c 6.077
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
)";

const char* kCdSeZbSites = R"(loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_U_iso_or_equiv
Cd1 Cd2+ 0 0 0 1.0 0.0126651
Se1 Se 0.25 0.25 0.25 0.9 0.0
)";

std::string expect_input_error(const std::string& text, const std::string& source = "bad.cif") {
  try {
    ac::phase_from_cif_text(text, source);
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), source);
    return e.problem();
  }
  ADD_FAILURE() << "no InputError for:\n" << text;
  return "";
}

}  // namespace

TEST(CifPhase, WurtziteCdSeReadsCellSpaceGroupSitesAndCellContents) {
  const ac::Phase p = ac::read_phase_cif(kPhaseDir / "CdSe-WZ.cif");
  EXPECT_EQ(p.name, "CdSe-WZ");
  EXPECT_DOUBLE_EQ(p.cell.a, 4.299);
  EXPECT_DOUBLE_EQ(p.cell.c, 7.010);
  EXPECT_DOUBLE_EQ(p.cell.gamma_deg, 120.0);
  EXPECT_EQ(ac::space_group_number(p), 186);
  EXPECT_EQ(ac::space_group_name(p), "P 63 m c");
  ASSERT_EQ(p.sites.size(), 2u);
  EXPECT_EQ(p.sites[1].element, "Se");
  EXPECT_DOUBLE_EQ(p.sites[1].fract[2], 0.375);
  EXPECT_EQ(p.formula, "Cd Se");
  EXPECT_EQ(p.z, 2);
  EXPECT_EQ(ac::unit_cell_atoms(p).size(), 4u);  // 2b + 2b
}

TEST(CifPhase, UisoBecomesBisoAndOccupancyAndChargeAreKept) {
  const ac::Phase p = ac::phase_from_cif_text(
      std::string(kCdSeZbHeader) + "_symmetry_space_group_name_H-M 'F -4 3 m'\n" + kCdSeZbSites, "zb");
  ASSERT_EQ(p.sites.size(), 2u);
  EXPECT_EQ(p.sites[0].element, "Cd");                                // "Cd2+" -> Cd
  EXPECT_NEAR(p.sites[0].b_iso, 8 * M_PI * M_PI * 0.0126651, 1e-12);  // = 1.0000 Å²
  EXPECT_NEAR(p.sites[0].b_iso, 1.0, 1e-5);
  EXPECT_DOUBLE_EQ(p.sites[1].occupancy, 0.9);
  // 4 Cd + 3.6 Se per cell: not whole numbers, so Z = 1 and the formula is the cell content.
  EXPECT_EQ(p.z, 1);
  EXPECT_EQ(p.formula, "Cd4 Se3.6");
}

TEST(CifPhase, SpaceGroupFromSymmetryOperatorsOrNumberWhenThereIsNoSymbol) {
  const std::string ops = R"(loop_
_space_group_symop_operation_xyz
x,y,z
-x+y,-x,z
-y,x-y,z
-x,-y,z+1/2
x-y,x,z+1/2
y,-x+y,z+1/2
-y,-x,z
-x+y,y,z
x,x-y,z
y,x,z+1/2
x-y,-y,z+1/2
-x,-x+y,z+1/2
)";
  const std::string hex = R"(data_wz
_cell_length_a 4.299
_cell_length_b 4.299
_cell_length_c 7.010
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
)";
  const std::string sites =
      "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
      "Cd 0.333333 0.666667 0\nSe 0.333333 0.666667 0.375\n";
  EXPECT_EQ(ac::space_group_number(ac::phase_from_cif_text(hex + ops + sites, "ops")), 186);
  EXPECT_EQ(
      ac::space_group_number(ac::phase_from_cif_text(hex + "_space_group_IT_number 186\n" + sites, "n")),
      186);
}

TEST(CifPhase, BadFilesGiveAnInputErrorNamingTheFileAndTheProblem) {
  // Not a file at all.
  try {
    ac::read_phase_cif("/nonexistent/phase.cif");
    ADD_FAILURE();
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), "/nonexistent/phase.cif");
    EXPECT_NE(std::string(e.what()).find("file not found"), std::string::npos);
  }
  // A file gemmi cannot parse.
  const auto dir = anvil::test::scratch_dir("crystal_cif");
  const auto garbage = dir / "garbage.cif";
  std::ofstream(garbage) << "data_x\n_cell_length_a 'unterminated\nloop_\n";
  try {
    ac::read_phase_cif(garbage);
    ADD_FAILURE();
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), garbage.string());
    EXPECT_NE(e.problem().find("not a readable CIF"), std::string::npos) << e.what();
  }
  EXPECT_NE(
      expect_input_error("data_x\n_symmetry_space_group_name_H-M 'F m -3 m'\n" + std::string(kCdSeZbSites))
          .find("no unit cell"),
      std::string::npos);
  EXPECT_NE(expect_input_error("data_x\n_cell_length_a 5\n_cell_length_b 5\n" + std::string(kCdSeZbSites))
                .find("no unit cell"),
            std::string::npos);
  EXPECT_NE(expect_input_error(std::string(kCdSeZbHeader) + kCdSeZbSites).find("no space group"),
            std::string::npos);
  EXPECT_NE(expect_input_error(std::string(kCdSeZbHeader) + "_symmetry_space_group_name_H-M 'Q 9 z'\n" +
                               kCdSeZbSites)
                .find("unknown space group 'Q 9 z'"),
            std::string::npos);
  EXPECT_NE(expect_input_error(std::string(kCdSeZbHeader) + "_symmetry_space_group_name_H-M 'F m -3 m'\n")
                .find("no atom sites"),
            std::string::npos);
  EXPECT_NE(expect_input_error(std::string(kCdSeZbHeader) + "_symmetry_space_group_name_H-M 'F m -3 m'\n" +
                               "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
                               "_atom_site_fract_y\n_atom_site_fract_z\nXx1 Qq 0 0 0\n")
                .find("unknown element"),
            std::string::npos);
  EXPECT_NE(expect_input_error("not a cif at all {").find("not a readable CIF"), std::string::npos);
}

TEST(DefaultPhases, ShortNamesResolveInThePhaseFolderCaseAndSeparatorInsensitive) {
  const auto names = ac::phase_names(kPhaseDir);
  for (const char* n : {"CdSe-WZ", "CdSe-ZB", "CdSe-RS", "CdS-WZ", "CdS-ZB", "CdS-RS", "Au", "Pt", "CeO2",
                        "LaB6", "Si", "NaCl-B1"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(ac::resolve_phase_path("cdse_wz", kPhaseDir), kPhaseDir / "CdSe-WZ.cif");
  EXPECT_EQ(ac::load_phase("CdS-RS", kPhaseDir).name, "CdS-RS");
  // A path wins over a name.
  EXPECT_EQ(ac::resolve_phase_path((kPhaseDir / "Au.cif").string(), "/nonexistent"), kPhaseDir / "Au.cif");
  try {
    ac::resolve_phase_path("CdTe-WZ", kPhaseDir);
    ADD_FAILURE();
  } catch (const anvil::InputError& e) {
    EXPECT_EQ(e.source(), "CdTe-WZ");
    EXPECT_NE(e.problem().find("known: "), std::string::npos);
    EXPECT_NE(e.problem().find("CdSe-WZ"), std::string::npos);
  }
  // Every default phase loads and has whole-number cell contents.
  for (const auto& n : names) {
    const ac::Phase p = ac::load_phase(n, kPhaseDir);
    EXPECT_GE(p.z, 1) << n;
    EXPECT_GT(p.formula_mass, 0) << n;
  }
}

TEST(DefaultPhases, CalibrantAndMarkerCellContentsAreTheTextbookOnes) {
  auto atoms = [](const char* n) { return ac::unit_cell_atoms(ac::load_phase(n, kPhaseDir)).size(); };
  EXPECT_EQ(atoms("Au"), 4u);
  EXPECT_EQ(atoms("CeO2"), 12u);  // 4 Ce + 8 O
  EXPECT_EQ(atoms("LaB6"), 7u);   // 1 La + 6 B
  EXPECT_EQ(atoms("Si"), 8u);     // diamond, origin choice 1
  EXPECT_EQ(atoms("CdSe-RS"), 8u);
  EXPECT_EQ(ac::load_phase("CeO2", kPhaseDir).formula, "Ce O2");
  EXPECT_EQ(ac::load_phase("CeO2", kPhaseDir).z, 4);
}

// Z, M, V and Z·M·V (Hill–Howard) against ../shared/reference/phases/out/phase_constants.json.
TEST(HillHoward, PhaseConstantsMatchTheReference) {
  ANVIL_REFERENCE_FILE(json_path, "phases/out/phase_constants.json");
  const auto ref = nlohmann::json::parse(std::ifstream(json_path));
  for (const auto& [name, c] : ref.items()) {
    ANVIL_REFERENCE_FILE(cif, "phases/cif/" + name + ".cif");
    const ac::Phase p = ac::read_phase_cif(cif);
    EXPECT_EQ(p.z, c["Z"].get<int>()) << name;
    EXPECT_NEAR(p.formula_mass, c["M_formula"].get<double>(), 2e-3) << name;
    EXPECT_NEAR(ac::cell_volume(p.cell), c["V_cell_A3"].get<double>(), 1e-6 * c["V_cell_A3"].get<double>())
        << name;
    EXPECT_NEAR(ac::hill_howard_zmv(p), c["ZMV"].get<double>(), 1e-4 * c["ZMV"].get<double>()) << name;
  }
}

TEST(HillHoward, EqualScalesOfPolymorphsGiveFractionsInProportionToZV) {
  const ac::Phase wz = ac::load_phase("CdSe-WZ", kPhaseDir);
  const ac::Phase rs = ac::load_phase("CdSe-RS", kPhaseDir);
  const auto w = ac::weight_fractions({1.0, 1.0}, {ac::hill_howard_zmv(wz), ac::hill_howard_zmv(rs)});
  const double zv_wz = 2 * ac::cell_volume(wz.cell), zv_rs = 4 * ac::cell_volume(rs.cell);
  EXPECT_NEAR(w[0], zv_wz / (zv_wz + zv_rs), 1e-12);
  const auto n = ac::formula_unit_fractions({1.0, 1.0}, {wz, rs});
  EXPECT_NEAR(n[0], w[0], 1e-12);  // polymorphs: formula-unit fraction = weight fraction
  EXPECT_THROW(ac::weight_fractions({0.0, 0.0}, {1.0, 1.0}), std::invalid_argument);
  EXPECT_THROW(ac::weight_fractions({1.0}, {1.0, 1.0}), std::invalid_argument);
}
