// Fault injection: the `anvil` command line on broken inputs, built here at test time from the
// sample scan. Every case asserts the exit code, the message (naming the file, option, key or
// frame) and that no finished result is lost or altered. One case per item of issue 12, and the
// cases that already passed before it (docs/reliability.md has the table).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/frame_source.hpp"
#include "io/pattern_io.hpp"
#include "io/tiff.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;

namespace {

const fs::path kSample = fs::path(ANVIL_SOURCE_DIR) / "sample_data" / "cdse_dac";

fs::path scratch() { return test::scratch_for_test("faults"); }
using test::slurp;

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Cli {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `anvil ARGS` (a shell-quoted string), waiting at most a minute.
Cli anvil_cli(const std::string& args) {
  const std::string cmd = "timeout 120 " + quote(ANVIL_CLI) + " " + args + " 2>&1";
  Cli r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A row of a CSV by its first field (the frame number).
std::string csv_row(const std::string& csv, const std::string& first_field) {
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(first_field + ",", 0) == 0) return line;
  return "";
}

std::vector<std::string> fields(const std::string& row) {
  std::vector<std::string> out;
  std::string f;
  std::istringstream in(row);
  while (std::getline(in, f, ',')) out.push_back(f);
  return out;
}

// The sample scan's 20 WAXS frames as a numbered TIFF series waxs_00000.tif.., with its
// geometry, mask and pressure table and a scan description fitting three CdSe phases.
// `broken(k, image)` may spoil frame k before it is written; `skip` frames are not written.
template <class Spoil>
void make_tiff_scan(const fs::path& dir, Spoil&& broken, const std::vector<std::size_t>& skip = {},
                    const std::string& extra_integration = "", const std::string& extra_toml = "") {
  const auto src = io::open_frames((kSample / "cdse_dac_waxs_master.h5").string());
  for (std::size_t k = 0; k < src->frame_count(); ++k) {
    if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
    auto frame = src->read(k);
    // Pixels the detector flagged (gaps) are written as -1, as a Pilatus TIFF has them.
    for (std::size_t i = 0; i < frame.image.pixels.size(); ++i)
      if (frame.invalid.pixels[i]) frame.image.pixels[i] = -1.0f;
    broken(k, frame.image);
    char name[64];
    std::snprintf(name, sizeof name, "waxs_%05zu.tif", k);
    io::write_tiff((dir / name).string(), {frame.image});
  }
  for (const char* f : {"waxs.poni", "waxs.mask", "pressure.csv"})
    fs::copy_file(kSample / f, dir / f, fs::copy_options::overwrite_existing);
  std::ofstream(dir / "scan.toml") << "[scan]\nname = \"tiffscan\"\n"
                                      "[waxs]\nframes = \"waxs_{:05d}.tif\"\nponi = \"waxs.poni\"\n"
                                      "mask = \"waxs.mask\"\n"
                                      "[waxs.integration]\nunit = \"2th_deg\"\nbins = 1500\n"
                                      "range = [3.0, 21.0]\nerror_model = \"azimuthal\"\n"
                                      "polarization = 0.99\n"
                                   << extra_integration
                                   << "[pressure]\nfile = \"pressure.csv\"\n"
                                      "[fit]\nphases = [\"CdSe-WZ\", \"CdSe-ZB\", \"CdSe-RS\"]\n"
                                      "range = [4.0, 20.0]\n"
                                   << extra_toml;
}

void make_tiff_scan(const fs::path& dir, const std::vector<std::size_t>& skip = {}) {
  make_tiff_scan(
      dir, [](std::size_t, ImageF&) {}, skip);
}

std::string run_args(const fs::path& dir, const std::string& out = "out") {
  return quote((dir / "scan.toml").string()) + " -o " + quote((dir / out).string()) + " -q --threads 2";
}

// The outputs a finished run leaves (tables, figures, report).
void expect_complete_outputs(const fs::path& out) {
  for (const char* f : {"frames.csv", "results.h5", "phase_fractions.csv", "lattice.csv", "eos.csv",
                        "transitions.csv", "phase_fractions.png", "report.html"})
    EXPECT_TRUE(fs::exists(out / f)) << (out / f).string() << " missing";
}

}  // namespace

// Issue 12, item 1 (and 4 in a scan): frames with no usable pixel (all -1, all NaN, all 0)
// used to crash the run after the CSVs (NaN fractions into the transition fit), and again on
// every rerun and in --follow. Now each is a failed frame with its reason; tables, figures and
// report are written; a rerun and live mode give the same.
TEST(Faults, FramesWithoutUsablePixelsFailAloneAndTheScanFinishes) {
  const auto dir = scratch();
  make_tiff_scan(dir, [](std::size_t k, ImageF& img) {
    if (k == 7) std::fill(img.pixels.begin(), img.pixels.end(), -1.0f);
    if (k == 8) std::fill(img.pixels.begin(), img.pixels.end(), std::numeric_limits<float>::quiet_NaN());
    if (k == 9) std::fill(img.pixels.begin(), img.pixels.end(), 0.0f);
  });
  const auto r = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "20 frames, 17 succeeded, 3 failed")) << r.output;
  expect_complete_outputs(dir / "out");
  const auto frames = slurp(dir / "out/frames.csv");
  EXPECT_TRUE(has(csv_row(frames, "7"), "no valid pixel")) << frames;
  EXPECT_TRUE(has(csv_row(frames, "8"), "no valid pixel")) << frames;
  EXPECT_TRUE(has(csv_row(frames, "9"), "every valid pixel reads 0")) << frames;
  EXPECT_TRUE(has(csv_row(frames, "9"), "waxs_00009.tif")) << frames;
  const auto fractions = slurp(dir / "out/phase_fractions.csv");
  EXPECT_TRUE(has(csv_row(fractions, "8"), "no pattern")) << fractions;
  EXPECT_TRUE(has(slurp(dir / "out/report.html"), "no valid pixel"));

  // A rerun resumes and writes the same tables; live mode does not crash at its refresh.
  const auto again = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(again.exit_code, 3) << again.output;
  EXPECT_EQ(slurp(dir / "out/frames.csv"), frames);
  EXPECT_EQ(slurp(dir / "out/phase_fractions.csv"), fractions);
  const auto live = anvil_cli("run " + run_args(dir) + " --follow --poll 0.1 --idle-timeout 0.3");
  EXPECT_EQ(live.exit_code, 3) << live.output;
  EXPECT_EQ(slurp(dir / "out/phase_fractions.csv"), fractions);
}

