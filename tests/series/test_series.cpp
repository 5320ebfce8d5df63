// A synthetic compression–decompression scan of CdSe nanocrystals (anvil's own pattern model,
// Poisson noise) analysed end to end: every frame's phase fractions within ±0.03, transition
// midpoints within 0.3 GPa, the retained RS fraction within ±0.03, bulk moduli within 5 %.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "series/parametric.hpp"
#include "series/series.hpp"
#include "series/synthetic_scan.hpp"
#include "series/transition.hpp"

namespace anvil::series::test {
namespace {

constexpr std::size_t kWZ = 0, kZB = 1, kRS = 2;

void print(const SeriesResult& r) {
  std::printf("%zu frames in %.2f s\n", r.frames.size(), r.seconds);
  for (const auto& f : r.frames) {
    std::printf("%3zu P %6.2f %-13s %-9s rwp %.4f fits %d |", f.frame, f.pressure_gpa,
                std::string(pressure::direction_name(f.direction)).c_str(), powder::status_name(f.status),
                f.rwp, f.num_fits);
    for (const auto& ph : f.phases)
      std::printf(" %c%.3f±%.3f z%.0f", ph.present ? '+' : '-', ph.fraction, ph.fraction_esd,
                  ph.significance);
    std::printf("\n");
  }
  for (const auto& e : r.eos)
    if (e.bm3)
      std::printf("%s: %zu points, BM3 V0 %.3f±%.3f K0 %.2f±%.2f K0' %.2f±%.2f\n", e.phase.c_str(),
                  e.points.size(), e.bm3->eos.v0, e.bm3->v0_esd, e.bm3->eos.k0_gpa, e.bm3->k0_esd,
                  e.bm3->eos.k0_prime, e.bm3->k0_prime_esd);
}

void expect_fractions_within(const Scan& scan, const SeriesResult& r, double tol) {
  ASSERT_EQ(r.frames.size(), scan.frames.size());
  for (std::size_t i = 0; i < r.frames.size(); ++i) {
    ASSERT_TRUE(r.frames[i].ok()) << "frame " << i << ": " << r.frames[i].reason;
    for (std::size_t p = 0; p < scan.fractions[i].size(); ++p)
      EXPECT_NEAR(r.frames[i].phases[p].fraction, scan.fractions[i][p], tol)
          << "frame " << i << " " << r.frames[i].phases[p].name;
  }
}

TEST(Series, CompressionDecompressionScanGivesFractionsTransitionsRetainedRsAndBulkModuli) {
  const Scan scan = make_scan(full_scan(0.55));
  SeriesOptions o;
  o.num_threads = 2;
  const auto r = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, o);
  print(r);
  expect_fractions_within(scan, r, 0.03);
  // A WZ phase at 14 GPa is not invented; RS is found at ambient after decompression.
  const auto& top = r.frames[14];
  EXPECT_DOUBLE_EQ(top.pressure_gpa, 14.0);
  EXPECT_FALSE(top.phases[kWZ].present);
  EXPECT_FALSE(top.phases[kZB].present);
  EXPECT_TRUE(r.frames.back().phases[kRS].present);
  EXPECT_EQ(r.frames[3].direction, pressure::Direction::Compression);
  EXPECT_EQ(r.frames[20].direction, pressure::Direction::Decompression);

  const auto t = analyse_transitions(r.frames, kRS);
  std::printf("compression %s -> %s: onset %.3f ± %.3f, midpoint %.3f ± %.3f GPa, width %.3f\n",
              t.compression.from.c_str(), t.compression.to.c_str(), t.compression.fit.onset_gpa,
              t.compression.fit.onset_esd, t.compression.fit.midpoint_gpa, t.compression.fit.midpoint_esd,
              t.compression.fit.width_gpa);
  std::printf(
      "decompression %s -> %s: onset %.3f ± %.3f, midpoint %.3f ± %.3f GPa; hysteresis %.3f ± %.3f; "
      "retained %.4f ± %.4f\n",
      t.decompression.from.c_str(), t.decompression.to.c_str(), t.decompression.fit.onset_gpa,
      t.decompression.fit.onset_esd, t.decompression.fit.midpoint_gpa, t.decompression.fit.midpoint_esd,
      t.hysteresis_gpa, t.hysteresis_esd, t.retained_fraction, t.retained_esd);
  ASSERT_TRUE(t.compression.detected);
  ASSERT_TRUE(t.decompression.detected);
  EXPECT_EQ(t.compression.from, "CdSe-WZ");
  EXPECT_EQ(t.compression.to, "CdSe-RS");
  EXPECT_EQ(t.decompression.from, "CdSe-RS");
  EXPECT_EQ(t.decompression.to, "CdSe-ZB");
  EXPECT_NEAR(t.compression.fit.midpoint_gpa, 6.5, 0.3);
  EXPECT_NEAR(t.decompression.fit.midpoint_gpa, 2.0, 0.3);
  EXPECT_NEAR(t.compression.fit.onset_gpa, 6.5 - 0.5 * std::log(19.0), 0.3);
  EXPECT_NEAR(t.decompression.fit.onset_gpa, 2.0 + 0.4 * std::log(19.0), 0.3);
  EXPECT_NEAR(t.hysteresis_gpa, 4.5, 0.4);
  EXPECT_NEAR(t.retained_fraction, 0.55, 0.03);
  EXPECT_GT(t.retained_esd, 0.0);

