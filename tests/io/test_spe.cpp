// Princeton Instruments SPE images: the lab CCD calibrant frame and round trips.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/frame_source.hpp"
#include "io/spe.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::io;

namespace {
fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}
}  // namespace

TEST(Spe, LabCeO2CcdFrameReadsAs1042SquareUint16) {
  ANVIL_REFERENCE_FILE(file, "real/spe/CeO2_PI_CCD_Mo.SPE");
  const auto src = open_frames(file.string());
  EXPECT_EQ(src->frame_count(), 1u);
  EXPECT_EQ(src->shape(), (Shape{1042, 1042}));
  EXPECT_EQ(src->info().dtype, "uint16");
  ASSERT_TRUE(src->info().metadata.count_time_s);
  EXPECT_DOUBLE_EQ(*src->info().metadata.count_time_s, 900.0);
  const auto f = src->read(0);
  double sum = 0;
  for (float v : f.image.pixels) sum += v;
  EXPECT_GT(sum / static_cast<double>(f.image.pixels.size()), 10.0);  // a real exposure, not zeros
}

TEST(Spe, RoundTripUint16AndFloatFrames) {
  const auto dir = scratch();
  ImageF a({3, 5}), b({3, 5});
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    a.pixels[i] = static_cast<float>(i * 1000);
    b.pixels[i] = static_cast<float>(65535 - i);
  }
  write_spe((dir / "two.spe").string(), {a, b});
  OpenOptions raw;
  raw.mask_sentinels = false;
  const auto src = open_frames((dir / "two.spe").string(), raw);
  ASSERT_EQ(src->frame_count(), 2u);
  EXPECT_EQ(src->read(0).image.pixels, a.pixels);
  EXPECT_EQ(src->read(1).image.pixels, b.pixels);
  a.pixels[4] = -2.5f;
  write_spe((dir / "f.spe").string(), {a}, true);
  EXPECT_EQ(open_frames((dir / "f.spe").string(), raw)->read(0).image.pixels, a.pixels);
  EXPECT_EQ(open_frames((dir / "f.spe").string())->read(0).invalid(0, 4), 1);  // negative: masked
}

TEST(Spe, TruncatedFileLosesOnlyTheMissingFrames) {
  const auto dir = scratch();
  ImageF a({16, 16}, 7.0f);
  write_spe((dir / "s.spe").string(), {a, a, a});
  fs::resize_file(dir / "s.spe", 4100 + 2 * 16 * 16 * 2 + 10);
  const auto src = open_frames((dir / "s.spe").string());
  EXPECT_EQ(src->frame_count(), 3u);
  EXPECT_NO_THROW(src->read(1));
  EXPECT_THROW(src->read(2), FrameError);
  fs::resize_file(dir / "s.spe", 2000);
  try {
    open_frames((dir / "s.spe").string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.spe"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("4100"), std::string::npos) << e.what();
  }
}
