// EDF: our writer's files read back pixel for pixel in every type and byte order,
// hand-written headers in fabio's dialects parse, and lying or cut files are InputErrors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "io/edf.hpp"
#include "test_support.hpp"

namespace anvil::io {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ImageF pattern(std::size_t rows, std::size_t cols, bool is_signed, float span, float offset = 0) {
  ImageF img(Shape{rows, cols});
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      float v = std::fmod(static_cast<float>(r * 41 + c * 7) + offset, span);
      img(r, c) = is_signed && (r * cols + c) % 4 == 1 ? -v : v;
    }
  return img;
}

EdfWriteOptions as(EdfDataType type, bool big_endian = false) {
  EdfWriteOptions o;
  o.type = type;
  o.big_endian = big_endian;
  return o;
}

OpenOptions raw() {
  OpenOptions o;
  o.mask_sentinels = false;
  return o;
}

TEST(EdfRoundTrip, EveryDataTypeInBothByteOrdersReadsBackPixelForPixel) {
  const auto dir = test::scratch_dir("EdfRoundTrip");
  struct Case {
    EdfDataType type;
    const char* dtype;
    bool is_signed;
    float span;
  };
  const Case cases[] = {
      {EdfDataType::uint8, "uint8", false, 250},       {EdfDataType::int8, "int8", true, 120},
      {EdfDataType::uint16, "uint16", false, 60000},   {EdfDataType::int16, "int16", true, 30000},
      {EdfDataType::uint32, "uint32", false, 1 << 23}, {EdfDataType::int32, "int32", true, 1 << 23},
      {EdfDataType::float32, "float32", true, 1e6},    {EdfDataType::float64, "float64", true, 1e6}};
  for (const Case& c : cases) {
    for (bool big : {false, true}) {
      SCOPED_TRACE(std::string(c.dtype) + (big ? " HighByteFirst" : " LowByteFirst"));
      ImageF img = pattern(33, 47, c.is_signed, c.span);
      if (c.type == EdfDataType::float32 || c.type == EdfDataType::float64) img(2, 2) = 0.125f;
      const auto path = (dir / (std::string(c.dtype) + (big ? "_be" : "_le") + ".edf")).string();
      write_edf(path, {img}, as(c.type, big));
      const auto src = open_edf(path, raw());
      EXPECT_EQ(src->info().format, "EDF");
      EXPECT_EQ(src->info().dtype, c.dtype);
      ASSERT_EQ(src->frame_count(), 1u);
      EXPECT_EQ(src->shape(), (Shape{33, 47}));
      const Frame f = src->read(0);
      EXPECT_EQ(f.image.pixels, img.pixels);
    }
  }
}

TEST(EdfRoundTrip, HeaderIsPaddedTo512BytesWithDim1TheFastAxis) {
  const auto path = (test::scratch_dir("EdfLayout") / "layout.edf").string();
  const ImageF img = pattern(3, 5, false, 100);
  write_edf(path, {img}, as(EdfDataType::uint16));
  const std::string bytes = slurp(path);
  const std::size_t end = bytes.find("\x7d\n");  // the header block closes with a brace
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(bytes.front(), '\x7b');  // the opening brace of the header block
  EXPECT_EQ((end + 2) % 512, 0u) << "header size " << end + 2;
  EXPECT_EQ(bytes.size(), end + 2 + 3 * 5 * 2);
  EXPECT_NE(bytes.find("Dim_1 = 5 ;"), std::string::npos);
  EXPECT_NE(bytes.find("Dim_2 = 3 ;"), std::string::npos);
  EXPECT_NE(bytes.find("DataType = UnsignedShort ;"), std::string::npos);
  EXPECT_NE(bytes.find("ByteOrder = LowByteFirst ;"), std::string::npos);
  // The second pixel of the file is row 0, column 1.
  std::uint16_t second = 0;
  std::memcpy(&second, bytes.data() + end + 2 + 2, 2);
  EXPECT_EQ(second, static_cast<std::uint16_t>(img(0, 1)));
}

