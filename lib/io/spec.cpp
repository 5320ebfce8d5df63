#include "io/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "core/text.hpp"

namespace anvil::io {
namespace {

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// SPEC separates labels and motor names by two (or more) spaces; a single space is part of a name.
std::vector<std::string> split_two_spaces(std::string_view s) {
  std::vector<std::string> out;
  s = trim(s);
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t sep = s.find("  ", start);
    // A tab separates too.
    const std::size_t tab = s.find('\t', start);
    if (tab != std::string_view::npos && (sep == std::string_view::npos || tab < sep)) sep = tab;
    const std::string_view item =
        trim(s.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start));
    if (!item.empty()) out.emplace_back(item);
    if (sep == std::string_view::npos) break;
    start = sep + 1;
  }
  return out;
}

std::optional<double> to_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// "1-5, 7, 9-12", with "(3 twice)" notes for repeated numbers.
std::string summarise_scans(const std::vector<SpecScan>& scans) {
  if (scans.empty()) return "none";
  std::set<int> numbers;
  std::map<int, int> count;
  for (const auto& s : scans) {
    numbers.insert(s.number);
    ++count[s.number];
  }
  std::string out;
  auto it = numbers.begin();
  while (it != numbers.end()) {
    const int start = *it;
    int prev = start;
    auto next = std::next(it);
    while (next != numbers.end() && *next == prev + 1) prev = *next++;
    out += fmt::format("{}{}", out.empty() ? "" : ", ",
                       start == prev ? fmt::format("{}", start) : fmt::format("{}-{}", start, prev));
    it = next;
  }
  std::string repeated;
  for (const auto& [n, c] : count)
    if (c > 1) {
      std::string keys;
      for (int k = 1; k <= c; ++k) keys += fmt::format("{}{}.{}", k == 1 ? "" : ", ", n, k);
      repeated += fmt::format("; scan {} occurs {} times ({})", n, c, keys);
    }
  return out + repeated;
}

}  // namespace

std::string SpecScan::key() const { return fmt::format("{}.{}", number, occurrence); }

bool SpecScan::has_column(std::string_view label) const {
  return std::find(labels.begin(), labels.end(), label) != labels.end();
}

const std::vector<double>& SpecScan::column(std::string_view label) const {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == label) return columns[i];
  const std::string want = lower(label);
  std::optional<std::size_t> match;
  bool ambiguous = false;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (lower(labels[i]) == want) {
      ambiguous = match.has_value();
      match = i;
    }
  if (match && !ambiguous) return columns[*match];
  std::string list;
  for (const auto& l : labels) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", l);
  throw InputError(source, fmt::format("scan {} (#S {} {}) has no counter \"{}\"; its columns are: {}", key(),
                                       number, command, label, list.empty() ? "none" : list));
}

std::vector<std::string> SpecFile::scan_keys() const {
  std::vector<std::string> keys;
  for (const auto& s : scans) keys.push_back(s.key());
  return keys;
}

const SpecScan& SpecFile::scan(std::string_view key) const {
  const std::string_view k = trim(key);
  const std::size_t dot = k.find('.');
  int number = 0, occurrence = 0;
  auto parse_int = [](std::string_view s, int& out) {
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
  };
  const bool ok = dot == std::string_view::npos
                      ? parse_int(k, number)
                      : parse_int(k.substr(0, dot), number) && parse_int(k.substr(dot + 1), occurrence);
  if (!ok)
    throw InputError(path,
                     fmt::format("'{}' is not a scan number (expected n or n.k, e.g. 12 or 12.2)", key));
  std::vector<const SpecScan*> found;
  for (const auto& s : scans)
    if (s.number == number && (occurrence == 0 || s.occurrence == occurrence)) found.push_back(&s);
  if (found.size() == 1) return *found.front();
  if (found.empty())
    throw InputError(path, fmt::format("no scan {}; the file has scans {}", key, summarise_scans(scans)));
  std::string keys;
  for (const auto* s : found)
    keys += fmt::format("{}{} (line {})", keys.empty() ? "" : ", ", s->key(), s->line);
  throw InputError(
      path, fmt::format("scan {} occurs {} times in the file; choose one of {}", number, found.size(), keys));
}

const SpecScan& SpecFile::scan(int number) const { return scan(fmt::format("{}", number)); }