// Issue 12, item 2: a missing file is that frame failing, never a shift of the frames after
// it; when it appears, a rerun reduces it and keeps the rest; the result equals a run that
// never missed it.
TEST(Faults, MissingFileKeepsEveryFrameItsNumberAndPressure) {
  const auto dir = scratch();
  make_tiff_scan(dir);
  ASSERT_EQ(anvil_cli("run " + run_args(dir, "full")).exit_code, 0);
  const auto full_fractions = slurp(dir / "full/phase_fractions.csv");

  fs::rename(dir / "waxs_00012.tif", dir / "waxs_00012.tif.away");
  const auto r = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "20 frames, 19 succeeded, 1 failed")) << r.output;
  const auto frames = slurp(dir / "out/frames.csv");
  EXPECT_TRUE(has(csv_row(frames, "12"), "file not found")) << frames;
  // Frame 13 has file 13's fit and frame 13's pressure: its row equals the full run's.
  EXPECT_EQ(csv_row(slurp(dir / "out/phase_fractions.csv"), "13"), csv_row(full_fractions, "13"));
  EXPECT_EQ(csv_row(slurp(dir / "out/phase_fractions.csv"), "19"), csv_row(full_fractions, "19"));

  fs::rename(dir / "waxs_00012.tif.away", dir / "waxs_00012.tif");
  const auto back = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(back.exit_code, 0) << back.output;
  EXPECT_TRUE(has(back.output, "(19 taken from an earlier run)")) << back.output;
  EXPECT_TRUE(has(back.output, "frames 12: the source file changed")) << back.output;
  EXPECT_EQ(slurp(dir / "out/phase_fractions.csv"), full_fractions);
}

