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

// Masks as Dioptas (TIFF, ".mask") and pyFAI/silx (EDF) write them: the same bytes, but a
// ".mask" is in Dioptas' up-down flipped layout and an EDF in the frame files' own.
TEST(MaskFiles, DioptasTiffAndSilxEdfMasks) {
  const auto dir = scratch();
  Mask m({5, 4}, 0);
  m(0, 1) = 1;
  m(4, 3) = 1;
  write_tiff_mask((dir / "dioptas.mask").string(), m);
  write_edf_mask((dir / "silx_mask.edf").string(), m);
  Mask m_flipped = m;
  flip_up_down(m_flipped);
  EXPECT_EQ(read_mask((dir / "dioptas.mask").string(), Shape{5, 4}).pixels, m_flipped.pixels);
  EXPECT_EQ(read_mask((dir / "silx_mask.edf").string(), Shape{5, 4}).pixels, m.pixels);
  OpenOptions flip;
  flip.flip_up_down = true;
  EXPECT_EQ(read_mask((dir / "dioptas.mask").string(), Shape{5, 4}, flip).pixels, m.pixels);
  EXPECT_EQ(read_mask((dir / "silx_mask.edf").string(), Shape{5, 4}, flip).pixels, m_flipped.pixels);
  // The layout can be named: a Dioptas mask saved as .edf, an anvil mask named .mask.
  EXPECT_EQ(read_mask((dir / "silx_mask.edf").string(), Shape{5, 4}, {}, MaskOrientation::Dioptas).pixels,
            m_flipped.pixels);
  EXPECT_EQ(read_mask((dir / "dioptas.mask").string(), Shape{5, 4}, {}, MaskOrientation::Raw).pixels,
            m.pixels);
}

// A beamstop in one corner of the detector, seen by Dioptas: Dioptas loads every image as
// `data[::-1]` (ImgModel.load_PIL, FabioLoader.get_image), the user draws the mask over the
// beamstop's shadow in that image, and "Save mask" (*.mask) writes the drawn array as it is
// (MaskModel.save_mask, flipud=False). Read back, the mask must cover the shadow on the frames
// with and without --flip-ud (and --flip-lr): masked pixels == shadow pixels, nothing else.
TEST(MaskFiles, DioptasMaskCoversTheBeamstopWithAndWithoutFlips) {
  const auto dir = scratch();
  const Shape shape{12, 9};
  // The detector file: counts 100, the beamstop shadow (0 counts) in rows 0..3, columns 0..4.
  ImageF raw(shape, 100.0f);
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t c = 0; c < 5; ++c) raw(r, c) = 0.0f;
  write_tiff((dir / "frame.tif").string(), {raw});
  // Dioptas' view of that file, and the mask drawn on it over the shadow.
  Mask drawn(shape, 0);
  for (std::size_t r = 0; r < shape.rows; ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) drawn(r, c) = raw(shape.rows - 1 - r, c) == 0.0f;
  ASSERT_EQ(drawn(shape.rows - 1, 0), 1);  // in Dioptas the shadow is at the bottom
  write_tiff_mask((dir / "beamstop.mask").string(), drawn);
  write_tiff_mask((dir / "beamstop_as_tif.tif").string(), drawn);  // same bytes, not named .mask

  auto covers_shadow = [&](const Mask& mask, const ImageF& frame) {
    for (std::size_t i = 0; i < mask.pixels.size(); ++i)
      if ((mask.pixels[i] != 0) != (frame.pixels[i] == 0.0f)) return false;
    return true;
  };
  for (const bool ud : {false, true}) {
    for (const bool lr : {false, true}) {
      SCOPED_TRACE(std::string("flip_up_down ") + (ud ? "on" : "off") + ", flip_left_right " +
                   (lr ? "on" : "off"));
      OpenOptions o;
      o.flip_up_down = ud;
      o.flip_left_right = lr;
      const auto frame = open_frames((dir / "frame.tif").string(), o)->read(0);
      const auto mask = read_mask((dir / "beamstop.mask").string(), shape, o);
      EXPECT_TRUE(covers_shadow(mask, frame.image));
      EXPECT_EQ(mask_flips(MaskOrientation::Dioptas, o).flip_up_down, !ud);
      // Read in the wrong layout, the mask lands upside down, on counted pixels.
      EXPECT_FALSE(covers_shadow(read_mask((dir / "beamstop.mask").string(), shape, o, MaskOrientation::Raw),
                                 frame.image));
      // Under another name the layout must be said; said, the mask lands right.
      EXPECT_FALSE(covers_shadow(read_mask((dir / "beamstop_as_tif.tif").string(), shape, o), frame.image));
      EXPECT_TRUE(
          covers_shadow(read_mask((dir / "beamstop_as_tif.tif").string(), shape, o, MaskOrientation::Dioptas),
                        frame.image));
    }
  }
}

