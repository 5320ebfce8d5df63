// Ruby R1 fluorescence scales against the fixture values of SCALES.md (computed independently).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "pressure/ruby.hpp"

namespace ap = anvil::pressure;
using ap::RubyScale;

namespace {

struct Fixture {
  RubyScale scale;
  double p700_gpa;
  double p710_gpa;
};

// ../shared/reference/pressure/SCALES.md, section 3.1 "Fixture values".
constexpr Fixture kFixtures[] = {
    {RubyScale::Mao1986, 16.241, 46.637},     {RubyScale::Mao1978, 16.062, 45.230},
    {RubyScale::Dewaele2008, 16.511, 48.100}, {RubyScale::Jacobsen2008, 16.422, 48.095},
    {RubyScale::Shen2020, 16.210, 47.842},
};

}  // namespace

TEST(RubyScales, ReproduceTheScalesFixtureValuesAt700And710nm) {
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(std::string(ap::ruby_scale_name(f.scale)));
    EXPECT_NEAR(ap::ruby_pressure_gpa(700.0, f.scale), f.p700_gpa, 1e-3);
    EXPECT_NEAR(ap::ruby_pressure_gpa(710.0, f.scale), f.p710_gpa, 1e-3);
  }
}

TEST(RubyScales, Liu2013AndPiermariniByHand) {
  // Liu 2013: (1904/9.827) * ((700/694.24)^9.827 - 1) = 193.752 * (exp(9.827 * 0.0082626) - 1)
  //         = 193.752 * 0.084584 = 16.388 GPa.
  EXPECT_NEAR(ap::ruby_pressure_gpa(700.0, RubyScale::Liu2013), 16.388, 1e-3);
  // Piermarini 1975: 2.740 GPa/nm * (700 - 694.24) nm = 15.782 GPa.
  EXPECT_NEAR(ap::ruby_pressure_gpa(700.0, RubyScale::Piermarini1975), 15.7824, 1e-9);
}

TEST(RubyScales, AmbientWavelengthGivesZeroPressure) {
  for (RubyScale s : ap::ruby_scales()) {
    SCOPED_TRACE(std::string(ap::ruby_scale_name(s)));
    EXPECT_NEAR(ap::ruby_pressure_gpa(ap::ruby_default_lambda0_nm(s), s), 0.0, 1e-12);
  }
  EXPECT_DOUBLE_EQ(ap::ruby_default_lambda0_nm(RubyScale::Shen2020), 694.25);
  EXPECT_DOUBLE_EQ(ap::ruby_default_lambda0_nm(RubyScale::Dewaele2008), 694.24);
}

TEST(RubyScales, ScalesAgreeAtLowPressureAndDivergeAtHigh) {
  // All scales share dP/dlambda ~ 2.74 GPa/nm at 1 bar: within 0.1 GPa of each other at 1 nm shift.
  for (RubyScale s : ap::ruby_scales())
    EXPECT_NEAR(ap::ruby_pressure_gpa(ap::ruby_default_lambda0_nm(s) + 1.0, s), 2.74, 0.1)
        << ap::ruby_scale_name(s);
  // Non-hydrostatic Mao 1978 reads lowest of the Mao-form scales at 100 GPa-ish shifts.
  EXPECT_LT(ap::ruby_pressure_gpa(720.0, RubyScale::Mao1978),
            ap::ruby_pressure_gpa(720.0, RubyScale::Mao1986));
  EXPECT_LT(ap::ruby_pressure_gpa(720.0, RubyScale::Mao1986),
            ap::ruby_pressure_gpa(720.0, RubyScale::Dewaele2008));
}

TEST(RubyScales, InverseRoundTripsFrom0To200GPa) {
  for (RubyScale s : ap::ruby_scales()) {
    for (double p = -2.0; p <= 200.0; p += 7.5) {
      const double l = ap::ruby_r1_nm(p, s);
      EXPECT_NEAR(ap::ruby_pressure_gpa(l, s), p, 1e-9) << ap::ruby_scale_name(s) << " at " << p;
    }
  }
  // Shen 2020 at 100 GPa: solve 5.63 x^2 + x - 100/1870 = 0 -> x = (sqrt(2.204278) - 1) / 11.26
  // = 0.043045, lambda = 694.25 * 1.043045 = 724.134 nm.
  EXPECT_NEAR(ap::ruby_r1_nm(100.0, RubyScale::Shen2020), 724.134, 1e-3);
}

