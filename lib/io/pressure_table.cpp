#include "io/pressure_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/text.hpp"

namespace anvil::io {
namespace {

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(
        trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<double> to_double(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

const PressurePoint* PressureTable::find(std::size_t frame) const {
  const auto it = std::lower_bound(points.begin(), points.end(), frame,
                                   [](const PressurePoint& p, std::size_t f) { return p.frame < f; });
  return it != points.end() && it->frame == frame ? &*it : nullptr;
}

const PressurePoint& PressureTable::at(std::size_t frame) const {
  if (const PressurePoint* p = find(frame)) return *p;
  std::string covered;
  if (points.empty()) {
    covered = "no frames";
  } else {
    // Summarise as ranges: "0-11, 13-20".
    std::size_t start = points.front().frame, prev = start;
    auto flush = [&] {
      covered += fmt::format("{}{}", covered.empty() ? "" : ", ",
                             start == prev ? fmt::format("{}", start) : fmt::format("{}-{}", start, prev));
    };
    for (std::size_t i = 1; i < points.size(); ++i) {
      if (points[i].frame != prev + 1) {
        flush();
        start = points[i].frame;
      }
      prev = points[i].frame;
    }
    flush();
  }
  throw InputError(source,
                   fmt::format("no pressure for frame {} (the table covers frames {})", frame, covered));
}

std::vector<double> PressureTable::pressures_gpa() const {
  std::vector<double> v;
  v.reserve(points.size());
  for (const auto& p : points) v.push_back(p.pressure_gpa);
  return v;
}

std::vector<double> PressureTable::esds_gpa() const {
  std::vector<double> v;
  v.reserve(points.size());
  for (const auto& p : points) v.push_back(p.esd_gpa.value_or(0.0));
  return v;
}

PressureTable parse_pressure_table(std::string_view text, const std::string& source,
                                   RepeatedFrames repeated) {
  PressureTable table;
  table.source = source;
  std::optional<std::size_t> col_frame, col_p, col_esd;
  std::size_t n_cols = 0;
  bool have_header = false;

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const auto fields = split_csv(line);
    const std::string where = fmt::format("line {}", line_no);

    if (!have_header) {
      for (std::size_t c = 0; c < fields.size(); ++c) {
        const std::string name = lower(fields[c]);
        std::optional<std::size_t>* slot = name == "frame"              ? &col_frame
                                           : name == "pressure_gpa"     ? &col_p
                                           : name == "pressure_esd_gpa" ? &col_esd
                                                                        : nullptr;
        if (!slot) continue;
        if (*slot)
          throw InputError(source, fmt::format("{}: column '{}' appears twice in the header", where, name));
        *slot = c;
      }
      if (!col_frame || !col_p) {
        std::string missing = !col_frame && !col_p ? "'frame' and 'pressure_gpa'"
                              : !col_frame         ? "'frame'"
                                                   : "'pressure_gpa'";
        throw InputError(source, fmt::format("{}: the header must name the columns frame, pressure_gpa[, "
                                             "pressure_esd_gpa]; missing {} in \"{}\"",
                                             where, missing, line));
      }
      n_cols = fields.size();
      have_header = true;
      continue;
    }

    if (fields.size() != n_cols)
      throw InputError(
          source, fmt::format("{}: {} fields, but the header has {} columns", where, fields.size(), n_cols));
    PressurePoint point;
    point.line = line_no;

    const std::string_view f = fields[*col_frame];
    long long frame = -1;
    const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), frame);
    if (f.empty() || ec != std::errc() || ptr != f.data() + f.size()) {
      const auto as_double = to_double(f);
      if (as_double && *as_double < 0)
        throw InputError(source, fmt::format("{}: frame number must be >= 0, got '{}'", where, f));
      throw InputError(source, fmt::format("{}: frame must be a non-negative integer, got '{}'", where, f));
    }
    if (frame < 0)
      throw InputError(source, fmt::format("{}: frame number must be >= 0, got {}", where, frame));
    point.frame = static_cast<std::size_t>(frame);

    const auto p = to_double(fields[*col_p]);
    if (!p)
      throw InputError(source,
                       fmt::format("{}: pressure_gpa must be a number, got '{}'", where, fields[*col_p]));
    point.pressure_gpa = *p;

    if (col_esd && !fields[*col_esd].empty()) {
      const auto e = to_double(fields[*col_esd]);
      if (!e)
        throw InputError(
            source, fmt::format("{}: pressure_esd_gpa must be a number, got '{}'", where, fields[*col_esd]));
      if (*e < 0)
        throw InputError(source, fmt::format("{}: pressure_esd_gpa must be >= 0, got {}", where, *e));
      point.esd_gpa = *e;
    }
    if (point.pressure_gpa > 500.0 || point.pressure_gpa < -1.0)
      table.warnings.push_back(
          fmt::format("{}: frame {}: pressure {} GPa is outside -1..500 GPa (kbar or MPa "
                      "instead of GPa?)",
                      where, point.frame, point.pressure_gpa));
    table.points.push_back(point);
  }

