// Properties of the integrator beyond the pyFAI comparison: determinism, masks, outlier rejection,
// error models, input checks.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "integrate/integrator.hpp"
#include "reference_geometry.hpp"
#include "test_support.hpp"

namespace anvil::integrate {
namespace {

constexpr std::size_t kRows = 1043, kCols = 981, kPixels = kRows * kCols;

struct Reference {
  test::ReferencePixels px;
  std::vector<float> image;
  Mask mask;
};

const Reference& reference() {
  static const Reference r = [] {
    Reference out;
    out.px = test::reference_pixels(test::PoniGeometry{}, test::RadialUnit::q_inv_nm);
    const auto dir = test::reference_dir() / "pyfai";
    out.image.resize(kPixels);
    std::ifstream(dir / "image_1043x981_f32le.bin", std::ios::binary)
        .read(reinterpret_cast<char*>(out.image.data()), kPixels * sizeof(float));
    out.mask = Mask({kRows, kCols});
    std::ifstream(dir / "mask_1043x981_u8.bin", std::ios::binary)
        .read(reinterpret_cast<char*>(out.mask.pixels.data()), kPixels);
    return out;
  }();
  return r;
}

PreparedCorrections corrections() {
  const auto& px = reference().px;
  return PreparedCorrections(kPixels, {.solid_angle = px.solid_angle, .polarization = px.polarization});
}

void check_identical(const IntegrationResult& a, const IntegrationResult& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.sum_signal[i], b.sum_signal[i]) << "bin " << i;
    ASSERT_EQ(a.sum_variance[i], b.sum_variance[i]) << "bin " << i;
    ASSERT_EQ(a.sum_normalization[i], b.sum_normalization[i]) << "bin " << i;
    ASSERT_EQ(a.count[i], b.count[i]) << "bin " << i;
  }
}

TEST(Integrator, ResultsDoNotDependOnThreadCountOrBatching) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  for (PixelSplit split : {PixelSplit::none, PixelSplit::full}) {
    const auto build = [&] {
      return Integrator(ref.px.positions, &ref.mask, Binning{.radial_bins = 1000, .split = split});
    };
    tbb::task_arena one(1), two(2);
    std::optional<Integrator> a, b;
    one.execute([&] { a.emplace(build()); });
    two.execute([&] { b.emplace(build()); });
    ASSERT_EQ(a->matrix().col_idx, b->matrix().col_idx);
    ASSERT_EQ(a->matrix().weights, b->matrix().weights);

    // Seven frames: the batches of four and the remainder must give what single frames give.
    std::vector<std::vector<float>> images(7, ref.image);
    for (std::size_t f = 0; f < images.size(); ++f)
      for (std::size_t i = f; i < kPixels; i += 97) images[f][i] += static_cast<float>(f);
    std::vector<FrameInput> frames;
    for (const auto& im : images) frames.push_back({.pixels = im});
    const auto corr = corrections();
    std::vector<IntegrationResult> r1, r2;
    one.execute([&] { r1 = a->integrate_frames(frames, corr); });
    two.execute([&] { r2 = a->integrate_frames(frames, corr); });
    for (std::size_t f = 0; f < frames.size(); ++f) {
      check_identical(r1[f], r2[f]);
      check_identical(r1[f], a->integrate(frames[f], corr));
    }
  }
}

TEST(Integrator, MaskedAndInvalidPixelsNeverContribute) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  const auto corr = corrections();
  for (PixelSplit split : {PixelSplit::none, PixelSplit::bbox, PixelSplit::full}) {
    const Integrator integrator(ref.px.positions, &ref.mask, Binning{.radial_bins = 1000, .split = split});
    const IntegrationResult clean = integrator.integrate({.pixels = ref.image}, corr);
    // Garbage under the static mask changes nothing.
    std::vector<float> garbage = ref.image;
    for (std::size_t i = 0; i < kPixels; ++i)
      if (ref.mask.pixels[i]) garbage[i] = (i % 2) ? 1e9f : std::nanf("");
    check_identical(clean, integrator.integrate({.pixels = garbage}, corr));
    // Per-frame invalid pixels and NaN pixels are excluded like masked ones.
    std::vector<std::uint8_t> invalid(kPixels, 0);
    std::vector<float> hot = ref.image;
    for (std::size_t i = 0; i < kPixels; i += 101) {
      invalid[i] = 1;
      hot[i] = 1e9f;
    }
    for (std::size_t i = 50; i < kPixels; i += 101) hot[i] = std::nanf("");
    Mask combined = ref.mask;
    for (std::size_t i = 0; i < kPixels; i += 101) combined.pixels[i] = 1;
    for (std::size_t i = 50; i < kPixels; i += 101) combined.pixels[i] = 1;
    const Integrator reference_masked(
        ref.px.positions, &combined,
        Binning{.radial_bins = 1000,
                .split = split,
                .radial_range = Range{integrator.radial_bounds().min,
                                      integrator.radial_bounds().max / (1.0 + 1.1920928955078125e-07)}});
    const IntegrationResult expected = reference_masked.integrate({.pixels = ref.image}, corr);
    const IntegrationResult got = integrator.integrate({.pixels = hot, .invalid = invalid}, corr);
    for (std::size_t b = 0; b < got.size(); ++b) {
      EXPECT_NEAR(got.count[b], expected.count[b], 1e-9 * (1 + expected.count[b])) << "bin " << b;
      EXPECT_NEAR(got.intensity[b], expected.intensity[b], 1e-9 * (1 + std::fabs(expected.intensity[b])))
          << "bin " << b;
    }
  }
}