TEST(EdfRoundTrip, MetadataTravelsAsSaxsKeywords) {
  const auto path = (test::scratch_dir("EdfMetadata") / "md.edf").string();
  FrameMetadata md;
  md.wavelength_m = 0.4859e-10;
  md.distance_m = 0.2;
  md.pixel_size_x_m = 172e-6;
  md.pixel_size_y_m = 150e-6;
  md.beam_center_x_px = 498.5;
  md.beam_center_y_px = 515.25;
  md.count_time_s = 0.1;
  EdfWriteOptions options;
  options.metadata = md;
  options.extra = {{"title", "CdSe at 3 GPa"}};
  write_edf(path, {pattern(4, 4, false, 10)}, options);
  const FrameMetadata got = open_edf(path)->info().metadata;
  EXPECT_EQ(got.wavelength_m, md.wavelength_m);
  EXPECT_EQ(got.distance_m, md.distance_m);
  EXPECT_EQ(got.pixel_size_x_m, md.pixel_size_x_m);
  EXPECT_EQ(got.pixel_size_y_m, md.pixel_size_y_m);
  EXPECT_EQ(got.beam_center_x_px, md.beam_center_x_px);
  EXPECT_EQ(got.beam_center_y_px, md.beam_center_y_px);
  EXPECT_EQ(got.count_time_s, md.count_time_s);
  EXPECT_NE(slurp(path).find("title = CdSe at 3 GPa ;"), std::string::npos);
  options.extra = {{"bad", "a;b"}};
  EXPECT_THROW(write_edf(path, {pattern(2, 2, false, 5)}, options), InputError);
}

TEST(EdfMultiFrame, EachBlockIsOneFrameInOrder) {
  const auto path = (test::scratch_dir("EdfMulti") / "stack.edf").string();
  std::vector<ImageF> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(pattern(10, 12, true, 1000, 100.0f * i));
  write_edf(path, frames, as(EdfDataType::int32));
  const auto src = open_edf(path, raw());
  ASSERT_EQ(src->frame_count(), 3u);
  for (std::size_t i : {2u, 0u, 1u}) {
    const Frame f = src->read(i);
    EXPECT_EQ(f.index, i);
    EXPECT_EQ(f.image.pixels, frames[i].pixels) << "frame " << i;
    EXPECT_EQ(f.origin, path + "[" + std::to_string(i) + "]");
  }
  const std::string bytes = slurp(path);
  const auto mem = read_edf_memory(std::as_bytes(std::span(bytes)), raw());
  ASSERT_EQ(mem.size(), 3u);
  EXPECT_EQ(mem[2].image.pixels, frames[2].pixels);
}

TEST(EdfMultiFrame, ACutLastFrameIsAFrameErrorAndTheOthersStillRead) {
  const auto path = (test::scratch_dir("EdfCutLast") / "stack.edf").string();
  std::vector<ImageF> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(pattern(16, 16, false, 200, 10.0f * i));
  write_edf(path, frames, as(EdfDataType::uint16));
  fs::resize_file(path, fs::file_size(path) - 100);
  const auto src = open_edf(path, raw());
  ASSERT_EQ(src->frame_count(), 3u);
  EXPECT_EQ(src->read(0).image.pixels, frames[0].pixels);
  EXPECT_EQ(src->read(1).image.pixels, frames[1].pixels);
  try {
    src->read(2);
    ADD_FAILURE() << "the cut frame read";
  } catch (const FrameError& e) {
    EXPECT_EQ(e.frame_index(), 2u);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(EdfParser, HandWrittenHeadersInFabioDialects) {
  const auto dir = test::scratch_dir("EdfDialects");
  // Big-endian SignedInteger, a general header block before the image (skipped), CRLF
  // after the brace, unpadded header, extra keys in any case and order.
  std::string file = "{\nEDF_DataFormatVersion = 2.40 ;\nEDF_BinarySize = 0 ;\n}\n";
  file +=
      "{\r\nHeaderID = EH:000001:000000:000000 ;\r\nimage = 1 ;\r\nbyteorder = HighByteFirst ;\r\n"
      "Dim_2 = 2 ;\r\nDim_1 = 3 ;\r\nDataType = SignedInteger ;\r\nSize = 24 ;\r\n"
      "SampleDistance = 0.25 ;\r\nWaveLength = 7.1e-11 ;\r\n}\r\n";
  const std::int32_t values[] = {-1, 2, 70000, -300000, 5, 1 << 24};
  for (std::int32_t v : values)
    for (int b = 3; b >= 0; --b) file += static_cast<char>((static_cast<std::uint32_t>(v) >> (8 * b)) & 0xff);
  const auto path = (dir / "be.edf").string();
  spit(path, file);
  const auto src = open_edf(path, raw());
  ASSERT_EQ(src->frame_count(), 1u);
  EXPECT_EQ(src->shape(), (Shape{2, 3}));
  const Frame f = src->read(0);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(f.image.pixels[i], static_cast<float>(values[i])) << i;
  EXPECT_DOUBLE_EQ(f.metadata.distance_m.value_or(0), 0.25);
  EXPECT_DOUBLE_EQ(f.metadata.wavelength_m.value_or(0), 7.1e-11);

  // fit2d's "FLOAT" and the 32-bit "UnsignedLong" (fabio maps both).
  for (const auto& [name, bytes, expected] :
       {std::tuple<std::string, std::string, float>{"FLOAT", std::string("\x00\x00\xc0\x3f", 4), 1.5f},
        std::tuple<std::string, std::string, float>{"UnsignedLong", std::string("\x01\x00\x00\x80", 4),
                                                    2147483649.0f},
        std::tuple<std::string, std::string, float>{"Unsigned8", std::string("\xfe\x00\x00\x00", 4),
                                                    254.0f}}) {
    SCOPED_TRACE(name);
    const std::size_t n = name == "Unsigned8" ? 4 : 1;
    const std::string one =
        "{\nDim_1 = " + std::to_string(n) + " ;\nDim_2 = 1 ;\nDataType = " + name + " ;\n}\n" + bytes;
    const auto frames = read_edf_memory(std::as_bytes(std::span(one)), raw());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].image.pixels[0], expected);
  }
}

