#include "powder/mixtures.hpp"

#include <algorithm>
#include <random>

#include "powder/reference_data.hpp"

namespace anvil::powder::test {

namespace {
// Area of the unit-scale model of one phase over 5.5–30° — the normalisation the reference
// patterns were given — so that a unit-area reference pattern can be put back on the
// absolute (per formula unit) scale.
double model_area(const PowderPhase& ph, const ModelSettings& s, const std::vector<double>& x) {
  ModelSettings s0 = s;
  s0.background_terms = 0;
  PatternModel model(s0, {ph}, x);
  auto p = default_parameters({ph}, s0, 4.8);
  std::vector<double> v;
  for (auto* q : p.flat()) v.push_back(q->value);
  std::vector<double> y(x.size());
  model.evaluate(v, y.data());
  double a = 0;
  for (std::size_t i = 1; i < x.size(); ++i)
    if (x[i - 1] >= 5.5 && x[i] <= 30.0) a += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  return a;
}
}  // namespace

Mixture make_mixture(const std::map<std::string, double>& fractions, double peak_counts, std::uint32_t seed,
                     double lo, double hi, const std::string& column, const std::string& file_override) {
  Mixture m;
  m.settings.instrument.wavelength_a = kReferenceWavelength;
  m.settings.size_profile = SizeProfile::Sphere;
  m.settings.lp = crystal::LpModel::Unpolarised;
  m.settings.background_terms = 8;
  std::vector<double> clean;
  std::vector<double> x;
  for (const std::string name : {"CdSe_WZ", "CdSe_ZB", "CdSe_RS"}) {
    const PowderPhase ph = load_reference_phase(name);
    m.phases.push_back(ph);
    const auto it = fractions.find(name);
    const double w = it == fractions.end() ? 0.0 : it->second;
    const auto ref = load_reference_pattern(file_override.empty() ? name + "_pattern.csv" : file_override,
                                            file_override.empty() ? column : column);
    if (x.empty()) {
      x = ref.two_theta_deg;
      clean.assign(x.size(), 0.0);
    }
    if (w == 0.0) continue;
    const double area = model_area(ph, m.settings, x);
    const double zmv = ph.z * ph.formula_mass * cell_volume(ph.kind, ph.a, ph.c);
    for (std::size_t i = 0; i < x.size(); ++i) clean[i] += w / zmv * area * ref.intensity[i];
  }
  double peak = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i] >= lo && x[i] <= hi) peak = std::max(peak, clean[i]);
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] < lo || x[i] > hi) continue;
    const double bg = 0.1 * peak_counts * (1.2 - 0.4 * (x[i] - lo) / (hi - lo));
    const double mean = clean[i] / peak * peak_counts + bg;
    const double counts = std::poisson_distribution<long>(mean)(rng);
    m.pattern.two_theta_deg.push_back(x[i]);
    m.pattern.intensity.push_back(counts);
    m.pattern.sigma.push_back(std::sqrt(std::max(counts, 1.0)));
  }
  return m;
}

PatternParameters mixture_start(const Mixture& m) {
  PatternParameters p = default_parameters(m.phases, m.settings, 4.0);
  for (auto& q : p.phases) {
    q.a.value *= 1.003;
    if (q.c.refine) q.c.value *= 0.998;
  }
  return p;
}

}  // namespace anvil::powder::test
