// The scan reduction end to end on small generated scans: any thread count gives the same
// numbers, a bad frame costs only itself, and a second run resumes instead of redoing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/hdf5_source.hpp"
#include "io/pattern_io.hpp"
#include "io/tiff.hpp"
#include "run_scan.hpp"
#include "scan_config.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::pipeline;

namespace {

fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small scan: rings whose radius depends on the frame, one frame per TIFF-less HDF5 file.
// `only`: write just these frames' files (the rest as they are).
void make_scan(const fs::path& dir, std::size_t frames, std::vector<std::size_t> only = {}) {
  const Shape s{64, 48};
  for (std::size_t k = 0; k < frames; ++k) {
    if (!only.empty() && std::find(only.begin(), only.end(), k) == only.end()) continue;
    ImageF img(s);
    for (std::size_t r = 0; r < s.rows; ++r)
      for (std::size_t c = 0; c < s.cols; ++c) {
        const double rad = std::hypot(static_cast<double>(r) - 30.0, static_cast<double>(c) - 20.0);
        img(r, c) = static_cast<float>(
            10.0 + 500.0 * std::exp(-0.5 * std::pow((rad - 15.0 - static_cast<double>(k)) / 1.5, 2)));
      }
    char name[64];
    std::snprintf(name, sizeof name, "frame_%03zu.h5", k);
    io::Hdf5StackOptions opt;
    opt.pixel_type = io::PixelType::Float32;
    io::Hdf5StackWriter(dir / name, s, opt).append(img);
  }
  std::ofstream(dir / "g.poni")
      << "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 0.0001, "
         "\"pixel2\": 0.0001, \"max_shape\": [64, 48]}\nDistance: 0.1\nPoni1: 0.00305\n"
         "Poni2: 0.00205\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1e-10\n";
  std::ofstream p(dir / "p.csv");
  p << "frame,pressure_gpa\n";
  for (std::size_t k = 0; k < frames; ++k) p << k << "," << (k < frames / 2 ? k : frames - k) << "\n";
  std::ofstream(dir / "scan.toml") << "[waxs]\nframes = \"frame_{:03d}.h5\"\nponi = \"g.poni\"\n"
                                      "[waxs.integration]\nunit = \"q_nm^-1\"\nbins = 50\nsplit = \"full\"\n"
                                      "[pressure]\nfile = \"p.csv\"\n";
}

}  // namespace

TEST(RunScan, ResultsDoNotDependOnTheThreadCount) {
  const auto dir = scratch();
  make_scan(dir, 12);
  const auto config = load_scan_config(dir / "scan.toml");
  RunOptions one;
  one.output_dir = dir / "one";
  one.threads = 1;
  RunOptions two = one;
  two.output_dir = dir / "two";
  two.threads = 2;
  const auto s1 = run_scan(config, one);
  const auto s2 = run_scan(config, two);
  EXPECT_EQ(s1.succeeded, 12u);
  EXPECT_EQ(s2.succeeded, 12u);
  EXPECT_EQ(slurp(dir / "one/frames.csv"), slurp(dir / "two/frames.csv"));
  for (std::size_t k = 0; k < 12; ++k) {
    char name[64];
    std::snprintf(name, sizeof name, ".checkpoints/frame_%06zu.json", k);
    EXPECT_EQ(slurp(dir / "one" / name), slurp(dir / "two" / name)) << "frame " << k;
  }
  EXPECT_NE(slurp(dir / "one/frames.csv").find("decompression"), std::string::npos);
}