  // Bulk moduli of the phases seen over a pressure range, within 5 % of the simulated truth
  // (started from 53 and 74 GPa).
  ASSERT_TRUE(r.eos[kWZ].bm3 && r.eos[kRS].bm3);
  EXPECT_NEAR(r.eos[kWZ].bm3->eos.k0_gpa / true_eos_wz().eos.k0_gpa, 1.0, 0.05);
  EXPECT_NEAR(r.eos[kRS].bm3->eos.k0_gpa / true_eos_rs().eos.k0_gpa, 1.0, 0.05);
  EXPECT_NEAR(r.eos[kRS].bm3->eos.v0 / true_eos_rs().eos.v0, 1.0, 0.002);
  ASSERT_TRUE(r.eos[kRS].vinet && r.eos[kRS].bm2 && r.eos[kRS].ff);
  EXPECT_NEAR(r.eos[kRS].ff->intercept_gpa / 80.0, 1.0, 0.1);
}

class Retained : public ::testing::TestWithParam<double> {};

TEST_P(Retained, DecompressionMidpointAndRetainedRsFraction) {
  const double retained = GetParam();
  ScanSpec spec;
  spec.decompression_gpa = {12, 6, 3, 2.5, 2, 1.5, 1, 0};
  spec.retained = retained;
  spec.seed = 5;
  const Scan scan = make_scan(spec);
  const auto r = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan));
  print(r);
  expect_fractions_within(scan, r, 0.03);
  const auto t = analyse_transitions(r.frames, kRS);
  std::printf("retained %.4f ± %.4f at %.2f GPa; decompression detected %d midpoint %.3f ± %.3f (%s)\n",
              t.retained_fraction, t.retained_esd, t.retained_at_gpa, t.decompression.detected,
              t.decompression.fit.midpoint_gpa, t.decompression.fit.midpoint_esd,
              t.decompression.message.c_str());
  EXPECT_NEAR(t.retained_fraction, retained, 0.03);
  EXPECT_DOUBLE_EQ(t.retained_at_gpa, 0.0);
  if (retained > 0) {
    EXPECT_TRUE(r.frames.back().phases[kRS].present) << "the retained RS is found";
  }
  if (retained < 0.9) {
    ASSERT_TRUE(t.decompression.detected) << t.decompression.message;
    EXPECT_NEAR(t.decompression.fit.midpoint_gpa, 2.0, 0.3);
    EXPECT_EQ(t.decompression.to, "CdSe-ZB");
  } else {
    EXPECT_FALSE(t.decompression.detected) << "RS kept whole: no back-transformation";
  }
}

INSTANTIATE_TEST_SUITE_P(RsToZb, Retained, ::testing::Values(0.0, 0.03, 0.05, 1.0), [](const auto& p) {
  return "retained_" + std::to_string(int(p.param * 100 + 0.5));
});

ScanSpec short_scan() {
  ScanSpec spec;
  spec.compression_gpa = {0, 3, 6, 7, 9, 12};
  spec.decompression_gpa = {6, 2, 1, 0};
  spec.retained = 0.55;
  spec.seed = 9;
  return spec;
}

