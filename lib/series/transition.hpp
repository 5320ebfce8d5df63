// Transition pressures from the fraction of the high-pressure phase against pressure, on
// compression and on decompression separately.
//
// Per direction a logistic step is fitted (Ceres, weights from σ of the fractions and of the
// pressures by effective variance, σ of the fraction floored at 0.005):
//   f(P) = low + (high − low) / (1 + exp(−(P − P_mid)/w)),   w > 0.
//  - midpoint P_mid: half of the transformation done;
//  - onset: where 5 % of it is done (onset_level), i.e. on compression, where the high-pressure
//    phase has grown to low + 0.05 (high − low): P_mid − w ln 19; on decompression, where it has
//    shrunk to high − 0.05 (high − low): P_mid + w ln 19;
//  - width w (10–90 % takes 2 w ln 9 ≈ 4.4 w);
//  - hysteresis: P_mid(compression) − P_mid(decompression), σ from both;
//  - retained fraction: the high-pressure phase's fraction in the lowest-pressure frame of the
//    decompression (with that fit's σ); the decompression fit's `low` plateau is given too.
// A direction whose fractions change by less than min_amplitude (0.05) shows no transformation:
// nothing is fitted and `detected` is false (e.g. RS kept whole on decompression). The frame
// at the top pressure starts the decompression curve as well as ending the compression one.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "powder/phase.hpp"
#include "pressure/direction.hpp"
#include "series/series.hpp"

namespace anvil::series {

struct FractionPoint {
  double pressure_gpa = 0.0, pressure_esd_gpa = 0.0;
  double fraction = 0.0, fraction_esd = 0.0;
};

struct SigmoidFit {
  double low = 0, low_esd = 0, high = 0, high_esd = 0;
  double midpoint_gpa = 0, midpoint_esd = 0;
  double width_gpa = 0, width_esd = 0;
  double onset_gpa = 0, onset_esd = 0;
  double chi2_reduced = 0;
  int num_points = 0;
  bool converged = false;
  bool width_at_bound = false;  // sharper than the pressure steps resolve: P_mid lies between frames
  std::string message;
  double at(double pressure_gpa) const;
};

// `rising`: the onset is on the low-pressure side (compression) or the high-pressure side
// (decompression). Throws InputError with fewer than 4 points.
SigmoidFit fit_sigmoid(std::span<const FractionPoint> points, bool rising, double onset_level = 0.05,
                       double fraction_esd_floor = 0.005);

struct TransitionOptions {
  double onset_level = 0.05;
  double min_amplitude = 0.05;
  double fraction_esd_floor = 0.005;
};

struct Transition {
  pressure::Direction direction = pressure::Direction::Unknown;
  std::string from, to;  // e.g. CdSe-WZ → CdSe-RS; decompression: CdSe-RS → CdSe-ZB
  bool detected = false;
  SigmoidFit fit;
  std::vector<FractionPoint> points;
  std::string message;
};

struct TransitionAnalysis {
  std::string high_pressure_phase;
  Transition compression, decompression;
  double hysteresis_gpa = std::numeric_limits<double>::quiet_NaN(), hysteresis_esd = 0;
  double retained_fraction = std::numeric_limits<double>::quiet_NaN(), retained_esd = 0;
  double retained_at_gpa = std::numeric_limits<double>::quiet_NaN();
  std::size_t retained_frame = 0;
};

// The densest phase per formula unit at its ambient cell (V/Z smallest): the one a pressure
// drives the sample into (CdSe RS). `skip` (the standard) is never chosen.
std::size_t densest_phase(const std::vector<powder::PowderPhase>& phases, int skip = -1);

// From a series' frames (converged, with a pressure and a direction). `hp`: index of the
// high-pressure phase; `skip`: the standard, never a "from"/"to" phase.
TransitionAnalysis analyse_transitions(const std::vector<FrameResult>& frames, std::size_t hp, int skip = -1,
                                       const TransitionOptions& options = {});

}  // namespace anvil::series