TEST(RunScan, ABadFrameIsRecordedAndTheScanGoesOn) {
  const auto dir = scratch();
  make_scan(dir, 5);
  std::ofstream(dir / "frame_002.h5", std::ios::trunc) << "truncated garbage";
  RunOptions o;
  o.output_dir = dir / "out";
  const auto s = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(s.frames, 5u);
  EXPECT_EQ(s.succeeded, 4u);
  EXPECT_EQ(s.failed, 1u);
  ASSERT_EQ(s.failure_reasons.size(), 1u);
  const auto csv = slurp(dir / "out/frames.csv");
  EXPECT_NE(csv.find("2,3,0,compression,failed,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("frame 2: not an HDF5 file"), std::string::npos) << csv;
  EXPECT_NE(csv.find("frame_002.h5"), std::string::npos) << csv;
}

TEST(RunScan, SecondRunResumesAndForceRedoes) {
  const auto dir = scratch();
  make_scan(dir, 6);
  const auto config = load_scan_config(dir / "scan.toml");
  RunOptions o;
  o.output_dir = dir / "out";
  EXPECT_EQ(run_scan(config, o).resumed, 0u);
  fs::remove(dir / "out/.checkpoints/frame_000003.json");  // as if killed before frame 3 was done
  fs::remove(dir / "out/results.h5");
  const auto again = run_scan(config, o);
  EXPECT_EQ(again.resumed, 5u);
  EXPECT_EQ(again.succeeded, 6u);
  EXPECT_TRUE(fs::exists(dir / "out/results.h5"));
  EXPECT_EQ(io::pattern_stack_size((dir / "out/results.h5").string(), "waxs"), 6u);
  o.force = true;
  EXPECT_EQ(run_scan(config, o).resumed, 0u);
}

// Live mode (anvil run --follow) runs again and again on a growing scan: frames done before are
// taken from their checkpoints, new ones are reduced, and a frame caught half-written (failed)
// is tried again.
TEST(RunScan, GrowingScanIsFollowedAndHalfWrittenFramesAreRetried) {
  const auto dir = scratch();
  make_scan(dir, 3);
  std::ofstream(dir / "frame_001.h5", std::ios::trunc) << "half-written";
  RunOptions o;
  o.output_dir = dir / "out";
  o.retry_failed = true;
  const auto first = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(first.frames, 3u);
  EXPECT_EQ(first.failed, 1u);
  make_scan(dir, 5, {1, 3, 4});  // the detector wrote frame 1 completely, then frames 3 and 4
  const auto second = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(second.frames, 5u);
  EXPECT_EQ(second.resumed, 2u);  // frames 0 and 2
  EXPECT_EQ(second.succeeded, 5u);
  EXPECT_EQ(second.failed, 0u);
}

// A frame is its number in the file name: a missing file is that frame failing, the frames
// after it keep their own data and pressure; when the file appears, a rerun reduces it and
// keeps the rest; a replaced file is redone (checkpoints record their source).
TEST(RunScan, MissingFileIsItsOwnFrameAndIsReducedWhenItAppears) {
  const auto dir = scratch();
  make_scan(dir, 6);
  RunOptions full;
  full.output_dir = dir / "full";
  ASSERT_EQ(run_scan(load_scan_config(dir / "scan.toml"), full).succeeded, 6u);
  const std::string full_csv = slurp(dir / "full/frames.csv");

  fs::rename(dir / "frame_003.h5", dir / "frame_003.h5.away");
  RunOptions o;
  o.output_dir = dir / "out";
  const auto gap = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(gap.frames, 6u);
  EXPECT_EQ(gap.failed, 1u);
  const auto csv = slurp(dir / "out/frames.csv");
  EXPECT_NE(csv.find("3,3,0,compression,failed,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("frame 3: file not found"), std::string::npos) << csv;
  // Frames 4 and 5 hold their own patterns (ring radius grows with the frame), not their neighbours'.
  for (std::size_t k : {4u, 5u}) {
    const auto a = io::read_pattern_stack((dir / "full/results.h5").string(), "waxs", k);
    const auto b =
        io::read_pattern_stack((dir / "out/results.h5").string(), "waxs", k - 1);  // row k-1: frame 3 absent
    EXPECT_EQ(a.intensity, b.intensity) << "frame " << k;
  }

  fs::rename(dir / "frame_003.h5.away", dir / "frame_003.h5");
  const auto back = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(back.succeeded, 6u);
  EXPECT_EQ(back.resumed, 5u);  // only frame 3 is reduced
  EXPECT_EQ(back.changed, 1u);  // its checkpoint said "file not found"
  EXPECT_EQ(slurp(dir / "out/frames.csv"), full_csv);

  make_scan(dir, 6, {2});  // frame 2 rewritten (a new file, same name)
  const auto replaced = run_scan(load_scan_config(dir / "scan.toml"), o);
  EXPECT_EQ(replaced.resumed, 5u);
  EXPECT_EQ(replaced.changed, 1u);
}

TEST(RunScan, TwoRunsIntoOneFolderAreRefusedNamingTheHolder) {
  const auto dir = scratch();
  OutputLock first(dir / "out", "anvil run first.toml");
  try {
    OutputLock second(dir / "out", "anvil run second.toml");
    FAIL() << "the folder is locked";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("another anvil run"), std::string::npos) << m;
    EXPECT_NE(m.find("anvil run first.toml"), std::string::npos) << m;
    EXPECT_NE(m.find("pid"), std::string::npos) << m;
  }
}

TEST(RunScan, ScanNamesAreNeverPaths) {
  EXPECT_EQ(default_output_name("../../x"), "x_results");
  EXPECT_EQ(default_output_name("CdSe run 3/b"), "CdSe_run_3_b_results");
  EXPECT_EQ(default_output_name(".."), "scan_results");
  EXPECT_EQ(default_output_name("/etc/passwd"), "etc_passwd_results");
}

namespace {

// A detector file as Dioptas users have it: rings about pixel (30, 20) and, when `shadow`, the
// beamstop's shadow (no counts) over rows 0..9, columns 0..11 of the file. Beside it, what
// Dioptas saves for it: a .poni v2.1 of its up-down flipped view (orientation 2, as Dioptas
// writes since it records orientations: poni1 is measured from the other edge) and the mask
// drawn over the shadow in that flipped view, saved as it is (*.mask).
void make_dioptas_scan(const fs::path& dir, bool shadow) {
  fs::create_directories(dir);
  const Shape s{64, 48};
  ImageF img(s);
  for (std::size_t r = 0; r < s.rows; ++r)
    for (std::size_t c = 0; c < s.cols; ++c) {
      const double rad = std::hypot(static_cast<double>(r) - 30.0, static_cast<double>(c) - 20.0);
      const bool in_shadow = shadow && r < 10 && c < 12;
      img(r, c) = in_shadow
                      ? 0.0f
                      : static_cast<float>(10.0 + 500.0 * std::exp(-0.5 * std::pow((rad - 22.0) / 2.0, 2)));
    }
  io::Hdf5StackOptions opt;
  opt.pixel_type = io::PixelType::Float32;
  io::Hdf5StackWriter(dir / "frame.h5", s, opt).append(img);
  Mask drawn(s, 0);  // Dioptas shows row r of its view = row 63 - r of the file
  for (std::size_t r = 0; r < s.rows; ++r)
    for (std::size_t c = 0; c < s.cols; ++c) drawn(r, c) = (s.rows - 1 - r) < 10 && c < 12;
  io::write_tiff_mask((dir / "beamstop.mask").string(), drawn);
  // The beam at file row 30.5 (pixel-edge coordinates) is at 64 - 30.5 = 33.5 in the flipped view.
  std::ofstream(dir / "dioptas.poni")
      << "poni_version: 2.1\nDetector: Detector\nDetector_config: {\"pixel1\": 0.0001, \"pixel2\": 0.0001, "
         "\"max_shape\": null, \"orientation\": 2}\nDistance: 0.1\nPoni1: 0.00335\nPoni2: 0.00205\nRot1: 0\n"
         "Rot2: 0\nRot3: 0\nWavelength: 1e-10\n";
}

Pattern1D reduce(const fs::path& dir, const std::string& extra_keys, const std::string& out,
                 const std::string& split, std::vector<std::string>* notes = nullptr) {
  std::ofstream(dir / (out + ".toml"))
      << "[waxs]\nframes = \"frame.h5\"\nponi = \"dioptas.poni\"\n"
         "mask = \"beamstop.mask\"\n"
      << extra_keys << "[waxs.integration]\nunit = \"q_nm^-1\"\nbins = 40\nsplit = \"" << split
      << "\"\nerror_model = \"poisson\"\n";
  RunOptions o;
  o.output_dir = dir / out;
  const auto s = run_scan(load_scan_config(dir / (out + ".toml")), o);
  EXPECT_EQ(s.succeeded, 1u) << out;
  if (notes) *notes = s.notes;
  return io::read_pattern_stack((dir / out / "results.h5").string(), "waxs", 0);
}

}  // namespace

// Item 9 of issue 12: with flip_ud a Dioptas mask was flipped a second time and landed upside
// down. Now the Dioptas mask covers the shadow with or without flip_ud, so the shadow changes
// nothing: the pattern equals that of the same frame without a shadow. The Dioptas .poni fits
// either way (orientation 2 follows the flip). Read in the wrong layout, the mask misses the
// shadow and its empty pixels pull the rings' bins down.
TEST(RunScan, DioptasMaskAndPoniFitTheFramesWithAndWithoutFlipUd) {
  const auto dir = scratch();
  make_dioptas_scan(dir / "shadow", true);
  make_dioptas_scan(dir / "clean", false);
  for (const std::string split : {"none", "bbox", "full"}) {
    SCOPED_TRACE("split " + split);
    std::vector<std::string> notes;
    const auto plain = reduce(dir / "shadow", "", "plain_" + split, split, &notes);
    const auto flipped = reduce(dir / "shadow", "flip_ud = true\n", "flipped_" + split, split);
    const auto wrong =
        reduce(dir / "shadow", "flip_ud = true\nmask_orientation = \"raw\"\n", "wrong_" + split, split);
    const auto clean = reduce(dir / "clean", "", "clean_" + split, split);

    ASSERT_EQ(plain.x.size(), 40u);
    ASSERT_EQ(flipped.x, plain.x);
    ASSERT_EQ(clean.x, plain.x);
    double worst = 0.0, flip_diff = 0.0;
    for (std::size_t b = 0; b < plain.x.size(); ++b) {
      SCOPED_TRACE("bin " + std::to_string(b));
      flip_diff =
          std::max(flip_diff, std::abs(flipped.intensity[b] - plain.intensity[b]) / plain.intensity[b]);
      EXPECT_NEAR(clean.intensity[b], plain.intensity[b], 1e-9 * std::abs(plain.intensity[b]) + 1e-12);
      if (clean.intensity[b] > 0) worst = std::max(worst, 1.0 - wrong.intensity[b] / clean.intensity[b]);
    }
    // The same pixels with the same corners, summed in another order (float32 accumulation).
    EXPECT_LT(flip_diff, 1e-6) << "flip_ud changed the pattern";
    EXPECT_GT(worst, 0.1) << "the mask read in the wrong layout should leave shadowed pixels in";

    const auto has = [&](const std::string& text) {
      for (const auto& n : notes)
        if (n.find(text) != std::string::npos) return true;
      return false;
    };
    EXPECT_TRUE(
        has("beamstop.mask: Dioptas layout (up-down flipped relative to the frame files); frames as "
            "stored: mask flipped up-down"));
    EXPECT_TRUE(has("records orientation 2 (TopRight)"));
  }
}
