// The fitted curves of a WAXS fit as JSON, kept with a frame's analysis (its checkpoint) so that
// the frame's fit can be drawn again later without fitting again (the live dashboard): observed,
// model, background and each phase's curve at the fitted points, with the residual being
// observed − model. Values are stored as float (7 digits): a figure needs no more.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "debye/fit.hpp"
#include "powder/refine.hpp"

namespace anvil::pipeline {

// {"x_unit": "2th_deg", "x": [...], "observed", "model", "background", "phases": {name: curve}}
nlohmann::json fit_profile_json(const powder::FitResult& r, const std::vector<std::string>& phase_names);

// The same for a Debye-function fit: "x_unit": "q_A^-1" (the fit's own axis). `others` are the
// gasket/marker phases, which are part of the background curve.
nlohmann::json fit_profile_json(const debye::FitResult& r, const std::vector<std::string>& phase_names);

}  // namespace anvil::pipeline
