// One WAXS pattern through the whole chain the user runs: phase names → CIFs (calib/phases) →
// |F|² with dispersion → powder model → Ceres fit → fractions.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "powder/model.hpp"
#include "waxs_fit.hpp"

using namespace anvil;
using namespace anvil::pipeline;

namespace {

WaxsFitSettings settings() {
  WaxsFitSettings s;
  s.phases = {"CdSe-WZ", "CdSe-ZB", "CdSe-RS"};
  s.phase_dir = std::filesystem::path(ANVIL_SOURCE_DIR) / "calib" / "phases";
  s.wavelength_a = 0.4859;
  s.range_deg = integrate::Range{4.0, 24.0};
  return s;
}

// A pattern made by the same model with the given weight fractions (Hill–Howard: scale ∝ w/ZMV),
// 4.8-nm spheres, a background, Poisson noise.
Pattern1D simulate(const WaxsFitter& f, const std::vector<double>& w, std::uint32_t seed) {
  const auto& phases = f.phases();
  std::vector<double> x;
  for (double t = 4.0; t <= 24.0; t += 0.01) x.push_back(t);
  auto model_settings = f.settings().model;
  model_settings.instrument.wavelength_a = f.settings().wavelength_a;
  powder::PatternModel model(model_settings, phases, x);
  auto p = powder::default_parameters(phases, model_settings, 4.8);
  for (std::size_t k = 0; k < phases.size(); ++k) {
    const auto& ph = phases[k];
    p.phases[k].scale.value =
        2e5 * w[k] / (ph.z * ph.formula_mass * powder::cell_volume(ph.kind, ph.a, ph.c));
  }
  p.background[0].value = 300;
  std::vector<double> v;
  for (auto* q : p.flat()) v.push_back(q->value);
  std::vector<double> y(x.size());
  model.evaluate(v, y.data());
  std::mt19937 rng(seed);
  Pattern1D out;
  out.unit = RadialUnit::TwoThetaDeg;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double c = std::poisson_distribution<long>(std::max(y[i], 0.0))(rng);
    out.x.push_back(x[i]);
    out.intensity.push_back(c);
    out.sigma.push_back(std::sqrt(std::max(c, 1.0)));
  }
  return out;
}

}  // namespace

TEST(WaxsFit, RetainedRockSaltInZincBlendeIsRecoveredFromNamedPhases) {
  const WaxsFitter fitter(settings());
  const auto r = fitter.fit(simulate(fitter, {0.0, 0.7, 0.3}, 7));
  ASSERT_EQ(r.status, powder::FitStatus::Converged) << r.reason;
  EXPECT_NEAR(r.phases[0].fraction, 0.0, 0.03);
  EXPECT_NEAR(r.phases[1].fraction, 0.7, 0.03);
  EXPECT_NEAR(r.phases[2].fraction, 0.3, 0.03);
  EXPECT_NEAR(r.phases[1].a, fitter.phases()[1].a, 0.002 * fitter.phases()[1].a);
  const auto j = fit_result_json(r, fitter.settings().phases);
  EXPECT_EQ(j["status"], "converged");
  EXPECT_TRUE(j["phases"].contains("CdSe-RS"));
  EXPECT_NEAR(j["phases"]["CdSe-RS"]["fraction"].get<double>(), 0.3, 0.03);
}

TEST(WaxsFit, PatternsInQAreConvertedWithTheWavelength) {
  const WaxsFitter fitter(settings());
  auto p = simulate(fitter, {0.5, 0.5, 0.0}, 11);
  Pattern1D q = p;
  q.unit = RadialUnit::QInvNm;
  for (auto& x : q.x) x = 40.0 * std::numbers::pi * std::sin(x * std::numbers::pi / 360.0) / 0.4859;  // nm⁻¹
  const auto back = to_two_theta(q, 0.4859);
  ASSERT_EQ(back.two_theta_deg.size(), p.x.size());
  for (std::size_t i = 0; i < p.x.size(); i += 97) EXPECT_NEAR(back.two_theta_deg[i], p.x[i], 1e-9);
  const auto r = fitter.fit(q);
  ASSERT_EQ(r.status, powder::FitStatus::Converged) << r.reason;
  EXPECT_NEAR(r.phases[0].fraction, 0.5, 0.03);
}

TEST(WaxsFit, NoWavelengthOrNoPhasesIsRefused) {
  auto s = settings();
  s.wavelength_a = 0;
  EXPECT_THROW(WaxsFitter{s}, InputError);
  s = settings();
  s.phases = {"CdSe-XX"};
  EXPECT_THROW(WaxsFitter{s}, InputError);
}

// The instrument is refined once on a calibrant: Caglioti U, V, W come back from a CeO2
// pattern made with known ones.
TEST(WaxsFit, CalibrantGivesTheInstrumentResolution) {
  WaxsFitSettings s;
  s.phases = {"CeO2"};
  s.phase_dir = std::filesystem::path(ANVIL_SOURCE_DIR) / "calib" / "phases";
  s.wavelength_a = 0.4859;
  s.range_deg = integrate::Range{4.0, 24.0};
  s.refine_instrument = true;
  const WaxsFitter fitter(s);
  const auto& phases = fitter.phases();
  std::vector<double> x;
  for (double t = 4.0; t <= 24.0; t += 0.005) x.push_back(t);
  auto ms = fitter.settings().model;
  powder::PatternModel model(ms, phases, x);
  auto p = powder::default_parameters(phases, ms, 100.0);
  p.caglioti_u.value = 0.004;
  p.caglioti_v.value = -0.001;
  p.caglioti_w.value = 0.0009;
  p.phases[0].scale.value = 50.0;
  p.background[0].value = 100;
  std::vector<double> v;
  for (auto* q : p.flat()) v.push_back(q->value);
  std::vector<double> y(x.size());
  model.evaluate(v, y.data());
  std::mt19937 rng(3);
  Pattern1D pat;
  pat.unit = RadialUnit::TwoThetaDeg;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double c = std::poisson_distribution<long>(std::max(y[i], 0.0))(rng);
    pat.x.push_back(x[i]);
    pat.intensity.push_back(c);
    pat.sigma.push_back(std::sqrt(std::max(c, 1.0)));
  }
  const auto r = fitter.fit(pat);
  ASSERT_EQ(r.status, powder::FitStatus::Converged) << r.reason;
  // The FWHM at mid-range is what matters; U, V, W individually trade off a little.
  auto fwhm = [](double u, double vv, double w, double tth) {
    const double t = std::tan(tth * std::numbers::pi / 360.0);
    return std::sqrt(u * t * t + vv * t + w);
  };
  for (double tth : {6.0, 12.0, 20.0})
    EXPECT_NEAR(fwhm(r.parameters.caglioti_u.value, r.parameters.caglioti_v.value,
                     r.parameters.caglioti_w.value, tth),
                fwhm(0.004, -0.001, 0.0009, tth), 0.02 * fwhm(0.004, -0.001, 0.0009, tth))
        << tth;
}
