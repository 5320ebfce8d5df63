// One interface over every format: file patterns in natural order, lists of files as one
// scan, sentinel masking, and a bad file that costs one frame, not the scan.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/edf.hpp"
#include "io/frame_source.hpp"
#include "io/hdf5_source.hpp"
#include "io/mask.hpp"
#include "io/tiff.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::io;

namespace {
fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::string fmt_name(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "scan_PIL_0001_%05d.h5", i);
  return buf;
}

void write_frame(const fs::path& p, float value, Shape s = {6, 7}) {
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::Float32;
  Hdf5StackWriter(p.string(), s, opt).append(ImageF(s, value));
}
}  // namespace

TEST(NaturalSort, NumbersCompareByValue) {
  std::vector<std::string> v = {"f10.tif", "f2.tif", "f1.tif", "f010b.tif", "f9.tif", "g1.tif"};
  natural_sort(v);
  EXPECT_EQ(v, (std::vector<std::string>{"f1.tif", "f2.tif", "f9.tif", "f10.tif", "f010b.tif", "g1.tif"}));
}

TEST(FilePattern, PythonStyleFieldMatchesZeroPaddedNumbersInOrder) {
  const auto dir = scratch();
  for (int i : {3, 1, 12, 2}) write_frame(dir / fmt_name(i), static_cast<float>(i));
  std::ofstream(dir / "scan_PIL_0001_00004.txt") << "not a frame";
  const auto files = expand_pattern((dir / "scan_PIL_0001_{:05d}.h5").string());
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(fs::path(files[0]).filename(), "scan_PIL_0001_00001.h5");
  EXPECT_EQ(fs::path(files[3]).filename(), "scan_PIL_0001_00012.h5");
  EXPECT_THROW(expand_pattern((dir / "nothing_{:05d}.h5").string()), InputError);
}

// A frame is its number in the file name, never its place among the files that exist: frames
// 4..11 are missing, so they fail, and frame 12 is still file 12.
TEST(FilePattern, NumberedSeriesKeepsFrameNumbersAcrossGaps) {
  const auto dir = scratch();
  for (int i : {3, 1, 12, 2}) write_frame(dir / fmt_name(i), static_cast<float>(i));
  const auto src = open_frames((dir / "scan_PIL_0001_{:05d}.h5").string());
  EXPECT_EQ(src->first_number(), 1u);
  ASSERT_EQ(src->frame_count(), 12u);  // frames 1..12
  EXPECT_FLOAT_EQ(src->read(0).image(0, 0), 1.0f);
  EXPECT_EQ(src->read(0).index, 1u);
  EXPECT_FLOAT_EQ(src->read(11).image(0, 0), 12.0f);
  EXPECT_EQ(src->read(11).index, 12u);
  try {
    src->read(4);  // frame 5
    FAIL() << "frame 5 has no file";
  } catch (const FrameError& e) {
    EXPECT_EQ(e.frame_index(), 5u);
    EXPECT_NE(std::string(e.what()).find("file not found"), std::string::npos) << e.what();
  }
  // Identities name the file, its size and time; a missing file says so.
  EXPECT_NE(src->frame_identity(11).find(fmt_name(12)), std::string::npos) << src->frame_identity(11);
  EXPECT_NE(src->frame_identity(11).find("size"), std::string::npos) << src->frame_identity(11);
  EXPECT_NE(src->frame_identity(4).find("not found"), std::string::npos) << src->frame_identity(4);
  // The missing file arrives: the same numbers, now readable; frame 12's identity is unchanged.
  const auto id12 = src->frame_identity(11);
  write_frame(dir / fmt_name(5), 5.0f);
  const auto again = open_frames((dir / "scan_PIL_0001_{:05d}.h5").string());
  EXPECT_FLOAT_EQ(again->read(4).image(0, 0), 5.0f);
  EXPECT_EQ(again->frame_identity(11), id12);
}

TEST(FilePattern, AmbiguousNumbersAndMultiFrameFilesAreBadFrames) {
  const auto dir = scratch();
  write_frame(dir / "f1.h5", 1.0f);
  write_frame(dir / "f01.h5", 1.5f);  // "{}" matches both as number 1
  write_frame(dir / "f2.h5", 2.0f);
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::Float32;
  {
    Hdf5StackWriter w((dir / "f3.h5").string(), Shape{6, 7}, opt);
    w.append(ImageF(Shape{6, 7}, 3.0f));
    w.append(ImageF(Shape{6, 7}, 3.0f));
  }
  const auto src = open_frames((dir / "f{}.h5").string());
  ASSERT_EQ(src->frame_count(), 3u);
  EXPECT_FLOAT_EQ(src->read(1).image(0, 0), 2.0f);
  try {
    src->read(0);
    FAIL();
  } catch (const FrameError& e) {
    EXPECT_NE(std::string(e.what()).find("2 files carry number 1"), std::string::npos) << e.what();
  }
  try {
    src->read(2);
    FAIL();
  } catch (const FrameError& e) {
    EXPECT_NE(std::string(e.what()).find("one frame per file"), std::string::npos) << e.what();
  }
}

