// Transition pressures from exact logistic steps; pressures from gold's lattice parameter.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "pressure/standard.hpp"
#include "series/standard_pressure.hpp"
#include "series/transition.hpp"

namespace anvil::series {
namespace {

std::vector<FractionPoint> step(double low, double high, double mid, double w, double p0, double p1, int n) {
  std::vector<FractionPoint> pts;
  for (int i = 0; i < n; ++i) {
    const double p = p0 + (p1 - p0) * i / (n - 1);
    pts.push_back({p, 0.0, low + (high - low) / (1 + std::exp(-(p - mid) / w)), 0.01});
  }
  return pts;
}

TEST(Transition, SigmoidRecoversMidpointWidthAndFivePercentOnset) {
  const auto fit = fit_sigmoid(step(0.0, 1.0, 6.5, 0.5, 0, 14, 15), true);
  ASSERT_TRUE(fit.converged) << fit.message;
  EXPECT_NEAR(fit.midpoint_gpa, 6.5, 1e-5);
  EXPECT_NEAR(fit.width_gpa, 0.5, 1e-5);
  EXPECT_NEAR(fit.onset_gpa, 6.5 - 0.5 * std::log(19.0), 1e-5);
  EXPECT_NEAR(fit.at(fit.onset_gpa), 0.05, 1e-6);
  EXPECT_GT(fit.midpoint_esd, 0.0);
}

TEST(Transition, DecompressionOnsetIsOnTheHighPressureSideAndKeepsTheRetainedPlateau) {
  const auto fit = fit_sigmoid(step(0.3, 1.0, 2.0, 0.4, 0, 12, 13), false);
  EXPECT_NEAR(fit.low, 0.3, 1e-6);
  EXPECT_NEAR(fit.onset_gpa, 2.0 + 0.4 * std::log(19.0), 1e-4);
  // 5 % of the way from the high plateau down to the low one.
  EXPECT_NEAR(fit.at(fit.onset_gpa), 1.0 - 0.05 * 0.7, 1e-6);
}

TEST(Transition, DensestPhaseIsRockSalt) {
  std::vector<powder::PowderPhase> ph(3);
  ph[0] = {"CdSe-WZ", powder::CellKind::Hexagonal, 4.299, 7.01, 2, 191.37, {}, 0};
  ph[1] = {"CdSe-ZB", powder::CellKind::Cubic, 6.077, 0, 4, 191.37, {}, 0};
  ph[2] = {"CdSe-RS", powder::CellKind::Cubic, 5.70, 0, 4, 191.37, {}, 0};
  EXPECT_EQ(densest_phase(ph), 2u);
  EXPECT_EQ(densest_phase(ph, 2), 0u);  // WZ and ZB: the same V/Z within rounding; WZ first
}

TEST(Transition, TooFewPointsAreRefused) {
  EXPECT_THROW(fit_sigmoid(step(0, 1, 5, 1, 0, 10, 3), true), InputError);
}

TEST(StandardPressure, GoldLatticeParameterGivesBackThePressure) {
  const auto& au = pressure::find_standard("Au");
  for (double p : {0.0, 5.0, 14.0, 30.0}) {
    const auto sp = pressure_from_standard(au, au.lattice_at(p), 1e-4);
    EXPECT_NEAR(sp.pressure_gpa, p, 1e-8);
    // σ_P = 3 K σ_a / a (K ≈ 167 GPa at ambient): about 0.012 GPa for σ_a = 1e-4 Å.
    if (p == 0.0) {
      EXPECT_NEAR(sp.pressure_esd_gpa, 3 * au.eos.k0_gpa * 1e-4 / au.a0_angstrom(), 1e-6);
    }
  }
  EXPECT_THROW(pressure_from_standard(au, -1.0), InputError);
}

}  // namespace
}  // namespace anvil::series
