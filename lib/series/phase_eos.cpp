#include "series/phase_eos.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "core/text.hpp"
#include "pressure/standard.hpp"

namespace anvil::series {

namespace {

bool has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

PhaseEos default_phase_eos(const powder::PowderPhase& phase) {
  const bool hex = phase.kind == powder::CellKind::Hexagonal;
  PhaseEos out;
  out.eos.form = pressure::EosForm::BM3;
  out.eos.v0 = powder::cell_volume(phase.kind, phase.a, hex ? phase.c : phase.a);
  out.eos.k0_prime = 4.0;
  out.c_over_a = hex ? phase.c / phase.a : 0.0;
  const std::string n = lower(phase.name);
  double k0 = 60.0;
  if (has(n, "cdse")) {
    k0 = has(n, "rs") ? 74.0 : 53.0;
  } else if (has(n, "cds")) {
    k0 = has(n, "rs") ? 86.0 : 62.0;
  } else if (phase.kind == powder::CellKind::Cubic) {
    for (const auto& st : pressure::pressure_standards())
      if (lower(st.material) == n) {
        out.eos = st.eos;
        return out;
      }
  }
  out.eos.k0_gpa = k0;
  return out;
}

std::pair<double, double> cell_at(const powder::PowderPhase& phase, const PhaseEos& eos,
                                  double pressure_gpa) {
  const double v = eos.eos.volume_at(pressure_gpa);
  if (phase.kind == powder::CellKind::Cubic) return {std::cbrt(v), 0.0};
  const double r = eos.c_over_a + eos.c_over_a_slope * pressure_gpa;
  // V = (√3/2) a² c = (√3/2) r a³.
  const double a = std::cbrt(2.0 * v / (std::sqrt(3.0) * r));
  return {a, r * a};
}

std::pair<double, double> fit_c_over_a(std::span<const CellPoint> points, double fallback) {
  if (points.empty()) return {fallback, 0.0};
  double pmin = points[0].pressure_gpa, pmax = pmin, sr = 0;
  for (const auto& q : points) {
    pmin = std::min(pmin, q.pressure_gpa);
    pmax = std::max(pmax, q.pressure_gpa);
    sr += q.c / q.a;
  }
  const double n = static_cast<double>(points.size());
  if (points.size() < 3 || pmax - pmin < 1.0) return {sr / n, 0.0};
  double sp = 0, spp = 0, spr = 0;
  for (const auto& q : points) {
    sp += q.pressure_gpa;
    spp += q.pressure_gpa * q.pressure_gpa;
    spr += q.pressure_gpa * q.c / q.a;
  }
  const double slope = (n * spr - sp * sr) / (n * spp - sp * sp);
  return {(sr - slope * sp) / n, slope};
}

}  // namespace anvil::series
