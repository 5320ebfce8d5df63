// Scattering factors, Friedel pairs, the lattice metric and the Lorentz–polarisation factors.
#include <gtest/gtest.h>

#include <cmath>
#include <gemmi/unitcell.hpp>

#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "crystal/lattice.hpp"
#include "crystal/lorentz_polarisation.hpp"
#include "crystal/reflections.hpp"
#include "crystal/scattering.hpp"

namespace ac = anvil::crystal;

namespace {
const std::filesystem::path kPhaseDir = std::filesystem::path(ANVIL_SOURCE_DIR) / "calib" / "phases";
constexpr double kWavelength = 0.4859;  // Å
}  // namespace

TEST(Scattering, CadmiumAt25keVIsJustBelowItsKEdge) {
  const double e = ac::energy_kev_from_wavelength(kWavelength);
  EXPECT_NEAR(e, 25.5164, 1e-4);
  // Henke: f′(Cd) = −2.565, f″ = 0.624 (README of the reference: −2.57); Cromer–Liberman −2.514.
  const auto cd_h = ac::atom_scattering("Cd", e, ac::Dispersion::Henke);
  EXPECT_NEAR(cd_h.fp, -2.565, 0.002);
  EXPECT_NEAR(cd_h.fpp, 0.624, 0.002);
  const auto cd_cl = ac::atom_scattering("Cd", e, ac::Dispersion::CromerLiberman);
  EXPECT_NEAR(cd_cl.fp, -2.514, 0.002);
  EXPECT_NEAR(cd_cl.fpp, 0.606, 0.002);
  // Se is 12.9 keV above its K edge: small f′, f″ ≈ 1.2 e.
  const auto se = ac::atom_scattering("Se", e, ac::Dispersion::Henke);
  EXPECT_NEAR(se.fp, 0.314, 0.002);
  EXPECT_NEAR(se.fpp, 1.189, 0.002);
  // Above the Cd K edge f″ jumps (Henke: 0.575 -> 3.654 e at 26.711 keV).
  EXPECT_GT(ac::atom_scattering("Cd", 26.8, ac::Dispersion::Henke).fpp, 3.5);
  // Gold has no compiled-in Henke rows: Cromer–Liberman is used.
  EXPECT_DOUBLE_EQ(ac::atom_scattering("Au", e, ac::Dispersion::Henke).fp,
                   ac::atom_scattering("Au", e, ac::Dispersion::CromerLiberman).fp);
  EXPECT_EQ(ac::atom_scattering("Cd", e, ac::Dispersion::None).fp, 0.0);
  // f0(0) = Z to the accuracy of the ITC fit.
  EXPECT_NEAR(ac::atom_scattering("Cd", e, ac::Dispersion::None).f0(0.0), 48.0, 0.05);
  EXPECT_THROW(ac::atom_scattering("Qq", e, ac::Dispersion::Henke), anvil::InputError);
  EXPECT_THROW(ac::atom_scattering("Cd", 0.0, ac::Dispersion::Henke), anvil::InputError);
  EXPECT_EQ(ac::parse_dispersion("cromer-liberman"), ac::Dispersion::CromerLiberman);
  EXPECT_THROW(ac::parse_dispersion("sasaki"), anvil::InputError);
}

TEST(Scattering, FriedelMatesDifferInZincBlendeButNotInRockSalt) {
  const ac::Phase zb = ac::load_phase("CdSe-ZB", kPhaseDir);
  const auto m = ac::make_scattering_model(zb, kWavelength);
  // 111: F = 4(f_Cd + i f_Se), F(−h) = 4(f_Cd − i f_Se); with complex f these differ.
  const ac::Miller h{1, 1, 1}, mh{-1, -1, -1};
  const double inv_d2 = ac::one_over_d_squared(h, zb.cell);
  const double plus = std::norm(ac::structure_factor(m, h, inv_d2));
  const double minus = std::norm(ac::structure_factor(m, mh, inv_d2));
  std::printf("CdSe ZB 111 Bijvoet ratio |F(h)|²/|F(−h)|² = %.4f\n", plus / minus);
  EXPECT_GT(std::fabs(plus / minus - 1.0), 0.01);
  EXPECT_NEAR(ac::mean_f_squared(m, h, inv_d2), 0.5 * (plus + minus), 1e-9 * plus);
  // Without dispersion Friedel's law holds.
  const auto m0 = ac::make_scattering_model(zb, kWavelength, ac::Dispersion::None);
  EXPECT_NEAR(std::norm(ac::structure_factor(m0, h, inv_d2)), std::norm(ac::structure_factor(m0, mh, inv_d2)),
              1e-9 * plus);
  // Fm-3m is centrosymmetric: F(h) = F(−h) even with f″.
  const ac::Phase rs = ac::load_phase("CdSe-RS", kPhaseDir);
  const auto mr = ac::make_scattering_model(rs, kWavelength);
  const ac::Miller r{1, 1, 1};
  const double rd = ac::one_over_d_squared(r, rs.cell);
  EXPECT_NEAR(std::norm(ac::structure_factor(mr, r, rd)),
              std::norm(ac::structure_factor(mr, {-1, -1, -1}, rd)),
              1e-9 * std::norm(ac::structure_factor(mr, r, rd)));
}