  if (!have_header)
    throw InputError(
        source, "empty pressure table: expected a header 'frame,pressure_gpa[,pressure_esd_gpa]' and rows");
  if (table.points.empty()) throw InputError(source, "the pressure table has a header but no rows");

  std::stable_sort(table.points.begin(), table.points.end(),
                   [](const PressurePoint& a, const PressurePoint& b) { return a.frame < b.frame; });
  std::vector<PressurePoint> kept;
  for (const auto& b : table.points) {
    if (!kept.empty() && kept.back().frame == b.frame) {
      const auto& a = kept.back();  // stable sort: the earlier line
      if (repeated == RepeatedFrames::Error)
        throw InputError(source, fmt::format("line {}: frame {} is given twice (first on line {})", b.line,
                                             b.frame, a.line));
      table.warnings.push_back(fmt::format(
          "line {}: frame {} given again (first on line {}); the first is used", b.line, b.frame, a.line));
      continue;
    }
    kept.push_back(b);
  }
  table.points = std::move(kept);
  return table;
}

PressureTable read_pressure_table(const std::filesystem::path& path, RepeatedFrames repeated) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open pressure table (does the file exist?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_pressure_table(ss.str(), path.string(), repeated);
}

}  // namespace anvil::io

namespace anvil::io {

std::string frame_ranges(const std::vector<std::size_t>& frames) {
  std::string out;
  std::size_t i = 0, shown = 0;
  while (i < frames.size()) {
    std::size_t j = i;
    while (j + 1 < frames.size() && frames[j + 1] == frames[j] + 1) ++j;
    if (shown == 8) {
      out += fmt::format(", … ({} frames in all)", frames.size());
      break;
    }
    out += fmt::format("{}{}", out.empty() ? "" : ", ",
                       i == j ? fmt::format("{}", frames[i]) : fmt::format("{}-{}", frames[i], frames[j]));
    ++shown;
    i = j + 1;
  }
  return out.empty() ? "none" : out;
}

FrameNumbering match_frame_numbers(const std::vector<std::size_t>& log_frames, std::size_t scan_first,
                                   std::size_t scan_last, std::optional<std::int64_t> log_first, bool growing,
                                   const std::string& source) {
  FrameNumbering n;
  std::vector<std::size_t> frames = log_frames;
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  const auto outside = [&](std::int64_t offset) {
    std::vector<std::size_t> out;
    for (std::size_t f : frames) {
      const std::int64_t s = static_cast<std::int64_t>(f) - offset;
      if (s < static_cast<std::int64_t>(scan_first) || s > static_cast<std::int64_t>(scan_last))
        out.push_back(f);
    }
    return out;
  };
  const std::string scan = fmt::format("{}..{}", scan_first, scan_last);
  if (log_first) {
    n.offset = *log_first - static_cast<std::int64_t>(scan_first);
    n.note = fmt::format("{}: frame {} of the log is the scan's frame {} (first_frame = {})", source,
                         *log_first, scan_first, *log_first);
    if (const auto out = outside(n.offset); !out.empty())
      n.warnings.push_back(
          fmt::format("{}: frames {} of the log fall outside the scan (frames {}) and are {}", source,
                      frame_ranges(out), scan, growing ? "kept for frames still to come" : "ignored"));
    return n;
  }
  if (frames.empty()) return n;
  const std::size_t count = scan_last - scan_first + 1;
  const bool one_based = frames.front() == scan_first + 1 &&
                         frames.back() - frames.front() + 1 == frames.size() &&
                         (frames.size() == count || (growing && frames.size() > count));
  if (one_based) {
    n.offset = 1;
    n.note = fmt::format(
        "{}: the log numbers frames {}..{}, the scan {}: read as numbered from 1 (log frame {} is scan frame "
        "{}); "
        "set first_frame in [pressure] to state it",
        source, frames.front(), frames.back(), scan, frames.front(), scan_first);
    return n;
  }
  const auto out = outside(0);
  if (out.empty()) {
    n.note = fmt::format("{}: log frames are scan frames", source);
    return n;
  }
  if (growing && frames.front() >= scan_first) {
    n.note = fmt::format("{}: log frames are scan frames; frames {} wait for the scan to reach them", source,
                         frame_ranges(out));
    return n;
  }
  throw InputError(source,
                   fmt::format("frames {} of the pressure log are not frames of the scan (frames {}): "
                               "the numbering does not match; if the log counts from another number, "
                               "state it with first_frame = N (the log's number of the scan's frame {})",
                               frame_ranges(out), scan, scan_first));
}

}  // namespace anvil::io
