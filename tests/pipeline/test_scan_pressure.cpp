// Per-frame pressure of a scan from the logs beamlines keep: a table, SPEC counters in GPa,
// ruby R1 wavelengths in SPEC converted with a named scale.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "scan_pressure.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::pipeline;
using pressure::Direction;

namespace {
fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

const char* kSpec =
    "#F dac.spec\n#E 1763600000\n\n"
    "#S 3  ascan  screw 0 5 5 1\n#N 4\n#L screw  ruby R1  P gauge  img\n"
    "0 694.24 0.0 0\n1 697.00 7.9 1\n2 700.00 16.2 2\n3 697.10 8.1 3\n4 694.30 0.2 5\n";
}  // namespace

TEST(ScanPressure, TableGivesPressureEsdAndDirectionPerFrame) {
  const auto dir = scratch();
  std::ofstream(dir / "p.csv") << "frame,pressure_gpa,pressure_esd_gpa\n0,0.1,0.05\n1,3.0,0.05\n2,6.5,0.05\n"
                                  "3,9.8,0.05\n4,5.2,0.05\n6,0.3,0.05\n";
  PressureSource src;
  src.path = (dir / "p.csv").string();
  const auto p = load_scan_pressures(src, 0, 7);
  ASSERT_EQ(p.pressure_gpa.size(), 7u);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[3], 9.8);
  EXPECT_DOUBLE_EQ(p.esd_gpa[3], 0.05);
  EXPECT_FALSE(p.pressure_gpa[5].has_value());
  EXPECT_EQ(p.direction[1], Direction::Compression);
  EXPECT_EQ(p.direction[3], Direction::Compression);
  EXPECT_EQ(p.direction[4], Direction::Decompression);
  EXPECT_EQ(p.direction[5], Direction::Unknown);
  EXPECT_EQ(p.direction[6], Direction::Decompression);
  ASSERT_FALSE(p.warnings.empty());  // frame 5 has no pressure: said, not fatal
  EXPECT_NE(p.warnings.back().find("1 of 7 frames have no pressure"), std::string::npos) << p.warnings.back();
}

// R1 = 700.00 nm is 16.511 GPa on Dewaele 2008 and 16.210 GPa on Ruby2020 (SCALES.md fixtures).
TEST(ScanPressure, RubyCounterInSpecIsConvertedWithTheChosenScale) {
  const auto dir = scratch();
  std::ofstream(dir / "dac.spec") << kSpec;
  PressureSource src;
  src.kind = PressureSource::Kind::SpecRuby;
  src.path = (dir / "dac.spec").string();
  src.spec_scan = "3";
  src.spec_counter = "ruby R1";
  src.ruby_scale = pressure::RubyScale::Dewaele2008;
  src.ruby_esd_nm = 0.05;
  auto p = load_scan_pressures(src, 0, 5);
  EXPECT_NEAR(*p.pressure_gpa[2], 16.511, 1e-3);
  EXPECT_NEAR(*p.pressure_gpa[0], 0.0, 1e-9);
  EXPECT_NEAR(p.esd_gpa[2], 0.05 * 2.93, 0.02);  // dP/dλ ≈ 2.9 GPa/nm near 700 nm
  EXPECT_EQ(p.direction[1], Direction::Compression);
  EXPECT_EQ(p.direction[3], Direction::Decompression);
  src.ruby_scale = pressure::RubyScale::Shen2020;
  p = load_scan_pressures(src, 0, 5);
  EXPECT_NEAR(*p.pressure_gpa[2], 16.210, 1e-3);
}

TEST(ScanPressure, SpecCounterInGpaWithAFrameColumn) {
  const auto dir = scratch();
  std::ofstream(dir / "dac.spec") << kSpec;
  PressureSource src;
  src.kind = PressureSource::Kind::SpecPressure;
  src.path = (dir / "dac.spec").string();
  src.spec_scan = "3";
  src.spec_counter = "P gauge";
  src.spec_frame_counter = "img";
  const auto p = load_scan_pressures(src, 0, 6);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[5], 0.2);  // the last point is frame 5
  EXPECT_FALSE(p.pressure_gpa[4].has_value());
}

