// Line profiles and the model's analytic Jacobian.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "powder/model.hpp"
#include "powder/profile.hpp"
#include "powder/reference_data.hpp"
#include "test_support.hpp"

namespace anvil::powder::test {
namespace {

TEST(Profile, TchPseudoVoigtHasUnitAreaAndTheTchWidth) {
  for (double gl : {0.0, 0.1, 0.3, 1.0}) {
    const TchWidth tw = tch_width(0.3, gl);
    double area = 0, half_left = NAN;
    const double peak = pseudo_voigt(0, tw.fwhm, tw.eta).value;
    for (double z = -400; z <= 400; z += 0.001) {
      const double v = pseudo_voigt(z, tw.fwhm, tw.eta).value;
      area += v * 0.001;
      if (std::isnan(half_left) && v >= 0.5 * peak) half_left = z;
    }
    EXPECT_NEAR(area, 1.0, 2e-3) << gl;  // Lorentzian tails beyond ±400 Γ
    EXPECT_NEAR(-2 * half_left, tw.fwhm, 2e-3) << gl;
  }
  EXPECT_NEAR(tch_width(0.3, 0.0).eta, 0.0, 1e-12);
  EXPECT_NEAR(tch_width(1e-9, 0.5).eta, 1.0, 1e-4);
  EXPECT_NEAR(tch_width(1e-9, 0.5).fwhm, 0.5, 1e-6);
}

TEST(Profile, SphereProfileHasUnitAreaIntegralBreadthFourThirdsOverD) {
  // In s: P(Δs) = 2D F(2πDΔs); area 1, peak 3D/4 (integral breadth 4/3D), FWHM = 1.1067/D
  // (FWHM/β = 0.830, Langford & Wilson's K_w = 0.829; the reference README's "1.075" is not
  // what its own V(L) gives).
  const double D = 48.0;
  EXPECT_NEAR(2 * D * sphere_f(0.0), 0.75 * D, 1e-12);
  double area = 0, fwhm_s = NAN;
  const double ds = 1e-5;
  for (double s = -5.0; s <= 5.0; s += ds) area += 2 * D * sphere_f(2 * M_PI * D * s) * ds;
  for (double s = 0; s < 1; s += 1e-6)
    if (sphere_f(2 * M_PI * D * s) < 0.5 * sphere_f(0)) {
      fwhm_s = 2 * s;
      break;
    }
  EXPECT_NEAR(area, 1.0, 3e-3);  // 1/s² tails beyond |Δs| = 5 Å⁻¹
  EXPECT_NEAR(fwhm_s * D, 1.1067, 2e-3);
  // Series and closed form meet smoothly.
  EXPECT_NEAR(sphere_f(0.999999), sphere_f(1.000001), 1e-6);
  EXPECT_NEAR(sphere_df(0.999999), sphere_df(1.000001), 1e-6);
  EXPECT_NEAR(sphere_df(2.0), (sphere_f(2.0 + 1e-6) - sphere_f(2.0 - 1e-6)) / 2e-6, 1e-8);
}

std::vector<double> values_of(PatternParameters& p) {
  std::vector<double> v;
  for (auto* q : p.flat()) v.push_back(q->value);
  return v;
}

TEST(Model, SphereConvolvedByFftMatchesTheAnalyticSphereWhenTheInstrumentIsNegligible) {
  ANVIL_REFERENCE_FILE(file, "phases/out/reflections/CdSe_WZ_B0.csv");
  const PowderPhase ph = load_reference_phase("CdSe_WZ");
  std::vector<double> x;
  for (double t = 5.0; t <= 25.0; t += 0.0125) x.push_back(t);
  ModelSettings s;
  s.instrument.wavelength_a = kReferenceWavelength;
  s.background_terms = 0;
  PatternModel exact(s, {ph}, x);
  s.instrument.w = 1e-7;  // Γ_G = 3e-4°, ~1/2000 of the size width: FFT route
  PatternModel fft(s, {ph}, x);
  auto p = default_parameters({ph}, s, 4.8);
  auto v = values_of(p);
  std::vector<double> a(x.size()), b(x.size());
  v[2] = 0.0;
  exact.evaluate(v, a.data());
  v[2] = 1e-7;
  fft.evaluate(v, b.data());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += a[i] * a[i];
  EXPECT_LT(std::sqrt(num / den), 2e-4);
}

// ∂y/∂p from the model against central differences, for every parameter.
void check_jacobian(const ModelSettings& s, PatternParameters p, const std::vector<PowderPhase>& phases,
                    const std::vector<double>& x, const std::vector<std::size_t>& skip = {}) {
  const std::vector<double> empty(x.size(), 1.0);
  PatternModel model(s, phases, x, empty);
  auto v = values_of(p);
  const std::size_t N = x.size(), P = v.size();
  std::vector<double> m(N), jac(N * P), mp(N), mm(N);
  std::vector<char> need(P, 1);
  for (auto k : skip) need[k] = 0;
  model.evaluate(v, m.data(), jac.data(), need);
  const auto names = p.names(phases);
  for (std::size_t k = 0; k < P; ++k) {
    if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
    const double h = 1e-6 * std::max(std::fabs(v[k]), 1e-3);
    auto vp = v, vm = v;
    vp[k] += h;
    vm[k] -= h;
    model.evaluate(vp, mp.data());
    model.evaluate(vm, mm.data());
    double num = 0, den = 0, ref = 0;
    for (std::size_t i = 0; i < N; ++i) {
      const double fd = (mp[i] - mm[i]) / (2 * h);
      num += (fd - jac[k * N + i]) * (fd - jac[k * N + i]);
      den += fd * fd;
      ref += jac[k * N + i] * jac[k * N + i];
    }
    if (den == 0 && ref == 0) continue;
    EXPECT_LT(std::sqrt(num / std::max(den, 1e-300)), 2e-4) << names[k];
  }
}

PatternParameters busy_parameters(const std::vector<PowderPhase>& phases, const ModelSettings& s) {
  auto p = default_parameters(phases, s, 4.5);
  p.zero_deg.value = 0.02;
  p.displacement.value = 0.003;
  p.hump_amplitude.value = 50;
  p.hump_center.value = s.hump_axis == HumpAxis::Q ? 2.5 : 12.0;
  p.hump_width.value = s.hump_axis == HumpAxis::Q ? 0.8 : 4.0;
  p.empty_scale.value = 3.0;
  for (std::size_t k = 0; k < p.background.size(); ++k) p.background[k].value = 10.0 / (k + 1);
  for (auto& q : p.phases) {
    q.scale.value = 1e-3;
    q.strain.value = 0.004;
    q.b_iso.value = 0.7;
    q.a.value *= 0.99;
    q.c.value *= 1.003;
  }
  return p;
}

TEST(Model, AnalyticJacobianMatchesFiniteDifferencesForTheSphereProfile) {
  ANVIL_REFERENCE_FILE(file, "phases/out/reflections/CdSe_WZ_B0.csv");
  const std::vector<PowderPhase> phases{load_reference_phase("CdSe_WZ"), load_reference_phase("CdSe_RS")};
  std::vector<double> x;
  for (double t = 6.0; t <= 22.0; t += 0.02) x.push_back(t);
  ModelSettings s;
  s.instrument = {kReferenceWavelength, 0.002, -0.001, 0.004};
  s.size_profile = SizeProfile::Sphere;
  s.hump_axis = HumpAxis::Q;
  check_jacobian(s, busy_parameters(phases, s), phases, x, {0, 1, 2});
}

TEST(Model, AnalyticJacobianMatchesFiniteDifferencesForTchPseudoVoigt) {
  ANVIL_REFERENCE_FILE(file, "phases/out/reflections/CdSe_WZ_B0.csv");
  const std::vector<PowderPhase> phases{load_reference_phase("CdSe_WZ"), load_reference_phase("CdSe_ZB")};
  std::vector<double> x;
  for (double t = 6.0; t <= 22.0; t += 0.017) x.push_back(t * (1.0 + 0.002 * std::sin(t)));  // uneven
  ModelSettings s;
  s.instrument = {kReferenceWavelength, 0.002, -0.001, 0.004};
  s.size_profile = SizeProfile::Lorentzian;
  check_jacobian(s, busy_parameters(phases, s), phases, x);
}

// The flat parameter vector has one layout: every index is located back to the slot that named it,
// in the order PatternParameters::flat() lists the parameters.
TEST(Model, ParameterLayoutLocatesEverySlotItNames) {
  const ParameterLayout layout(4, 3);
  EXPECT_EQ(layout.size(), ParameterLayout::kGlobal + 4 + 3 * ParameterLayout::kPerPhase);
  std::vector<int> seen(layout.size(), 0);
  for (std::size_t g = 0; g < ParameterLayout::kGlobal; ++g) {
    const auto i = ParameterLayout::global(static_cast<GlobalParam>(g));
    EXPECT_TRUE(layout.locate(i).is(static_cast<GlobalParam>(g)));
    ++seen[i];
  }
  for (std::size_t k = 0; k < 4; ++k) {
    const auto slot = layout.locate(layout.background(k));
    EXPECT_EQ(slot.kind, ParameterSlot::Kind::Background);
    EXPECT_EQ(slot.index, k);
    ++seen[layout.background(k)];
  }
  for (std::size_t p = 0; p < 3; ++p)
    for (std::size_t k = 0; k < ParameterLayout::kPerPhase; ++k) {
      const auto i = layout.phase(p, static_cast<PhaseParam>(k));
      const auto slot = layout.locate(i);
      EXPECT_EQ(slot.phase, p);
      EXPECT_TRUE(slot.is(static_cast<PhaseParam>(k)));
      ++seen[i];
    }
  for (int n : seen) EXPECT_EQ(n, 1);
  // PatternParameters::flat() follows the same order.
  PatternParameters pp;
  pp.background.resize(4);
  pp.phases.resize(3);
  const auto flat = pp.flat();
  ASSERT_EQ(flat.size(), pp.size());
  EXPECT_EQ(flat[ParameterLayout::global(GlobalParam::Zero)], &pp.zero_deg);
  EXPECT_EQ(flat[ParameterLayout::global(GlobalParam::EmptyScale)], &pp.empty_scale);
  EXPECT_EQ(flat[pp.background_index(2)], &pp.background[2]);
  EXPECT_EQ(flat[pp.phase_index(1, PhaseParam::A)], &pp.phases[1].a);
  EXPECT_EQ(flat[pp.phase_index(2, PhaseParam::BIso)], &pp.phases[2].b_iso);
}

TEST(Model, PhaseWithoutReflectionInRangeIsAnInputError) {
  PowderPhase ph{"tiny", CellKind::Cubic, 2.0, 0, 1, 10.0, {{1, 1, 1, 8, 100.0}}, 0.0};
  ModelSettings s;
  s.instrument.wavelength_a = kReferenceWavelength;
  std::vector<double> x;
  for (double t = 5.0; t <= 10.0; t += 0.01) x.push_back(t);
  EXPECT_THROW(PatternModel(s, {ph}, x), InputError);  // 111 at 2θ ≈ 24.3°
  s.instrument.wavelength_a = 0;
  ph.reflections[0] = {1, 0, 0, 6, 100.0};
  EXPECT_THROW(PatternModel(s, {ph}, x), InputError);
}

}  // namespace
}  // namespace anvil::powder::test
