// Synthetic mixtures of the reference sphere-profile patterns with known weight fractions and
// Poisson noise, for the refinement tests and the benchmark.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "powder/model.hpp"
#include "powder/refine.hpp"

namespace anvil::powder::test {

struct Mixture {
  std::vector<PowderPhase> phases;  // CdSe WZ, ZB, RS
  PowderPattern pattern;            // counts, σ = √max(counts, 1)
  ModelSettings settings;           // what generated the references: sphere, unpolarised LP
};

// weight fractions keyed by phase name ("CdSe_WZ", "CdSe_ZB", "CdSe_RS"); `column` of the
// reference pattern files; the strongest point of the noise-free mixture has `peak_counts`
// over a sloping background of about 10 % of it; 2θ from lo to hi.
Mixture make_mixture(const std::map<std::string, double>& fractions, double peak_counts, std::uint32_t seed,
                     double lo = 5.5, double hi = 29.5, const std::string& column = "I_sticks_sphere",
                     const std::string& file_override = "");

// Start values a fitter would use: cells off by +0.3 % (a) and −0.2 % (c), D = 4 nm.
PatternParameters mixture_start(const Mixture& m);

}  // namespace anvil::powder::test
