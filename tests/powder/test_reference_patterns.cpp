// The model reproduces the reference "sticks ⊗ exact 4.8-nm sphere profile" patterns.
#include <gtest/gtest.h>

#include <cmath>

#include "powder/model.hpp"
#include "powder/reference_data.hpp"
#include "test_support.hpp"

namespace anvil::powder::test {
namespace {

// Trapezoid area of y over lo ≤ x ≤ hi.
double area(const std::vector<double>& x, const std::vector<double>& y, double lo, double hi) {
  double s = 0;
  for (std::size_t i = 1; i < x.size(); ++i)
    if (x[i - 1] >= lo && x[i] <= hi) s += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  return s;
}

double rms_relative(const std::vector<double>& x, const std::vector<double>& a, const std::vector<double>& b,
                    double lo, double hi) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i] >= lo && x[i] <= hi) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return std::sqrt(num / den);
}

std::vector<double> unit_area_model(const std::string& name, SizeProfile size, crystal::LpModel lp,
                                    const std::vector<double>& x, double size_nm = 4.8) {
  ModelSettings s;
  s.instrument.wavelength_a = kReferenceWavelength;
  s.size_profile = size;
  s.lp = lp;
  s.background_terms = 0;
  const PowderPhase ph = load_reference_phase(name);
  PatternModel model(s, {ph}, x);
  PatternParameters p = default_parameters({ph}, s, size_nm);
  std::vector<double> v;
  for (auto* q : p.flat()) v.push_back(q->value);
  std::vector<double> y(x.size());
  model.evaluate(v, y.data());
  const double A = area(x, y, 5.5, 30.0);
  for (double& t : y) t /= A;
  return y;
}

class ReferencePatterns : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferencePatterns, SphereProfilePatternReproducedWithinOnePercentRms) {
  ANVIL_REFERENCE_FILE(file, "phases/out/patterns/" + GetParam() + "_pattern.csv");
  const auto ref = load_reference_pattern(GetParam() + "_pattern.csv", "I_sticks_sphere");
  for (auto lp : {crystal::LpModel::Unpolarised, crystal::LpModel::PolarisationCorrected}) {
    const auto y = unit_area_model(GetParam(), SizeProfile::Sphere, lp, ref.two_theta_deg);
    const double rms = rms_relative(ref.two_theta_deg, y, ref.intensity, 3.0, 28.0);
    RecordProperty(lp == crystal::LpModel::Unpolarised ? "rms_unpolarised" : "rms_lorentz_only",
                   std::to_string(rms));
    std::printf("%s %s rms %.5f\n", GetParam().c_str(),
                lp == crystal::LpModel::Unpolarised ? "LPunpol" : "Lonly", rms);
    if (lp == crystal::LpModel::Unpolarised) {
      EXPECT_LT(rms, 0.01) << GetParam();
    }
  }
}

TEST_P(ReferencePatterns, ScherrerLorentzianPatternReproducedWithinOnePercentRms) {
  ANVIL_REFERENCE_FILE(file, "phases/out/patterns/" + GetParam() + "_pattern.csv");
  const auto ref = load_reference_pattern(GetParam() + "_pattern.csv", "I_sticks_lor");
  const auto y =
      unit_area_model(GetParam(), SizeProfile::Lorentzian, crystal::LpModel::Unpolarised, ref.two_theta_deg);
  const double rms = rms_relative(ref.two_theta_deg, y, ref.intensity, 3.0, 28.0);
  std::printf("%s lor rms %.5f\n", GetParam().c_str(), rms);
  EXPECT_LT(rms, 0.01) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(CdSeCdS, ReferencePatterns,
                         ::testing::Values("CdSe_WZ", "CdSe_ZB", "CdSe_RS", "CdS_WZ", "CdS_ZB", "CdS_RS"));

}  // namespace
}  // namespace anvil::powder::test