// Adds 150 saturated 3×3 spots (single-crystal reflections, zingers) to the frame; `spot` marks them.
std::vector<float> with_spots(const std::vector<float>& image, const Mask& mask, std::vector<float>& spot) {
  std::vector<float> out = image;
  spot.assign(image.size(), 0.0f);
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> row(1, kRows - 2), col(1, kCols - 2);
  for (int s = 0; s < 150; ++s) {
    const std::size_t r = row(rng), c = col(rng);
    for (std::size_t i = r - 1; i <= r + 1; ++i)
      for (std::size_t j = c - 1; j <= c + 1; ++j)
        if (!mask(i, j)) {
          out[i * kCols + j] = 1.0e6f;
          spot[i * kCols + j] = 1.0f;
        }
  }
  return out;
}

TEST(SigmaClip, SaturatedSpotsAreRejected) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  const auto corr = corrections();
  const Integrator integrator(ref.px.positions, &ref.mask,
                              Binning{.radial_bins = 1000, .split = PixelSplit::none});
  const IntegrationResult clean = integrator.integrate({.pixels = ref.image}, corr);
  std::vector<float> spot;
  const auto spotted = with_spots(ref.image, ref.mask, spot);
  // Fraction of each bin's pixels hit by a spot: sigma clipping (mean ± k·σ) can only reject
  // outliers that are a minority; with 5 % outliers they sit sqrt(0.95/0.05) ≈ 4.4 σ away.
  const IntegrationResult hit = integrator.integrate({.pixels = spot}, {}, {.error_model = ErrorModel::none});
  const IntegrationResult raw = integrator.integrate({.pixels = spotted}, corr);
  const IntegrationResult clipped =
      integrator.sigma_clip({.pixels = spotted}, corr, {.threshold = 4.0, .max_iterations = 5});
  double worst_raw = 0, worst_clipped = 0;
  std::size_t compared = 0, populated = 0;
  for (std::size_t b = 0; b < clean.size(); ++b) {
    if (clean.count[b] < 20) continue;
    ++populated;
    if (hit.sum_signal[b] / hit.count[b] > 0.05) continue;
    ++compared;
    const double d = std::fabs(clipped.intensity[b] / clean.intensity[b] - 1);
    worst_raw = std::max(worst_raw, std::fabs(raw.intensity[b] / clean.intensity[b] - 1));
    worst_clipped = std::max(worst_clipped, d);
    EXPECT_LT(d, 0.01) << "bin " << b << " q " << integrator.radial_centers()[b];
  }
  EXPECT_GT(compared, populated * 95 / 100);
  EXPECT_GT(worst_raw, 1.0);  // the spots do wreck a plain integration
  std::printf("[ clip     ] %zu/%zu bins; worst bin: plain %.3g, sigma-clipped %.3g (relative to clean)\n",
              compared, populated, worst_raw, worst_clipped);
}

TEST(MedianFilter, QuantileMeanIgnoresSaturatedSpots) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  const auto corr = corrections();
  const Integrator integrator(ref.px.positions, &ref.mask,
                              Binning{.radial_bins = 1000, .split = PixelSplit::none});
  std::vector<float> spot;
  const auto spotted = with_spots(ref.image, ref.mask, spot);
  const IntegrationResult hit = integrator.integrate({.pixels = spot}, {}, {.error_model = ErrorModel::none});
  const MedianFilterOptions iqr{.quantile_min = 0.25, .quantile_max = 0.75};
  const IntegrationResult clean = integrator.median_filter({.pixels = ref.image}, corr, iqr);
  const IntegrationResult filtered = integrator.median_filter({.pixels = spotted}, corr, iqr);
  for (std::size_t b = 0; b < clean.size(); ++b) {
    if (clean.count[b] < 20 || hit.sum_signal[b] / hit.count[b] > 0.05) continue;
    EXPECT_LT(std::fabs(filtered.intensity[b] / clean.intensity[b] - 1), 0.01) << "bin " << b;
  }
}

