// Refinement of every frame of a pressure scan with one set of phases, and the equations of
// state that come out of it.
//
// Modes (docs/series.md):
//  - Independent (default). Every frame starts from the cell its phase's EOS predicts at the
//    frame's pressure, so frames do not depend on each other and are fitted in parallel (TBB).
//    Pass 1 fits every frame with all phases; the EOS of each phase (and c/a of hexagonal
//    phases) is then refitted from the frames where the phase is significant; pass 2 starts
//    every frame again from the updated EOS and applies the presence rule. Each frame's result
//    depends only on the pass's EOS, never on which thread ran it or in what order, so the
//    numbers are identical for any thread count.
//  - Sequential (GSAS-II's sequential refinement). Frames in scan order (or reversed, e.g. to
//    start a decompression from its top), each started from the previous frame's refined
//    parameters (a phase absent there starts from its EOS cell at this pressure). A refined
//    parameter that ends at one of its bounds is frozen at that value for the following frames
//    and reported (FrameResult::at_bound where it happened, ::frozen in each frame it was held).
//
// Presence rule (per frame, every phase except the pressure standard):
//  1. Fit with all phases. z = min(fraction/σ(fraction), scale/σ(scale)) (the scale's
//     significance guards a lone phase, whose fraction is 1 ± 0 whatever the data).
//  2. z < min_significance (3): absent.
//  3. Otherwise, unless z² > sure_factor · k · ln N (clearly present: for a phase that enters
//     linearly Δχ²/s² ≈ z², so ΔBIC ≫ 0 without refitting), refit without the phase and
//     compare the Bayesian information criterion on χ²:
//       ΔBIC = (χ²_without − χ²_with) / s² − k ln N,   s² = χ²_ν of the fit with the phase,
//     k = the number of parameters the phase adds, N = number of points (AIC: 2k instead of
//     k ln N). Present when ΔBIC > 0.
//  4. Absent phases leave the model: the frame is refitted with the present ones. An absent
//     phase is reported with fraction 0, σ from the all-phase fit (the detection limit), z and
//     ΔBIC.
// Fractions are of the sample only: the pressure standard's share is taken out
// (f_p / (1 − f_std), σ likewise; correlations with the standard's scale neglected).
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "powder/model.hpp"
#include "powder/refine.hpp"
#include "pressure/direction.hpp"
#include "pressure/standard.hpp"
#include "series/eos_fit.hpp"
#include "series/phase_eos.hpp"

