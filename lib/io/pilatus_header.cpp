#include "io/pilatus_header.hpp"

#include <fmt/core.h>

#include <cctype>
#include <charconv>
#include <optional>
#include <string>

#include "core/text.hpp"

namespace anvil::io {
namespace {

// Reads a number at the start of `s` (after spaces, '(' and ','), advancing `s` past it.
std::optional<double> take_number(std::string_view& s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == '(' ||
                        s.front() == ',' || s.front() == '='))
    s.remove_prefix(1);
  double value = 0;
  const char* first = s.data();
  if (!s.empty() && s.front() == '+') ++first;
  const auto [end, ec] = std::from_chars(first, s.data() + s.size(), value);
  if (ec != std::errc{} || end == first) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return value;
}

// The unit word that follows a number ("m", "A", "s"), lower-cased.
std::string take_unit(std::string_view& s) {
  s = trim(s);
  std::string unit;
  while (!s.empty() && std::isalpha(static_cast<unsigned char>(s.front()))) {
    unit += s.front();
    s.remove_prefix(1);
  }
  return unit;
}

// Metres per unit for a length; nullopt for a unit that is not a length.
std::optional<double> length_scale(const std::string& unit, double default_scale) {
  if (unit.empty()) return default_scale;
  if (unit == "m") return 1.0;
  if (unit == "mm") return 1e-3;
  if (unit == "um" || unit == "micron" || unit == "microns") return 1e-6;
  if (unit == "nm") return 1e-9;
  if (unit == "A" || unit == "a" || unit == "Angstrom" || unit == "angstrom") return 1e-10;
  return std::nullopt;
}

std::optional<double> length(std::string_view& s, double default_scale) {
  const auto v = take_number(s);
  if (!v) return std::nullopt;
  const auto scale = length_scale(take_unit(s), default_scale);
  if (!scale) return std::nullopt;
  return *v * *scale;
}

}  // namespace

FrameMetadata parse_pilatus_header(std::string_view text) {
  FrameMetadata md;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() != '#') continue;
    line = trim(line.substr(1));
    std::size_t key_end = 0;
    while (key_end < line.size() && !std::isspace(static_cast<unsigned char>(line[key_end])) &&
           line[key_end] != ':' && line[key_end] != '=')
      ++key_end;
    const std::string_view key = line.substr(0, key_end);
    std::string_view rest = line.substr(key_end);
    if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);

    if (key == "Detector") {
      rest = trim(rest);
      md.detector = std::string(rest.substr(0, rest.find(',')));  // drop ", S/N ..."
    } else if (key == "Wavelength") {
      md.wavelength_m = length(rest, 1e-10);  // Angstrom unless told
    } else if (key == "Detector_distance") {
      md.distance_m = length(rest, 1.0);
    } else if (key == "Pixel_size") {
      md.pixel_size_x_m = length(rest, 1.0);
      const auto x_pos = rest.find('x');
      if (x_pos != std::string_view::npos) {
        rest.remove_prefix(x_pos + 1);
        md.pixel_size_y_m = length(rest, 1.0);
      } else {
        md.pixel_size_y_m = md.pixel_size_x_m;
      }
    } else if (key == "Beam_xy") {
      md.beam_center_x_px = take_number(rest);
      md.beam_center_y_px = take_number(rest);
    } else if (key == "Exposure_time") {
      const auto v = take_number(rest);
      const std::string unit = take_unit(rest);
      if (v && (unit.empty() || unit == "s")) md.count_time_s = *v;
      if (v && unit == "ms") md.count_time_s = *v * 1e-3;
    } else if (key == "Count_cutoff") {
      md.saturation_value = take_number(rest);
    }
  }
  return md;
}

std::string format_pilatus_header(const FrameMetadata& md) {
  std::string out;
  auto line = [&out](const std::string& text) { out += "# " + text + "\r\n"; };
  if (!md.detector.empty()) line("Detector: " + md.detector);
  if (md.pixel_size_x_m || md.pixel_size_y_m) {
    const double x = md.pixel_size_x_m.value_or(*md.pixel_size_y_m);
    const double y = md.pixel_size_y_m.value_or(x);
    line(fmt::format("Pixel_size {} m x {} m", x, y));
  }
  if (md.count_time_s) line(fmt::format("Exposure_time {} s", *md.count_time_s));
  if (md.wavelength_m) line(fmt::format("Wavelength {} A", *md.wavelength_m * 1e10));
  if (md.distance_m) line(fmt::format("Detector_distance {} m", *md.distance_m));
  if (md.beam_center_x_px && md.beam_center_y_px)
    line(fmt::format("Beam_xy ({}, {}) pixels", *md.beam_center_x_px, *md.beam_center_y_px));
  if (md.saturation_value) line(fmt::format("Count_cutoff {} counts", *md.saturation_value));
  return out;
}

}  // namespace anvil::io