TEST(MedianFilter, SelectsTheWeightedQuantileWindow) {
  PixelPositions p;
  const std::vector<float> values{9, 1, 7, 3, 5};  // sorted: 1 3 5 7 9, equal weights
  p.shape = {1, values.size()};
  p.radial.assign(values.size(), 1.0);
  const Integrator integrator(
      p, nullptr, Binning{.radial_bins = 1, .split = PixelSplit::none, .radial_range = Range{0.0, 2.0}});
  EXPECT_DOUBLE_EQ(integrator.median_filter({.pixels = values}, {}, {}).intensity[0], 5.0);
  // Window [0.2, 0.8] of the cumulative weight keeps the middle three pixels.
  EXPECT_DOUBLE_EQ(
      integrator.median_filter({.pixels = values}, {}, {.quantile_min = 0.2, .quantile_max = 0.8})
          .intensity[0],
      5.0);
  EXPECT_DOUBLE_EQ(
      integrator.median_filter({.pixels = values}, {}, {.quantile_min = 0.0, .quantile_max = 0.6})
          .intensity[0],
      3.0);
}

// A one-row detector whose pixels all fall in one bin, normalisation 1: the error models can be
// checked by hand.
struct OneBin {
  PixelPositions positions;
  std::vector<float> values{3, 5, 9, 1, 7, 11};
  OneBin() {
    positions.shape = {1, values.size()};
    positions.radial.assign(values.size(), 1.0);
    positions.azimuth.assign(values.size(), 0.0);
  }
};

TEST(ErrorModel, AzimuthalIsTheSpreadOfPixelValues) {
  OneBin d;
  const Integrator integrator(
      d.positions, nullptr,
      Binning{.radial_bins = 1, .split = PixelSplit::none, .radial_range = Range{0.0, 2.0}});
  const IntegrationResult r =
      integrator.integrate({.pixels = d.values}, {}, {.error_model = ErrorModel::azimuthal});
  const double n = static_cast<double>(d.values.size());
  double mean = 0, ss = 0;
  for (float v : d.values) mean += v / n;
  for (float v : d.values) ss += (v - mean) * (v - mean);
  EXPECT_DOUBLE_EQ(r.intensity[0], mean);
  EXPECT_NEAR(r.std_dev[0], std::sqrt(ss / n), 1e-12);
  EXPECT_NEAR(r.sigma[0], std::sqrt(ss) / n, 1e-12);

  const IntegrationResult p =
      integrator.integrate({.pixels = d.values}, {}, {.error_model = ErrorModel::poisson});
  double sum = 0;
  for (float v : d.values) sum += std::max(1.0f, v);
  EXPECT_NEAR(p.sigma[0], std::sqrt(sum) / n, 1e-12);
}

TEST(Integrator, NormalisationFactorAndDarkFollowPyfai) {
  OneBin d;
  const Integrator integrator(
      d.positions, nullptr,
      Binning{.radial_bins = 1, .split = PixelSplit::none, .radial_range = Range{0.0, 2.0}});
  const std::vector<float> dark(d.values.size(), 1.0f), flat(d.values.size(), 2.0f);
  const PreparedCorrections corr(d.values.size(), {.flat = flat, .dark = dark});
  const IntegrationResult r = integrator.integrate({.pixels = d.values, .normalization_factor = 4.0f}, corr);
  double sum = 0;
  for (float v : d.values) sum += v - 1.0;
  EXPECT_DOUBLE_EQ(r.intensity[0], sum / (8.0 * static_cast<double>(d.values.size())));
}

TEST(Integrator, RejectsInconsistentInputs) {
  OneBin d;
  EXPECT_THROW(Integrator(d.positions, nullptr, Binning{.split = PixelSplit::bbox}),
               InputError);  // no corners
  const Integrator integrator(d.positions, nullptr, Binning{.radial_bins = 4, .split = PixelSplit::none});
  const std::vector<float> short_frame(3, 1.0f);
  EXPECT_THROW(integrator.integrate({.pixels = short_frame}), InputError);
  Mask wrong({2, 2});
  EXPECT_THROW(Integrator(d.positions, &wrong, Binning{.split = PixelSplit::none}), InputError);
}

}  // namespace
}  // namespace anvil::integrate

