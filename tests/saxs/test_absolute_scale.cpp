// The glassy-carbon scale factor: recovered from a measured curve that is the calibrated one
// divided by a known factor, whatever the q grids; points outside the overlap are not used.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "saxs/absolute_scale.hpp"

using namespace anvil;
using namespace anvil::saxs;

namespace {
double gc(double q) { return 30.0 / (1.0 + std::pow(q / 1.5, 2.5)) + 0.05; }  // a GC-like curve, 1/cm
}  // namespace

TEST(AbsoluteScale, RecoversTheFactorOnAnotherQGrid) {
  std::vector<double> rq, ri, q, m;
  for (int i = 0; i < 140; ++i) {
    rq.push_back(0.02 * std::pow(1.04, i));  // log-spaced, as a USAXS curve
    ri.push_back(gc(rq.back()));
  }
  const double k = 8.2e-5;
  for (int i = 0; i < 400; ++i) {
    q.push_back(0.01 + 0.025 * i);  // linear, to 10 nm⁻¹: beyond the reference's end
    const double wobble = 1.0 + 0.02 * std::sin(7.0 * i);  // ±2 % scatter
    m.push_back(gc(q.back()) / k * wobble);
  }
  m[5] = -3.0;  // a negative point (over-subtracted) is left out
  const auto s = absolute_scale_factor(q, m, rq, ri);
  EXPECT_NEAR(s.factor / k, 1.0, 0.005);
  EXPECT_LT(s.relative_spread, 0.02);
  EXPECT_GE(s.q_min_inv_nm, rq.front());
  EXPECT_LE(s.q_max_inv_nm, rq.back());
  const auto r = absolute_scale_factor(q, m, rq, ri, std::pair{0.5, 2.0});
  EXPECT_GE(r.q_min_inv_nm, 0.5);
  EXPECT_LE(r.q_max_inv_nm, 2.0);
  EXPECT_EQ(r.points, 60u);  // q = 0.51 … 1.985
  EXPECT_NEAR(r.factor / k, 1.0, 0.01);
  // A curve twice as strong gives half the factor: the ratio, not a fit of shape.
  for (auto& v : m) v *= 2;
  EXPECT_NEAR(absolute_scale_factor(q, m, rq, ri).factor / k, 0.5, 0.005);
  // No overlap (q in the wrong unit: Å⁻¹ numbers read as nm⁻¹ far below the curve) is an error.
  std::vector<double> tiny;
  for (double x : rq) tiny.push_back(x * 1e-3);
  EXPECT_THROW(absolute_scale_factor(tiny, ri, rq, ri), InputError);
}
