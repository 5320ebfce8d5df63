// SPEC data files (certif.com), as CHESS and many other beamlines write them.
//
// File header: #F file name, #E epoch, #D date, #C comments, #O<n> motor names (separated by
// two spaces: names may contain single spaces), #o<n> motor mnemonics.
// Each scan: #S <number> <command>, then #D, #T/#M, #G, #Q, #P<n> motor positions, #N column
// count, #L column labels (separated by two spaces), whitespace-separated data rows, #C
// comments (e.g. "Scan aborted") and MCA lines (@A ..., with '\' continuations) which are skipped.
//
// Scan numbers may repeat in one file (SPEC restarted, files concatenated). Every scan has
// a key "<number>.<occurrence>" ("3.1", "3.2": the occurrence counts from 1 in file order),
// as silx does. "3" alone names scan 3 if it occurs once; if it occurs more often it is
// ambiguous and lookups throw, listing the keys.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace anvil::io {

struct SpecScan {
  int number = 0;                   // from #S
  int occurrence = 1;               // 1 for the first scan with this number in the file, 2 for the next...
  std::string command;              // "ascan  th 0 1 10 1"
  std::string date;                 // #D of the scan
  std::size_t line = 0;             // 1-based line of the #S
  std::vector<std::string> labels;  // #L, in column order
  std::vector<std::vector<double>> columns;       // columns[i] = values of labels[i], one per point
  std::vector<std::string> comments;              // #C lines of the scan
  std::map<std::string, double> motor_positions;  // from #O names and #P values, where both exist
  std::string source;                             // the file, for messages

  std::string key() const;  // "<number>.<occurrence>"
  std::size_t point_count() const { return columns.empty() ? 0 : columns.front().size(); }
  bool has_column(std::string_view label) const;
  // The values of the column `label`: exact match first, then a unique case-insensitive
  // match. Throws InputError listing the scan's labels when there is none.
  const std::vector<double>& column(std::string_view label) const;
};

struct SpecFile {
  std::string path;
  std::vector<std::string> motor_names;  // #O0, #O1, ... of the first file header, in order
  std::vector<SpecScan> scans;           // in file order

  std::vector<std::string> scan_keys() const;
  // By key "n.k", or by number "n" when the number is unique in the file.
  // Throws InputError listing the scans available when there is no such scan.
  const SpecScan& scan(std::string_view key) const;
  const SpecScan& scan(int number) const;
};

// Reads a whole SPEC file. Throws InputError naming the file (and line) when it cannot be
// opened, is not a SPEC file (no #S line), or has a data row whose column count differs from
// #N / #L, or a value that is not a number.
SpecFile read_spec(const std::filesystem::path& path);

// The same, from text in memory; `source` names it in messages.
SpecFile parse_spec(std::string_view text, const std::string& source);

}  // namespace anvil::io
