// Internal pressure standards: published parameters, lattice <-> pressure, JCPDS cards.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "io/jcpds.hpp"
#include "pressure/standard.hpp"
#include "test_support.hpp"

namespace ap = anvil::pressure;

TEST(PressureStandards, AmbientLatticeParametersAreTheKnownOnes) {
  // Au 4.0786 A, Pt 3.9231 A (JCPDS 4-0784, 4-0802); halite 5.640 A; B2-NaCl and Ne cells
  // are the pytheos reference volumes 41.35 and 88.967 A^3.
  EXPECT_NEAR(ap::find_standard("Au").a0_angstrom(), 4.0786, 1e-9);
  EXPECT_NEAR(ap::find_standard("Pt").a0_angstrom(), 3.9231, 1e-9);
  EXPECT_NEAR(ap::find_standard("NaCl-B1").a0_angstrom(), 5.640, 1e-3);
  EXPECT_NEAR(ap::find_standard("NaCl-B2").eos.v0, 41.35, 1e-12);
  EXPECT_NEAR(ap::find_standard("Ne").eos.v0, 88.967, 1e-12);
  for (const auto& s : ap::pressure_standards()) {
    EXPECT_NEAR(s.pressure_from_lattice_gpa(s.a0_angstrom()), 0.0, 1e-9) << s.name;
    EXPECT_FALSE(s.source.empty()) << s.name;
  }
}

TEST(PressureStandards, GoldFei2007VinetAtTenPercentCompression) {
  // V/V0 = 0.9 -> a = 4.0786 * 0.9^(1/3) = 3.937845 A. By hand (see test_eos.cpp):
  // P = 3 * 167 * (1 - 0.965489) / 0.965489^2 * exp(1.5 * 5.00 * (1 - 0.965489)) = 24.027 GPa.
  const auto& au = ap::find_standard("Au");
  EXPECT_EQ(au.name, "Au-Fei2007-Vinet");
  const double a = 4.0786 * std::cbrt(0.9);
  EXPECT_NEAR(a, 3.937845, 1e-6);
  EXPECT_NEAR(au.pressure_from_lattice_gpa(a), 24.027, 1e-3);
  // The same cell from the (111) line: d = a / sqrt(3).
  EXPECT_NEAR(au.pressure_from_d_gpa(a / std::sqrt(3.0), {1, 1, 1}), 24.027, 1e-3);
  EXPECT_NEAR(au.pressure_from_volume_gpa(a * a * a), 24.027, 1e-3);
}

TEST(PressureStandards, Fei2007VinetAndBm3FitsOfGoldAgreeWithinOnePercent) {
  // Two fits of one data set (Fei et al. 2007, Table 1) must give the same pressure.
  const auto& vinet = ap::find_standard("Au-Fei2007-Vinet");
  const auto& bm3 = ap::find_standard("Au-Fei2007-BM3");
  EXPECT_EQ(bm3.eos.form, ap::EosForm::BM3);
  EXPECT_DOUBLE_EQ(bm3.eos.k0_prime, 5.77);
  for (double x = 0.7; x <= 0.95; x += 0.05) {
    const double v = x * vinet.eos.v0;
    const double pv = vinet.pressure_from_volume_gpa(v), pb = bm3.pressure_from_volume_gpa(v);
    EXPECT_NEAR(pb, pv, 0.01 * pv) << "V/V0 = " << x;
  }
}

TEST(PressureStandards, LatticeAtInvertsPressureForEveryStandard) {
  for (const auto& s : ap::pressure_standards()) {
    for (double p : {0.5, 5.0, 30.0, 100.0}) {
      const double a = s.lattice_at(p);
      EXPECT_LT(a, s.a0_angstrom()) << s.name;
      EXPECT_NEAR(s.pressure_from_lattice_gpa(a), p, 1e-8 * p) << s.name << " at " << p;
      EXPECT_NEAR(s.d_at(p, {2, 2, 0}), a / std::sqrt(8.0), 1e-12);
    }
  }
}

TEST(PressureStandards, SofterStandardsCompressMore) {
  // At 20 GPa neon shrinks more than NaCl, NaCl more than gold, gold more than platinum.
  auto x = [](const char* name) {
    const auto& s = ap::find_standard(name);
    return s.eos.volume_at(20.0) / s.eos.v0;
  };
  EXPECT_LT(x("Ne"), x("NaCl-B1"));
  EXPECT_LT(x("NaCl-B1"), x("Au"));
  EXPECT_LT(x("Au"), x("Pt"));
}

