// Powder-pattern model and refinement cost: one model evaluation, one Jacobian (model plus
// ∂y/∂p for the parameters a 3-phase fit refines), and one whole 3-phase fit (CdSe WZ + ZB + RS,
// 2000 points, 6–26° 2θ at λ = 0.4859 Å, 4.8-nm spheres, Poisson noise, cells started 0.3 % off),
// for the three profile routes: exact sphere (no instrument), sphere ⊗ instrument pseudo-Voigt
// (FFT), and TCH pseudo-Voigt with Scherrer-Lorentzian size. One thread.
//
// The phases' |F|² use constant scattering factors (f_Cd = 45.5, f_Se = 34 e): realistic line
// counts and overlaps, not reference intensities (the tests use those).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "powder/model.hpp"
#include "powder/refine.hpp"

namespace {

using namespace anvil::powder;

constexpr double kLambda = 0.4859, kFcd = 45.5, kFse = 34.0, kMaxTth = 30.0;

PowderPhase cubic(const std::string& name, double a, bool zinc_blende) {
  PowderPhase ph{name, CellKind::Cubic, a, 0, 4, 191.371, {}, 0.0};
  std::map<std::tuple<int, int, int>, int> fam;
  for (int h = -12; h <= 12; ++h)
    for (int k = -12; k <= 12; ++k)
      for (int l = -12; l <= 12; ++l) {
        if ((h == 0 && k == 0 && l == 0) || ((h + k) % 2 != 0) || ((k + l) % 2 != 0)) continue;
        const double d = a / std::sqrt(h * h + k * k + l * l);
        if (kLambda / (2 * d) >= std::sin(kMaxTth * M_PI / 360)) continue;
        std::array<int, 3> s{std::abs(h), std::abs(k), std::abs(l)};
        std::sort(s.begin(), s.end());
        ++fam[{s[2], s[1], s[0]}];
      }
  for (const auto& [hkl, m] : fam) {
    const auto [h, k, l] = hkl;
    const std::complex<double> phase = zinc_blende ? std::polar(1.0, M_PI / 2 * (h + k + l))
                                                   : std::complex<double>((h + k + l) % 2 ? -1.0 : 1.0, 0.0);
    ph.reflections.push_back({h, k, l, m, 16.0 * std::norm(kFcd + kFse * phase)});
  }
  return ph;
}

PowderPhase wurtzite(double a, double c, double u) {
  PowderPhase ph{"CdSe_WZ", CellKind::Hexagonal, a, c, 2, 191.371, {}, 0.0};
  std::map<std::pair<int, int>, std::pair<std::array<int, 3>, int>> fam;  // (h²+hk+k², |l|)
  for (int h = -8; h <= 8; ++h)
    for (int k = -8; k <= 8; ++k)
      for (int l = -14; l <= 14; ++l) {
        if (h == 0 && k == 0 && l == 0) continue;
        const PowderReflection r{h, k, l, 1, 0};
        if (kLambda / (2 * d_spacing(CellKind::Hexagonal, r, a, c)) >= std::sin(kMaxTth * M_PI / 360))
          continue;
        auto& f = fam[{h * h + h * k + k * k, std::abs(l)}];
        if (f.second++ == 0) f.first = {h, k, l};
      }
  for (const auto& [key, v] : fam) {
    const auto [h, k, l] = v.first;
    const auto e = [&](double x, double y, double z) {
      return std::polar(1.0, 2 * M_PI * (h * x + k * y + l * z));
    };
    const std::complex<double> F = kFcd * (e(1. / 3, 2. / 3, 0) + e(2. / 3, 1. / 3, 0.5)) +
                                   kFse * (e(1. / 3, 2. / 3, u) + e(2. / 3, 1. / 3, 0.5 + u));
    if (std::norm(F) > 1e-6) ph.reflections.push_back({h, k, l, v.second, std::norm(F)});
  }
  return ph;
}

struct Setup {
  std::vector<PowderPhase> phases;
  ModelSettings settings;
  PowderPattern pattern;
  PatternParameters start;
};

Setup make_setup(int route) {
  Setup s;
  s.phases = {wurtzite(4.299, 7.010, 0.375), cubic("CdSe_ZB", 6.077, true), cubic("CdSe_RS", 5.70, false)};
  s.settings.instrument.wavelength_a = kLambda;
  s.settings.lp = anvil::crystal::LpModel::PolarisationCorrected;
  s.settings.background_terms = 8;
  if (route == 0) s.settings.size_profile = SizeProfile::Sphere;
  if (route == 1) s.settings.size_profile = SizeProfile::Sphere, s.settings.instrument.w = 0.0025;
  if (route == 2) s.settings.size_profile = SizeProfile::Lorentzian, s.settings.instrument.w = 0.0025;
  for (int i = 0; i < 2000; ++i) s.pattern.two_theta_deg.push_back(6.0 + 0.01 * i);
  PatternModel model(s.settings, s.phases, s.pattern.two_theta_deg);
  PatternParameters truth = default_parameters(s.phases, s.settings, 4.8);
  const double scale[3] = {0.4, 0.45, 0.15};
  for (std::size_t p = 0; p < 3; ++p) truth.phases[p].scale.value = 3e-3 * scale[p];
  truth.background[0].value = 2000;
  truth.background[1].value = -300;
  std::vector<double> v, y(2000);
  for (auto* q : truth.flat()) v.push_back(q->value);
  model.evaluate(v, y.data());
  std::mt19937 rng(1);
  for (double& t : y) t = std::poisson_distribution<long>(t)(rng);
  s.pattern.intensity = y;
  s.start = default_parameters(s.phases, s.settings, 4.0);
  for (auto& q : s.start.phases) q.a.value *= 1.003, q.c.value *= 0.998;
  return s;
}

const char* route_name(int r) { return r == 0 ? "sphere" : r == 1 ? "sphere*pV(FFT)" : "TCH-pV"; }

void BM_ModelEvaluation(benchmark::State& st) {
  const Setup s = make_setup(static_cast<int>(st.range(0)));
  PatternModel model(s.settings, s.phases, s.pattern.two_theta_deg);
  std::vector<double> v, y(2000);
  for (auto* q : s.start.flat()) v.push_back(q->value);
  for (auto _ : st) {
    model.evaluate(v, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetLabel(route_name(static_cast<int>(st.range(0))));
}

void BM_ModelJacobian(benchmark::State& st) {
  const Setup s = make_setup(static_cast<int>(st.range(0)));
  PatternModel model(s.settings, s.phases, s.pattern.two_theta_deg);
  std::vector<double> v;
  std::vector<char> need;
  for (auto* q : s.start.flat()) v.push_back(q->value), need.push_back(q->refine);
  std::vector<double> y(2000), jac(2000 * v.size());
  int free = 0;
  for (char c : need) free += c;
  for (auto _ : st) {
    model.evaluate(v, y.data(), jac.data(), need);
    benchmark::DoNotOptimize(jac.data());
  }
  st.SetLabel(std::string(route_name(static_cast<int>(st.range(0)))) + ", " + std::to_string(free) +
              " columns");
}

void BM_Fit3Phase(benchmark::State& st) {
  const Setup s = make_setup(static_cast<int>(st.range(0)));
  PatternModel model(s.settings, s.phases, s.pattern.two_theta_deg);
  int iterations = 0;
  for (auto _ : st) {
    const FitResult r = refine(model, s.pattern, s.start);
    iterations = r.iterations;
    if (r.status != FitStatus::Converged) st.SkipWithError(r.reason.c_str());
  }
  st.counters["iterations"] = iterations;
  st.SetLabel(route_name(static_cast<int>(st.range(0))));
}

BENCHMARK(BM_ModelEvaluation)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ModelJacobian)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fit3Phase)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
