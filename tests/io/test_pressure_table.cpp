// Pressure-per-frame CSV tables: what is accepted and how each mistake is reported.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.hpp"
#include "io/pressure_table.hpp"
#include "test_support.hpp"

using anvil::io::parse_pressure_table;

namespace {

// Runs `f`, expecting an InputError whose message contains every string of `parts`.
template <class F>
void check_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const anvil::InputError& e) {
    const std::string msg = e.what();
    for (const auto& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

}  // namespace

TEST(PressureTable, ReadsCommentsWhitespaceOptionalEsdAndSortsByFrame) {
  const auto t = parse_pressure_table(
      "# ruby fits, Dewaele 2008 scale\n"
      "frame , pressure_gpa , pressure_esd_gpa\n"
      "  0, 0.52, 0.03\n"
      "\n"
      "2 ,3.10,   # esd not measured\n"
      "1,\t1.75 ,0.05\r\n",
      "p.csv");
  ASSERT_EQ(t.points.size(), 3u);
  EXPECT_EQ(t.points[0].frame, 0u);
  EXPECT_EQ(t.points[1].frame, 1u);
  EXPECT_EQ(t.points[2].frame, 2u);
  EXPECT_DOUBLE_EQ(t.pressure_gpa(1), 1.75);
  EXPECT_DOUBLE_EQ(*t.at(0).esd_gpa, 0.03);
  EXPECT_FALSE(t.at(2).esd_gpa.has_value());
  EXPECT_EQ(t.at(2).line, 5u);
  EXPECT_EQ(t.pressures_gpa(), (std::vector<double>{0.52, 1.75, 3.10}));
  EXPECT_EQ(t.esds_gpa(), (std::vector<double>{0.03, 0.05, 0.0}));
  EXPECT_TRUE(t.warnings.empty());
}

TEST(PressureTable, ColumnsAreFoundByNameInAnyOrder) {
  const auto t = parse_pressure_table("Pressure_GPa,temperature_k,Frame\n12.5,300,7\n", "p.csv");
  ASSERT_EQ(t.points.size(), 1u);
  EXPECT_EQ(t.points[0].frame, 7u);
  EXPECT_DOUBLE_EQ(t.points[0].pressure_gpa, 12.5);
}

TEST(PressureTable, DuplicateFrameNamesBothLines) {
  check_error([] { parse_pressure_table("frame,pressure_gpa\n0,1.0\n1,2.0\n0,3.0\n", "p.csv"); },
              {"p.csv", "frame 0", "twice", "line 4", "line 2"});
}

// fit-series reads hand-written tables leniently: a repeated frame keeps its first row, with a warning.
TEST(PressureTable, RepeatedFrameKeepsTheFirstRowWhenAsked) {
  const auto t = parse_pressure_table("frame,pressure_gpa\n0,1.0\n1,2.0\n0,9.0\n", "p.csv",
                                      anvil::io::RepeatedFrames::KeepFirst);
  ASSERT_EQ(t.points.size(), 2u);
  EXPECT_DOUBLE_EQ(t.pressure_gpa(0), 1.0);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_NE(t.warnings[0].find("line 4: frame 0 given again (first on line 2)"), std::string::npos)
      << t.warnings[0];
}

TEST(PressureTable, MissingFrameLookupSaysWhichFramesExist) {
  const auto t = parse_pressure_table("frame,pressure_gpa\n0,1\n1,2\n2,3\n5,4\n", "p.csv");
  EXPECT_EQ(t.find(3), nullptr);
  check_error([&] { (void)t.at(3); }, {"p.csv", "frame 3", "0-2, 5"});
}

TEST(PressureTable, BadNumberNamesTheLine) {
  check_error([] { parse_pressure_table("frame,pressure_gpa\n0,1.0\n1,2.O\n", "p.csv"); },
              {"p.csv", "line 3", "2.O"});
  check_error([] { parse_pressure_table("frame,pressure_gpa\n0,1.0\nx,2.0\n", "p.csv"); },
              {"line 3", "frame"});
  check_error([] { parse_pressure_table("frame,pressure_gpa\n1.5,2.0\n", "p.csv"); }, {"line 2", "integer"});
  check_error([] { parse_pressure_table("frame,pressure_gpa,pressure_esd_gpa\n1,2.0,-0.1\n", "p.csv"); },
              {"line 2", ">= 0"});
  check_error([] { parse_pressure_table("frame,pressure_gpa\n1,2.0,3\n", "p.csv"); }, {"line 2", "3 fields"});
}

TEST(PressureTable, NegativeFrameIsRejected) {
  check_error([] { parse_pressure_table("frame,pressure_gpa\n-1,2.0\n", "p.csv"); }, {"line 2", ">= 0"});
}

TEST(PressureTable, HeaderIsRequired) {
  check_error([] { parse_pressure_table("0,1.0\n1,2.0\n", "p.csv"); }, {"line 1", "frame", "pressure_gpa"});
  check_error([] { parse_pressure_table("frame,pressure\n0,1.0\n", "p.csv"); }, {"missing 'pressure_gpa'"});
}

TEST(PressureTable, EmptyTablesAreErrors) {
  check_error([] { parse_pressure_table("", "p.csv"); }, {"p.csv", "empty"});
  check_error([] { parse_pressure_table("# nothing here\n\n", "p.csv"); }, {"empty"});
  check_error([] { parse_pressure_table("frame,pressure_gpa\n# no rows\n", "p.csv"); }, {"no rows"});
}

TEST(PressureTable, ImplausiblePressuresAreWarnedAboutNotRejected) {
  // 2500 (kbar typed into a GPa column?) and -5 GPa are flagged; 250 GPa is a plausible DAC pressure.
  const auto t = parse_pressure_table("frame,pressure_gpa\n0,25.0\n1,250.0\n2,2500.0\n3,-5\n", "p.csv");
  ASSERT_EQ(t.points.size(), 4u);
  ASSERT_EQ(t.warnings.size(), 2u);
  EXPECT_NE(t.warnings[0].find("line 4"), std::string::npos) << t.warnings[0];
  EXPECT_NE(t.warnings[0].find("2500"), std::string::npos) << t.warnings[0];
  EXPECT_NE(t.warnings[1].find("-5"), std::string::npos) << t.warnings[1];
}

TEST(PressureTable, ReadsFilesAndNamesMissingOnes) {
  const auto dir = anvil::test::scratch_dir("pressure_table");
  const auto path = dir / "P.csv";
  std::ofstream(path) << "frame,pressure_gpa\n0,1.5\n1,2.5\n";
  const auto t = anvil::io::read_pressure_table(path);
  EXPECT_EQ(t.source, path.string());
  EXPECT_EQ(t.points.size(), 2u);
  check_error([&] { anvil::io::read_pressure_table(dir / "nope.csv"); }, {"nope.csv", "cannot open"});
}
