// SAXS indexing results as JSON: what `anvil index` writes to RESULT.json and what `anvil run`
// keeps per frame (lattice, a_nm, a_esd_nm, c_nm, c_esd_nm, d_nn_nm, domain_nm, score,
// runner_up, peaks with hkl, background and particle fit).
#pragma once

#include <nlohmann/json.hpp>

#include "saxs/analysis.hpp"

namespace anvil::pipeline {

nlohmann::json saxs_result_json(const saxs::SaxsResult& result, const saxs::SaxsSettings& settings);

}  // namespace anvil::pipeline
