#include "scan_pressure.hpp"

#include <fmt/core.h>

#include <cmath>

#include "io/pressure_table.hpp"
#include "io/spec.hpp"

namespace anvil::pipeline {

namespace {

void finish(ScanPressures& out, const std::string& source) {
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
          fmt::format("{}: frame {}: pressure {:.4g} GPa is outside -1..500 GPa (wrong units?)", source, k,
                      *out.pressure_gpa[k]));
  }
  if (missing)
    out.warnings.push_back(
        fmt::format("{}: {} of {} frames have no pressure", source, missing, out.pressure_gpa.size()));
  const auto dirs = pressure::tag_directions(p, e);
  out.direction.assign(out.pressure_gpa.size(), pressure::Direction::Unknown);
  for (std::size_t i = 0; i < idx.size(); ++i) out.direction[idx[i]] = dirs[i];
}

}  // namespace

ScanPressures load_scan_pressures(const PressureSource& source, std::size_t frame_count) {
  ScanPressures out;
  out.pressure_gpa.assign(frame_count, std::nullopt);
  out.esd_gpa.assign(frame_count, 0.0);
  if (source.kind == PressureSource::Kind::Table) {
    const auto table = io::read_pressure_table(source.path);
    out.warnings = table.warnings;
    for (const auto& pt : table.points) {
      if (pt.frame >= frame_count) {
        out.warnings.push_back(fmt::format("{}: line {}: frame {} is beyond the scan's {} frames",
                                           source.path, pt.line, pt.frame, frame_count));
        continue;
      }
      out.pressure_gpa[pt.frame] = pt.pressure_gpa;
      out.esd_gpa[pt.frame] = pt.esd_gpa.value_or(0.0);
    }
    finish(out, source.path);
    return out;
  }

  const auto spec = io::read_spec(source.path);
  if (source.spec_scan.empty()) throw InputError(source.path, "no SPEC scan number given");
  const auto& scan = spec.scan(source.spec_scan);
  const auto& values = scan.column(source.spec_counter);
  const std::vector<double>* frames =
      source.spec_frame_counter.empty() ? nullptr : &scan.column(source.spec_frame_counter);
  const std::string where =
      fmt::format("{} scan {} counter '{}'", source.path, scan.key(), source.spec_counter);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::size_t frame = i;
    if (frames) {
      const double f = (*frames)[i];
      if (!(f >= 0) || f != std::floor(f))
        throw InputError(where, fmt::format("point {}: frame counter value {} is not a frame number", i, f));
      frame = static_cast<std::size_t>(f);
    }
    if (frame >= frame_count) continue;
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
    if (!std::isfinite(p)) {
      out.warnings.push_back(fmt::format("{}: point {}: value is not a number", where, i));
      continue;
    }
    out.pressure_gpa[frame] = p;
    out.esd_gpa[frame] = esd;
  }
  if (values.size() < frame_count && !frames)
    out.warnings.push_back(fmt::format("{}: {} points for {} frames", where, values.size(), frame_count));
  finish(out, where);
  return out;
}

}  // namespace anvil::pipeline