// Issue 12, item 2, live: files arriving out of order while `anvil run --follow` watches give
// the same table as the complete scan.
TEST(Faults, LiveModeWithFilesArrivingOutOfOrder) {
  const auto dir = scratch();
  make_tiff_scan(dir);
  ASSERT_EQ(anvil_cli("run " + run_args(dir, "full")).exit_code, 0);
  const auto full_fractions = slurp(dir / "full/phase_fractions.csv");
  const fs::path held = dir / "held";
  fs::create_directories(held);
  const std::vector<int> late = {5, 14, 11, 12, 19, 16};
  for (int k : late) {
    char name[64];
    std::snprintf(name, sizeof name, "waxs_%05d.tif", k);
    fs::rename(dir / name, held / name);
  }
  std::thread detector([&] {
    for (int k : late) {  // out of order, while anvil polls
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      char name[64];
      std::snprintf(name, sizeof name, "waxs_%05d.tif", k);
      fs::copy_file(held / name, dir / (std::string(name) + ".part"));
      fs::rename(dir / (std::string(name) + ".part"), dir / name);  // as a detector writer finishes a file
    }
  });
  const auto live = anvil_cli("run " + run_args(dir) + " --follow --poll 0.2 --idle-timeout 3");
  detector.join();
  EXPECT_EQ(live.exit_code, 0) << live.output;
  EXPECT_EQ(slurp(dir / "out/phase_fractions.csv"), full_fractions);
}

