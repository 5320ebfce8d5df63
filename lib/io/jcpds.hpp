// JCPDS pressure-marker cards (the files Dioptas and the GSECARS tools read).
//
// Version 4 ("VERSION: 4" on the first line) is keyword driven, one "KEY: value" per line:
// COMMENT (repeatable), K0, K0P, DK0DT, DK0PDT, SYMMETRY, A, B, C, ALPHA, BETA, GAMMA,
// VOLUME, ALPHAT, DALPHADT, and DIHKL: d  intensity  h  k  l (one per reflection).
// Unknown keys are ignored, as Dioptas does. Version 1 (fixed format: a comment line, a
// line "symmetry-code a0 K0 K0' c0/a0" with code 1 = cubic, 2 = hexagonal, a line of
// column labels, then "d I h k l" rows) is read too.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "pressure/jcpds_card.hpp"

namespace anvil::io {

// Reads a card; `name` is the file name without its extension. Throws InputError naming the
// file and line for a value that is not a number, a DIHKL line without five numbers, a
// missing SYMMETRY or A, or an unreadable file.
pressure::JcpdsCard read_jcpds(const std::filesystem::path& path);

// The same, from text in memory; `source` names it in messages, `name` becomes card.name.
pressure::JcpdsCard parse_jcpds(std::string_view text, const std::string& source,
                                const std::string& name = "");

}  // namespace anvil::io
