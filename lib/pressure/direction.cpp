#include "pressure/direction.hpp"

#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "core/error.hpp"

namespace anvil::pressure {

std::string_view direction_name(Direction d) {
  switch (d) {
    case Direction::Compression:
      return "compression";
    case Direction::Decompression:
      return "decompression";
    case Direction::Unknown:
      return "unknown";
  }
  return "unknown";
}

std::vector<Direction> tag_directions(std::span<const double> pressure_gpa, std::span<const double> esd_gpa,
                                      const DirectionOptions& options) {
  if (!esd_gpa.empty() && esd_gpa.size() != pressure_gpa.size())
    throw InputError("direction",
                     fmt::format("{} pressures but {} esd values", pressure_gpa.size(), esd_gpa.size()));
  if (!(options.min_step_gpa >= 0.0) || !(options.esd_factor >= 0.0))
    throw InputError("direction", "min_step_gpa and esd_factor must be >= 0");

  const std::size_t n = pressure_gpa.size();
  std::vector<Direction> out(n, Direction::Unknown);
  auto esd = [&](std::size_t i) {
    const double e = esd_gpa.empty() ? 0.0 : esd_gpa[i];
    return std::isfinite(e) ? std::abs(e) : 0.0;
  };
  auto tol = [&](std::size_t i, std::size_t j) {
    return std::max(options.min_step_gpa, options.esd_factor * std::hypot(esd(i), esd(j)));
  };
  auto valid = [&](std::size_t i) { return std::isfinite(pressure_gpa[i]); };
  auto tag = [&](std::size_t from, std::size_t to, Direction d) {  // [from, to], valid frames only
    for (std::size_t k = from; k <= to; ++k)
      if (valid(k)) out[k] = d;
  };

  // Phase 1: before the first significant change, track both extremes.
  std::optional<std::size_t> lo, hi;  // indices of running min / max
  Direction current = Direction::Unknown;
  std::size_t ext = 0;  // index of the running extreme in the current direction
  std::size_t i = 0;
  for (; i < n && current == Direction::Unknown; ++i) {
    if (!valid(i)) continue;
    const double p = pressure_gpa[i];
    if (!lo || p < pressure_gpa[*lo]) lo = i;
    if (!hi || p > pressure_gpa[*hi]) hi = i;
    if (p - pressure_gpa[*lo] > tol(i, *lo)) {
      current = Direction::Compression;
    } else if (pressure_gpa[*hi] - p > tol(i, *hi)) {
      current = Direction::Decompression;
    } else {
      continue;
    }
    tag(0, i, current);
    ext = i;
  }
  // Phase 2: follow the running extreme; a retreat beyond the tolerance is a turn.
  for (; i < n; ++i) {
    if (!valid(i)) continue;
    const double p = pressure_gpa[i];
    const double e = pressure_gpa[ext];
    const bool up = current == Direction::Compression;
    if (up ? p >= e : p <= e) {
      ext = i;
      out[i] = current;
    } else if ((up ? e - p : p - e) > tol(i, ext)) {
      current = up ? Direction::Decompression : Direction::Compression;
      tag(ext + 1, i, current);
      ext = i;
    } else {
      out[i] = current;
    }
  }
  return out;
}

}  // namespace anvil::pressure
