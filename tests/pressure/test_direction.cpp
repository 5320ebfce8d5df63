// Compression / decompression tagging of a diamond-anvil-cell pressure sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "pressure/direction.hpp"

namespace ap = anvil::pressure;
using ap::Direction;

namespace {
constexpr auto C = Direction::Compression;
constexpr auto D = Direction::Decompression;
constexpr auto U = Direction::Unknown;
}  // namespace

TEST(Direction, CompressionThenDecompressionWithNoise) {
  // 0.5 -> 30 GPa in 1.5 GPa steps, then back to 1 GPa, every reading with +-0.03 GPa noise
  // (below the 0.05 GPa tolerance): frames up to the peak compress, after it decompress.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-0.03, 0.03);
  std::vector<double> p;
  std::vector<Direction> expected;
  for (double x = 0.5; x <= 30.0; x += 1.5) {
    p.push_back(x + noise(rng));
    expected.push_back(C);
  }
  for (double x = 28.0; x >= 1.0; x -= 2.0) {
    p.push_back(x + noise(rng));
    expected.push_back(D);
  }
  EXPECT_EQ(ap::tag_directions(p), expected);
}

TEST(Direction, NoiseAtThePeakDoesNotFlipUntilTheDropIsReal) {
  // Peak 10.00 at frame 3; 9.98 and 10.02 are within tolerance. 10.02 is a new maximum, so the
  // peak moves to frame 5 and only the frames after it are decompression.
  const std::vector<double> p{1.0, 4.0, 7.0, 10.0, 9.98, 10.02, 9.0, 8.0};
  EXPECT_EQ(ap::tag_directions(p), (std::vector<Direction>{C, C, C, C, C, C, D, D}));
  // A plateau after the peak that then drops: the plateau frames after the maximum belong to
  // the decompression branch once the drop confirms it.
  const std::vector<double> q{1.0, 5.0, 10.0, 9.97, 9.96, 8.0};
  EXPECT_EQ(ap::tag_directions(q), (std::vector<Direction>{C, C, C, D, D, D}));
}

TEST(Direction, TwoCyclesAreBothFound) {
  const std::vector<double> p{0.2, 2.0, 5.0, 3.0, 1.0, 4.0, 8.0, 12.0, 6.0, 0.5};
  EXPECT_EQ(ap::tag_directions(p), (std::vector<Direction>{C, C, C, D, D, C, C, C, D, D}));
}

TEST(Direction, EsdWidensTheTolerance) {
  // Scatter of 0.3 GPa: a real turn without esd, noise when each reading is +-0.2 GPa
  // (tolerance 2 * sqrt(0.2^2 + 0.2^2) = 0.57 GPa).
  const std::vector<double> p{1.0, 3.0, 5.0, 4.7, 5.3, 7.0};
  EXPECT_EQ(ap::tag_directions(p), (std::vector<Direction>{C, C, C, D, C, C}));
  const std::vector<double> esd(p.size(), 0.2);
  EXPECT_EQ(ap::tag_directions(p, esd), (std::vector<Direction>{C, C, C, C, C, C}));
}

TEST(Direction, LeadingPlateauTakesTheFirstRealChange) {
  // A scan that starts by sitting at 10 GPa and then releases is decompression throughout.
  const std::vector<double> p{10.0, 10.01, 9.99, 8.0, 6.0};
  EXPECT_EQ(ap::tag_directions(p), (std::vector<Direction>{D, D, D, D, D}));
}

TEST(Direction, ConstantMissingAndEmpty) {
  EXPECT_EQ(ap::tag_directions(std::vector<double>{3.0, 3.01, 2.99}), (std::vector<Direction>{U, U, U}));
  EXPECT_EQ(ap::tag_directions(std::vector<double>{1.0}), (std::vector<Direction>{U}));
  EXPECT_TRUE(ap::tag_directions(std::vector<double>{}).empty());
  // A frame without a pressure is Unknown and does not break the trend.
  const std::vector<double> p{1.0, 2.0, NAN, 4.0, 2.0};
  EXPECT_EQ(ap::tag_directions(p), (std::vector<Direction>{C, C, U, C, D}));
}

TEST(Direction, RejectsMismatchedEsd) {
  const std::vector<double> p{1.0, 2.0}, esd{0.1};
  EXPECT_THROW(ap::tag_directions(p, esd), anvil::InputError);
  EXPECT_EQ(ap::direction_name(D), "decompression");
}
