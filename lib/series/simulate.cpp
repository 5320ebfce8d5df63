#include "series/simulate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.hpp"

namespace anvil::series {

powder::PowderPattern simulate_pattern(const powder::PatternModel& model, const SimulatedFrame& frame) {
  const auto& phases = model.phases();
  if (frame.fractions.size() != phases.size() || frame.parameters.phases.size() != phases.size())
    throw InputError("simulate",
                     fmt::format("{} fractions and {} phase parameter sets for {} phases",
                                 frame.fractions.size(), frame.parameters.phases.size(), phases.size()));
  powder::PatternParameters p = frame.parameters;
  for (auto& b : p.background) b.value = 0.0;
  p.hump_amplitude.value = 0.0;
  p.empty_scale.value = 0.0;
  for (std::size_t k = 0; k < phases.size(); ++k) {
    const auto& ph = phases[k];
    auto& q = p.phases[k];
    q.scale.value = frame.fractions[k] / powder::hill_howard_zmv(ph, q.a.value, q.c.value);
  }
  std::vector<double> values;
  for (const auto* q : p.flat()) values.push_back(q->value);
  const std::size_t n = model.num_points();
  std::vector<double> clean(n);
  model.evaluate(values, clean.data());
  const double peak = *std::max_element(clean.begin(), clean.end());
  if (!(peak > 0)) throw InputError("simulate", "the phases give no intensity in range");
  const auto& x = model.two_theta_deg();
  std::mt19937 rng(frame.seed);
  powder::PowderPattern out;
  out.two_theta_deg = x;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = (x[i] - x.front()) / (x.back() - x.front());
    const double mean =
        clean[i] / peak * frame.peak_counts + frame.background_fraction * frame.peak_counts * (1.2 - 0.4 * t);
    const double counts =
        frame.seed == 0 ? mean : static_cast<double>(std::poisson_distribution<long>(mean)(rng));
    out.intensity.push_back(counts);
    out.sigma.push_back(std::sqrt(std::max(counts, 1.0)));
  }
  return out;
}

}  // namespace anvil::series
