// The picture behind `anvil index --plot`: the pattern, its diffuse baseline, the peaks found and
// the indexed reflection positions with their hkl (PLplot, PNG through the Cairo driver).
#pragma once

#include <string>

#include "core/pattern.hpp"
#include "saxs/analysis.hpp"

namespace anvil::cli {

// Writes a PNG of `result` over `pattern` (q in nm⁻¹). Throws InputError when no PNG can be made
// (PLplot's cairo driver missing, unwritable path).
void plot_saxs_index(const std::string& png_path, const Pattern1D& pattern, const saxs::SaxsResult& result,
                     const std::string& title);

}  // namespace anvil::cli