// Issue 12, item 3: a pressure table numbered 1..N for an N-frame stack is 1-based and said
// so; first_frame states it; any other mismatch is an error naming the frames.
TEST(Faults, PressureTableNumberedFromOne) {
  const auto dir = scratch();
  for (const auto& e : fs::directory_iterator(kSample))
    if (e.path().filename().string().rfind("cdse_dac_waxs", 0) == 0 || e.path().filename() == "waxs.poni")
      fs::copy_file(e.path(), dir / e.path().filename());
  // The sample's table, renumbered from 1 as a beamline writes it.
  std::istringstream in(slurp(kSample / "pressure.csv"));
  std::ofstream one(dir / "p1.csv"), wide(dir / "p_wide.csv");
  std::string line;
  std::getline(in, line);
  one << line << "\n";
  wide << line << "\n";
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    one << std::stoi(line.substr(0, comma)) + 1 << line.substr(comma) << "\n";
    wide << line << "\n";
  }
  for (int k = 20; k < 25; ++k) wide << k << ",30.0,0.1\n";
  one.close();
  wide.close();
  auto toml = [&](const std::string& table, const std::string& extra) {
    std::ofstream(dir / "scan.toml") << "[waxs]\nframes = \"cdse_dac_waxs_master.h5\"\nponi = \"waxs.poni\"\n"
                                        "[waxs.integration]\nunit = \"2th_deg\"\nbins = 500\n"
                                        "[pressure]\nfile = \""
                                     << table << "\"\n"
                                     << extra;
  };
  toml("p1.csv", "");
  const auto r = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "read as numbered from 1")) << r.output;
  // Frame k carries the pressure of the table's row k+1 = the sample's frame k.
  const auto frames = slurp(dir / "out/frames.csv");
  const auto sample = slurp(kSample / "pressure.csv");
  for (const char* k : {"0", "7", "19"}) {
    const auto got = fields(csv_row(frames, k)), want = fields(csv_row(sample, k));
    ASSERT_GE(got.size(), 2u) << frames;
    EXPECT_NEAR(std::stod(got[1]), std::stod(want[1]), 1e-12) << "frame " << k;
  }
  toml("p1.csv", "first_frame = 1\n");
  const auto stated = anvil_cli("run " + run_args(dir, "out2"));
  EXPECT_EQ(stated.exit_code, 0) << stated.output;
  EXPECT_TRUE(has(stated.output, "first_frame = 1")) << stated.output;
  EXPECT_EQ(slurp(dir / "out2/frames.csv"), frames);

  toml("p_wide.csv", "");
  const auto bad = anvil_cli("run " + run_args(dir, "out3"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(has(bad.output, "p_wide.csv")) << bad.output;
  EXPECT_TRUE(has(bad.output, "frames 20-24")) << bad.output;
  EXPECT_TRUE(has(bad.output, "first_frame")) << bad.output;

  // anvil fit-series on the run's patterns with the 1-based table: the same rule, said so.
  const auto fs1 = anvil_cli("fit-series " + quote((dir / "out/results.h5").string()) + " --pressure " +
                             quote((dir / "p1.csv").string()) + " --phases CdSe-WZ,CdSe-RS --range 5,20 -o " +
                             quote((dir / "series").string()) + " --no-plots --threads 2");
  EXPECT_TRUE(has(fs1.output, "read as numbered from 1")) << fs1.output;
  const auto fs2 = anvil_cli("fit-series " + quote((dir / "out/results.h5").string()) + " --pressure " +
                             quote((dir / "p_wide.csv").string()) + " --phases CdSe-WZ -o " +
                             quote((dir / "series2").string()) + " --no-plots");
  EXPECT_EQ(fs2.exit_code, 2) << fs2.output;
  EXPECT_TRUE(has(fs2.output, "frames 20-24")) << fs2.output;
}

// Issue 12, item 4: a frame whose pixels are all invalid is an error for that frame in
// `anvil integrate` (exit 3), and float64 values beyond float's range are masked, not inf.
TEST(Faults, IntegrateRefusesFramesWithoutValidPixelsAndMasksOverflow) {
  const auto dir = scratch();
  const Shape shape{619, 487};
  io::write_tiff((dir / "dead.tif").string(), {ImageF(shape, -1.0f)});
  fs::copy_file(kSample / "waxs.poni", dir / "waxs.poni");
  const auto r = anvil_cli("integrate " + quote((dir / "dead.tif").string()) + " --poni " +
                           quote((dir / "waxs.poni").string()) + " -o " + quote((dir / "dead.xye").string()));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "dead.tif")) << r.output;
  EXPECT_TRUE(has(r.output, "no valid pixel")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "dead.xye"));

  // float64 frame: a sample frame with a block of 1e39 (beyond float) pixels.
  const auto frame = io::open_frames((kSample / "cdse_dac_waxs_master.h5").string())->read(3);
  std::vector<double> px(frame.image.pixels.begin(), frame.image.pixels.end());
  for (std::size_t row = 300; row < 320; ++row)
    for (std::size_t col = 100; col < 140; ++col) px[row * shape.cols + col] = 1e39;
  const std::string h5 = (dir / "f64.h5").string();
  const hid_t file = H5Fcreate(h5.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[2] = {shape.rows, shape.cols};
  const hid_t space = H5Screate_simple(2, dims, nullptr);
  const hid_t dset = H5Dcreate2(file, "data", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data());
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  const auto f =
      anvil_cli("integrate " + quote(h5 + ":/data") + " --poni " + quote((dir / "waxs.poni").string()) +
                " --unit 2th_deg -o " + quote((dir / "f64.xye").string()));
  EXPECT_EQ(f.exit_code, 0) << f.output;
  const auto text = slurp(dir / "f64.xye");
  EXPECT_FALSE(has(text, "inf")) << "overflowed pixels reached the pattern";
  EXPECT_FALSE(has(text, "nan"));
}

