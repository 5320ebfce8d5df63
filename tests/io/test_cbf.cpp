// CBF through CBFlib: Pilatus mini-CBFs written with byte-offset compression come back
// pixel for pixel with their header, sentinels masked; broken files are InputErrors.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>

#include "io/cbf.hpp"
#include "io/pilatus_header.hpp"
#include "test_support.hpp"

namespace anvil::io {
namespace {

namespace fs = std::filesystem;

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Counts with steps of every size byte-offset encodes (1, 2 and 4 bytes), gaps and bad pixels.
Image<std::int32_t> pilatus_like(std::size_t rows, std::size_t cols) {
  Image<std::int32_t> img(Shape{rows, cols});
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      img(r, c) = static_cast<std::int32_t>((i * 13) % 100);
      if (i % 17 == 0) img(r, c) = static_cast<std::int32_t>(1000 + i * 31);   // 2-byte delta
      if (i % 29 == 0) img(r, c) = static_cast<std::int32_t>(900000 + i * 7);  // 4-byte delta
    }
  for (std::size_t c = 0; c < cols; ++c) img(rows / 2, c) = -1;  // module gap
  img(0, 1) = -2;                                                // bad pixel
  return img;
}

FrameMetadata pilatus_metadata() {
  FrameMetadata md;
  md.detector = "PILATUS3 2M";
  md.wavelength_m = 0.4859e-10;
  md.distance_m = 0.21143;
  md.pixel_size_x_m = md.pixel_size_y_m = 172e-6;
  md.beam_center_x_px = 498.18;
  md.beam_center_y_px = 515.77;
  md.count_time_s = 3.0;
  md.saturation_value = 1048576;
  return md;
}

TEST(CbfRoundTrip, ByteOffsetInt32ReadsBackPixelForPixel) {
  const auto path = (test::scratch_dir("CbfRoundTrip") / "frame.cbf").string();
  const auto img = pilatus_like(37, 53);
  write_cbf(path, img);
  EXPECT_EQ(slurp(path).size() > 0, true);
  OpenOptions raw;
  raw.mask_sentinels = false;
  const auto src = open_cbf(path, raw);
  EXPECT_EQ(src->info().format, "CBF");
  EXPECT_EQ(src->info().compression, "CBF byte-offset");
  EXPECT_EQ(src->info().dtype, "int32");
  ASSERT_EQ(src->frame_count(), 1u);
  EXPECT_EQ(src->shape(), (Shape{37, 53}));  // rows = slow, cols = fast
  const Frame f = src->read(0);
  ASSERT_EQ(f.image.shape, img.shape);
  for (std::size_t i = 0; i < img.pixels.size(); ++i)
    ASSERT_EQ(f.image.pixels[i], static_cast<float>(img.pixels[i])) << "pixel " << i;
  EXPECT_EQ(f.origin, path);
}

TEST(CbfRoundTrip, LargeJumpsBetweenNeighboursSurvive) {
  const auto path = (test::scratch_dir("CbfExtreme") / "extreme.cbf").string();
  Image<std::int32_t> img(Shape{2, 5});
  img.pixels = {1 << 30, -(1 << 30) + 1, 0, 1, -32768, 32767, -128, 127, (1 << 30) - 1, -2};
  write_cbf(path, img);
  OpenOptions raw;
  raw.mask_sentinels = false;
  const Frame f = open_cbf(path, raw)->read(0);
  for (std::size_t i = 0; i < img.pixels.size(); ++i)
    EXPECT_EQ(f.image.pixels[i], static_cast<float>(img.pixels[i])) << i;
  // CBFlib 0.9.7 wraps byte-offset steps beyond 32 bits (INT32_MAX next to INT32_MIN)
  // instead of writing the 64-bit escape: write_cbf refuses rather than corrupt the image.
  Image<std::int32_t> wild(Shape{1, 2});
  wild.pixels = {std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::min()};
  EXPECT_THROW(write_cbf(path, wild), InputError);
}

TEST(CbfPilatus, MiniHeaderBecomesMetadataAndSentinelsAreMasked) {
  const auto path = (test::scratch_dir("CbfPilatus") / "pilatus.cbf").string();
  auto img = pilatus_like(20, 30);
  img(3, 3) = 1048576;  // at the count cutoff
  write_cbf(path, img, pilatus_metadata());
  const auto src = open_cbf(path);
  const FrameMetadata& md = src->info().metadata;
  EXPECT_EQ(md.detector, "PILATUS3 2M");
  EXPECT_NEAR(md.wavelength_m.value_or(0), 0.4859e-10, 1e-18);
  EXPECT_DOUBLE_EQ(md.distance_m.value_or(0), 0.21143);
  EXPECT_DOUBLE_EQ(md.pixel_size_x_m.value_or(0), 172e-6);
  EXPECT_DOUBLE_EQ(md.pixel_size_y_m.value_or(0), 172e-6);
  EXPECT_DOUBLE_EQ(md.beam_center_x_px.value_or(0), 498.18);
  EXPECT_DOUBLE_EQ(md.beam_center_y_px.value_or(0), 515.77);
  EXPECT_DOUBLE_EQ(md.count_time_s.value_or(0), 3.0);
  EXPECT_DOUBLE_EQ(md.saturation_value.value_or(0), 1048576);
  const Frame f = src->read(0);
  std::size_t expected = 0;
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    const bool sentinel = img.pixels[i] < 0 || img.pixels[i] >= 1048576;
    expected += sentinel;
    ASSERT_EQ(f.invalid.pixels[i], sentinel ? 1 : 0) << "pixel " << i << " value " << img.pixels[i];
  }
  EXPECT_EQ(expected, 30u + 1u + 1u);  // the gap row, the bad pixel, the saturated pixel
  EXPECT_EQ(f.metadata.detector, "PILATUS3 2M");
}

