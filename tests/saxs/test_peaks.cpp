// Peak finding and refinement, background and form-factor fits on synthetic curves.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "saxs/analysis.hpp"
#include "saxs/background.hpp"
#include "saxs/form_factor.hpp"
#include "saxs/peaks.hpp"
#include "saxs/simulate.hpp"

using namespace anvil::saxs;

namespace {

struct Curve {
  std::vector<double> q, y, sigma;
};

// Gaussian peaks (position, FWHM, height) on y0 + slope·q with white noise σ.
Curve peaks_on_slope(const std::vector<std::array<double, 3>>& peaks, double slope, double noise,
                     unsigned seed = 3) {
  Curve c;
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0, noise);
  for (int i = 0; i < 800; ++i) {
    const double q = 0.2 + 2.8 * i / 799.0;
    double y = 1.0 + slope * q;
    for (const auto& p : peaks) y += p[2] * std::exp(-4 * std::log(2.0) * std::pow((q - p[0]) / p[1], 2));
    c.q.push_back(q);
    c.y.push_back(y + n(rng) - 1.0 - slope * q);  // flattened: the slope is removed as a baseline would
    c.sigma.push_back(noise);
  }
  return c;
}

}  // namespace

TEST(SaxsPeaks, NoisyPeaksAreFoundWithinTheirUncertainty) {
  const std::vector<std::array<double, 3>> truth = {{0.8, 0.04, 1.0}, {1.4, 0.05, 0.5}, {2.3, 0.06, 0.3}};
  const auto c = peaks_on_slope(truth, 0.0, 0.03);
  PeakSearchSettings s;
  const auto found = refine_peaks(c.q, c.y, c.sigma, find_peak_candidates(c.q, c.y, c.sigma, s), s);
  ASSERT_EQ(found.size(), truth.size());
  for (std::size_t i = 0; i < truth.size(); ++i) {
    EXPECT_NEAR(found[i].q, truth[i][0], 4 * found[i].q_esd + 1e-4) << i;
    EXPECT_NEAR(found[i].fwhm, truth[i][1], 0.15 * truth[i][1]) << i;
    // Area of a Gaussian: height · FWHM · √(π / 4 ln 2).
    const double area = truth[i][2] * truth[i][1] * std::sqrt(std::numbers::pi / (4 * std::log(2.0)));
    EXPECT_NEAR(found[i].area, area, 4 * found[i].area_esd + 0.05 * area) << i;
    EXPECT_GT(found[i].q_esd, 0);
  }
}

TEST(SaxsPeaks, PureNoiseGivesNoPeaks) {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    const auto c = peaks_on_slope({}, 0.0, 0.05, seed);
    PeakSearchSettings s;
    const auto found = refine_peaks(c.q, c.y, c.sigma, find_peak_candidates(c.q, c.y, c.sigma, s), s);
    EXPECT_TRUE(found.empty()) << "seed " << seed << ": " << found.size() << " peaks in noise";
  }
}

TEST(SaxsPeaks, AShoulderOneWidthAwayIsResolved) {
  // Two peaks 1.2 FWHM apart, the second a third as high: the hcp 100/002/101 situation.
  const auto c = peaks_on_slope({{1.00, 0.05, 1.0}, {1.06, 0.05, 0.35}}, 0.0, 0.01);
  PeakSearchSettings s;
  const auto found = refine_peaks(c.q, c.y, c.sigma, find_peak_candidates(c.q, c.y, c.sigma, s), s);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_NEAR(found[0].q, 1.00, 0.005);
  EXPECT_NEAR(found[1].q, 1.06, 0.008);
}