TEST(ScanPressure, MissingScanOrCounterNamesWhatExists) {
  const auto dir = scratch();
  std::ofstream(dir / "dac.spec") << kSpec;
  PressureSource src;
  src.kind = PressureSource::Kind::SpecRuby;
  src.path = (dir / "dac.spec").string();
  src.spec_scan = "4";
  src.spec_counter = "ruby R1";
  try {
    load_scan_pressures(src, 0, 5);
    FAIL() << "scan 4 does not exist";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dac.spec"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3"), std::string::npos) << e.what();
  }
  src.spec_scan = "3";
  src.spec_counter = "ruby R2";
  try {
    load_scan_pressures(src, 0, 5);
    FAIL() << "counter ruby R2 does not exist";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ruby R1"), std::string::npos) << e.what();
  }
}

TEST(ScanPressure, PressuresInWrongUnitsAreWarnedAbout) {
  const auto dir = scratch();
  std::ofstream(dir / "p.csv") << "frame,pressure_gpa\n0,100\n1,5000\n";  // kbar? MPa?
  PressureSource src;
  src.path = (dir / "p.csv").string();
  const auto p = load_scan_pressures(src, 0, 2);
  bool warned = false;
  for (const auto& w : p.warnings) warned = warned || w.find("5000") != std::string::npos;
  EXPECT_TRUE(warned);
}

// Beamlines number images from 1: a table numbered exactly 1..N for an N-frame stack is read as
// 1-based and said so; first_frame states a numbering; any other mismatch names the frames.
TEST(ScanPressure, TableNumberedFromOneIsReadAsOneBasedAndSaidSo) {
  const auto dir = scratch();
  std::ofstream(dir / "p.csv") << "frame,pressure_gpa\n1,0.5\n2,1.5\n3,2.5\n4,3.5\n";
  PressureSource src;
  src.path = (dir / "p.csv").string();
  const auto p = load_scan_pressures(src, 0, 4);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[0], 0.5);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[3], 3.5);
  EXPECT_NE(p.numbering.find("numbered from 1"), std::string::npos) << p.numbering;
  // The same table for a numbered file series whose frames are 1..4: frame numbers agree.
  const auto q = load_scan_pressures(src, 1, 4);
  EXPECT_DOUBLE_EQ(*q.pressure_gpa[0], 0.5);
  EXPECT_EQ(q.numbering.find("numbered from 1"), std::string::npos) << q.numbering;
}

TEST(ScanPressure, FirstFrameStatesTheNumbering) {
  const auto dir = scratch();
  std::ofstream(dir / "p.csv") << "frame,pressure_gpa\n100,0.5\n101,1.5\n102,2.5\n";
  PressureSource src;
  src.path = (dir / "p.csv").string();
  src.first_frame = 100;
  const auto p = load_scan_pressures(src, 0, 3);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[0], 0.5);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[2], 2.5);
  EXPECT_NE(p.numbering.find("first_frame = 100"), std::string::npos) << p.numbering;
}

TEST(ScanPressure, OtherMismatchIsAnErrorNamingTheFrames) {
  const auto dir = scratch();
  std::ofstream(dir / "p.csv") << "frame,pressure_gpa\n0,0.5\n1,1.5\n2,2.5\n3,3.5\n4,4.5\n5,5.5\n";
  PressureSource src;
  src.path = (dir / "p.csv").string();
  try {
    load_scan_pressures(src, 0, 4);
    FAIL() << "frames 4 and 5 are not in a 4-frame scan";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("p.csv"), std::string::npos) << m;
    EXPECT_NE(m.find("frames 4-5"), std::string::npos) << m;
    EXPECT_NE(m.find("first_frame"), std::string::npos) << m;
  }
  // A 1..N table one frame short of 1-based (2..5 for 0..3) is not guessed either.
  std::ofstream(dir / "q.csv") << "frame,pressure_gpa\n2,0.5\n3,1.5\n4,2.5\n5,3.5\n";
  src.path = (dir / "q.csv").string();
  EXPECT_THROW(load_scan_pressures(src, 0, 4), InputError);
  // Live mode: rows ahead of the frames written so far wait for them.
  src.path = (dir / "p.csv").string();
  const auto p = load_scan_pressures(src, 0, 4, /*growing=*/true);
  EXPECT_DOUBLE_EQ(*p.pressure_gpa[3], 3.5);
}
