// Parametric refinement: the cell of a phase in every frame tied to one equation of state and
// the frame pressures, V_i = V(P_i; V0, K0, K0′), with V0, K0, K0′ refined against all frames'
// patterns at once (one Ceres problem; the per-frame parameters are eliminated by the Schur
// complement, DENSE_SCHUR), to compare with the free per-frame cells of refine_series.
//
//  - Tied: every phase except the standard that is present, with a pressure, in at least
//    `min_frames` converged frames of the free series. Frames: those converged frames.
//  - Per frame, refined as in the free fit: scales, background, zero, sizes, ...; the cells of
//    tied phases come from the EOS. Hexagonal phases: c/a refined per frame
//    (c_over_a_per_frame, default) or fixed to the straight line c/a(P) of the free fits.
//    a = [2V/(√3 r)]^(1/3), c = r a.
//  - Pressures are taken as exact (their σ is not propagated).
//  - σ(V0, K0, K0′) from the Schur complement of the Gauss–Newton normal matrix at the
//    solution, scaled by χ²_ν of the whole problem.
//  - Comparison with the free cells on the same frames: Δχ² and
//    ΔBIC = (χ²_tied − χ²_free)/s²_free + (k_tied − k_free) ln N, s²_free = χ²_ν of the free fits:
//    a negative ΔBIC prefers the EOS-tied model.
#pragma once

#include <string>
#include <vector>

#include "powder/model.hpp"
#include "series/eos_fit.hpp"
#include "series/series.hpp"

namespace anvil::series {

struct ParametricOptions {
  pressure::EosForm form = pressure::EosForm::BM3;
  bool c_over_a_per_frame = true;
  int min_frames = 4;
  int max_iterations = 100;
};

struct ParametricPhase {
  std::string phase;
  std::size_t index = 0;  // in the phase list
  EosFit eos;             // the tied EOS with σ (chi2 fields: of the whole problem)
  std::vector<std::size_t> frames;
  std::vector<double> pressure_gpa, a, c, volume, c_over_a;  // per tied frame
};

struct ParametricResult {
  std::vector<ParametricPhase> phases;
  int num_frames = 0;
  int num_points = 0;
  double chi2 = 0, chi2_free = 0;  // tied, and the free fits on the same frames
  int num_free = 0, num_free_free = 0;
  double delta_bic = 0;
  bool converged = false;
  std::string message;
  double seconds = 0;
};

// `free_result`: refine_series on the same frames (presence, pressures and start values are
// taken from it). Throws InputError when no phase can be tied.
ParametricResult refine_parametric(const std::vector<SeriesFrame>& frames, const SeriesResult& free_result,
                                   const std::vector<powder::PowderPhase>& phases,
                                   const powder::ModelSettings& settings, const SeriesOptions& series_options,
                                   const ParametricOptions& options = {});

}  // namespace anvil::series
