// eos.csv and transitions.csv as `anvil run` and `anvil fit-series` both write them
// (pipeline/series_tables.hpp): columns, one row per EOS form with its status, and the
// transition quantities from lib/series, read back from the files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pressure/eos.hpp"
#include "series_tables.hpp"

namespace anvil::pipeline {
namespace {

std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

TEST(SeriesTables, EosRowsPerFormWithStatus) {
  const pressure::Eos truth{pressure::EosForm::BM3, 112.0, 53.0, 4.5};
  std::vector<series::PvPoint> pts;
  for (double p = 0.0; p <= 6.0; p += 0.75) pts.push_back({p, 0.02, truth.volume_at(p), 0.02});
  std::vector<series::PhaseSeriesEos> eos = {series::fit_series_eos("CdSe-WZ", pts),
                                             series::fit_series_eos("CdSe-ZB", {pts[0]})};
  const auto dir = std::filesystem::temp_directory_path() / "anvil_test_series_tables";
  std::filesystem::create_directories(dir);
  write_eos_csv(dir / "eos.csv", eos);
  const auto rows = read_csv(dir / "eos.csv");
  ASSERT_GE(rows.size(), 8u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"phase", "form", "v0_A3", "v0_esd_A3", "k0_gpa", "k0_esd_gpa",
                                               "k0p", "k0p_esd", "chi2_red", "n_points", "status"}));
  EXPECT_EQ(rows[1][0], "CdSe-WZ");
  EXPECT_EQ(rows[1][1], "BM3");
  EXPECT_NEAR(std::stod(rows[1][4]), 53.0, 0.5);
  EXPECT_EQ(rows[1][10], "converged");
  EXPECT_EQ(rows[2][1], "Vinet");
  EXPECT_EQ(rows[3][1], "BM2");
  EXPECT_EQ(rows[4][1], "F-f");
  EXPECT_NEAR(std::stod(rows[4][4]), 53.0, 1.0);
  // One point: every form is there, empty, saying why.
  int zb = 0;
  for (const auto& r : rows)
    if (r[0] == "CdSe-ZB") {
      ++zb;
      EXPECT_TRUE(r[4].empty() || r[4] == "nan") << r[4];
      EXPECT_NE(r[10].find("1 point"), std::string::npos) << r[10];
    }
  EXPECT_EQ(zb, 3);
  std::filesystem::remove_all(dir);
}

TEST(SeriesTables, TransitionsLongFormat) {
  series::TransitionAnalysis t;
  t.high_pressure_phase = "CdSe-RS";
  t.compression.direction = pressure::Direction::Compression;
  t.compression.from = "CdSe-WZ";
  t.compression.to = "CdSe-RS";
  t.compression.detected = true;
  t.compression.fit.midpoint_gpa = 6.0;
  t.compression.fit.midpoint_esd = 0.05;
  t.decompression.direction = pressure::Direction::Decompression;
  t.decompression.message = "4 frames on decompression: too few to fit";
  t.retained_fraction = 0.3;
  t.retained_esd = 0.01;
  const auto dir = std::filesystem::temp_directory_path() / "anvil_test_series_tables_tr";
  std::filesystem::create_directories(dir);
  write_transitions_csv(dir / "transitions.csv", t);
  const auto rows = read_csv(dir / "transitions.csv");
  EXPECT_EQ(rows[0], (std::vector<std::string>{"quantity", "direction", "from_phase", "to_phase", "value",
                                               "esd", "unit", "note"}));
  bool midpoint = false, undetected = false, retained = false, hysteresis = false;
  for (const auto& r : rows) {
    midpoint |= r[0] == "midpoint_gpa" && r[1] == "compression" && std::stod(r[4]) == 6.0;
    undetected |=
        r[0] == "transformation" && r[1] == "decompression" && r[7].find("too few") != std::string::npos;
    retained |= r[0] == "retained_fraction" && std::stod(r[4]) == 0.3;
    hysteresis |= r[0] == "hysteresis_gpa";
  }
  EXPECT_TRUE(midpoint);
  EXPECT_TRUE(undetected);
  EXPECT_TRUE(retained);
  EXPECT_FALSE(hysteresis);  // only one direction detected
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace anvil::pipeline