TEST(MaskFiles, OrientationIsResolvedByNameAndLogged) {
  EXPECT_EQ(resolve_mask_orientation("a/beamstop.mask", MaskOrientation::Auto), MaskOrientation::Dioptas);
  EXPECT_EQ(resolve_mask_orientation("B.MASK", MaskOrientation::Auto), MaskOrientation::Dioptas);
  EXPECT_EQ(resolve_mask_orientation("m.tif", MaskOrientation::Auto), MaskOrientation::Raw);
  EXPECT_EQ(resolve_mask_orientation("m.edf", MaskOrientation::Auto), MaskOrientation::Raw);
  EXPECT_EQ(resolve_mask_orientation("m.mask.h5:/entry/mask", MaskOrientation::Auto), MaskOrientation::Raw);
  EXPECT_EQ(resolve_mask_orientation("m.mask", MaskOrientation::Raw), MaskOrientation::Raw);
  EXPECT_EQ(resolve_mask_orientation("m.edf", MaskOrientation::Dioptas), MaskOrientation::Dioptas);
  EXPECT_EQ(parse_mask_orientation(" Dioptas ", "k"), MaskOrientation::Dioptas);
  EXPECT_EQ(parse_mask_orientation("raw", "k"), MaskOrientation::Raw);
  EXPECT_EQ(parse_mask_orientation("AUTO", "k"), MaskOrientation::Auto);
  try {
    parse_mask_orientation("flipped", "--mask-orientation");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "--mask-orientation: expected auto, raw or dioptas, not 'flipped'");
  }
  OpenOptions ud;
  ud.flip_up_down = true;
  EXPECT_EQ(
      describe_mask_orientation("b.mask", MaskOrientation::Dioptas, ud),
      "mask b.mask: Dioptas layout (up-down flipped relative to the frame files); frames flipped up-down: "
      "mask used as stored");
  EXPECT_EQ(
      describe_mask_orientation("b.mask", MaskOrientation::Dioptas, {}),
      "mask b.mask: Dioptas layout (up-down flipped relative to the frame files); frames as stored: mask "
      "flipped up-down");
  EXPECT_EQ(describe_mask_orientation("m.edf", MaskOrientation::Raw, ud),
            "mask m.edf: raw layout (as the frame files); frames flipped up-down: mask flipped up-down");
}

// anvil's own Dioptas-layout writer is Dioptas' save: the file is the up-down flipped mask.
TEST(MaskFiles, WriteDioptasMaskFlipsUpDown) {
  const auto dir = scratch();
  Mask m({3, 2}, 0);
  m(0, 0) = 1;
  write_dioptas_mask((dir / "w.mask").string(), m);
  EXPECT_EQ(read_mask((dir / "w.mask").string(), Shape{3, 2}, {}, MaskOrientation::Raw)(2, 0), 1);
  EXPECT_EQ(read_mask((dir / "w.mask").string(), Shape{3, 2}).pixels, m.pixels);
}