TEST(EdfMask, PyFaiStyleMaskRoundTripsAndSentinelsAreMaskedByDefault) {
  const auto path = (test::scratch_dir("EdfMask") / "mask.edf").string();
  Mask m(Shape{5, 6}, 0);
  m(0, 5) = m(4, 0) = 1;
  write_edf_mask(path, m);
  const Frame f = open_edf(path, raw())->read(0);
  for (std::size_t i = 0; i < m.pixels.size(); ++i) EXPECT_EQ(f.image.pixels[i], m.pixels[i]) << i;

  const auto counts = (test::scratch_dir("EdfSentinels") / "counts.edf").string();
  ImageF img(Shape{2, 3}, 10.0f);
  img(0, 0) = 65535;  // the all-ones uint16: EIGER's overflow marker
  img(1, 2) = 70000;  // clamped to 65535 by the writer
  write_edf(counts, {img}, as(EdfDataType::uint16));
  OpenOptions ud;
  ud.flip_up_down = true;
  const Frame g = open_edf(counts, ud)->read(0);
  EXPECT_EQ(g.invalid.pixels, (std::vector<std::uint8_t>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(g.image(1, 0), 65535.0f);
}

TEST(EdfOrientation, FlipUpDownReversesRows) {
  const auto path = (test::scratch_dir("EdfFlip") / "asym.edf").string();
  ImageF img(Shape{3, 2});
  img.pixels = {1, 2, 3, 4, 5, 6};
  write_edf(path, {img});
  OpenOptions ud;
  ud.flip_up_down = true;
  EXPECT_EQ(open_edf(path, ud)->read(0).image.pixels, (std::vector<float>{5, 6, 3, 4, 1, 2}));
  OpenOptions lr;
  lr.flip_left_right = true;
  EXPECT_EQ(open_edf(path, lr)->read(0).image.pixels, (std::vector<float>{2, 1, 4, 3, 6, 5}));
}

TEST(EdfBadInput, TruncatedFileIsAnInputErrorNamingIt) {
  const auto path = (test::scratch_dir("EdfTruncated") / "cut.edf").string();
  write_edf(path, {pattern(64, 64, false, 100)});
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    open_edf(path)->read(0);
    ADD_FAILURE() << "a half EDF read";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), path);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  // Cut inside the header.
  fs::resize_file(path, 100);
  EXPECT_THROW(open_edf(path), InputError);
}

