// Synthetic patterns from anvil's own powder model, for tests, benchmarks and for planning an
// experiment: known phase fractions and cells, a sloping background, Poisson counting noise.
#pragma once

#include <cstdint>
#include <vector>

#include "powder/model.hpp"
#include "powder/refine.hpp"

namespace anvil::series {

struct SimulatedFrame {
  std::vector<double> fractions;         // Hill–Howard weight (formula-unit) fraction per phase, sum 1
  powder::PatternParameters parameters;  // cells, sizes, zero...; scales are set from `fractions`
  double peak_counts = 2e4;              // the strongest point of the phases' sum
  double background_fraction = 0.1;      // background ≈ this × peak_counts, sloping 1.2 → 0.8
  std::uint32_t seed = 1;                // Poisson noise; seed 0 gives the noise-free pattern
};

// The pattern at the model's points: scales S_p ∝ W_p / (Z_p M_p V_p) (Hill & Howard 1987),
// σ = √max(counts, 1). The model's background coefficients in `parameters` are ignored
// (the background is the linear slope above).
powder::PowderPattern simulate_pattern(const powder::PatternModel& model, const SimulatedFrame& frame);

}  // namespace anvil::series
