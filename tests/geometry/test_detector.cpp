// Detector presets: shapes, pixel sizes, module gaps and names as pyFAI has them.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "test_support.hpp"

namespace ag = anvil::geometry;

namespace {

std::size_t masked(const anvil::Mask& m) {
  return std::accumulate(m.pixels.begin(), m.pixels.end(), std::size_t{0});
}

}  // namespace

TEST(DetectorPresets, ShapesPixelSizesAndGapCountsAreThoseOfPyFAI) {
  // pyFAI 0.21.3: detector_factory(name).shape, .pixel1, calc_mask().sum().
  struct Expected {
    const char* name;
    std::size_t rows, cols;
    double pixel_m;
    std::size_t dead;
  };
  const Expected table[] = {
      {"Pilatus100k", 195, 487, 172e-6, 0},       {"Pilatus200k", 407, 487, 172e-6, 8279},
      {"Pilatus300k", 619, 487, 172e-6, 16558},   {"Pilatus300kw", 195, 1475, 172e-6, 2730},
      {"Pilatus1M", 1043, 981, 172e-6, 73533},    {"Pilatus2M", 1679, 1475, 172e-6, 197365},
      {"Pilatus6M", 2527, 2463, 172e-6, 526101},  {"Eiger500k", 514, 1030, 75e-6, 0},
      {"Eiger1M", 1065, 1030, 75e-6, 38110},      {"Eiger4M", 2167, 2070, 75e-6, 250330},
      {"Eiger9M", 3269, 3110, 75e-6, 637030},     {"Eiger16M", 4371, 4150, 75e-6, 1198210},
      {"Eiger2_500k", 512, 1028, 75e-6, 0},       {"Eiger2_1M", 1062, 1028, 75e-6, 39064},
      {"Eiger2_4M", 2162, 2068, 75e-6, 260328},   {"Eiger2_9M", 3262, 3108, 75e-6, 664248},
      {"Eiger2_16M", 4362, 4148, 75e-6, 1250824}, {"Perkin", 2048, 2048, 200e-6, 0},
      {"Mar345", 3450, 3450, 100e-6, 2554284},    {"RayonixMx225", 3072, 3072, 73.242e-6, 0},
      {"RayonixMx300", 4096, 4096, 73.242e-6, 0}, {"RayonixMx170", 3840, 3840, 44.2708e-6, 0},
      {"RayonixSx200", 4096, 4096, 48e-6, 0},
  };
  EXPECT_EQ(ag::detector_preset_names().size(), std::size(table));
  for (const Expected& e : table) {
    SCOPED_TRACE(e.name);
    const ag::Detector d = ag::detector_preset(e.name);
    EXPECT_EQ(d.name, e.name);
    EXPECT_EQ(d.shape, (anvil::Shape{e.rows, e.cols}));
    EXPECT_EQ(d.pixel1_m, e.pixel_m);
    EXPECT_EQ(d.pixel2_m, e.pixel_m);
    EXPECT_EQ(d.orientation, ag::Orientation::BottomRight);
    EXPECT_EQ(masked(d.dead_pixel_mask()), e.dead);
  }
}

TEST(DetectorPresets, Pilatus1MGapsAreMaskedInTheReferenceMask) {
  ANVIL_REFERENCE_FILE(mask_path, "pyfai/mask_1043x981_u8.bin");
  const ag::Detector d = ag::detector_preset("Pilatus1M");
  const anvil::Mask gaps = d.dead_pixel_mask();
  std::vector<std::uint8_t> ref(gaps.pixels.size());
  std::ifstream in(mask_path, std::ios::binary);
  in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size()));
  ASSERT_TRUE(in.good());
  std::size_t gap_pixels = 0, gap_pixels_masked = 0;
  for (std::size_t k = 0; k < ref.size(); ++k) {
    if (!gaps.pixels[k]) continue;
    ++gap_pixels;
    gap_pixels_masked += ref[k] != 0;
  }
  EXPECT_EQ(gap_pixels, 73533u);
  EXPECT_EQ(gap_pixels_masked, gap_pixels);
  // The module layout: 5 × 2 modules of 195 × 487 with 17-row and 7-column gaps.
  EXPECT_EQ(gaps(194, 0), 0);
  EXPECT_EQ(gaps(195, 0), 1);
  EXPECT_EQ(gaps(211, 0), 1);
  EXPECT_EQ(gaps(212, 0), 0);
  EXPECT_EQ(gaps(0, 486), 0);
  EXPECT_EQ(gaps(0, 487), 1);
  EXPECT_EQ(gaps(0, 493), 1);
  EXPECT_EQ(gaps(0, 494), 0);
}