TEST(FileList, CorruptFileIsOneBadFrameAndTheScanGoesOn) {
  const auto dir = scratch();
  write_frame(dir / "a.h5", 1.0f);
  std::ofstream(dir / "b.h5") << "garbage, not HDF5";
  write_frame(dir / "c.h5", 3.0f);
  write_frame(dir / "d.h5", 4.0f, {5, 5});  // wrong shape
  const auto src = open_frames(std::vector<std::string>{(dir / "a.h5").string(), (dir / "b.h5").string(),
                                                        (dir / "c.h5").string(), (dir / "d.h5").string()});
  ASSERT_EQ(src->frame_count(), 4u);
  std::vector<std::size_t> good;
  std::vector<std::string> bad;
  for_each_frame(
      *src, [&](Frame&& f) { good.push_back(f.index); },
      [&](const FrameError& e) { bad.push_back(e.what()); });
  EXPECT_EQ(good, (std::vector<std::size_t>{0, 2}));
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_NE(bad[0].find("b.h5"), std::string::npos) << bad[0];
  EXPECT_NE(bad[1].find("shape"), std::string::npos) << bad[1];
}

TEST(SentinelMask, NegativeNanSaturatedAndAllOnesAreMasked) {
  ImageF img({1, 6});
  img.pixels = {5.0f, -1.0f, -2.0f, std::numeric_limits<float>::quiet_NaN(), 1e6f, 65535.0f};
  Mask m;
  mask_sentinels(img, m, 1e6, 65535.0);
  EXPECT_EQ(m.pixels, (std::vector<std::uint8_t>{0, 1, 1, 1, 1, 1}));
}

TEST(MaskFiles, NonZeroIsMaskedAndTheShapeIsChecked) {
  const auto dir = scratch();
  ImageF m({6, 7}, 0.0f);
  m(2, 3) = 1.0f;
  m(5, 6) = 255.0f;
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::UInt8;
  Hdf5StackWriter((dir / "mask.h5").string(), m.shape, opt).append(m);
  const auto mask = read_mask((dir / "mask.h5").string(), Shape{6, 7});
  std::size_t n = 0;
  for (auto v : mask.pixels) n += v;
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(mask(2, 3), 1);
  EXPECT_EQ(mask(5, 6), 1);  // 255 (uint8 all-ones) is a mask value here, not a sentinel
  try {
    read_mask((dir / "mask.h5").string(), Shape{7, 6});
    FAIL() << "expected a shape error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mask.h5"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("6x7"), std::string::npos) << e.what();
  }
}

TEST(DarkFrames, SeriesIsAveraged) {
  const auto dir = scratch();
  Hdf5StackOptions opt;
  opt.pixel_type = PixelType::Float32;
  {
    Hdf5StackWriter w((dir / "dark.h5").string(), {2, 2}, opt);
    w.append(ImageF({2, 2}, 2.0f));
    w.append(ImageF({2, 2}, 4.0f));
  }
  const auto dark = read_mean_frame((dir / "dark.h5").string(), Shape{2, 2});
  EXPECT_EQ(dark.pixels, (std::vector<float>{3, 3, 3, 3}));
}

// Masks as Dioptas (TIFF, ".mask") and pyFAI/silx (EDF) write them read the same.
TEST(MaskFiles, DioptasTiffAndSilxEdfMasks) {
  const auto dir = scratch();
  Mask m({5, 4}, 0);
  m(0, 1) = 1;
  m(4, 3) = 1;
  write_tiff_mask((dir / "dioptas.mask").string(), m);
  write_edf_mask((dir / "silx_mask.edf").string(), m);
  EXPECT_EQ(read_mask((dir / "dioptas.mask").string(), Shape{5, 4}).pixels, m.pixels);
  EXPECT_EQ(read_mask((dir / "silx_mask.edf").string(), Shape{5, 4}).pixels, m.pixels);
  OpenOptions flip;
  flip.flip_up_down = true;
  const auto flipped = read_mask((dir / "dioptas.mask").string(), Shape{5, 4}, flip);
  EXPECT_EQ(flipped(4, 1), 1);
  EXPECT_EQ(flipped(0, 3), 1);
}