namespace anvil::series {

constexpr double kNoPressure = std::numeric_limits<double>::quiet_NaN();

enum class SeriesMode { Independent, Sequential };
enum class InformationCriterion { BIC, AIC, None };

// Where a frame's pressure came from.
enum class PressureOrigin { Given, Standard, None };
const char* pressure_origin_name(PressureOrigin o);  // "given", "standard", "none"

struct SeriesFrame {
  std::size_t frame = 0;              // frame number (frames are given in scan order)
  double pressure_gpa = kNoPressure;  // NaN: not measured
  double pressure_esd_gpa = 0.0;
  powder::PowderPattern pattern;  // the same 2θ points in every frame
};

struct PresenceRule {
  double min_significance = 3.0;  // fraction/σ below this: absent
  InformationCriterion criterion = InformationCriterion::BIC;
  double sure_factor = 2.0;  // z² above sure_factor · (k ln N) skips the refit
  bool enabled = true;       // false: every phase stays in every frame
};

struct SeriesOptions {
  SeriesMode mode = SeriesMode::Independent;
  bool reverse = false;  // sequential: last frame first
  int passes = 2;        // independent: EOS updates + 1
  int num_threads = 0;   // 0: TBB's default
  PresenceRule presence;
  // An internal pressure standard among the phases (index), with its EOS (lib/pressure). A
  // frame without a given pressure takes the standard's: P(a) with σ from σ(a).
  int standard_phase = -1;
  const pressure::PressureStandard* standard = nullptr;
  // Frames without a usable pressure are started at the pressure whose EOS-predicted cells
  // fit best (a linear fit of scales and background on a 0.5 GPa grid up to this, then 0.1).
  double seed_scan_max_gpa = 40.0;
  pressure::EosForm eos_form = pressure::EosForm::BM3;  // the form that reseeds the frames
  int min_eos_points = 4;  // below: the seed EOS is not refitted (K0′ fixed below 6 points)
  // Pressures outside [min, max] are reported and treated as unknown (wrong units?).
  double max_plausible_gpa = 500.0;
  double min_plausible_gpa = -1.0;  // plus 3σ of the given esd
  powder::RefineOptions refine;
  pressure::DirectionOptions direction;
};

struct PhaseInFrame {
  std::string name;
  bool present = false;
  double significance = std::numeric_limits<double>::quiet_NaN();  // z of the all-phase fit
  double delta_ic = std::numeric_limits<double>::quiet_NaN();      // ΔBIC/ΔAIC when computed
  double fraction = 0, fraction_esd = 0;
  double a = 0, a_esd = 0, c = 0, c_esd = 0, volume = 0, volume_esd = 0;
  double size_nm = 0, size_esd = 0;
  std::vector<powder::LineD> main_lines;
};

struct FrameResult {
  std::size_t frame = 0;
  double pressure_gpa = kNoPressure, pressure_esd_gpa = 0.0;  // used for EOS and transitions
  PressureOrigin pressure_origin = PressureOrigin::None;
  double given_pressure_gpa = kNoPressure;  // as given (even when implausible)
  double standard_pressure_gpa = kNoPressure, standard_pressure_esd_gpa = 0.0;
  double seed_pressure_gpa = kNoPressure;  // where the cells were started
  pressure::Direction direction = pressure::Direction::Unknown;
  powder::FitStatus status = powder::FitStatus::Failed;
  std::string reason;
  double rwp = 0, gof = 0;
  double chi2 = 0;  // Σ ((y − model)/σ)² of the final fit
  int num_points = 0, num_free = 0;
  int num_fits = 0;                   // refinements this frame needed (presence tests included)
  std::vector<PhaseInFrame> phases;   // one per phase, in the order given
  std::vector<std::string> at_bound;  // sequential: parameters that ended at a bound here
  std::vector<std::string> frozen;    // sequential: parameters held at a bound from before
  std::vector<std::string> notes;
  powder::PatternParameters parameters;  // final values, all phases (absent: scale 0)
  bool ok() const { return status == powder::FitStatus::Converged; }
};

// The equations of state of one phase from the series.
struct PhaseSeriesEos {
  std::string phase;
  PhaseEos seed;                // what started the last pass
  std::vector<PvPoint> points;  // frames where the phase is present with a pressure
  std::vector<std::size_t> point_frames;
  std::optional<EosFit> bm3, vinet, bm2;
  std::optional<FfLine> ff;  // with V0 of the BM3 fit (BM2 when BM3 is not possible)
  std::string message;       // why some fits are missing
};

struct SeriesResult {
  std::vector<FrameResult> frames;  // in the order given
  std::vector<PhaseSeriesEos> eos;  // one per phase (the standard included)
  std::vector<std::string> warnings;
  double seconds = 0;
};

// Refines every frame. `start` gives the refined parameters and bounds (e.g.
// powder::default_parameters); its cells are replaced by the EOS seeds. `eos_start`: one per
// phase (default_phase_eos when empty). Bad frames (no pressure, implausible pressure, a fit
// that fails) are reported in their FrameResult and in `warnings`; the series goes on.
// Throws InputError for inconsistent input (frames with different 2θ points, sizes).
SeriesResult refine_series(const std::vector<SeriesFrame>& frames,
                           const std::vector<powder::PowderPhase>& phases,
                           const powder::ModelSettings& settings, const powder::PatternParameters& start,
                           std::vector<PhaseEos> eos_start = {}, const SeriesOptions& options = {});

// (P, V) points of phase `p`: frames where it is present, converged, with a pressure.
std::vector<PvPoint> pv_points(const std::vector<FrameResult>& frames, std::size_t p,
                               std::vector<std::size_t>* frame_numbers = nullptr);

// BM3, Vinet and BM2 fits and the F–f line for one phase's points (those possible with the
// number of points: BM2 needs 2, BM3/Vinet 4).
PhaseSeriesEos fit_series_eos(const std::string& phase, std::vector<PvPoint> points);

}  // namespace anvil::series