TEST(SaxsPeaks, PeakNearTheBeamstopOnASteepPowerLawIsFound) {
  // I = q^-4 Porod-like background times (1 + peak), the peak 5 widths from q_min.
  anvil::Pattern1D p;
  std::mt19937 rng(11);
  for (int i = 0; i < 1000; ++i) {
    const double q = 0.15 + 2.0 * i / 999.0;
    const double peak = 8.0 * std::exp(-4 * std::log(2.0) * std::pow((q - 0.25) / 0.02, 2)) +
                        4.0 * std::exp(-4 * std::log(2.0) * std::pow((q - 0.50) / 0.02, 2)) +
                        2.0 * std::exp(-4 * std::log(2.0) * std::pow((q - 0.75) / 0.02, 2));
    const double mean = 50.0 * std::pow(q, -4.0) * (1 + peak) + 20;
    std::poisson_distribution<long> pd(mean);
    const double v = static_cast<double>(pd(rng));
    p.x.push_back(q);
    p.intensity.push_back(v);
    p.sigma.push_back(std::sqrt(std::max(v, 1.0)));
  }
  const auto r = analyse_saxs(p, SaxsSettings{});
  ASSERT_GE(r.peaks.size(), 3u);
  EXPECT_NEAR(r.peaks[0].q, 0.25, 0.003);
  // A 1:2:3 ladder: lamellar, d = 2π/0.25.
  EXPECT_EQ(r.lattice, Lattice::lamellar);
  ASSERT_FALSE(r.phases.empty());
  EXPECT_NEAR(r.phases[0].solution.a_nm, 2 * std::numbers::pi / 0.25, 0.01 * 2 * std::numbers::pi / 0.25);
}

TEST(SaxsBackground, PowerLawAndConstantAreRecovered) {
  std::vector<double> q, y, s;
  std::mt19937 rng(5);
  for (int i = 0; i < 500; ++i) {
    const double x = 0.2 + 3.0 * i / 499.0;
    const double mean = 100 * std::pow(x, -3.2) + 40;
    std::poisson_distribution<long> pd(mean * 10);
    const double v = pd(rng) / 10.0;
    q.push_back(x);
    y.push_back(v);
    s.push_back(std::sqrt(mean * 10) / 10.0);
  }
  const auto fit = fit_background(q, y, s, std::vector<bool>(q.size(), true), BackgroundSettings{});
  EXPECT_NEAR(fit.exponent, 3.2, 0.05);
  EXPECT_NEAR(fit.amplitude, 100, 5);
  EXPECT_NEAR(fit.constant, 40, 1.5);
  EXPECT_GT(fit.exponent_esd, 0);
  EXPECT_LT(fit.exponent_esd, 0.05);
}

TEST(SaxsBackground, PolydisperseSphereRadiusAndPolydispersityAreRecovered) {
  for (auto dist : {SizeDistribution::schulz, SizeDistribution::gaussian}) {
    SimulationSettings sim;
    sim.form_factor->radius_nm = 3.1;
    sim.form_factor->polydispersity = 0.08;
    sim.form_factor->distribution = dist;
    sim.q_min_inv_nm = 0.2;
    sim.q_max_inv_nm = 4.0;
    sim.counts = 1e5;
    sim.background_amplitude = 1e-4;
    sim.background_constant = 1e-4;
    const auto p = simulate_saxs(sim).pattern;
    BackgroundSettings bs;
    bs.model = DiffuseModel::sphere;
    bs.distribution = dist;
    const auto fit = fit_background(p.x, p.intensity, p.sigma, std::vector<bool>(p.x.size(), true), bs);
    ASSERT_TRUE(fit.particle);
    EXPECT_NEAR(fit.particle->radius_nm, 3.1, 0.03);
    EXPECT_NEAR(fit.particle->polydispersity, 0.08, 0.015);
    EXPECT_GT(fit.radius_esd_nm, 0);
  }
}

TEST(SaxsBackground, SnipFollowsABroadCurveAndClipsANarrowPeak) {
  std::vector<double> y;
  for (int i = 0; i < 400; ++i) {
    const double x = i / 399.0;
    y.push_back(2 + std::sin(3 * x) + 5 * std::exp(-std::pow((i - 200) / 4.0, 2)));
  }
  const auto b = snip_baseline(y, 20);
  // The peak (height 5) is gone; the broad curve is kept to within its own curvature over the window.
  EXPECT_NEAR(b[200], 2 + std::sin(3 * 200 / 399.0), 0.1);
  EXPECT_NEAR(b[50], 2 + std::sin(3 * 50 / 399.0), 0.05);
}

TEST(SaxsFormFactor, SphereHasItsFirstZeroAtQR4493) {
  FormFactorModel m;
  m.radius_nm = 2.0;
  m.polydispersity = 0;
  EXPECT_NEAR(form_factor(m, 0.0), 1.0, 1e-12);
  EXPECT_LT(form_factor(m, 4.4934 / 2.0), 1e-8);
  m.shape = ParticleShape::cylinder;
  m.length_nm = 10;
  EXPECT_NEAR(form_factor(m, 1e-4), 1.0, 1e-6);
  EXPECT_LT(form_factor(m, 2.0), form_factor(m, 0.5));
}