TEST(Series, ResultsAreIdenticalWithOneAndTwoThreads) {
  const Scan scan = make_scan(short_scan());
  SeriesOptions one, two;
  one.num_threads = 1;
  two.num_threads = 2;
  const auto r1 = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, one);
  const auto r2 = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, two);
  std::printf("1 thread %.2f s, 2 threads %.2f s\n", r1.seconds, r2.seconds);
  ASSERT_EQ(r1.frames.size(), r2.frames.size());
  for (std::size_t i = 0; i < r1.frames.size(); ++i) {
    EXPECT_EQ(r1.frames[i].rwp, r2.frames[i].rwp);
    EXPECT_EQ(r1.frames[i].num_fits, r2.frames[i].num_fits);
    for (std::size_t p = 0; p < scan.phases.size(); ++p) {
      const auto &a = r1.frames[i].phases[p], &b = r2.frames[i].phases[p];
      EXPECT_EQ(a.present, b.present);
      EXPECT_EQ(a.fraction, b.fraction);
      EXPECT_EQ(a.fraction_esd, b.fraction_esd);
      EXPECT_EQ(a.a, b.a);
      EXPECT_EQ(a.c, b.c);
      EXPECT_EQ(a.volume_esd, b.volume_esd);
    }
  }
  for (std::size_t p = 0; p < scan.phases.size(); ++p)
    if (r1.eos[p].bm3) {
      EXPECT_EQ(r1.eos[p].bm3->eos.k0_gpa, r2.eos[p].bm3->eos.k0_gpa);
    }
}

TEST(Series, SequentialAndIndependentModesAgreeWithinTheirUncertainties) {
  const Scan scan = make_scan(short_scan());
  SeriesOptions ind, seq, rev;
  seq.mode = rev.mode = SeriesMode::Sequential;
  rev.reverse = true;
  const auto ri = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, ind);
  for (const auto* o : {&seq, &rev}) {
    const auto rs = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, *o);
    print(rs);
    for (std::size_t i = 0; i < ri.frames.size(); ++i) {
      ASSERT_TRUE(rs.frames[i].ok());
      // Presence calls agree, except for a phase at the detection limit (z < 5 in both): the
      // modes start elsewhere and may land either side of the rule; then every fraction of
      // the frame agrees within the ±0.03 asked of fractions (and 3σ of that phase).
      double tol = 0.0;
      for (std::size_t p = 0; p < scan.phases.size(); ++p) {
        const auto &a = ri.frames[i].phases[p], &b = rs.frames[i].phases[p];
        if (a.present == b.present) continue;
        EXPECT_LT(std::max(a.significance, b.significance), 5.0) << "frame " << i << " " << a.name;
        tol = std::max({tol, 0.03, 3.0 * std::max(a.fraction_esd, b.fraction_esd)});
        std::printf("frame %zu: %s at the detection limit (z %.1f / %.1f), present in one mode only\n", i,
                    a.name.c_str(), a.significance, b.significance);
      }
      for (std::size_t p = 0; p < scan.phases.size(); ++p) {
        const auto &a = ri.frames[i].phases[p], &b = rs.frames[i].phases[p];
        EXPECT_LE(std::fabs(a.fraction - b.fraction),
                  std::max(tol, std::hypot(a.fraction_esd, b.fraction_esd)))
            << "frame " << i << " " << a.name;
        if (a.present && b.present) {
          EXPECT_LE(std::fabs(a.a - b.a), std::hypot(a.a_esd, b.a_esd)) << "frame " << i << " " << a.name;
          EXPECT_LE(std::fabs(a.c - b.c), std::hypot(a.c_esd, b.c_esd) + 1e-12)
              << "frame " << i << " " << a.name;
        }
      }
    }
  }
}

TEST(Series, GoldLinesGiveThePressureWhenNoneIsGiven) {
  ScanSpec spec;
  spec.compression_gpa = {0, 4, 8, 12};
  spec.decompression_gpa = {5, 0};
  spec.with_gold = true;
  spec.seed = 13;
  const Scan scan = make_scan(spec);
  SeriesOptions o;
  o.standard_phase = 3;
  o.standard = &pressure::find_standard("Au");
  const auto r = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan), {}, o);
  print(r);
  const std::vector<double> truth{0, 4, 8, 12, 5, 0};
  for (std::size_t i = 0; i < r.frames.size(); ++i) {
    const auto& f = r.frames[i];
    ASSERT_TRUE(f.ok()) << f.reason;
    EXPECT_EQ(f.pressure_origin, PressureOrigin::Standard);
    EXPECT_NEAR(f.pressure_gpa, truth[i], std::max(0.05, 3 * f.pressure_esd_gpa)) << "frame " << i;
    EXPECT_GT(f.pressure_esd_gpa, 0.0);
    for (std::size_t p = 0; p < 3; ++p)
      EXPECT_NEAR(f.phases[p].fraction, scan.fractions[i][p], 0.03)
          << "frame " << i << " " << f.phases[p].name;
  }
  EXPECT_EQ(r.frames[3].direction, pressure::Direction::Compression);
  EXPECT_EQ(r.frames[4].direction, pressure::Direction::Decompression);
}