TEST(Scattering, RockSaltLinesAreSumAndDifferenceOfTheTwoAtoms) {
  // Fm-3m NaCl type: F(even) = 4(f_Cd + f_Se), F(odd) = 4(f_Cd − f_Se), B = 0.
  const ac::Phase rs = ac::load_phase("CdSe-RS", kPhaseDir);
  const auto m = ac::make_scattering_model(rs, kWavelength, ac::Dispersion::Henke);
  const double e = ac::energy_kev_from_wavelength(kWavelength);
  const auto cd = ac::atom_scattering("Cd", e, ac::Dispersion::Henke);
  const auto se = ac::atom_scattering("Se", e, ac::Dispersion::Henke);
  for (ac::Miller h : {ac::Miller{1, 1, 1}, ac::Miller{2, 0, 0}}) {
    const double inv_d2 = ac::one_over_d_squared(h, rs.cell);
    const double s2 = inv_d2 / 4;
    const auto expect = 4.0 * (cd.f(s2) + (h[0] % 2 ? -1.0 : 1.0) * se.f(s2));
    EXPECT_NEAR(ac::mean_f_squared(m, h, inv_d2), std::norm(expect), 1e-9 * std::norm(expect));
  }
}

TEST(Reflections, FamiliesMultiplicitiesAndAbsencesOfTheCubicAndHexagonalGroups) {
  const ac::Phase zb = ac::load_phase("CdSe-ZB", kPhaseDir);
  const auto f = ac::hkl_families(zb, 1.5);
  // F-centring: h, k, l all odd or all even. 111(8), 200(6), 220(12), 311(24), 222(8), 400(6).
  ASSERT_EQ(f.size(), 6u);
  const ac::Miller hkl[] = {{1, 1, 1}, {2, 0, 0}, {2, 2, 0}, {3, 1, 1}, {2, 2, 2}, {4, 0, 0}};
  const int mult[] = {8, 6, 12, 24, 8, 6};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(f[i].hkl, hkl[i]);
    EXPECT_EQ(f[i].multiplicity, mult[i]);
    EXPECT_NEAR(f[i].d_angstrom,
                6.077 / std::sqrt(hkl[i][0] * hkl[i][0] + hkl[i][1] * hkl[i][1] + hkl[i][2] * hkl[i][2]),
                1e-12);
  }
  EXPECT_EQ(ac::equivalent_reflections(*zb.space_group, {1, 1, 1}).size(), 8u);
  // P6_3mc: 00l only with l even, hh(-2h)l only with l even.
  const ac::Phase wz = ac::load_phase("CdSe-WZ", kPhaseDir);
  for (const auto& r : ac::hkl_families(wz, 1.0)) {
    if (r.hkl[0] == r.hkl[1] || (r.hkl[0] == 0 && r.hkl[1] == 0)) {
      EXPECT_EQ(r.hkl[2] % 2, 0) << r.hkl[0] << r.hkl[1] << r.hkl[2];
    }
  }
  // A d window.
  for (const auto& r : ac::hkl_families(zb, 1.5, 2.5)) {
    EXPECT_GE(r.d_angstrom, 1.5);
    EXPECT_LE(r.d_angstrom, 2.5);
  }
  EXPECT_THROW(ac::hkl_families(zb, 0.0), anvil::InputError);
}

