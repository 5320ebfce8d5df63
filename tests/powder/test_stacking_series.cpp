// What a WZ + ZB model says about the DSE patterns of 4.8-nm CdSe spheres with random
// hexagonal/cubic stacking (α = probability of a cubic stacking step). The table printed here
// is the one in docs/powder.md.
#include <gtest/gtest.h>

#include <cmath>

#include "powder/reference_data.hpp"
#include "powder/refine.hpp"
#include "test_support.hpp"

namespace anvil::powder::test {
namespace {

TEST(StackingSeries, WurtziteAtAlphaZeroZincBlendeAtAlphaOneAndMonotonicBetween) {
  ANVIL_REFERENCE_FILE(file, "phases/out/patterns/CdSe_stacking_series_dse.csv");
  const auto cols = load_csv_columns(file);
  const std::vector<PowderPhase> phases{load_reference_phase("CdSe_WZ"), load_reference_phase("CdSe_ZB")};
  ModelSettings s;
  s.instrument.wavelength_a = kReferenceWavelength;
  s.size_profile = SizeProfile::Sphere;
  s.lp = crystal::LpModel::Unpolarised;  // the DSE patterns carry (1 + cos²2θ)/2
  s.background_terms = 10;               // the DSE's small-angle form-factor rise and diffuse part
  std::printf("| α | WZ fraction | ZB fraction | WZ a, c (Å) | ZB a (Å) | D_WZ, D_ZB (nm) | Rwp |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::vector<double> wz;
  for (const char* alpha : {"0.0", "0.1", "0.3", "0.5", "0.7", "1.0"}) {
    PowderPattern pat;
    const auto& x = cols.at("tth_deg");
    const auto& y = cols.at(std::string("I_dse_alpha") + alpha);
    double peak = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i] >= 5.5 && x[i] <= 29.5) peak = std::max(peak, y[i]);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i] < 5.5 || x[i] > 29.5) continue;
      const double counts = y[i] / peak * 1e5;  // noise-free, σ of 1e5-count Poisson statistics
      pat.two_theta_deg.push_back(x[i]);
      pat.intensity.push_back(counts);
      pat.sigma.push_back(std::sqrt(counts));
    }
    auto start = default_parameters(phases, s, 4.5);
    const FitResult r = refine(pat, phases, s, start);
    ASSERT_EQ(r.status, FitStatus::Converged) << alpha << ": " << r.reason;
    const auto& w = r.phases[0];
    const auto& z = r.phases[1];
    std::printf("| %s | %.3f ± %.3f | %.3f ± %.3f | %.4f, %.4f | %.4f | %.2f, %.2f | %.3f |\n", alpha,
                w.fraction, w.fraction_esd, z.fraction, z.fraction_esd, w.a, w.c, z.a, w.size_nm, z.size_nm,
                r.rwp);
    wz.push_back(w.fraction);
  }
  EXPECT_GT(wz.front(), 0.85);
  EXPECT_LT(wz.back(), 0.15);
  for (std::size_t k = 1; k < wz.size(); ++k) EXPECT_LT(wz[k], wz[k - 1] + 0.05);
}

}  // namespace
}  // namespace anvil::powder::test
