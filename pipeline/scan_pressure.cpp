#include "scan_pressure.hpp"

#include <fmt/core.h>

#include <cmath>

#include "io/pressure_table.hpp"
#include "io/spec.hpp"

namespace anvil::pipeline {

namespace {

void finish(ScanPressures& out, const std::string& source, std::size_t first_frame) {
  std::vector<double> p, e;
  std::vector<std::size_t> idx;
  std::size_t missing = 0;
  for (std::size_t k = 0; k < out.pressure_gpa.size(); ++k) {
    if (!out.pressure_gpa[k]) {
      ++missing;
      continue;
    }
    p.push_back(*out.pressure_gpa[k]);
    e.push_back(out.esd_gpa[k]);
    idx.push_back(k);
    if (*out.pressure_gpa[k] > 500.0 || *out.pressure_gpa[k] < -1.0)
      out.warnings.push_back(
          fmt::format("{}: frame {}: pressure {:.4g} GPa is outside -1..500 GPa (wrong units?)", source,
                      first_frame + k, *out.pressure_gpa[k]));
  }
  if (missing)
    out.warnings.push_back(
        fmt::format("{}: {} of {} frames have no pressure", source, missing, out.pressure_gpa.size()));
  const auto dirs = pressure::tag_directions(p, e);
  out.direction.assign(out.pressure_gpa.size(), pressure::Direction::Unknown);
  for (std::size_t i = 0; i < idx.size(); ++i) out.direction[idx[i]] = dirs[i];
}

}  // namespace

SpecPointFrames spec_point_frames(const io::SpecScan& scan, const std::string& frame_counter,
                                  std::optional<std::int64_t> log_first_frame, std::size_t first_frame,
                                  std::size_t frame_count, bool growing, const std::string& where) {
  SpecPointFrames out;
  const std::size_t points = scan.point_count();
  out.position.assign(points, std::nullopt);
  if (frame_count == 0) return out;
  const std::size_t last_frame = first_frame + frame_count - 1;
  const std::vector<double>* frames = frame_counter.empty() ? nullptr : &scan.column(frame_counter);
  // Point i is log frame i (or the frame counter's value); the numbering maps it to the scan.
  std::vector<std::size_t> log_frames(points);
  for (std::size_t i = 0; i < points; ++i) {
    log_frames[i] = i;
    if (frames) {
      const double f = (*frames)[i];
      if (!(f >= 0) || f != std::floor(f) || f > 1e15)
        throw InputError(where, fmt::format("point {}: frame counter value {} is not a frame number", i, f));
      log_frames[i] = static_cast<std::size_t>(f);
    }
  }
  io::FrameNumbering numbering;
  if (frames) {
    numbering = io::match_frame_numbers(log_frames, first_frame, last_frame, log_first_frame, growing,
                                        where + " (frames from '" + frame_counter + "')");
  } else {
    // Points in order: point 0 is the scan's first frame unless first_frame says otherwise.
    numbering.offset = log_first_frame.value_or(0) - static_cast<std::int64_t>(first_frame);
    numbering.note = fmt::format("{}: point {} is the scan's frame {}", where,
                                 log_first_frame ? *log_first_frame : 0, first_frame);
  }
  out.note = numbering.note;
  out.warnings = numbering.warnings;
  for (std::size_t i = 0; i < points; ++i) {
    const std::int64_t s =
        static_cast<std::int64_t>(log_frames[i]) - numbering.offset - static_cast<std::int64_t>(first_frame);
    if (s >= 0 && s < static_cast<std::int64_t>(frame_count)) out.position[i] = static_cast<std::size_t>(s);
  }
  return out;
}

std::vector<double> load_scan_counter(const std::string& spec_path, const std::string& scan_key,
                                      const std::string& counter, const std::string& frame_counter,
                                      std::optional<std::int64_t> log_first_frame, std::size_t first_frame,
                                      std::size_t frame_count, bool growing) {
  const auto spec = io::read_spec(spec_path);
  if (scan_key.empty())
    throw InputError(spec_path, "no SPEC scan number given for counter '" + counter + "'");
  const auto& scan = spec.scan(scan_key);
  const auto& values = scan.column(counter);
  const std::string where = fmt::format("{} scan {} counter '{}'", spec_path, scan.key(), counter);
  const auto at =
      spec_point_frames(scan, frame_counter, log_first_frame, first_frame, frame_count, growing, where);
  std::vector<double> out(frame_count, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 0; i < values.size(); ++i)
    if (at.position[i]) out[*at.position[i]] = values[i];
  return out;
}

ScanPressures load_scan_pressures(const PressureSource& source, std::size_t first_frame,
                                  std::size_t frame_count, bool growing) {
  ScanPressures out;
  out.pressure_gpa.assign(frame_count, std::nullopt);
  out.esd_gpa.assign(frame_count, 0.0);
  if (frame_count == 0) return out;
  const std::size_t last_frame = first_frame + frame_count - 1;
  // Position of log frame f under a numbering, or nothing when outside the scan.
  const auto position = [&](std::size_t f, std::int64_t offset) -> std::optional<std::size_t> {
    const std::int64_t s = static_cast<std::int64_t>(f) - offset - static_cast<std::int64_t>(first_frame);
    if (s < 0 || s >= static_cast<std::int64_t>(frame_count)) return std::nullopt;
    return static_cast<std::size_t>(s);
  };
  if (source.kind == PressureSource::Kind::Table) {
    const auto table = io::read_pressure_table(source.path);
    out.warnings = table.warnings;
    std::vector<std::size_t> log_frames;
    for (const auto& pt : table.points) log_frames.push_back(pt.frame);
    const auto numbering = io::match_frame_numbers(log_frames, first_frame, last_frame, source.first_frame,
                                                   growing, source.path);
    out.numbering = numbering.note;
    for (const auto& w : numbering.warnings) out.warnings.push_back(w);
    for (const auto& pt : table.points)
      if (const auto k = position(pt.frame, numbering.offset)) {
        out.pressure_gpa[*k] = pt.pressure_gpa;
        out.esd_gpa[*k] = pt.esd_gpa.value_or(0.0);
      }
    finish(out, source.path, first_frame);
    return out;
  }

  const auto spec = io::read_spec(source.path);
  if (source.spec_scan.empty()) throw InputError(source.path, "no SPEC scan number given");
  const auto& scan = spec.scan(source.spec_scan);
  const auto& values = scan.column(source.spec_counter);
  const std::string where =
      fmt::format("{} scan {} counter '{}'", source.path, scan.key(), source.spec_counter);
  const auto at = spec_point_frames(scan, source.spec_frame_counter, source.first_frame, first_frame,
                                    frame_count, growing, where);
  out.numbering = at.note;
  for (const auto& w : at.warnings) out.warnings.push_back(w);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto k = at.position[i];
    if (!k) continue;
    double p = values[i];
    double esd = 0.0;
    if (source.kind == PressureSource::Kind::SpecRuby) {
      const double r1 = values[i];
      p = pressure::ruby_pressure_gpa(r1, source.ruby_scale, source.ruby_lambda0_nm);
      if (source.ruby_esd_nm) {
        const double h = 1e-3;  // nm; dP/dλ by central difference
        const double dp = (pressure::ruby_pressure_gpa(r1 + h, source.ruby_scale, source.ruby_lambda0_nm) -
                           pressure::ruby_pressure_gpa(r1 - h, source.ruby_scale, source.ruby_lambda0_nm)) /
                          (2 * h);
        esd = std::abs(dp) * *source.ruby_esd_nm;
      }
    }
    if (!std::isfinite(p) || !std::isfinite(esd)) {
      out.warnings.push_back(fmt::format("{}: point {}: value is not a number", where, i));
      continue;
    }
    out.pressure_gpa[*k] = p;
    out.esd_gpa[*k] = esd;
  }
  if (values.size() < frame_count && source.spec_frame_counter.empty() && !growing)
    out.warnings.push_back(fmt::format("{}: {} points for {} frames", where, values.size(), frame_count));
  finish(out, where, first_frame);
  return out;
}

}  // namespace anvil::pipeline