TEST(Reflections, TwoThetaWindowAndMergingOfCoincidentFamilies) {
  const ac::Phase zb = ac::load_phase("CdSe-ZB", kPhaseDir);
  const auto all = ac::reflection_list(zb, kWavelength, 0.0, 30.0);
  for (const auto& r : all) EXPECT_LE(ac::two_theta_deg(r.d_angstrom, kWavelength), 30.0);
  const auto window = ac::reflection_list(zb, kWavelength, 10.0, 16.0);
  ASSERT_EQ(window.size(), 3u);  // 220, 311, 222
  // 333 and 511 share d = a/√27 (and 600, 442 d = a/6): two families, one powder line of multiplicity 8 + 24.
  std::size_t n333 = 0;
  for (const auto& r : all) n333 += std::fabs(r.d_angstrom - 6.077 / std::sqrt(27.0)) < 1e-9;
  EXPECT_EQ(n333, 2u);
  const auto merged = ac::merge_equal_d(all);
  EXPECT_EQ(merged.size(), all.size() - 2);
  double sum_all = 0, sum_merged = 0;
  for (const auto& r : all) sum_all += r.multiplicity * r.f_squared;
  for (const auto& r : merged) sum_merged += r.multiplicity * r.f_squared;
  EXPECT_NEAR(sum_merged, sum_all, 1e-9 * sum_all);
  EXPECT_THROW(ac::reflection_list(zb, kWavelength, 20.0, 10.0), anvil::InputError);
  EXPECT_THROW(ac::reflection_list(zb, -1.0, 0.0, 30.0), anvil::InputError);
}

TEST(Lattice, DSpacingAndVolumeAgreeWithGemmiForATriclinicCell) {
  const ac::Lattice L{5.1, 6.2, 7.3, 81.0, 97.0, 112.0};
  const gemmi::UnitCell g(5.1, 6.2, 7.3, 81.0, 97.0, 112.0);
  EXPECT_NEAR(ac::cell_volume(L), g.volume, 1e-9 * g.volume);
  for (ac::Miller h : {ac::Miller{1, 0, 0}, ac::Miller{0, 1, 0}, ac::Miller{1, -2, 3}, ac::Miller{-3, 1, 2}})
    EXPECT_NEAR(ac::one_over_d_squared(h, L), g.calculate_1_d2(h), 1e-12);
  // Hexagonal: 1/d² = 4(h² + hk + k²)/(3a²) + l²/c².
  const ac::Lattice hex{4.299, 4.299, 7.010, 90, 90, 120};
  EXPECT_NEAR(ac::one_over_d_squared({1, 0, 1}, hex), 4.0 / (3 * 4.299 * 4.299) + 1 / (7.010 * 7.010), 1e-14);
  EXPECT_NEAR(ac::d_from_two_theta(ac::two_theta_deg(2.0, kWavelength), kWavelength), 2.0, 1e-12);
  EXPECT_TRUE(std::isnan(ac::two_theta_deg(0.2, kWavelength)));  // λ > 2d
  EXPECT_NEAR(ac::d_spacing({1, 1, 1}, ac::Lattice{6.077, 6.077, 6.077, 90, 90, 90}), 6.077 / std::sqrt(3.0),
              1e-12);
  EXPECT_EQ(ac::find_space_group("186")->number, 186);
  EXPECT_EQ(ac::find_space_group("Fm-3m")->number, 225);
  EXPECT_EQ(ac::find_space_group("F -4 3 m")->number, 216);
  EXPECT_EQ(ac::find_space_group("not a group"), nullptr);
}

TEST(LorentzPolarisation, PolarisationCorrectedDataKeepOnlyTheLorentzFactor) {
  for (double tth : {5.0, 15.0, 30.0}) {
    const double th = tth * M_PI / 360;
    EXPECT_NEAR(ac::lp_factor(tth, ac::LpModel::PolarisationCorrected),
                1 / (std::sin(th) * std::sin(th) * std::cos(th)), 1e-9);
    EXPECT_NEAR(ac::lp_factor(tth, ac::LpModel::Unpolarised),
                (1 + std::pow(std::cos(2 * th), 2)) / (std::sin(th) * std::sin(th) * std::cos(th)), 1e-9);
    // The full-ring average of pyFAI's polarised factor is the unpolarised one.
    double avg = 0;
    for (int i = 0; i < 360; ++i) avg += ac::polarisation_factor(tth, i + 0.5, 0.99) / 360;
    EXPECT_NEAR(avg, ac::polarisation_factor_unpolarised(tth), 1e-12);
  }
}