TEST(Series, BadFramesAreReportedAndTheSeriesGoesOn) {
  ScanSpec spec;
  spec.compression_gpa = {0, 2, 4, 8, 10};
  spec.seed = 17;
  Scan scan = make_scan(spec);
  scan.frames[1].pressure_gpa = kNoPressure;                   // not measured
  scan.frames[2].pressure_gpa = 4000.0;                        // MPa given as GPa
  scan.frames[4].frame = scan.frames[3].frame;                 // duplicated frame number
  for (double& y : scan.frames[0].pattern.intensity) y = 0.0;  // a detector that gave zeros
  for (double& s : scan.frames[0].pattern.sigma) s = 1.0;
  scan.frames[3].pattern.intensity[10] = NAN;  // one bad point
  const auto r = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan));
  print(r);
  for (const auto& w : r.warnings) std::printf("warning: %s\n", w.c_str());
  ASSERT_EQ(r.frames.size(), 5u);
  EXPECT_EQ(r.frames[1].pressure_origin, PressureOrigin::None);
  EXPECT_TRUE(std::isnan(r.frames[1].pressure_gpa));
  EXPECT_TRUE(r.frames[1].ok()) << "seeded by a pressure scan, still fitted";
  EXPECT_NEAR(r.frames[1].phases[kWZ].fraction, 1.0, 0.03);
  EXPECT_EQ(r.frames[2].pressure_origin, PressureOrigin::None);
  EXPECT_EQ(r.frames[2].given_pressure_gpa, 4000.0);
  EXPECT_TRUE(r.frames[3].ok());
  EXPECT_TRUE(r.frames[4].ok());
  bool dup = false, implausible = false, none = false;
  for (const auto& w : r.warnings) {
    dup |= w.find("more than once") != std::string::npos;
    implausible |= w.find("implausible") != std::string::npos;
    none |= w.find("no pressure given") != std::string::npos;
  }
  EXPECT_TRUE(dup && implausible && none);
  EXPECT_EQ(r.frames[0].status, powder::FitStatus::Failed) << "a blank frame is not a converged fit";
  EXPECT_TRUE(std::isnan(r.frames[0].phases[kWZ].fraction));
}

TEST(Series, ParametricEosTiesTheCellsAndAgreesWithTheFreeCells) {
  ScanSpec spec;
  spec.compression_gpa = {0, 2, 4, 6, 7, 8, 10, 12, 14};
  spec.decompression_gpa = {10, 6, 3, 2, 1, 0};
  spec.seed = 21;
  const Scan scan = make_scan(spec);
  const auto r = refine_series(scan.frames, scan.phases, scan.settings, fit_start(scan));
  const auto pr = refine_parametric(scan.frames, r, scan.phases, scan.settings, {});
  std::printf("parametric: %.2f s, %d frames, χ² %.1f (free cells %.1f), k %d (%d), ΔBIC %.1f\n", pr.seconds,
              pr.num_frames, pr.chi2, pr.chi2_free, pr.num_free, pr.num_free_free, pr.delta_bic);
  ASSERT_TRUE(pr.converged) << pr.message;
  EXPECT_LT(pr.delta_bic, 0.0) << "the data were made on an EOS: the tied model is preferred";
  for (const auto& ph : pr.phases) {
    std::printf("%s: V0 %.3f ± %.3f K0 %.2f ± %.2f K0' %.2f ± %.2f (%d frames)\n", ph.phase.c_str(),
                ph.eos.eos.v0, ph.eos.v0_esd, ph.eos.eos.k0_gpa, ph.eos.k0_esd, ph.eos.eos.k0_prime,
                ph.eos.k0_prime_esd, ph.eos.num_points);
    const auto& free = r.eos[ph.index];
    ASSERT_TRUE(free.bm3);
    EXPECT_LE(std::fabs(ph.eos.eos.k0_gpa - free.bm3->eos.k0_gpa),
              2.0 * std::hypot(ph.eos.k0_esd, free.bm3->k0_esd));
  }
  ASSERT_GE(pr.phases.size(), 2u);
  EXPECT_NEAR(pr.phases[0].eos.eos.k0_gpa / 45.0, 1.0, 0.05);
  EXPECT_NEAR(pr.phases.back().eos.eos.k0_gpa / 80.0, 1.0, 0.05);
}

}  // namespace
}  // namespace anvil::series::test