TEST(RubyScales, Lambda0OverrideShiftsTheZero) {
  EXPECT_NEAR(ap::ruby_pressure_gpa(694.30, RubyScale::Dewaele2008, 694.30), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(ap::ruby_pressure_gpa(700.0, RubyScale::Mao1986, 694.24),
                   ap::ruby_pressure_gpa(700.0, RubyScale::Mao1986));
  // A spectrometer reading 0.1 nm high at ambient also reads 0.1 nm high at pressure.
  const double l = ap::ruby_r1_nm(30.0, RubyScale::Shen2020);
  EXPECT_NEAR(ap::ruby_pressure_gpa(l + 0.1, RubyScale::Shen2020, 694.35), 30.0, 0.01);
  EXPECT_THROW(ap::ruby_pressure_gpa(700.0, RubyScale::Mao1986, -1.0), anvil::InputError);
}

TEST(RubyScales, VosSchouten1991TemperatureCorrection) {
  EXPECT_DOUBLE_EQ(ap::ruby_r1_temperature_shift_nm(300.0), 0.0);
  // dT = 100 K: 0.1 * (6.591 + 0.7624 - 0.1733) = 0.71801 nm (about 7 pm/K, the known ruby shift).
  EXPECT_NEAR(ap::ruby_r1_temperature_shift_nm(400.0), 0.71801, 1e-9);
  EXPECT_LT(ap::ruby_r1_temperature_shift_nm(100.0), 0.0);
  // A ruby at 10 GPa measured at 500 K: removing the thermal shift recovers 10 GPa.
  const double l_hot = ap::ruby_r1_nm(10.0, RubyScale::Dewaele2008) + ap::ruby_r1_temperature_shift_nm(500.0);
  EXPECT_NEAR(ap::ruby_pressure_gpa_at_temperature(l_hot, 500.0, RubyScale::Dewaele2008), 10.0, 1e-9);
  // Without the correction the hot ruby would read several GPa too high.
  EXPECT_GT(ap::ruby_pressure_gpa(l_hot, RubyScale::Dewaele2008), 13.0);
  EXPECT_THROW(ap::ruby_r1_temperature_shift_nm(-5.0), anvil::InputError);
}

TEST(RubyScales, ParseNamesCaseInsensitivelyWithAliases) {
  EXPECT_EQ(ap::parse_ruby_scale("mao1986"), RubyScale::Mao1986);
  EXPECT_EQ(ap::parse_ruby_scale("Dewaele2008"), RubyScale::Dewaele2008);
  EXPECT_EQ(ap::parse_ruby_scale("JACOBSEN2008"), RubyScale::Jacobsen2008);
  EXPECT_EQ(ap::parse_ruby_scale("shen2020"), RubyScale::Shen2020);
  EXPECT_EQ(ap::parse_ruby_scale("Ruby2020"), RubyScale::Shen2020);
  EXPECT_EQ(ap::parse_ruby_scale("mao1978"), RubyScale::Mao1978);
  EXPECT_EQ(ap::parse_ruby_scale("liu2013"), RubyScale::Liu2013);
  EXPECT_EQ(ap::parse_ruby_scale("piermarini1975"), RubyScale::Piermarini1975);
  EXPECT_EQ(ap::parse_ruby_scale("Dewaele 2008"), RubyScale::Dewaele2008);
  for (RubyScale s : ap::ruby_scales()) EXPECT_EQ(ap::parse_ruby_scale(ap::ruby_scale_name(s)), s);
}

TEST(RubyScales, UnknownNameListsTheValidOnes) {
  try {
    ap::parse_ruby_scale("holzapfel2003");
    FAIL() << "expected InputError";
  } catch (const anvil::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("holzapfel2003"), std::string::npos) << msg;
    for (RubyScale s : ap::ruby_scales())
      EXPECT_NE(msg.find(std::string(ap::ruby_scale_name(s))), std::string::npos) << msg;
  }
}

TEST(RubyScales, RejectsNonsenseWavelengths) {
  EXPECT_THROW(ap::ruby_pressure_gpa(0.0, RubyScale::Mao1986), anvil::InputError);
  EXPECT_THROW(ap::ruby_pressure_gpa(-700.0, RubyScale::Shen2020), anvil::InputError);
  EXPECT_THROW(ap::ruby_pressure_gpa(NAN, RubyScale::Shen2020), anvil::InputError);
  // Far below the scale's range there is no wavelength.
  EXPECT_THROW(ap::ruby_r1_nm(-1000.0, RubyScale::Mao1986), anvil::InputError);
}
