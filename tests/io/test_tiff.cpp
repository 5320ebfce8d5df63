// TIFF reading and writing: every sample type libtiff writes comes back pixel for pixel,
// Pilatus sentinels and headers are understood, and broken files are reported, not crashed on.
#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <thread>

#include "io/tiff.hpp"
#include "test_support.hpp"

namespace anvil::io {
namespace {

namespace fs = std::filesystem;

// A small image whose every pixel differs and that fits the range of `type`.
ImageF pattern(std::size_t rows, std::size_t cols, TiffSampleType type, float offset = 0) {
  ImageF img(Shape{rows, cols});
  const bool is_signed = type == TiffSampleType::int8 || type == TiffSampleType::int16 ||
                         type == TiffSampleType::int32 || type == TiffSampleType::float32 ||
                         type == TiffSampleType::float64;
  const float span = type == TiffSampleType::uint8 || type == TiffSampleType::int8 ? 100.0f : 20000.0f;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      float v = std::fmod(static_cast<float>(r * 37 + c * 11) + offset, span);
      if (is_signed && (r + c) % 3 == 0) v = -v;
      if (type == TiffSampleType::float32 || type == TiffSampleType::float64) v += 0.25f;
      img(r, c) = v;
    }
  return img;
}

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void truncate_to_half(const fs::path& p) { fs::resize_file(p, fs::file_size(p) / 2); }

struct Layout {
  TiffCompression compression;
  std::size_t tile;
  std::size_t rows_per_strip;
  const char* name;
};

TEST(TiffRoundTrip, EverySampleTypeCompressionAndLayoutReadsBackPixelForPixel) {
  const auto dir = test::scratch_dir("TiffRoundTrip");
  const TiffSampleType types[] = {TiffSampleType::uint8,   TiffSampleType::int8,   TiffSampleType::uint16,
                                  TiffSampleType::int16,   TiffSampleType::uint32, TiffSampleType::int32,
                                  TiffSampleType::float32, TiffSampleType::float64};
  const char* dtypes[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"};
  const Layout layouts[] = {{TiffCompression::none, 0, 0, "strips"},
                            {TiffCompression::deflate, 0, 7, "deflate strips of 7 rows"},
                            {TiffCompression::lzw, 32, 0, "lzw 32x32 tiles"},
                            {TiffCompression::packbits, 16, 0, "packbits 16x16 tiles"}};
  OpenOptions raw;
  raw.mask_sentinels = false;
  for (std::size_t t = 0; t < std::size(types); ++t) {
    for (const Layout& layout : layouts) {
      SCOPED_TRACE(std::string(dtypes[t]) + ", " + layout.name);
      const ImageF img = pattern(45, 70, types[t]);  // not a multiple of the tile size
      const auto path =
          (dir / (std::string(dtypes[t]) + "_" + std::to_string(layout.tile) + ".tif")).string();
      TiffWriteOptions w;
      w.type = types[t];
      w.compression = layout.compression;
      w.tile_size = layout.tile;
      w.rows_per_strip = layout.rows_per_strip;
      write_tiff(path, {img}, w);
      const auto src = open_tiff(path, raw);
      ASSERT_EQ(src->frame_count(), 1u);
      EXPECT_EQ(src->shape(), img.shape);
      EXPECT_EQ(src->info().dtype, dtypes[t]);
      EXPECT_EQ(src->info().format, "TIFF");
      const Frame f = src->read(0);
      ASSERT_EQ(f.image.shape, img.shape);
      EXPECT_EQ(f.image.pixels, img.pixels);
      EXPECT_EQ(std::count(f.invalid.pixels.begin(), f.invalid.pixels.end(), 1), 0);
    }
  }
}

TEST(TiffRoundTrip, BigEndianFileWrittenByLibtiffIsSwappedToNative) {
  const auto path = (test::scratch_dir("TiffBigEndian") / "be.tif").string();
  constexpr std::uint32_t w = 5, h = 3;
  {
    TIFF* tif = TIFFOpen(path.c_str(), "wb");  // "b": big-endian ("MM") byte order
    ASSERT_NE(tif, nullptr);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_INT);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, h);
    std::vector<std::int16_t> px(w * h);
    std::iota(px.begin(), px.end(), std::int16_t{-7});
    px[4] = 12345;
    ASSERT_GE(TIFFWriteEncodedStrip(tif, 0, px.data(), static_cast<tmsize_t>(px.size() * 2)), 0);
    TIFFClose(tif);
  }
  EXPECT_EQ(slurp(path)[0], 'M');
  OpenOptions raw;
  raw.mask_sentinels = false;
  const Frame f = open_tiff(path, raw)->read(0);
  EXPECT_EQ(f.image(0, 0), -7.0f);
  EXPECT_EQ(f.image(0, 4), 12345.0f);
  EXPECT_EQ(f.image(2, 4), 7.0f);
}