TEST(CbfPilatus, HeaderParserReadsDectrisLines) {
  const FrameMetadata md = parse_pilatus_header(
      "\n# Detector: PILATUS 1M, S/N 1-0100\r\n# 2014-10-24T16:33:09.000\r\n"
      "# Pixel_size 172e-6 m x 172e-6 m\r\n# Silicon sensor, thickness 0.000450 m\r\n"
      "# Exposure_time 0.1000000 s\r\n# Wavelength 1.0332 A\r\n# Detector_distance 0.35000 m\r\n"
      "# Beam_xy (1231.50, 1263.50) pixels\r\n# Count_cutoff 1048574 counts\r\n# garbage line\r\n");
  EXPECT_EQ(md.detector, "PILATUS 1M");
  EXPECT_NEAR(md.wavelength_m.value_or(0), 1.0332e-10, 1e-18);
  EXPECT_DOUBLE_EQ(md.distance_m.value_or(0), 0.35);
  EXPECT_DOUBLE_EQ(md.beam_center_x_px.value_or(0), 1231.5);
  EXPECT_DOUBLE_EQ(md.beam_center_y_px.value_or(0), 1263.5);
  EXPECT_DOUBLE_EQ(md.count_time_s.value_or(0), 0.1);
  EXPECT_DOUBLE_EQ(md.saturation_value.value_or(0), 1048574);
  const FrameMetadata none = parse_pilatus_header("# Wavelength lots A\n# Pixel_size\n#\n");
  EXPECT_FALSE(none.wavelength_m.has_value());
  EXPECT_FALSE(none.pixel_size_x_m.has_value());
}

TEST(CbfOrientation, FlipUpDownReversesRows) {
  const auto path = (test::scratch_dir("CbfFlip") / "asym.cbf").string();
  Image<std::int32_t> img(Shape{3, 2});
  img.pixels = {1, 2, 3, 4, -1, 6};
  write_cbf(path, img);
  OpenOptions ud;
  ud.flip_up_down = true;
  const Frame f = open_cbf(path, ud)->read(0);
  EXPECT_EQ(f.image.pixels, (std::vector<float>{-1, 6, 3, 4, 1, 2}));
  EXPECT_EQ(f.invalid.pixels, (std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0}));
}

