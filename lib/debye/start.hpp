// Where a DAC fit starts (debye/fit.cpp): the global looks taken before any refinement — the
// cell of a Le Bail phase from where its sharp lines are, the medium hump's place from a linear
// scan — and the bounds they share with the fit.
#pragma once

#include <array>
#include <vector>

#include "debye/fit.hpp"

namespace anvil::debye::detail {

constexpr double kHumpScanWidth = 0.3;  // Å⁻¹, σ of the scanning Gaussian
// Bounds on each side's σ: liquid and glassy pressure media (methanol–ethanol, silicone oil,
// glycerol, water) have a first diffraction peak 0.4–1.2 Å⁻¹ wide (FWHM); wider, the "hump"
// is the background's job and the two trade off without meaning.
constexpr double kHumpWidthMin = 0.05, kHumpWidthMax = 0.6;
// A Le Bail phase's width slope s = ΔFWHM/Δq: 5 % is far beyond any microstrain (0.1–1 %).
constexpr double kMaxWidthSlope = 0.05;

// q (Å⁻¹) of reflection hkl of a cubic or hexagonal (c/a kept) Le Bail cell of constant a.
double peak_q(const PeaksPhase& g, const std::array<int, 3>& hkl, double a);

// Where a peaks phase's sharp lines are: its cell chosen over its whole window by how much
// sharp intensity (the data above a running median 0.1 Å⁻¹ wide: the nanocrystals' broad lines
// and the backgrounds removed) its line positions collect. A local refinement from the CIF's
// cell can lock onto a neighbouring line of another phase under pressure; this search cannot.
double locate_sharp_lines(const PeaksPhase& g, const std::vector<double>& q, const std::vector<double>& y);

// The hump's place, looked at globally before any refinement: with every non-linear parameter
// at its start, the data are fitted by linear least squares over the linear ones (phase scales,
// background terms, Le Bail line heights, the hump's height) with the hump put at each centre
// of a grid (step 0.05 Å⁻¹, its width at kHumpScanWidth); χ²(centre) has a minimum where a hump
// explains the data, and the refinement starts from the best `count` minima (a local
// refinement from one start slides the hump under a phase's broad lines or widens it into the
// background: the neighbouring minima of docs/debye.md).
std::vector<double> hump_starts(const std::vector<double>& q, const std::vector<double>& y,
                                const std::vector<double>& sigma,
                                const std::vector<std::vector<double>>& columns, int count);

}  // namespace anvil::debye::detail