// Issue 12, item 5: numbers are validated where they enter, with the option or key (and line).
TEST(Faults, NonsenseNumbersAreRefusedNamingTheOptionOrKey) {
  const auto dir = scratch();
  fs::copy_file(kSample / "waxs.poni", dir / "waxs.poni");
  io::write_tiff((dir / "f.tif").string(), {ImageF(Shape{619, 487}, 10.0f)});
  const std::string base = "integrate " + quote((dir / "f.tif").string()) + " --poni " +
                           quote((dir / "waxs.poni").string()) + " -o " + quote((dir / "x.xye").string());
  const std::vector<std::pair<std::string, std::string>> cli = {
      {"--polarization nan", "--polarization"},  {"--polarization inf", "--polarization"},
      {"--polarization -3", "--polarization"},   {"--sigma-clip -1", "--sigma-clip"},
      {"--quantiles 0.8,0.2", "--quantiles"},    {"--npt 9999999999999", "--npt"},
      {"--radial-range 5,nan", "--radial-range"}};
  for (const auto& [opt, name] : cli) {
    const auto r = anvil_cli(base + " " + opt);
    EXPECT_EQ(r.exit_code, 2) << opt << ": " << r.output;
    EXPECT_TRUE(has(r.output, name)) << opt << ": " << r.output;
    EXPECT_FALSE(has(r.output, "bad_alloc")) << r.output;
  }
  const auto follow = anvil_cli("run x.toml --poll nan");
  EXPECT_EQ(follow.exit_code, 2);
  EXPECT_TRUE(has(follow.output, "--poll")) << follow.output;

  // The scan description: the key, the file and the line.
  const std::vector<std::pair<std::string, std::string>> toml = {
      {"[waxs.integration]\npolarization = nan\n", "'waxs.integration.polarization'"},
      {"[waxs.integration]\nsigma_clip = nan\n", "'waxs.integration.sigma_clip'"},
      {"[waxs.integration]\nsigma_clip = -2\n", "'waxs.integration.sigma_clip'"},
      {"[waxs.integration]\nbins = 9999999999999\n", "'waxs.integration.bins'"},
      {"[waxs.integration]\nrange = [3, inf]\n", "'waxs.integration.range'"},
      {"[pressure]\nsource = \"ruby\"\nfile = \"x.spec\"\nscan = 1\ncounter = \"R1\"\nr1_esd_nm = -0.03\n",
       "'pressure.r1_esd_nm'"},
      {"[pressure]\nfile = \"p.csv\"\nfirst_frame = -1\n", "'pressure.first_frame'"},
  };
  for (const auto& [text, key] : toml) {
    std::ofstream(dir / "scan.toml") << "[waxs]\nframes = \"f.tif\"\nponi = \"waxs.poni\"\n" << text;
    const auto r =
        anvil_cli("run " + quote((dir / "scan.toml").string()) + " -o " + quote((dir / "o").string()));
    EXPECT_EQ(r.exit_code, 2) << text << r.output;
    EXPECT_TRUE(has(r.output, key)) << text << r.output;
    EXPECT_TRUE(has(r.output, "scan.toml:")) << text << r.output;  // file:line
    EXPECT_FALSE(fs::exists(dir / "o/results.h5"));
  }
}

// Issue 12, item 6: a fit that fails is a failure with its reason in frames.csv,
// phase_fractions.csv, the report and the summary (and the exit code).
TEST(Faults, FailedFitsAreFailuresWithTheirReasonEverywhere) {
  const auto dir = scratch();
  make_tiff_scan(dir);
  // A fit range the patterns do not reach (they end at 21°): every fit fails.
  std::string toml = slurp(dir / "scan.toml");
  toml.replace(toml.find("range = [4.0, 20.0]"), std::string("range = [4.0, 20.0]").size(),
               "range = [25.0, 30.0]");
  std::ofstream(dir / "scan.toml") << toml;
  const auto r = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(has(r.output, "20 frames, 0 succeeded, 20 failed")) << r.output;
  EXPECT_TRUE(has(r.output, "waxs fit failed: ")) << r.output;
  const auto row = fields(csv_row(slurp(dir / "out/frames.csv"), "4"));
  ASSERT_GE(row.size(), 6u);
  EXPECT_EQ(row[4], "fit failed");
  EXPECT_TRUE(has(row[5], "fit failed")) << row[5];
  const auto fractions = slurp(dir / "out/phase_fractions.csv");
  EXPECT_TRUE(has(fractions.substr(0, fractions.find('\n')), "status,reason")) << fractions;
  const auto f = fields(csv_row(fractions, "4"));
  ASSERT_GE(f.size(), 2u);
  EXPECT_FALSE(f.back().empty()) << csv_row(fractions, "4");
  EXPECT_TRUE(has(slurp(dir / "out/report.html"), "waxs fit failed"));
}