TEST(CbfMemory, MemoryReaderAgreesWithFileReader) {
  const auto path = (test::scratch_dir("CbfMemory") / "frame.cbf").string();
  write_cbf(path, pilatus_like(16, 24), pilatus_metadata());
  const std::vector<char> bytes = slurp(path);
  const auto frames = read_cbf_memory(std::as_bytes(std::span(bytes)), {}, "buffer");
  ASSERT_EQ(frames.size(), 1u);
  const Frame f = open_cbf(path)->read(0);
  EXPECT_EQ(frames[0].image.pixels, f.image.pixels);
  EXPECT_EQ(frames[0].invalid.pixels, f.invalid.pixels);
  EXPECT_EQ(frames[0].metadata.saturation_value, f.metadata.saturation_value);
}

TEST(CbfBadInput, TruncatedFileIsAnInputErrorNamingIt) {
  const auto path = (test::scratch_dir("CbfTruncated") / "cut.cbf").string();
  write_cbf(path, pilatus_like(64, 64));
  fs::resize_file(path, fs::file_size(path) / 2);
  testing::internal::CaptureStderr();
  try {
    open_cbf(path)->read(0);
    ADD_FAILURE() << "a half CBF read without error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  testing::internal::GetCapturedStderr();
}

TEST(CbfBadInput, EveryTruncationIsAnInputErrorInMemory) {
  const auto path = (test::scratch_dir("CbfPrefixes") / "frame.cbf").string();
  write_cbf(path, pilatus_like(12, 10), pilatus_metadata());
  const std::vector<char> bytes = slurp(path);
  // Up to the end of the binary section: what follows is only the closing MIME boundary.
  const std::string text(bytes.begin(), bytes.end());
  const std::size_t end_of_data = text.rfind("--CIF-BINARY-FORMAT-SECTION----");
  ASSERT_NE(end_of_data, std::string::npos);
  int errors = 0, cuts = 0;
  testing::internal::CaptureStderr();
  for (std::size_t cut = 0; cut < end_of_data; cut += 11, ++cuts) {
    try {
      read_cbf_memory(std::as_bytes(std::span(bytes.data(), cut)), {}, "cut");
    } catch (const InputError& e) {
      errors += e.source() == "cut";
    }
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "CBFlib messages must not reach stderr";
  EXPECT_EQ(errors, cuts);
}

TEST(CbfBadInput, GarbageMissingAndOutOfRangeAreInputErrors) {
  const auto dir = test::scratch_dir("CbfGarbage");
  const auto path = (dir / "noise.cbf").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "###CBF: VERSION 1.5\n";
    for (int i = 0; i < 3000; ++i) out.put(static_cast<char>((i * 7919) % 251));
  }
  testing::internal::CaptureStderr();
  try {
    open_cbf(path);
    ADD_FAILURE() << "garbage opened as a CBF";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), path);
  }
  EXPECT_THROW(open_cbf((dir / "absent.cbf").string()), InputError);
  const std::string text = "data_x\n_some.item 3\n";
  EXPECT_THROW(read_cbf_memory(std::as_bytes(std::span(text))), InputError);  // no image in it
  testing::internal::GetCapturedStderr();

  const auto good = (dir / "good.cbf").string();
  write_cbf(good, pilatus_like(4, 4));
  const auto src = open_cbf(good);
  EXPECT_NO_THROW(src->read(0));
  EXPECT_THROW(src->read(1), InputError);
  EXPECT_THROW(write_cbf((dir / "no/such/folder/x.cbf").string(), pilatus_like(2, 2)), InputError);
}

}  // namespace
}  // namespace anvil::io