TEST(TiffMultiPage, EachPageIsOneFrameInOrder) {
  const auto path = (test::scratch_dir("TiffMultiPage") / "stack.tif").string();
  std::vector<ImageF> pages;
  for (int i = 0; i < 4; ++i) pages.push_back(pattern(20, 30, TiffSampleType::uint16, 1000.0f * i));
  write_tiff(path, pages, {.type = TiffSampleType::uint16, .compression = TiffCompression::deflate});
  const auto src = open_tiff(path);
  ASSERT_EQ(src->frame_count(), 4u);
  for (std::size_t i : {3u, 0u, 2u, 1u}) {  // any order: each read jumps to its page
    const Frame f = src->read(i);
    EXPECT_EQ(f.index, i);
    EXPECT_EQ(f.image.pixels, pages[i].pixels) << "page " << i;
    EXPECT_EQ(f.origin, path + "[" + std::to_string(i) + "]");
  }
}

TEST(TiffMultiPage, ConcurrentReadsFromManyThreadsAgree) {
  const auto path = (test::scratch_dir("TiffThreads") / "stack.tif").string();
  std::vector<ImageF> pages;
  for (int i = 0; i < 8; ++i) pages.push_back(pattern(64, 48, TiffSampleType::int32, 500.0f * i));
  write_tiff(path, pages, {.type = TiffSampleType::int32, .compression = TiffCompression::lzw});
  const auto src = open_tiff(path);
  std::vector<int> ok(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        ok[t] += src->read((t + rep) % 8).image.pixels == pages[(t + rep) % 8].pixels;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(std::accumulate(ok.begin(), ok.end(), 0), 40);
}

TEST(TiffMultiPage, ACorruptPageIsAFrameErrorAndTheOthersStillRead) {
  const auto path = (test::scratch_dir("TiffBadPage") / "stack.tif").string();
  const std::vector<ImageF> pages = {pattern(16, 16, TiffSampleType::uint16),
                                     pattern(16, 16, TiffSampleType::uint16, 7),
                                     pattern(16, 16, TiffSampleType::uint16, 9)};
  write_tiff(path, pages, {.type = TiffSampleType::uint16, .compression = TiffCompression::deflate});
  // Overwrite page 1's compressed strip with junk.
  std::uint64_t offset = 0, count = 0;
  {
    TIFF* tif = TIFFOpen(path.c_str(), "r");
    ASSERT_NE(tif, nullptr);
    ASSERT_TRUE(TIFFSetDirectory(tif, 1));
    offset = TIFFGetStrileOffset(tif, 0);
    count = TIFFGetStrileByteCount(tif, 0);
    TIFFClose(tif);
  }
  ASSERT_GT(count, 4u);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    const std::string junk(count, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const auto src = open_tiff(path);
  ASSERT_EQ(src->frame_count(), 3u);
  EXPECT_EQ(src->read(0).image.pixels, pages[0].pixels);
  EXPECT_EQ(src->read(2).image.pixels, pages[2].pixels);
  try {
    src->read(1);
    ADD_FAILURE() << "page 1 has a corrupt strip and should not decode";
  } catch (const FrameError& e) {
    EXPECT_EQ(e.frame_index(), 1u);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(TiffPilatus, SentinelsAndCountCutoffAreMaskedAndTheHeaderIsMetadata) {
  const auto path = (test::scratch_dir("TiffPilatus") / "pilatus.tif").string();
  ImageF img(Shape{10, 12}, 5.0f);
  for (std::size_t c = 0; c < 12; ++c) img(4, c) = -1;  // a module gap row
  img(1, 1) = -2;                                       // a bad pixel
  img(8, 3) = 1048576;                                  // at the count cutoff
  img(8, 4) = 1048575;                                  // just below: a measurement
  const std::string header =
      "# Detector: PILATUS3 1M, S/N 10-0001\r\n# Pixel_size 172e-6 m x 172e-6 m\r\n"
      "# Exposure_time 0.5000000 s\r\n# Wavelength 0.4859 A\r\n# Detector_distance 0.20000 m\r\n"
      "# Beam_xy (498.18, 515.77) pixels\r\n# Count_cutoff 1048576 counts\r\n";
  write_tiff(path, {img}, {.type = TiffSampleType::int32, .description = header});
  const auto src = open_tiff(path);
  const Frame f = src->read(0);
  EXPECT_EQ(std::count(f.invalid.pixels.begin(), f.invalid.pixels.end(), 1), 12 + 1 + 1);
  EXPECT_EQ(f.invalid(4, 7), 1);
  EXPECT_EQ(f.invalid(1, 1), 1);
  EXPECT_EQ(f.invalid(8, 3), 1);
  EXPECT_EQ(f.invalid(8, 4), 0);
  EXPECT_EQ(f.image(1, 1), -2.0f);  // the value itself is kept
  const FrameMetadata& md = f.metadata;
  EXPECT_EQ(md.detector, "PILATUS3 1M");
  ASSERT_TRUE(md.wavelength_m && md.distance_m && md.pixel_size_x_m && md.pixel_size_y_m);
  EXPECT_NEAR(*md.wavelength_m, 0.4859e-10, 1e-16);
  EXPECT_DOUBLE_EQ(*md.distance_m, 0.2);
  EXPECT_DOUBLE_EQ(*md.pixel_size_x_m, 172e-6);
  EXPECT_DOUBLE_EQ(*md.pixel_size_y_m, 172e-6);
  EXPECT_DOUBLE_EQ(md.beam_center_x_px.value_or(0), 498.18);
  EXPECT_DOUBLE_EQ(md.beam_center_y_px.value_or(0), 515.77);
  EXPECT_DOUBLE_EQ(md.count_time_s.value_or(0), 0.5);
  EXPECT_DOUBLE_EQ(md.saturation_value.value_or(0), 1048576);
  EXPECT_DOUBLE_EQ(src->info().metadata.saturation_value.value_or(0), 1048576);

  OpenOptions no_mask;
  no_mask.mask_sentinels = false;
  const Frame raw = open_tiff(path, no_mask)->read(0);
  EXPECT_EQ(std::count(raw.invalid.pixels.begin(), raw.invalid.pixels.end(), 1), 0);
  EXPECT_EQ(raw.image.pixels, img.pixels);

  OpenOptions lower_cutoff;
  lower_cutoff.saturation_value = 6.0;  // the options override the file: every 5-count pixel is fine
  const Frame low = open_tiff(path, lower_cutoff)->read(0);
  EXPECT_EQ(low.invalid(8, 4), 1);
  EXPECT_EQ(low.invalid(0, 0), 0);
}

TEST(TiffOrientation, FlipsApplyToImageAndMaskTogether) {
  const auto path = (test::scratch_dir("TiffFlip") / "asym.tif").string();
  ImageF img(Shape{2, 3});
  img.pixels = {1, 2, 3, 4, 5, -1};  // row 0: 1 2 3 ; row 1: 4 5 gap
  write_tiff(path, {img}, {.type = TiffSampleType::int32});
  OpenOptions ud;
  ud.flip_up_down = true;
  const Frame f = open_tiff(path, ud)->read(0);
  EXPECT_EQ(f.image.pixels, (std::vector<float>{4, 5, -1, 1, 2, 3}));
  EXPECT_EQ(f.invalid.pixels, (std::vector<std::uint8_t>{0, 0, 1, 0, 0, 0}));
  OpenOptions both = ud;
  both.flip_left_right = true;
  const Frame g = open_tiff(path, both)->read(0);
  EXPECT_EQ(g.image.pixels, (std::vector<float>{-1, 5, 4, 3, 2, 1}));
  EXPECT_EQ(g.invalid(0, 0), 1);
}

TEST(TiffRealPilatus, CeO2Pilatus1MHasItsShapeGapsAndHeader) {
  ANVIL_REFERENCE_FILE(path, "real/CeO2_Pilatus1M.tif");
  const auto src = open_tiff(path.string());
  EXPECT_EQ(src->frame_count(), 1u);
  EXPECT_EQ(src->shape(), (Shape{1043, 981}));
  EXPECT_EQ(src->info().dtype, "int32");
  EXPECT_EQ(src->info().compression, "none");
  const Frame f = src->read(0);
  // Pilatus 1M: 2 x 5 modules of 487 x 195 px, 7-px gaps between module columns and
  // 17-px gaps between module rows: 1043 x 981 - 10 x 487 x 195 = 73533 gap pixels (-1),
  // plus the 27 excluded pixels (-2) the header's N_excluded_pixels announces.
  std::size_t gaps = 0, bad = 0;
  for (float v : f.image.pixels) gaps += v == -1.0f, bad += v == -2.0f;
  EXPECT_EQ(gaps, 73533u);
  EXPECT_EQ(bad, 27u);
  const auto masked = std::count(f.invalid.pixels.begin(), f.invalid.pixels.end(), 1);
  EXPECT_EQ(masked, 73533 + 27);
  for (std::size_t r : {195u, 211u, 407u, 847u}) EXPECT_EQ(f.invalid(r, 100), 1) << "gap row " << r;
  for (std::size_t c : {487u, 493u}) EXPECT_EQ(f.invalid(100, c), 1) << "gap column " << c;
  EXPECT_EQ(f.invalid(100, 486), 0);
  EXPECT_EQ(f.image(0, 0), 34.0f);
  const FrameMetadata& md = f.metadata;
  EXPECT_DOUBLE_EQ(md.pixel_size_x_m.value_or(0), 172e-6);
  EXPECT_DOUBLE_EQ(md.distance_m.value_or(0), 0.21143);
  EXPECT_DOUBLE_EQ(md.beam_center_x_px.value_or(0), 498.18);
  EXPECT_DOUBLE_EQ(md.beam_center_y_px.value_or(0), 515.77);
  EXPECT_DOUBLE_EQ(md.count_time_s.value_or(0), 3.0);
  EXPECT_DOUBLE_EQ(md.saturation_value.value_or(0), 1097223);
  EXPECT_FALSE(md.wavelength_m.has_value());  // this header does not give one
  EXPECT_EQ(md.detector, "PILATUS 1M-F");     // from the Model tag
}

TEST(TiffRealPilatus, MemoryReaderAgreesWithFileReader) {
  ANVIL_REFERENCE_FILE(path, "real/CeO2_Pilatus1M.tif");
  const std::vector<char> bytes = slurp(path);
  const auto frames = read_tiff_memory(std::as_bytes(std::span(bytes)), {}, "ceo2");
  ASSERT_EQ(frames.size(), 1u);
  const Frame f = open_tiff(path.string())->read(0);
  EXPECT_EQ(frames[0].image.pixels, f.image.pixels);
  EXPECT_EQ(frames[0].invalid.pixels, f.invalid.pixels);
}

TEST(TiffMask, DioptasMaskFileReadsWhateverItsExtension) {
  const auto path = (test::scratch_dir("TiffMask") / "detector.mask").string();
  Mask m(Shape{7, 9}, 0);
  m(0, 0) = m(6, 8) = m(3, 4) = 1;
  write_tiff_mask(path, m);
  OpenOptions raw;
  raw.mask_sentinels = false;
  const auto src = open_tiff(path, raw);
  EXPECT_EQ(src->info().dtype, "uint8");
  EXPECT_NE(src->info().compression, "none");
  const Frame f = src->read(0);
  for (std::size_t i = 0; i < m.pixels.size(); ++i) EXPECT_EQ(f.image.pixels[i], m.pixels[i]) << i;
}

TEST(TiffBadInput, TruncatedFileIsAnInputErrorNamingIt) {
  const auto path = (test::scratch_dir("TiffTruncated") / "cut.tif").string();
  write_tiff(path, {pattern(100, 100, TiffSampleType::int32)}, {.type = TiffSampleType::int32});
  truncate_to_half(path);
  testing::internal::CaptureStderr();
  try {
    open_tiff(path)->read(0);
    ADD_FAILURE() << "a half file read without error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "libtiff messages must not reach stderr";
}

TEST(TiffBadInput, EveryTruncationOfAMultiPageFileIsAnInputError) {
  const auto path = (test::scratch_dir("TiffPrefixes") / "stack.tif").string();
  write_tiff(path, {pattern(24, 20, TiffSampleType::int16), pattern(24, 20, TiffSampleType::int16, 3)},
             {.type = TiffSampleType::int16, .compression = TiffCompression::deflate, .rows_per_strip = 5});
  const std::vector<char> bytes = slurp(path);
  ASSERT_EQ(read_tiff_memory(std::as_bytes(std::span(bytes))).size(), 2u);
  int errors = 0, cuts = 0;
  for (std::size_t cut = 0; cut < bytes.size(); cut += 7, ++cuts) {
    try {
      read_tiff_memory(std::as_bytes(std::span(bytes.data(), cut)), {}, "cut");
    } catch (const InputError& e) {
      errors += e.source() == "cut";
    }
  }
  EXPECT_EQ(errors, cuts);
}

TEST(TiffBadInput, GarbageAndMissingFilesAreInputErrors) {
  const auto dir = test::scratch_dir("TiffGarbage");
  const auto path = (dir / "noise.tif").string();
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 5000; ++i) out.put(static_cast<char>((i * 7919) % 251));
  }
  testing::internal::CaptureStderr();
  EXPECT_THROW(open_tiff(path), InputError);
  EXPECT_THROW(open_tiff((dir / "absent.tif").string()), InputError);
  const std::string junk = "II*\0\x08\0\0\0\xff\xff garbage directory";
  EXPECT_THROW(read_tiff_memory(std::as_bytes(std::span(junk))), InputError);
  EXPECT_THROW(read_tiff_memory({}), InputError);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  try {
    open_tiff(path);
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), path);
  }
}

TEST(TiffBadInput, ColourImagesAreRejectedWithAReason) {
  const auto path = (test::scratch_dir("TiffRgb") / "rgb.tif").string();
  TIFF* tif = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(tif, nullptr);
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, 4);
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, 2);
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  const std::vector<std::uint8_t> px(4 * 2 * 3, 9);
  TIFFWriteEncodedStrip(tif, 0, const_cast<std::uint8_t*>(px.data()), static_cast<tmsize_t>(px.size()));
  TIFFClose(tif);
  try {
    open_tiff(path);
    ADD_FAILURE() << "an RGB image opened as a detector image";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("samples per pixel"), std::string::npos) << e.what();
  }
}

TEST(TiffBadInput, FrameIndexOutOfRangeIsAnInputError) {
  const auto path = (test::scratch_dir("TiffRange") / "one.tif").string();
  write_tiff(path, {pattern(4, 4, TiffSampleType::float32)});
  const auto src = open_tiff(path);
  EXPECT_NO_THROW(src->read(0));
  try {
    src->read(1);
    ADD_FAILURE() << "frame 1 of a one-page file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace anvil::io