TEST(PressureStandards, LookupByNameAndDefaults) {
  EXPECT_EQ(ap::find_standard("au").name, "Au-Fei2007-Vinet");
  EXPECT_EQ(ap::find_standard("Au-Fei2007-BM3").eos.form, ap::EosForm::BM3);
  EXPECT_DOUBLE_EQ(ap::find_standard("Au-Dorfman2012").eos.k0_prime, 5.88);
  EXPECT_EQ(ap::find_standard("Pt").name, "Pt-Fei2007-Vinet");
  EXPECT_DOUBLE_EQ(ap::find_standard("Pt").eos.k0_gpa, 277.0);
  EXPECT_DOUBLE_EQ(ap::find_standard("Pt-Dorfman2012").eos.k0_prime, 5.43);
  EXPECT_EQ(ap::find_standard("NaCl").name, "NaCl-B1-Dorogokupets2007");
  EXPECT_EQ(ap::find_standard("nacl-b2").material, "NaCl-B2");
  EXPECT_EQ(ap::find_standard("NaCl-B2").z, 1);
  EXPECT_DOUBLE_EQ(ap::find_standard("Ne").eos.k0_gpa, 1.16);
  EXPECT_DOUBLE_EQ(ap::find_standard("Ne-Fei2007-BM3").eos.k0_prime, 8.02);
}

TEST(PressureStandards, UnknownNameListsTheValidOnes) {
  try {
    ap::find_standard("MgO");
    FAIL() << "expected InputError";
  } catch (const anvil::InputError& e) {
    const std::string msg = e.what();
    for (const char* name : {"MgO", "Au", "Au-Fei2007-BM3", "Pt", "NaCl-B1", "NaCl-B2", "Ne"})
      EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
}

TEST(PressureStandards, MillerIndicesParse) {
  EXPECT_EQ(ap::parse_hkl("111"), (ap::Hkl{1, 1, 1}));
  EXPECT_EQ(ap::parse_hkl("2 0 0"), (ap::Hkl{2, 0, 0}));
  EXPECT_EQ(ap::parse_hkl("(2,2,0)"), (ap::Hkl{2, 2, 0}));
  EXPECT_EQ(ap::parse_hkl("10 0 0"), (ap::Hkl{10, 0, 0}));
  EXPECT_EQ(ap::parse_hkl("1-11"), (ap::Hkl{1, -1, 1}));
  EXPECT_THROW(ap::parse_hkl("000"), anvil::InputError);
  EXPECT_THROW(ap::parse_hkl("11"), anvil::InputError);
  EXPECT_THROW(ap::parse_hkl("1a1"), anvil::InputError);
  EXPECT_THROW(ap::find_standard("Au").pressure_from_d_gpa(-2.0, {1, 1, 1}), anvil::InputError);
}

TEST(PressureStandards, JcpdsCardGivesTheDioptasBm3Standard) {
  ANVIL_REFERENCE_FILE(path, "pressure/au_Anderson.jcpds");
  const auto au = ap::standard_from_jcpds(anvil::io::read_jcpds(path));
  EXPECT_EQ(au.eos.form, ap::EosForm::BM3);
  EXPECT_DOUBLE_EQ(au.eos.k0_gpa, 166.65);
  EXPECT_DOUBLE_EQ(au.eos.k0_prime, 5.4823);
  EXPECT_NEAR(au.a0_angstrom(), 4.0786, 1e-9);
  // V/V0 = 0.9: f = 0.036383, (1 + 2f)^(5/2) = 1.191962, 1 + 1.5 * 1.4823 * f = 1.080895;
  // P = 3 * 166.65 * 0.036383 * 1.191962 * 1.080895 = 23.435 GPa.
  EXPECT_NEAR(au.pressure_from_volume_gpa(0.9 * au.eos.v0), 23.435, 1e-3);
  // A hexagonal card cannot be a cubic standard.
  ANVIL_REFERENCE_FILE(re, "pressure/re.jcpds");
  EXPECT_THROW(ap::standard_from_jcpds(anvil::io::read_jcpds(re)), anvil::InputError);
}