TEST(DetectorPresets, NamesAreFoundWithPyFAIAliasesAndAnyCaseOrSeparator) {
  for (const char* alias : {"Pilatus1M", "pilatus 1m", "Pilatus_1M", "PILATUS-1M", "Pilatus3 1M"}) {
    EXPECT_EQ(ag::detector_preset(alias).name, "Pilatus1M") << alias;
  }
  EXPECT_EQ(ag::detector_preset("Eiger4M").name, "Eiger4M");
  EXPECT_EQ(ag::detector_preset("eiger 4m").name, "Eiger4M");
  EXPECT_EQ(ag::detector_preset("eiger2_4m").name, "Eiger2_4M");
  EXPECT_EQ(ag::detector_preset("Eiger2 4M").name, "Eiger2_4M");
  EXPECT_EQ(ag::detector_preset("Perkin Elmer").name, "Perkin");
  EXPECT_EQ(ag::detector_preset("XRD 1621").name, "Perkin");
  EXPECT_EQ(ag::detector_preset("MAR 345").name, "Mar345");
  EXPECT_EQ(ag::detector_preset("Rayonix MX225").name, "RayonixMx225");
  EXPECT_FALSE(ag::find_detector("Pilatus 3M").has_value());
}

TEST(DetectorPresets, AnUnknownNameListsTheKnownOnes) {
  try {
    ag::detector_preset("Pilatus 7M");
    FAIL() << "no error";
  } catch (const anvil::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Pilatus 7M"), std::string::npos) << what;
    EXPECT_NE(what.find("Pilatus1M"), std::string::npos) << what;
    EXPECT_NE(what.find("Eiger2_4M"), std::string::npos) << what;
  }
}

TEST(DetectorPresets, GenericDetectorHasNoDeadPixels) {
  const ag::Detector d = ag::generic_detector(100e-6, 150e-6, {20, 30});
  EXPECT_TRUE(d.is_generic());
  EXPECT_EQ(masked(d.dead_pixel_mask()), 0u);
  EXPECT_EQ(d.dead_pixel_mask().shape, (anvil::Shape{20, 30}));
}

// Flipping an image moves its origin: pyFAI's orientations 1..4 are the four corners. An up-down
// flip maps them as Dioptas' poni_flipud does (3 <-> 2, 4 <-> 1), left-right 3 <-> 4, 2 <-> 1.
TEST(DetectorOrientation, FlipsMoveTheOrigin) {
  using O = ag::Orientation;
  EXPECT_EQ(ag::flipped(O::BottomRight, true, false), O::TopRight);
  EXPECT_EQ(ag::flipped(O::TopRight, true, false), O::BottomRight);
  EXPECT_EQ(ag::flipped(O::BottomLeft, true, false), O::TopLeft);
  EXPECT_EQ(ag::flipped(O::TopLeft, true, false), O::BottomLeft);
  EXPECT_EQ(ag::flipped(O::BottomRight, false, true), O::BottomLeft);
  EXPECT_EQ(ag::flipped(O::TopRight, false, true), O::TopLeft);
  EXPECT_EQ(ag::flipped(O::BottomRight, true, true), O::TopLeft);
  for (auto o : {O::TopLeft, O::TopRight, O::BottomRight, O::BottomLeft}) {
    EXPECT_EQ(ag::flipped(o, false, false), o);
    for (bool ud : {false, true})
      for (bool lr : {false, true}) EXPECT_EQ(ag::flipped(ag::flipped(o, ud, lr), ud, lr), o);
  }
  EXPECT_STREQ(ag::orientation_name(O::TopRight), "TopRight");
}
