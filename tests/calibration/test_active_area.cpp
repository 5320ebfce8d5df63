// The part of an image that carries no data: a constant region joined to the border (a CCD's round
// active area), found only where the data themselves do not take that value.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "calibration/active_area.hpp"

namespace anvil::calibration {
namespace {

// A 400² image: Poisson counts about `mean` inside a circle of radius 180 about (200, 200), zeros
// outside.
ImageF round_ccd(double mean, unsigned seed) {
  ImageF img(Shape{400, 400});
  std::mt19937 rng(seed);
  std::poisson_distribution<int> counts(mean);
  for (std::size_t r = 0; r < 400; ++r)
    for (std::size_t c = 0; c < 400; ++c)
      img(r, c) =
          std::hypot(r + 0.5 - 200.0, c + 0.5 - 200.0) < 180.0 ? static_cast<float>(counts(rng)) : 0.0f;
  return img;
}

TEST(ActiveArea, The_zero_corners_outside_a_round_CCD_are_masked_with_a_margin) {
  const ImageF img = round_ccd(60.0, 1);
  const auto a = find_inactive_area(img, Mask{});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, 0.0f);
  const double outside = 400.0 * 400.0 - std::numbers::pi * 180.0 * 180.0;
  EXPECT_NEAR(static_cast<double>(a->region_px), outside, 0.01 * outside);
  EXPECT_GT(a->masked_px, a->region_px) << "the margin adds the edge pixels";
  // The margin is 2 px: radius 177 is still data, 181 is not.
  EXPECT_EQ(a->mask(200, 200 + 176), 0);
  EXPECT_EQ(a->mask(200, 200 + 181), 1);
  EXPECT_EQ(a->mask(0, 0), 1);
  EXPECT_EQ(a->mask(200, 200), 0);
}

TEST(ActiveArea, A_count_starved_image_where_zero_is_an_ordinary_count_is_left_alone) {
  // Mean 0.3 counts: three pixels in four read 0 inside the circle too.
  const ImageF img = round_ccd(0.3, 2);
  EXPECT_FALSE(find_inactive_area(img, Mask{}).has_value());
}

TEST(ActiveArea, An_image_without_a_constant_border_is_left_alone) {
  ImageF img(Shape{200, 300});
  std::mt19937 rng(3);
  std::poisson_distribution<int> counts(50.0);
  for (auto& v : img.pixels) v = static_cast<float>(counts(rng));
  EXPECT_FALSE(find_inactive_area(img, Mask{}).has_value());
  // A small dead corner (< 1 % of the image) is a detector defect, not an active-area edge.
  for (std::size_t r = 0; r < 10; ++r)
    for (std::size_t c = 0; c < 10; ++c) img(r, c) = img(r, 299 - c) = img(199 - r, c) = 0.0f;
  EXPECT_FALSE(find_inactive_area(img, Mask{}).has_value());
}

}  // namespace
}  // namespace anvil::calibration