TEST(EdfBadInput, ALyingSizeIsAnInputError) {
  const auto dir = test::scratch_dir("EdfLyingSize");
  const auto path = (dir / "good.edf").string();
  write_edf(path, {pattern(8, 8, false, 100)});  // float32: Size = 256
  const std::string good = slurp(path);
  ASSERT_NE(good.find("Size = 256 ;"), std::string::npos);
  auto with_size = [&](const std::string& size) {
    std::string s = good;
    s.replace(s.find("Size = 256 ;"), 12, "Size = " + size + " ;");
    return s;
  };
  const std::pair<std::string, std::string> lies[] = {{"128", "less than"},     // too small for 8 x 8 floats
                                                      {"999999", "truncated"},  // more than the file holds
                                                      {"18446744073709551615", "truncated"},
                                                      {"-5", "not a byte count"},
                                                      {"12abc", "not a byte count"}};
  for (const auto& [size, why] : lies) {
    SCOPED_TRACE("Size = " + size);
    const auto bad = (dir / "bad.edf").string();
    spit(bad, with_size(size));
    try {
      open_edf(bad)->read(0);
      ADD_FAILURE() << "read despite Size = " << size;
    } catch (const InputError& e) {
      EXPECT_EQ(e.source(), bad);
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    const std::string bytes = with_size(size);
    EXPECT_THROW(read_edf_memory(std::as_bytes(std::span(bytes))), InputError);
  }
}

TEST(EdfBadInput, EveryTruncationIsAnInputErrorInMemory) {
  const auto path = (test::scratch_dir("EdfPrefixes") / "two.edf").string();
  write_edf(path, {pattern(9, 7, true, 50), pattern(9, 7, true, 50, 3)}, as(EdfDataType::int16));
  const std::string bytes = slurp(path);
  int errors = 0, cuts = 0;
  for (std::size_t cut = 0; cut < bytes.size(); cut += 5, ++cuts) {
    try {
      read_edf_memory(std::as_bytes(std::span(bytes.data(), cut)), {}, "cut");
    } catch (const InputError& e) {
      errors += e.source() == "cut";
    }
  }
  EXPECT_EQ(errors, cuts);
}

TEST(EdfBadInput, GarbageUnknownTypesAndOutOfRangeAreInputErrors) {
  const auto dir = test::scratch_dir("EdfGarbage");
  const auto noise = (dir / "noise.edf").string();
  std::string junk;
  for (int i = 0; i < 3000; ++i) junk += static_cast<char>((i * 7919) % 251);
  spit(noise, junk);
  EXPECT_THROW(open_edf(noise), InputError);
  EXPECT_THROW(open_edf((dir / "absent.edf").string()), InputError);
  const std::string unknown = "{\nDim_1 = 2 ;\nDim_2 = 1 ;\nDataType = Complex ;\n}\n12345678";
  try {
    read_edf_memory(std::as_bytes(std::span(unknown)));
    ADD_FAILURE() << "unknown DataType accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("Complex"), std::string::npos) << e.what();
  }
  const std::string compressed =
      "{\nDim_1 = 2 ;\nDim_2 = 1 ;\nDataType = UnsignedByte ;\nCompression = gzip ;\n}\nxx";
  EXPECT_THROW(read_edf_memory(std::as_bytes(std::span(compressed))), InputError);
  const std::string huge = "{\nDim_1 = 4000000000 ;\nDim_2 = 4000000000 ;\nDataType = FloatValue ;\n}\n";
  EXPECT_THROW(read_edf_memory(std::as_bytes(std::span(huge))), InputError);
  const std::string no_brace =
      "{\nDim_1 = 2 ;\nDim_2 = 1 ;\nDataType = UnsignedByte ;\n" + std::string(5000, ' ');
  EXPECT_THROW(read_edf_memory(std::as_bytes(std::span(no_brace))), InputError);

  const auto good = (dir / "good.edf").string();
  write_edf(good, {pattern(2, 2, false, 5)});
  const auto src = open_edf(good);
  EXPECT_NO_THROW(src->read(0));
  EXPECT_THROW(src->read(1), InputError);
  EXPECT_THROW(write_edf((dir / "no/such/folder/x.edf").string(), {pattern(2, 2, false, 5)}), InputError);
}

}  // namespace
}  // namespace anvil::io