namespace anvil::integrate {
namespace {

// The fast kernels (pixel-major scatter for 1D patterns, row gather for cakes, static sums of
// the normalisation) against the exact per-pixel kernel, which the 'variance' error model uses:
// with variance = max(1, raw) + max(0, dark) given explicitly it must reproduce 'poisson' bit for
// bit (both sum each bin in ascending pixel order). The frame has NaN pixels, per-frame invalid
// pixels, a dark, a flat with dead (0) and NaN pixels and a monitor factor, so that every row the
// fast kernel hands back to the exact one is exercised.
TEST(FastPath, AgreesWithTheExactKernel) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  std::vector<float> dark(kPixels), flat(kPixels, 1.0f), image = ref.image;
  std::vector<std::uint8_t> invalid(kPixels, 0);
  for (std::size_t i = 0; i < kPixels; ++i) dark[i] = static_cast<float>(i % 7) - 2.0f;
  for (std::size_t i = 11; i < kPixels; i += 5003) flat[i] = 0.0f;
  for (std::size_t i = 17; i < kPixels; i += 7919) flat[i] = std::nanf("");
  for (std::size_t i = 23; i < kPixels; i += 4001) image[i] = std::nanf("");
  for (std::size_t i = 31; i < kPixels; i += 3001) invalid[i] = 1;
  std::vector<float> variance(kPixels);
  for (std::size_t i = 0; i < kPixels; ++i)
    variance[i] = std::max(1.0f, image[i]) + std::max(0.0f, dark[i]);
  const PreparedCorrections corr(kPixels, {.solid_angle = ref.px.solid_angle,
                                           .polarization = ref.px.polarization,
                                           .flat = flat,
                                           .dark = dark});
  const std::vector<Binning> binnings{
      {.radial_bins = 1000, .split = PixelSplit::none},
      {.radial_bins = 1000, .split = PixelSplit::bbox},
      {.radial_bins = 1000, .split = PixelSplit::full},
      {.radial_bins = 300, .azimuth_bins = 90, .split = PixelSplit::bbox},
  };
  for (const Binning& binning : binnings) {
    const Integrator integrator(ref.px.positions, &ref.mask, binning);
    for (bool with_invalid : {false, true}) {
      FrameInput frame{.pixels = image, .normalization_factor = 2.5f};
      if (with_invalid) frame.invalid = invalid;
      const IntegrationResult fast = integrator.integrate(frame, corr, {.error_model = ErrorModel::poisson});
      frame.variance = variance;
      const IntegrationResult exact = integrator.integrate(frame, corr, {.error_model = ErrorModel::variance});
      std::size_t populated = 0;
      for (std::size_t b = 0; b < fast.size(); ++b) {
        ASSERT_EQ(fast.sum_signal[b], exact.sum_signal[b]) << "bin " << b;
        ASSERT_EQ(fast.sum_variance[b], exact.sum_variance[b]) << "bin " << b;
        ASSERT_EQ(fast.sum_normalization[b], exact.sum_normalization[b]) << "bin " << b;
        ASSERT_EQ(fast.sum_normalization_sq[b], exact.sum_normalization_sq[b]) << "bin " << b;
        ASSERT_EQ(fast.count[b], exact.count[b]) << "bin " << b;
        ASSERT_FALSE(std::isnan(fast.intensity[b])) << "bin " << b;
        populated += fast.count[b] > 0;
      }
      EXPECT_GT(populated, fast.size() / 2);
    }
  }
}

// Cakes take the row-gather kernel: it too must not depend on batching or thread count.
TEST(FastPath, CakeResultsDoNotDependOnThreadCountOrBatching) {
  ANVIL_REFERENCE_FILE(path, "pyfai/image_1043x981_f32le.bin");
  const Reference& ref = reference();
  const Integrator cake(ref.px.positions, &ref.mask,
                        Binning{.radial_bins = 500, .azimuth_bins = 360, .split = PixelSplit::bbox});
  std::vector<std::vector<float>> images(6, ref.image);
  for (std::size_t f = 0; f < images.size(); ++f)
    for (std::size_t i = f; i < kPixels; i += 89) images[f][i] += static_cast<float>(f);
  images[2][12345] = std::nanf("");
  std::vector<FrameInput> frames;
  for (const auto& im : images) frames.push_back({.pixels = im});
  const auto corr = corrections();
  tbb::task_arena one(1), two(2);
  std::vector<IntegrationResult> r1, r2;
  one.execute([&] { r1 = cake.integrate_frames(frames, corr); });
  two.execute([&] { r2 = cake.integrate_frames(frames, corr); });
  for (std::size_t f = 0; f < frames.size(); ++f) {
    check_identical(r1[f], r2[f]);
    check_identical(r1[f], cake.integrate(frames[f], corr));
  }
}

}  // namespace
}  // namespace anvil::integrate