SpecFile parse_spec(std::string_view text, const std::string& source) {
  SpecFile file;
  file.path = source;
  std::map<int, int> seen;
  std::vector<std::string> motor_names;  // of the header in effect
  bool in_header = false;                // a #F/#E header block started after the last scan
  SpecScan* scan = nullptr;
  std::vector<double> positions;
  std::optional<std::size_t> declared_columns;
  bool continuation = false;  // inside an MCA line continued with '\'

  auto finish_scan = [&] {
    if (!scan) return;
    for (std::size_t i = 0; i < positions.size() && i < motor_names.size(); ++i)
      scan->motor_positions[motor_names[i]] = positions[i];
    if (scan->columns.empty() && !scan->labels.empty()) scan->columns.resize(scan->labels.size());
    scan = nullptr;
    positions.clear();
    declared_columns.reset();
  };

  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    const std::string_view line = trim(raw);

    if (continuation) {
      continuation = !line.empty() && line.back() == '\\';
      continue;
    }
    if (line.empty()) continue;
    if (line.front() == '@') {  // MCA data, possibly continued over several lines
      continuation = line.back() == '\\';
      continue;
    }
    const std::string where = fmt::format("line {}", line_no);

    if (line.front() == '#') {
      std::size_t tag_end = 1;
      while (tag_end < line.size() && !std::isspace(static_cast<unsigned char>(line[tag_end]))) ++tag_end;
      const std::string_view tag = line.substr(1, tag_end - 1);
      const std::string_view value = trim(line.substr(tag_end));

      if (tag == "S") {
        finish_scan();
        in_header = false;
        const auto parts = split_ws(value);
        int number = 0;
        if (parts.empty() ||
            std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), number).ec != std::errc())
          throw InputError(source,
                           fmt::format("{}: #S must be followed by a scan number, got \"{}\"", where, value));
        file.scans.emplace_back();
        scan = &file.scans.back();
        scan->number = number;
        scan->occurrence = ++seen[number];
        scan->line = line_no;
        scan->source = source;
        scan->command = std::string(trim(value.substr(parts[0].size())));
        continue;
      }
      if (tag == "F" || tag == "E") {  // a (new) file header
        finish_scan();
        if (!in_header) motor_names.clear();
        in_header = true;
        continue;
      }
      if (tag.size() >= 2 && tag[0] == 'O' && std::isdigit(static_cast<unsigned char>(tag[1]))) {
        if (scan) finish_scan();
        if (tag == "O0") motor_names.clear();
        for (auto& n : split_two_spaces(value)) motor_names.push_back(n);
        if (file.scans.empty()) file.motor_names = motor_names;
        continue;
      }
      if (!scan) continue;  // other header lines (#D, #C, #o, #j, #J, ...) carry nothing we use
      if (tag == "D") {
        scan->date = std::string(value);
      } else if (tag == "C") {
        scan->comments.emplace_back(value);
      } else if (tag.size() >= 2 && tag[0] == 'P' && std::isdigit(static_cast<unsigned char>(tag[1]))) {
        for (auto v : split_ws(value))
          if (const auto d = to_double(v)) positions.push_back(*d);
      } else if (tag == "N") {
        std::size_t n = 0;
        const auto parts = split_ws(value);
        if (parts.empty() ||
            std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), n).ec != std::errc())
          throw InputError(source,
                           fmt::format("{}: #N must give the number of columns, got \"{}\"", where, value));
        declared_columns = n;
      } else if (tag == "L") {
        auto labels = split_two_spaces(value);
        if (declared_columns && labels.size() != *declared_columns) {
          // Some writers separate labels by one space; accept that when it gives #N labels.
          std::vector<std::string> single;
          for (auto v : split_ws(value)) single.emplace_back(v);
          if (single.size() != *declared_columns)
            throw InputError(source, fmt::format("{}: #L has {} labels but #N says {} columns", where,
                                                 labels.size(), *declared_columns));
          labels = std::move(single);
        }
        if (!scan->labels.empty() && scan->point_count() > 0 && labels != scan->labels)
          throw InputError(source, fmt::format("{}: a second #L with different labels inside scan {}", where,
                                               scan->key()));
        if (scan->point_count() == 0) {
          scan->labels = std::move(labels);
          scan->columns.assign(scan->labels.size(), {});
        }
      }
      continue;
    }

    // A data row.
    if (!scan) continue;  // text outside any scan
    if (scan->labels.empty())
      throw InputError(
          source, fmt::format("{}: data row in scan {} before its #L column labels", where, scan->key()));
    const auto values = split_ws(line);
    if (values.size() != scan->labels.size())
      throw InputError(source, fmt::format("{}: data row of scan {} has {} values but #L names {} columns",
                                           where, scan->key(), values.size(), scan->labels.size()));
    for (std::size_t c = 0; c < values.size(); ++c) {
      const auto v = to_double(values[c]);
      if (!v)
        throw InputError(source, fmt::format("{}: value \"{}\" in column \"{}\" of scan {} is not a number",
                                             where, values[c], scan->labels[c], scan->key()));
      scan->columns[c].push_back(*v);
    }
  }
  finish_scan();
  if (file.scans.empty()) throw InputError(source, "not a SPEC data file: no #S scan line found");
  return file;
}

SpecFile read_spec(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open SPEC file (does the file exist?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_spec(ss.str(), path.string());
}

}  // namespace anvil::io
