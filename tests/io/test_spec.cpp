// SPEC data files as CHESS writes them: scans, labels with spaces, repeated scan numbers.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.hpp"
#include "io/spec.hpp"
#include "test_support.hpp"

using anvil::io::parse_spec;

namespace {

// Two-space separated labels and motor names, one of each containing a single space; an MCA
// line continued with '\'; scan 2 repeated after a restart of SPEC (new #F header).
constexpr const char* kSpec =
    "#F /nfs/chess/raw/2024-3/id3b/dac_run1\n"
    "#E 1700000000\n"
    "#D Tue Nov 14 20:13:20 2023\n"
    "#C dac  User = anvil\n"
    "#O0 samx  samz  Two Theta  phi\n"
    "#O1 ome\n"
    "\n"
    "#S 1  ascan  samz -1 1 4 1\n"
    "#D Tue Nov 14 20:14:00 2023\n"
    "#T 1  (Seconds)\n"
    "#P0 0.5 -1.25 12.0 0\n"
    "#P1 90\n"
    "#N 4\n"
    "#L samz  ion chamber 0  Seconds  det\n"
    "-1 1000 1 12\n"
    "-0.5 1010 1 15\n"
    "@A 0 1 2 3 \\\n"
    " 4 5 6 7\n"
    "0 990 1 40\n"
    "0.5 1005 1 16\n"
    "1 1001 1 11\n"
    "#C Tue Nov 14 20:15:00 2023.  Scan aborted after 5 points.\n"
    "\n"
    "#S 2  timescan 1\n"
    "#N 3\n"
    "#L Epoch  ic0  ruby pressure\n"
    "0.1 1000 1.5\n"
    "1.2 1001 2.5\n"
    "\n"
    "#F /nfs/chess/raw/2024-3/id3b/dac_run1\n"
    "#E 1700003600\n"
    "#O0 samx  samz\n"
    "\n"
    "#S 2  timescan 1\n"
    "#P0 3 4\n"
    "#N 2\n"
    "#L Epoch  ic0\n"
    "5 2000\n";

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

TEST(Spec, ListsScansWithRepeatedNumbersAsNDotK) {
  const auto f = parse_spec(kSpec, "run1.spec");
  EXPECT_EQ(f.scan_keys(), (std::vector<std::string>{"1.1", "2.1", "2.2"}));
  EXPECT_EQ(f.motor_names, (std::vector<std::string>{"samx", "samz", "Two Theta", "phi", "ome"}));
  const auto& s1 = f.scan(1);
  EXPECT_EQ(s1.command, "ascan  samz -1 1 4 1");
  EXPECT_EQ(s1.date, "Tue Nov 14 20:14:00 2023");
  EXPECT_EQ(s1.line, 8u);
  EXPECT_EQ(f.scan("2.2").line, 34u);
  EXPECT_EQ(f.scan("2.1").command, "timescan 1");
}

TEST(Spec, LabelsWithSpacesAndCounterColumns) {
  const auto f = parse_spec(kSpec, "run1.spec");
  const auto& s1 = f.scan("1");
  EXPECT_EQ(s1.labels, (std::vector<std::string>{"samz", "ion chamber 0", "Seconds", "det"}));
  EXPECT_EQ(s1.point_count(), 5u);  // the MCA line and its continuation are not points
  EXPECT_EQ(s1.column("ion chamber 0"), (std::vector<double>{1000, 1010, 990, 1005, 1001}));
  EXPECT_EQ(s1.column("DET"), (std::vector<double>{12, 15, 40, 16, 11}));  // case-insensitive fallback
  EXPECT_EQ(f.scan("2.1").column("ruby pressure"), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(f.scan("2.2").column("ic0"), (std::vector<double>{2000}));
  ASSERT_EQ(s1.comments.size(), 1u);
  EXPECT_NE(s1.comments[0].find("aborted"), std::string::npos);
}

TEST(Spec, MotorPositionsFollowTheHeaderInEffect) {
  const auto f = parse_spec(kSpec, "run1.spec");
  const auto& s1 = f.scan(1);
  EXPECT_DOUBLE_EQ(s1.motor_positions.at("Two Theta"), 12.0);
  EXPECT_DOUBLE_EQ(s1.motor_positions.at("samz"), -1.25);
  EXPECT_DOUBLE_EQ(s1.motor_positions.at("ome"), 90.0);
  const auto& s22 = f.scan("2.2");  // after the restart only samx, samz exist
  EXPECT_DOUBLE_EQ(s22.motor_positions.at("samz"), 4.0);
  EXPECT_EQ(s22.motor_positions.count("ome"), 0u);
}

TEST(Spec, MissingScanListsTheAvailableOnes) {
  const auto f = parse_spec(kSpec, "run1.spec");
  check_error([&] { (void)f.scan(7); }, {"run1.spec", "no scan 7", "1-2", "2.1", "2.2"});
  check_error([&] { (void)f.scan("2.3"); }, {"no scan 2.3"});
  check_error([&] { (void)f.scan("abc"); }, {"not a scan number"});
}

TEST(Spec, RepeatedNumberAloneIsAmbiguous) {
  const auto f = parse_spec(kSpec, "run1.spec");
  check_error([&] { (void)f.scan(2); }, {"scan 2 occurs 2 times", "2.1 (line 24)", "2.2 (line 34)"});
}

TEST(Spec, MissingCounterListsTheLabels) {
  const auto f = parse_spec(kSpec, "run1.spec");
  check_error([&] { (void)f.scan(1).column("ic0"); },
               {"run1.spec", "no counter \"ic0\"", "\"ion chamber 0\"", "\"samz\"", "\"det\""});
}

TEST(Spec, RaggedRowNamesItsLine) {
  const std::string text = "#S 1 ascan\n#N 3\n#L a  b  c\n1 2 3\n4 5\n";
  check_error([&] { parse_spec(text, "r.spec"); }, {"r.spec", "line 5", "2 values", "3 columns"});
  check_error([&] { parse_spec("#S 1 x\n#N 2\n#L a  b\n1 zz\n", "r.spec"); }, {"line 4", "zz", "\"b\""});
  check_error([&] { parse_spec("#S 1 x\n#N 3\n#L a  b\n", "r.spec"); }, {"line 3", "#N says 3"});
}

TEST(Spec, SingleSpaceLabelsAreAcceptedWhenNAgrees) {
  const auto f = parse_spec("#S 4 ascan\n#N 3\n#L th I0 det\n1 2 3\n", "s.spec");
  EXPECT_EQ(f.scan(4).labels, (std::vector<std::string>{"th", "I0", "det"}));
}

TEST(Spec, FilesOnDiskAndNonSpecFiles) {
  const auto dir = anvil::test::scratch_dir("spec");
  std::ofstream(dir / "run1") << kSpec;
  const auto f = anvil::io::read_spec(dir / "run1");
  EXPECT_EQ(f.scans.size(), 3u);
  check_error([&] { anvil::io::read_spec(dir / "missing"); }, {"missing", "cannot open"});
  check_error([&] { parse_spec("frame,pressure\n1,2\n", "x.csv"); }, {"x.csv", "no #S"});
}
