// Equations of state: the identities every BM3 / Vinet implementation must satisfy.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "pressure/eos.hpp"

namespace ap = anvil::pressure;
using ap::Eos;
using ap::EosForm;

namespace {

const Eos kForms[] = {
    {EosForm::BM3, 67.85, 167.0, 5.77},
    {EosForm::Vinet, 67.85, 167.0, 6.00},
    {EosForm::BM2, 60.38, 277.0, 4.0},
    {EosForm::Vinet, 88.967, 1.16, 8.23},  // neon: very soft, very stiffening
    {EosForm::BM3, 41.35, 30.69, 4.33},
};

std::string label(const Eos& e) {
  return std::string(ap::eos_form_name(e.form)) + " K0=" + std::to_string(e.k0_gpa);
}

}  // namespace

TEST(Eos, ZeroPressureAtV0) {
  for (const Eos& e : kForms) {
    EXPECT_DOUBLE_EQ(e.pressure_gpa(e.v0), 0.0) << label(e);
    EXPECT_DOUBLE_EQ(e.volume_at(0.0), e.v0) << label(e);
  }
}

TEST(Eos, VolumeAtInvertsPressureFrom0_4To1_1V0) {
  for (const Eos& e : kForms) {
    for (double x = 0.4; x <= 1.1; x += 0.025) {
      const double v = x * e.v0;
      const double p = e.pressure_gpa(v);
      EXPECT_NEAR(e.volume_at(p), v, 1e-9 * e.v0) << label(e) << " x=" << x << " P=" << p;
    }
  }
}

TEST(Eos, Bm3WithK0Prime4IsBm2) {
  const Eos bm3{EosForm::BM3, 60.38, 277.0, 4.0};
  const Eos bm2{EosForm::BM2, 60.38, 277.0, 7.5};  // BM2 ignores K0'
  for (double x = 0.6; x <= 1.05; x += 0.05) {
    EXPECT_NEAR(bm3.pressure_gpa(x * 60.38), bm2.pressure_gpa(x * 60.38), 1e-9);
    EXPECT_NEAR(bm3.bulk_modulus_gpa(x * 60.38), bm2.bulk_modulus_gpa(x * 60.38), 1e-9);
  }
}

TEST(Eos, HandComputedValuesAtTenPercentCompression) {
  // Vinet, K0 = 167 GPa, K0' = 6, V/V0 = 0.9: eta = 0.9^(1/3) = 0.965489, 1 - eta = 0.034511,
  // eta^2 = 0.932170, exp(1.5 * 5 * 0.034511) = 1.295413;
  // P = 3 * 167 * 0.034511 / 0.932170 * 1.295413 = 24.027 GPa.
  EXPECT_NEAR((Eos{EosForm::Vinet, 1.0, 167.0, 6.0}.pressure_gpa(0.9)), 24.027, 1e-3);
  // BM3, K0 = 167 GPa, K0' = 5.77, V/V0 = 0.9: f = (0.9^(-2/3) - 1)/2 = 0.036383,
  // (1 + 2f)^(5/2) = 1.191962, 1 + 1.5 * 1.77 * f = 1.096597;
  // P = 3 * 167 * 0.036383 * 1.191962 * 1.096597 = 23.826 GPa.
  EXPECT_NEAR((Eos{EosForm::BM3, 1.0, 167.0, 5.77}.pressure_gpa(0.9)), 23.826, 1e-3);
}

TEST(Eos, BulkModulusIsK0AtV0AndMinusVdPdV) {
  for (const Eos& e : kForms) {
    EXPECT_NEAR(e.bulk_modulus_gpa(e.v0), e.k0_gpa, 1e-9 * e.k0_gpa) << label(e);
    for (double x : {0.5, 0.7, 0.9, 1.05}) {
      const double v = x * e.v0, h = 1e-6 * e.v0;
      const double numeric = -v * (e.pressure_gpa(v + h) - e.pressure_gpa(v - h)) / (2 * h);
      EXPECT_NEAR(e.bulk_modulus_gpa(v), numeric, 1e-5 * numeric) << label(e) << " x=" << x;
    }
    // dK/dP at P = 0 is K0' (4 for BM2).
    const double h = 1e-4 * e.v0;
    const double dk = e.bulk_modulus_gpa(e.v0 - h) - e.bulk_modulus_gpa(e.v0 + h);
    const double dp = e.pressure_gpa(e.v0 - h) - e.pressure_gpa(e.v0 + h);
    EXPECT_NEAR(dk / dp, e.form == EosForm::BM2 ? 4.0 : e.k0_prime, 1e-4) << label(e);
  }
}

TEST(Eos, NegativePressureExpandsTheCell) {
  const Eos au{EosForm::Vinet, 67.85, 167.0, 6.0};
  const double v = au.volume_at(-1.0);
  EXPECT_GT(v, au.v0);
  EXPECT_NEAR(au.pressure_gpa(v), -1.0, 1e-9);
}

TEST(Eos, PressuresOutOfRangeThrow) {
  const Eos au{EosForm::Vinet, 67.85, 167.0, 6.0};
  EXPECT_THROW(au.volume_at(1e7), anvil::InputError);   // beyond V = 0.05 V0
  EXPECT_THROW(au.volume_at(-1e3), anvil::InputError);  // past the spinodal
  // BM3 with K0' < 4 turns over: no volume reaches a pressure above its maximum.
  const Eos soft{EosForm::BM3, 10.0, 100.0, 2.0};
  EXPECT_THROW(soft.volume_at(1e4), anvil::InputError);
  EXPECT_THROW(au.volume_at(NAN), anvil::InputError);
  EXPECT_THROW(au.pressure_gpa(-1.0), anvil::InputError);
  EXPECT_THROW((Eos{EosForm::BM3, 0.0, 167.0, 4.0}.pressure_gpa(1.0)), anvil::InputError);
}

TEST(Eos, ParsesFormNames) {
  EXPECT_EQ(ap::parse_eos_form("vinet"), EosForm::Vinet);
  EXPECT_EQ(ap::parse_eos_form("BM3"), EosForm::BM3);
  EXPECT_EQ(ap::parse_eos_form("bm2"), EosForm::BM2);
  EXPECT_THROW(ap::parse_eos_form("murnaghan"), anvil::InputError);
}