// Issue 12, item 7: a scan name is never a path; two runs into one folder are refused with the
// holder named; the first run's results are not touched.
TEST(Faults, ScanNameIsNotAPathAndOneFolderHasOneWriter) {
  const auto dir = scratch();
  make_tiff_scan(dir);
  const fs::path sub = dir / "a" / "b";
  fs::create_directories(sub);
  std::string toml = slurp(dir / "scan.toml");
  toml.replace(toml.find("name = \"tiffscan\""), std::string("name = \"tiffscan\"").size(),
               "name = \"../../x\"");
  for (const char* f : {"waxs.poni", "waxs.mask", "pressure.csv"}) fs::copy_file(dir / f, sub / f);
  std::string local = toml;
  local.replace(local.find("waxs_{:05d}.tif"), std::string("waxs_{:05d}.tif").size(),
                "../../waxs_{:05d}.tif");
  std::ofstream(sub / "scan.toml") << local;
  const auto r = anvil_cli("run " + quote((sub / "scan.toml").string()) + " -q");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(sub / "x_results" / "phase_fractions.csv")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "x_results"));
  EXPECT_FALSE(fs::exists(dir.parent_path() / "x_results"));

  // A live run holds the folder; a second run into it is refused and names the holder.
  const std::string out = (dir / "live").string();
  const std::string cmd = quote(ANVIL_CLI) + " run " + quote((dir / "scan.toml").string()) + " -o " +
                          quote(out) + " -q --follow --poll 0.2 --idle-timeout 20 > /dev/null 2>&1 & echo $!";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char pid[32] = {};
  ASSERT_NE(fgets(pid, sizeof pid, p), nullptr);
  pclose(p);
  for (int i = 0; i < 300 && !fs::exists(fs::path(out) / "phase_fractions.csv"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto tables = slurp(fs::path(out) / "phase_fractions.csv");
  const auto second =
      anvil_cli("run " + quote((dir / "scan.toml").string()) + " -o " + quote(out) + " -q --force");
  std::system(("kill -INT " + std::string(pid) + " 2>/dev/null; sleep 0.5").c_str());
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_TRUE(has(second.output, "another anvil run is writing to this folder")) << second.output;
  EXPECT_TRUE(has(second.output, "--follow")) << second.output;  // the holder's command line
  EXPECT_EQ(slurp(fs::path(out) / "phase_fractions.csv"), tables);
}

// Issue 12, item 9: --flip-ud flipped a Dioptas mask a second time (Dioptas saves masks in its
// up-down flipped view), so the beamstop mask landed upside down, silently. The sample's
// waxs.mask is such a Dioptas mask: with and without --flip-ud it now covers the beamstop and
// the pattern is the same (the .poni records its orientation, which follows the flip); read as
// a raw-layout mask under --flip-ud it lands upside down and the pattern changes. Both
// decisions are logged, naming the files.
TEST(Faults, DioptasMaskLandsOnTheBeamstopWithAndWithoutFlipUd) {
  const auto dir = scratch();
  auto frame = io::open_frames((kSample / "cdse_dac_waxs_master.h5").string())->read(0);
  for (std::size_t i = 0; i < frame.image.pixels.size(); ++i)
    if (frame.invalid.pixels[i]) frame.image.pixels[i] = -1.0f;
  io::write_tiff((dir / "waxs.tif").string(), {frame.image});
  for (const char* f : {"waxs.poni", "waxs.mask"}) fs::copy_file(kSample / f, dir / f);
  const std::string common = quote((dir / "waxs.tif").string()) + " --poni " +
                             quote((dir / "waxs.poni").string()) + " --mask " +
                             quote((dir / "waxs.mask").string()) +
                             " --unit 2th_deg --npt 1500 --radial-range 3,21 --polarization 0.99 -q -o ";
  const auto plain = anvil_cli("integrate " + common + quote((dir / "plain.xye").string()));
  const auto flipped =
      anvil_cli("integrate " + common + quote((dir / "flipped.xye").string()) + " --flip-ud");
  const auto wrong = anvil_cli("integrate " + common + quote((dir / "wrong.xye").string()) +
                               " --flip-ud --mask-orientation raw");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  ASSERT_EQ(flipped.exit_code, 0) << flipped.output;
  ASSERT_EQ(wrong.exit_code, 0) << wrong.output;
  EXPECT_TRUE(has(plain.output,
                  "waxs.mask: Dioptas layout (up-down flipped relative to the frame files); "
                  "frames as stored: mask flipped up-down"))
      << plain.output;
  EXPECT_TRUE(has(flipped.output,
                  "waxs.mask: Dioptas layout (up-down flipped relative to the frame files); "
                  "frames flipped up-down: mask used as stored"))
      << flipped.output;
  EXPECT_TRUE(has(flipped.output,
                  "waxs.poni records orientation 3 (BottomRight) for the image as stored in the "
                  "file; the frames are flipped up-down, so orientation 2 (TopRight) is used"))
      << flipped.output;
  EXPECT_TRUE(has(wrong.output,
                  "waxs.mask: raw layout (as the frame files); frames flipped up-down: mask "
                  "flipped up-down"))
      << wrong.output;
  const auto a = io::read_pattern_text((dir / "plain.xye").string());
  const auto b = io::read_pattern_text((dir / "flipped.xye").string());
  const auto c = io::read_pattern_text((dir / "wrong.xye").string());
  ASSERT_EQ(a.intensity.size(), 1500u);
  ASSERT_EQ(b.intensity.size(), a.intensity.size());
  ASSERT_EQ(c.intensity.size(), a.intensity.size());
  double flip_diff = 0, wrong_diff = 0;
  for (std::size_t i = 0; i < a.intensity.size(); ++i) {
    const double scale = std::max(1.0, std::abs(a.intensity[i]));
    flip_diff = std::max(flip_diff, std::abs(b.intensity[i] - a.intensity[i]) / scale);
    wrong_diff = std::max(wrong_diff, std::abs(c.intensity[i] - a.intensity[i]) / scale);
  }
  EXPECT_LT(flip_diff, 1e-6) << "--flip-ud changed the pattern";
  EXPECT_GT(wrong_diff, 1e-2) << "a mask upside down should let the beamstop's shadow in";
}

// Cases that passed before issue 12, kept: a truncated frame file costs that frame only; a
// broken scan description on a rerun leaves the finished results as they were; unknown keys and
// missing files are named.
TEST(Faults, TruncatedFrameAndBrokenRerunLoseNothing) {
  const auto dir = scratch();
  make_tiff_scan(dir);
  {
    const auto p = dir / "waxs_00004.tif";
    const auto size = fs::file_size(p);
    fs::resize_file(p, size / 3);
  }
  const auto r = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(has(csv_row(slurp(dir / "out/frames.csv"), "4"), "waxs_00004.tif"))
      << slurp(dir / "out/frames.csv");
  const auto before = slurp(dir / "out/phase_fractions.csv");

  std::ofstream(dir / "scan.toml", std::ios::app) << "[waxs.extra]\nfoo = 1\n";
  const auto broken = anvil_cli("run " + run_args(dir));
  EXPECT_EQ(broken.exit_code, 2) << broken.output;
  EXPECT_TRUE(has(broken.output, "scan.toml")) << broken.output;
  EXPECT_EQ(slurp(dir / "out/phase_fractions.csv"), before);

  std::ofstream(dir / "s2.toml") << "[waxs]\nframes = \"waxs_{:05d}.tif\"\nponi = \"nothere.poni\"\n";
  const auto missing =
      anvil_cli("run " + quote((dir / "s2.toml").string()) + " -o " + quote((dir / "o2").string()));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_TRUE(has(missing.output, "nothere.poni")) << missing.output;
}
