#include "simulate.hpp"

#include <fmt/core.h>
#include <fmt/os.h>
#include <tbb/parallel_for.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <sstream>

#include "calibration/calibrant.hpp"
#include "calibration/forward_model.hpp"
#include "core/error.hpp"
#include "crystal/cif.hpp"
#include "geometry/detector.hpp"
#include "geometry/geometry.hpp"
#include "geometry/poni.hpp"
#include "io/hdf5_source.hpp"
#include "io/mask.hpp"
#include "io/results_file.hpp"
#include "io/tiff.hpp"
#include "phase_models.hpp"
#include "powder/model.hpp"
#include "pressure/eos.hpp"
#include "pressure/ruby.hpp"
#include "saxs/simulate.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kDeg = kPi / 180.0;
constexpr double kSaturation = 1048575.0;  // Pilatus-like 20-bit count cutoff
constexpr double kAllOnes = 4294967295.0;  // uint32 gap value (EIGER convention)
constexpr std::size_t kFramesPerDataFile = 10;

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// ------------------------------------------------------------------------------ truth file

template <class T>
void read_key(const toml::table& t, const std::string& section, const std::string& key, T& out,
              const std::string& file) {
  const auto* node = t.get(key);
  if (!node) return;
  const auto line = node->source().begin.line;
  auto bad = [&](const char* what) {
    throw InputError(fmt::format("{}:{}", file, line), fmt::format("'{}.{}' must be {}", section, key, what));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!node->is_boolean()) bad("true or false");
    out = *node->value<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!node->is_string()) bad("a string");
    out = *node->value<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!node->is_integer() || *node->value<std::int64_t>() < 0) bad("a non-negative integer");
    out = static_cast<T>(*node->value<std::int64_t>());
  } else {
    if (!node->is_number()) bad("a number");
    out = *node->value<double>();
  }
}

}  // namespace

void load_simulation_truth(const fs::path& toml_file, SimulationConfig& c) {
  if (!fs::exists(toml_file)) throw InputError(toml_file.string(), "file not found");
  toml::table root;
  try {
    root = toml::parse_file(toml_file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}", toml_file.string(), e.source().begin.line),
                     std::string(e.description()));
  }
  const std::string file = toml_file.string();
  struct Key {
    const char* name;
    std::function<void(const toml::table&, const std::string&)> read;
  };
  auto num = [&](const char* k, double& v) {
    return Key{k, [&, k](const toml::table& t, const std::string& s) { read_key(t, s, k, v, file); }};
  };
  using Section = std::vector<Key>;
  std::map<std::string, Section> sections;
  sections["scan"] = {
      Key{"name", [&](const toml::table& t, const std::string& s) { read_key(t, s, "name", c.name, file); }},
      Key{"frames",
          [&](const toml::table& t, const std::string& s) { read_key(t, s, "frames", c.frames, file); }},
      Key{"seed", [&](const toml::table& t, const std::string& s) { read_key(t, s, "seed", c.seed, file); }},
      Key{"detector_size",
          [&](const toml::table& t, const std::string& s) {
            read_key(t, s, "detector_size", c.detector_size, file);
          }},
      num("p_start_gpa", c.p_start_gpa),
      num("p_max_gpa", c.p_max_gpa),
      num("p_end_gpa", c.p_end_gpa),
      num("compression_share", c.compression_share),
      num("pressure_esd_gpa", c.pressure_esd_gpa),
      num("count_time_s", c.count_time_s)};
  sections["waxs"] = {num("wavelength_a", c.wavelength_a),
                      num("size_nm", c.size_nm),
                      num("peak_counts", c.waxs_peak_counts),
                      num("background_counts", c.waxs_background_counts),
                      num("compton_counts", c.compton_counts),
                      Key{"diamond_spots",
                          [&](const toml::table& t, const std::string& s) {
                            read_key(t, s, "diamond_spots", c.diamond_spots, file);
                          }},
                      Key{"gasket", [&](const toml::table& t,
                                        const std::string& s) { read_key(t, s, "gasket", c.gasket, file); }},
                      num("gasket_counts", c.gasket_counts)};
  sections["transition"] = {num("initial_zb_fraction", c.initial_zb_fraction),
                            num("up_transition_gpa", c.up_transition_gpa),
                            num("up_width_gpa", c.up_width_gpa),
                            num("down_transition_gpa", c.down_transition_gpa),
                            num("down_width_gpa", c.down_width_gpa),
                            num("retained_rs_fraction", c.retained_rs_fraction)};
  sections["eos"] = {num("wz_k0_gpa", c.eos_wz.k0_gpa), num("wz_k0_prime", c.eos_wz.k0_prime),
                     num("zb_k0_gpa", c.eos_zb.k0_gpa), num("zb_k0_prime", c.eos_zb.k0_prime),
                     num("rs_k0_gpa", c.eos_rs.k0_gpa), num("rs_k0_prime", c.eos_rs.k0_prime)};
  sections["saxs"] = {num("d111_nm", c.d111_nm),
                      num("fcc_shrink_per_gpa", c.fcc_shrink_per_gpa),
                      num("fcc_distort_gpa", c.fcc_distort_gpa),
                      num("fcc_expand_per_gpa", c.fcc_expand_per_gpa),
                      num("lamellar_onset_gpa", c.lamellar_onset_gpa),
                      num("lamellar_d_nm", c.lamellar_d_nm),
                      num("lamellar_shrink_per_gpa", c.lamellar_shrink_per_gpa),
                      num("particle_radius_nm", c.particle_radius_nm),
                      num("polydispersity", c.polydispersity),
                      num("counts", c.saxs_counts)};
  for (const auto& [name, node] : root) {
    const std::string sname(name.str());
    const auto line = node.source().begin.line;
    const auto it = sections.find(sname);
    if (it == sections.end() || !node.is_table())
      throw InputError(fmt::format("{}:{}", file, line), fmt::format("'{}': unknown section", sname));
    const auto& table = *node.as_table();
    for (const auto& [k, v] : table) {
      const std::string key(k.str());
      const auto kit =
          std::find_if(it->second.begin(), it->second.end(), [&](const Key& x) { return key == x.name; });
      if (kit == it->second.end())
        throw InputError(fmt::format("{}:{}", file, v.source().begin.line),
                         fmt::format("'{}.{}': unknown key", sname, key));
      kit->read(table, sname);
    }
  }
}

// ------------------------------------------------------------------------------ truth

namespace {

void validate(const SimulationConfig& c) {
  auto fail = [](const std::string& what) { throw InputError("simulate", what); };
  if (c.frames < 4) fail("at least 4 frames are needed (compression and decompression)");
  if (c.detector_size != "small" && c.detector_size != "pilatus1m")
    fail("detector size must be small or pilatus1m, not '" + c.detector_size + "'");
  if (!(c.p_max_gpa > c.p_start_gpa) || !(c.p_max_gpa > c.p_end_gpa) || c.p_start_gpa < 0 || c.p_end_gpa < 0)
    fail("pressures must rise from p_start to p_max and fall to p_end (all ≥ 0)");
  if (!(c.compression_share > 0 && c.compression_share < 1)) fail("compression_share must be in (0, 1)");
  if (!(c.retained_rs_fraction >= 0 && c.retained_rs_fraction <= 1))
    fail("retained_rs_fraction must be in [0, 1]");
  if (!(c.initial_zb_fraction >= 0 && c.initial_zb_fraction <= 1))
    fail("initial_zb_fraction must be in [0, 1]");
  if (!(c.up_width_gpa > 0 && c.down_width_gpa > 0)) fail("transition widths must be > 0");
  if (!(c.wavelength_a > 0.1 && c.wavelength_a < 2.0)) fail("wavelength_a must be in (0.1, 2) Å");
  if (!(c.size_nm > 1)) fail("size_nm must be > 1");
  if (!(c.d111_nm > 1 && c.lamellar_d_nm > 1)) fail("superlattice spacings must be > 1 nm");
}

double cell_scale(const SimPhaseEos& e, double p) {
  pressure::Eos eos{pressure::EosForm::BM3, 1.0, e.k0_gpa, e.k0_prime};
  return std::cbrt(eos.volume_at(p));  // a/a0 (isotropic compression: c/a kept, assumed)
}

// The ambient cells (Å) of the three polymorphs, read from their CIFs: calib/phases is the one source.
struct AmbientCells {
  double a_wz, c_wz, a_zb, a_rs;
};
AmbientCells ambient_cells(const SimulationConfig& c) {
  if (c.phase_dir.empty()) throw InputError("simulate", "phase_dir must be set (the CdSe CIFs)");
  const auto wz = crystal::load_phase("CdSe-WZ", c.phase_dir);
  const auto zb = crystal::load_phase("CdSe-ZB", c.phase_dir);
  const auto rs = crystal::load_phase("CdSe-RS", c.phase_dir);
  return {wz.cell.a, wz.cell.c, zb.cell.a, rs.cell.a};
}

}  // namespace

std::vector<FrameTruth> simulation_truth(const SimulationConfig& c) {
  validate(c);
  const std::size_t n = c.frames;
  const auto n_up = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::lround(c.compression_share * static_cast<double>(n))), 2, n - 1);
  const std::size_t n_down = n - n_up;
  std::mt19937_64 rng(c.seed * 0x9E3779B97F4A7C15ull + 17);
  std::normal_distribution<double> gauss(0.0, 1.0);

  const auto [a0_wz, c0_wz, a0_zb, a0_rs] = ambient_cells(c);

  std::vector<FrameTruth> out(n);
  double rs_max = 0.0, rs = 0.0, zb0 = c.initial_zb_fraction;
  bool lamellar = false;
  for (std::size_t k = 0; k < n; ++k) {
    FrameTruth& t = out[k];
    t.frame = k;
    const bool up = k < n_up;
    if (up) {
      t.pressure_gpa = c.p_start_gpa + (c.p_max_gpa - c.p_start_gpa) * static_cast<double>(k) / (n_up - 1);
    } else {
      const double f = static_cast<double>(k - n_up + 1) / static_cast<double>(n_down);
      t.pressure_gpa = c.p_max_gpa + (c.p_end_gpa - c.p_max_gpa) * f;
    }
    t.direction = up ? "compression" : "decompression";
    const double p = t.pressure_gpa;
    if (up) {
      // WZ (and any initial ZB) → RS; the transition does not go back while pressure rises.
      rs = std::max(rs, logistic((p - c.up_transition_gpa) / c.up_width_gpa));
      rs_max = rs;
      t.rs = rs;
      t.zb = zb0 * (1 - rs);
      t.wz = (1 - zb0) * (1 - rs);
    } else {
      // RS → ZB, down to the retained fraction; what was left of WZ/ZB at the top stays.
      const double retained = std::min(c.retained_rs_fraction, rs_max);
      // Logistic in P, rescaled so that exactly `retained` is left at the end pressure.
      const double s_end = logistic((c.p_end_gpa - c.down_transition_gpa) / c.down_width_gpa);
      const double s_p = logistic((p - c.down_transition_gpa) / c.down_width_gpa);
      const double target = retained + (rs_max - retained) * std::max(0.0, (s_p - s_end) / (1 - s_end));
      rs = std::min(rs, target);
      const double converted = rs_max - rs;
      t.rs = rs;
      t.zb = zb0 * (1 - rs_max) + converted;
      t.wz = (1 - zb0) * (1 - rs_max);
    }
    t.a_wz = a0_wz * cell_scale(c.eos_wz, p);
    t.c_wz = c0_wz * cell_scale(c.eos_wz, p);
    t.a_zb = a0_zb * cell_scale(c.eos_zb, p);
    t.a_rs = a0_rs * cell_scale(c.eos_rs, p);

    // Superlattice.
    if (p >= c.lamellar_onset_gpa) lamellar = true;
    if (lamellar) {
      t.superlattice = "lamellar";
      t.sl_d_first_nm = c.lamellar_d_nm * (1 - c.lamellar_shrink_per_gpa * p);
      t.sl_a_nm = t.sl_d_first_nm;
    } else {
      double d = c.d111_nm * (1 - c.fcc_shrink_per_gpa * std::min(p, c.fcc_distort_gpa));
      if (p > c.fcc_distort_gpa) d *= 1 + c.fcc_expand_per_gpa * (p - c.fcc_distort_gpa);
      t.superlattice = "fcc";
      t.sl_d_first_nm = d;
      t.sl_a_nm = d * std::sqrt(3.0);
    }
    // The ruby reading: the true pressure plus noise of the stated esd.
    t.pressure_esd_gpa = c.pressure_esd_gpa + 0.01 * p;
    t.pressure_measured_gpa = p + t.pressure_esd_gpa * gauss(rng);
  }
  return out;
}

// ------------------------------------------------------------------------------ detectors

namespace {

struct DetectorSim {
  std::string name;  // waxs | saxs
  geometry::Geometry g;
  Mask gaps;                     // module gaps (1 = dead)
  Mask mask;                     // gaps + beamstop (the mask file)
  std::vector<float> shadow;     // transmission of the beamstop (1 outside)
  std::vector<float> tth_sub;    // 2θ (rad) at 2 × 2 points per pixel
  std::vector<float> omega_pol;  // relative solid angle × polarisation factor
  double tth_max_rad = 0;
  double beam_row = 0, beam_col = 0;
};

constexpr int kSub = 2;

DetectorSim make_detector(const std::string& name, const geometry::Geometry& g, double beamstop_radius_m,
                          double arm_half_width_m, int arm_direction /* 0: +col, 1: +row */) {
  DetectorSim d;
  d.name = name;
  d.g = g;
  const Shape shape = g.detector.shape;
  d.gaps = g.detector.dead_pixel_mask();
  if (d.gaps.empty()) d.gaps = Mask(shape, 0);
  const auto f2d = geometry::to_fit2d(g);
  d.beam_col = f2d.center_x_px - 0.5;  // Fit2D centres are in pixel-edge coordinates
  d.beam_row = f2d.center_y_px - 0.5;
  const double px = g.detector.pixel1_m;
  const auto omega = geometry::solid_angle_array(g);
  const auto pol = geometry::polarization_array(g, 0.99);
  const std::size_t npx = shape.pixel_count();
  d.tth_sub.resize(npx * kSub * kSub);
  d.omega_pol.resize(npx);
  d.shadow.assign(npx, 1.0f);
  d.mask = d.gaps;
  std::vector<double> row_max(shape.rows, 0.0);
  tbb::parallel_for(std::size_t{0}, shape.rows, [&](std::size_t r) {
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const std::size_t i = r * shape.cols + c;
      for (int a = 0; a < kSub; ++a)
        for (int b = 0; b < kSub; ++b) {
          const double d1 = r - 0.5 + (a + 0.5) / kSub, d2 = c - 0.5 + (b + 0.5) / kSub;
          const double t = geometry::two_theta(g, d1, d2);
          d.tth_sub[i * kSub * kSub + a * kSub + b] = static_cast<float>(t);
          row_max[r] = std::max(row_max[r], t);
        }
      d.omega_pol[i] = static_cast<float>(omega.pixels[i] * pol.pixels[i]);
      // Beamstop: a disc on the beam and its holder arm running to the detector edge.
      const double dr = (static_cast<double>(r) - d.beam_row) * px,
                   dc = (static_cast<double>(c) - d.beam_col) * px;
      const double along = arm_direction == 0 ? dc : dr, across = arm_direction == 0 ? dr : dc;
      const bool disc = std::hypot(dr, dc) < beamstop_radius_m;
      const bool arm = along > 0 && std::abs(across) < arm_half_width_m;
      if (disc || arm) d.shadow[i] = 0.002f;  // a little leaks through
      // The mask covers the shadow with a margin of 2 pixels (the penumbra).
      const bool disc_m = std::hypot(dr, dc) < beamstop_radius_m + 2 * px;
      const bool arm_m = along > -2 * px && std::abs(across) < arm_half_width_m + 2 * px;
      if (disc_m || arm_m) d.mask.pixels[i] = 1;
    }
  });
  d.tth_max_rad = *std::max_element(row_max.begin(), row_max.end());
  return d;
}

geometry::Geometry waxs_geometry(const std::string& size, double wavelength_m) {
  geometry::Geometry g;
  g.wavelength_m = wavelength_m;
  g.dist_m = 0.2;
  g.rot1 = 0.012;
  g.rot2 = -0.009;
  g.rot3 = 0.0;
  if (size == "pilatus1m") {
    g.detector = geometry::detector_preset("Pilatus1M");
    g.poni1_m = 520.3 * 172e-6;
    g.poni2_m = 470.8 * 172e-6;
  } else {
    // Pilatus 300K: the beam near the lower edge so the rings reach 2θ ≈ 25° as half circles.
    g.detector = geometry::detector_preset("Pilatus300k");
    g.poni1_m = 560.4 * 172e-6;
    g.poni2_m = 231.7 * 172e-6;
  }
  return g;
}

geometry::Geometry saxs_geometry(const std::string& size, double wavelength_m) {
  geometry::Geometry g;
  g.wavelength_m = wavelength_m;
  g.dist_m = 1.6;
  g.rot1 = 0.002;
  g.rot2 = 0.001;
  if (size == "pilatus1m") {
    g.detector = geometry::detector_preset("Pilatus1M");
    g.poni1_m = 530.2 * 172e-6;
    g.poni2_m = 485.6 * 172e-6;
  } else {
    g.detector = geometry::detector_preset("Pilatus300k");
    g.poni1_m = 322.3 * 172e-6;
    g.poni2_m = 238.4 * 172e-6;
  }
  return g;
}

// Pixel means of a 1D pattern over the 2 × 2 sub-points, times Ω·P and the beamstop's shadow.
ImageF project(const DetectorSim& d, const calibration::TwoThetaPattern& p, bool beamstop = true) {
  const Shape shape = d.g.detector.shape;
  ImageF img(shape, 0.0f);
  tbb::parallel_for(std::size_t{0}, shape.rows, [&](std::size_t r) {
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const std::size_t i = r * shape.cols + c;
      double s = 0;
      for (int k = 0; k < kSub * kSub; ++k) s += p.at(d.tth_sub[i * kSub * kSub + k]);
      double v = s / (kSub * kSub) * d.omega_pol[i];
      if (beamstop) v *= d.shadow[i];
      img.pixels[i] = static_cast<float>(v);
    }
  });
  return img;
}

// Poisson noise, saturated pixels clamped, gaps set to the sentinel (all-ones or −1).
void finish(ImageF& img, const DetectorSim& d, std::uint64_t seed, double gap_value) {
  calibration::add_poisson_noise(img, seed);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    if (img.pixels[i] > kSaturation) img.pixels[i] = static_cast<float>(kSaturation);
    if (d.gaps.pixels[i]) img.pixels[i] = static_cast<float>(gap_value);
  }
}

// A few single-crystal diamond reflections: very bright, a couple of pixels wide, saturated
// in their core. Positions are random (over the active area, off the beamstop).
void add_diamond_spots(ImageF& img, const DetectorSim& d, std::size_t count, std::mt19937_64& rng) {
  const Shape s = img.shape;
  std::uniform_real_distribution<double> ur(8.0, static_cast<double>(s.rows) - 8.0),
      uc(8.0, static_cast<double>(s.cols) - 8.0), usig(0.9, 1.8), uamp(3e6, 3e7);
  for (std::size_t n = 0; n < count; ++n) {
    double r0 = 0, c0 = 0;
    for (int tries = 0; tries < 50; ++tries) {
      r0 = ur(rng);
      c0 = uc(rng);
      const auto i = static_cast<std::size_t>(r0) * s.cols + static_cast<std::size_t>(c0);
      if (!d.mask.pixels[i]) break;
    }
    const double sig = usig(rng), amp = uamp(rng);
    const int half = static_cast<int>(std::ceil(6 * sig));
    for (int dr = -half; dr <= half; ++dr)
      for (int dc = -half; dc <= half; ++dc) {
        const auto r = static_cast<long>(std::lround(r0)) + dr, c = static_cast<long>(std::lround(c0)) + dc;
        if (r < 0 || c < 0 || r >= static_cast<long>(s.rows) || c >= static_cast<long>(s.cols)) continue;
        const double x = (r - r0) / sig, y = (c - c0) / sig;
        img(static_cast<std::size_t>(r), static_cast<std::size_t>(c)) +=
            static_cast<float>(amp * std::exp(-0.5 * (x * x + y * y)));
      }
  }
}

// ------------------------------------------------------------------------------ WAXS model

struct WaxsModel {
  std::vector<powder::PowderPhase> phases;  // WZ, ZB, RS
  std::unique_ptr<powder::PatternModel> model;
  powder::PatternParameters start;
  std::vector<double> tth_deg;  // the model grid
  double scale_norm = 1.0;      // counts per unit Hill–Howard weight
};

WaxsModel make_waxs_model(const SimulationConfig& c, double tth_max_deg) {
  WaxsModel w;
  w.phases = load_powder_phases({"CdSe-WZ", "CdSe-ZB", "CdSe-RS"}, c.phase_dir, c.wavelength_a, 0.5,
                                tth_max_deg + 0.5);
  powder::ModelSettings ms;
  ms.instrument = {c.wavelength_a, 0.0, 0.0, 0.0015};  // ≈ 0.04° FWHM (pixel size at 0.2 m)
  ms.lp = crystal::LpModel::PolarisationCorrected;     // the 2D image carries P and Ω instead
  ms.size_profile = powder::SizeProfile::Sphere;
  ms.background_terms = 0;
  const double step = 0.004;
  for (double t = 0.5; t <= tth_max_deg + 0.5; t += step) w.tth_deg.push_back(t);
  w.model = std::make_unique<powder::PatternModel>(ms, w.phases, w.tth_deg);
  w.start = powder::default_parameters(w.phases, ms, c.size_nm);
  w.start.zero_deg.value = 0.0;
  return w;
}

// Hill–Howard: weight fraction w_p ∝ S_p·Z_p·M_p·V_p, so S_p = w_p / (Z·M·V) (× a common scale).
std::vector<double> waxs_curve(const WaxsModel& w, const FrameTruth& t, double norm, double size_nm) {
  auto P = w.start;
  const double fr[3] = {t.wz, t.zb, t.rs};
  const double a[3] = {t.a_wz, t.a_zb, t.a_rs}, cc[3] = {t.c_wz, 0.0, 0.0};
  for (std::size_t k = 0; k < 3; ++k) {
    const auto& ph = w.phases[k];
    auto& q = P.phases[k];
    q.a.value = a[k];
    q.a.lower = 0.5 * a[k];
    q.a.upper = 2 * a[k];
    if (ph.kind == powder::CellKind::Hexagonal) {
      q.c.value = cc[k];
      q.c.lower = 0.5 * cc[k];
      q.c.upper = 2 * cc[k];
    }
    q.size_nm.value = size_nm;
    q.scale.value = norm * fr[k] / powder::hill_howard_zmv(ph, a[k], cc[k]);
  }
  std::vector<double> flat;
  for (const auto* p : P.flat()) flat.push_back(p->value);
  std::vector<double> y(w.tth_deg.size());
  w.model->evaluate(flat, y.data());
  return y;
}

// Smooth background: air/cell scatter falling with angle plus the diamonds' Compton hump.
double waxs_background(const SimulationConfig& c, double tth_deg) {
  const double air = c.waxs_background_counts * (0.55 + 0.45 * std::exp(-tth_deg / 7.0));
  const double x = (tth_deg - 17.0) / 6.5;
  return air + c.compton_counts * std::exp(-0.5 * x * x);
}

// Re gasket (hcp, a = 2.761 Å, c = 4.456 Å; K0 ≈ 360 GPa, assumed): 100, 002, 101, 102, 110.
void add_gasket(std::vector<double>& y, const std::vector<double>& tth_deg, const SimulationConfig& c,
                double p) {
  const double s = std::cbrt(pressure::Eos{pressure::EosForm::BM3, 1.0, 360.0, 4.5}.volume_at(p));
  const double a = 2.761 * s, cc = 4.456 * s;
  struct L {
    int h, k, l;
    double rel;
  };
  const L lines[] = {{1, 0, 0, 0.35}, {0, 0, 2, 0.3}, {1, 0, 1, 1.0}, {1, 0, 2, 0.2}, {1, 1, 0, 0.2}};
  const double fwhm = 0.08, sig = fwhm / 2.3548;
  for (const auto& l : lines) {
    const double inv_d2 = 4.0 / 3.0 * (l.h * l.h + l.h * l.k + l.k * l.k) / (a * a) + l.l * l.l / (cc * cc);
    const double sn = c.wavelength_a * std::sqrt(inv_d2) / 2;
    if (sn >= 1) continue;
    const double t0 = 2 * std::asin(sn) / kDeg;
    for (std::size_t i = 0; i < tth_deg.size(); ++i) {
      const double x = (tth_deg[i] - t0) / sig;
      if (std::abs(x) < 6) y[i] += c.gasket_counts * l.rel * std::exp(-0.5 * x * x);
    }
  }
}

calibration::TwoThetaPattern to_rad_pattern(const std::vector<double>& tth_deg,
                                            const std::vector<double>& y) {
  calibration::TwoThetaPattern p;
  p.two_theta_start_rad = tth_deg.front() * kDeg;
  p.step_rad = (tth_deg[1] - tth_deg[0]) * kDeg;
  p.intensity = y;
  return p;
}

// ------------------------------------------------------------------------------ SAXS model

calibration::TwoThetaPattern saxs_pattern(const SimulationConfig& c, const FrameTruth& t, double tth_max_rad,
                                          double wavelength_nm) {
  saxs::SimulationSettings s;
  saxs::SimulatedPhase ph;
  ph.lattice = t.superlattice == "lamellar" ? saxs::Lattice::lamellar : saxs::Lattice::fcc;
  ph.a_nm = t.sl_a_nm;
  ph.peak_height = t.superlattice == "lamellar" ? 40 : 30;
  ph.domain_nm = t.superlattice == "lamellar" ? 80 : 120;
  s.phases = {ph};
  const double q_max = 4 * kPi * std::sin(tth_max_rad / 2) / wavelength_nm + 0.1;
  s.q_min_inv_nm = 0.02;
  s.q_max_inv_nm = q_max;
  s.points = 6000;
  s.instrument_fwhm_inv_nm = 0.01;
  s.form_factor = saxs::FormFactorModel{saxs::ParticleShape::sphere, saxs::SizeDistribution::schulz,
                                        c.particle_radius_nm, c.polydispersity, 20.0};
  s.background_amplitude = 4e-4;
  s.background_exponent = 3.0;
  s.background_constant = 3e-3;
  s.counts = c.saxs_counts;
  s.poisson_noise = false;
  const auto sim = saxs::simulate_saxs(s);
  const auto& q = sim.pattern.x;
  const auto& I = sim.pattern.intensity;
  calibration::TwoThetaPattern p;
  p.two_theta_start_rad = 0;
  p.step_rad = 2e-6;
  const auto n = static_cast<std::size_t>(tth_max_rad / p.step_rad) + 3;
  p.intensity.resize(n);
  const double dq = q[1] - q[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double qq = 4 * kPi * std::sin(i * p.step_rad / 2) / wavelength_nm;
    const double x = std::clamp((qq - q.front()) / dq, 0.0, static_cast<double>(q.size() - 1) - 1e-9);
    const auto j = static_cast<std::size_t>(x);
    const double f = x - j;
    p.intensity[i] = I[j] * (1 - f) + I[std::min(j + 1, q.size() - 1)] * f;
  }
  return p;
}

// ------------------------------------------------------------------------------ writing

io::FrameMetadata metadata_of(const DetectorSim& d, double count_time) {
  io::FrameMetadata m;
  m.wavelength_m = d.g.wavelength_m;
  m.distance_m = d.g.dist_m;
  m.beam_center_x_px = d.beam_col;
  m.beam_center_y_px = d.beam_row;
  m.pixel_size_x_m = d.g.detector.pixel2_m;
  m.pixel_size_y_m = d.g.detector.pixel1_m;
  m.count_time_s = count_time;
  m.saturation_value = kSaturation;
  m.detector = d.g.detector.name == "Pilatus1M" ? "Pilatus 1M (simulated)" : "Pilatus 300K (simulated)";
  return m;
}

std::string scan_toml(const SimulationConfig& c, const std::string& prefix) {
  return fmt::format(
      R"(# Scan description of a simulated CdSe diamond-anvil-cell scan, written by `anvil simulate`
# (reference: docs/scan_description.md; what was simulated: truth.json, docs/simulate.md)
[scan]
name = "{0}"
frames_in_flight = 8

[waxs]
frames = "{1}_waxs_master.h5"    # EIGER-style master; bitshuffle-LZ4 data files next to it
poni = "waxs.poni"
mask = "waxs.mask"               # beamstop and its arm (module gaps come from the detector)

[waxs.integration]
unit = "2th_deg"
bins = 1500
range = [3.0, 21.0]
split = "bbox"
error_model = "azimuthal"        # σ from the ring's spread: what sigma clipping needs
polarization = 0.99              # the frames carry pyFAI's polarisation factor for 0.99
solid_angle = true
sigma_clip = 4.0                 # diamond Bragg spots
sigma_clip_iterations = 5

[saxs]
frames = "{1}_saxs_master.h5"
poni = "saxs.poni"
mask = "saxs.mask"

[saxs.integration]
unit = "q_nm^-1"
bins = 800
range = [0.25, 4.0]
split = "bbox"
error_model = "poisson"
polarization = 0.99
solid_angle = true

[pressure]
source = "ruby"                  # ruby R1 wavelengths (nm) from the SPEC file ...
file = "{1}.spec"
scan = 1
counter = "ruby R1"
scale = "dewaele2008"            # ... on this scale (pressure.csv holds the same readings in GPa)
r1_esd_nm = 0.03

[fit]
phases = ["CdSe-WZ", "CdSe-ZB", "CdSe-RS"]
mode = "independent"
range = [4.0, 20.0]

[index]
lattices = ["fcc", "bcc", "sc", "hcp", "hex2d", "lamellar"]
q_range = [0.3, 3.8]
)",
      c.name, prefix);
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(p.string(), "cannot write");
  out << text;
  if (!out) throw InputError(p.string(), "write failed");
}

}  // namespace

SimulationOutput simulate_scan(const SimulationConfig& c, const fs::path& out_dir) {
  SimulationOutput out;
  out.truth = simulation_truth(c);
  const auto& truth = out.truth;
  if (c.phase_dir.empty() || c.calibrant_dir.empty())
    throw InputError("simulate", "phase_dir and calibrant_dir must be set");
  fs::create_directories(out_dir);
  const std::string prefix = c.name;
  const double lambda_m = c.wavelength_a * 1e-10;

  const auto waxs = make_detector("waxs", waxs_geometry(c.detector_size, lambda_m), 1.6e-3, 0.6e-3, 1);
  const auto saxs = make_detector("saxs", saxs_geometry(c.detector_size, lambda_m), 2.6e-3, 0.8e-3, 0);
  const double tth_max_deg = waxs.tth_max_rad / kDeg;
  auto wm = make_waxs_model(c, tth_max_deg);

  // Normalisation: the strongest line of frame 0 (all phases present in its proportions) at
  // `waxs_peak_counts`; the same factor for every frame (the amount of sample does not change).
  {
    const auto y0 = waxs_curve(wm, truth[0], 1.0, c.size_nm);
    const double peak = *std::max_element(y0.begin(), y0.end());
    wm.scale_norm = peak > 0 ? c.waxs_peak_counts / peak : 1.0;
  }

  auto path = [&](const std::string& f) {
    out.files.push_back(out_dir / f);
    return out_dir / f;
  };
  geometry::write_poni(path("waxs.poni"), waxs.g);
  geometry::write_poni(path("saxs.poni"), saxs.g);
  // As Dioptas saves a .mask: up-down flipped relative to the frame files (io::MaskOrientation).
  io::write_dioptas_mask(path("waxs.mask").string(), waxs.mask);
  io::write_dioptas_mask(path("saxs.mask").string(), saxs.mask);

  // Frames, 10 per data file, for both detectors.
  const std::size_t n = truth.size();
  for (const DetectorSim* d : {&waxs, &saxs}) {
    io::Hdf5StackOptions opt;
    opt.pixel_type = io::PixelType::UInt32;
    opt.compression = io::Hdf5Compression::BitshuffleLz4;
    opt.metadata = metadata_of(*d, c.count_time_s);
    std::vector<std::string> data_files;
    std::unique_ptr<io::Hdf5StackWriter> writer;
    for (std::size_t k = 0; k < n; ++k) {
      if (k % kFramesPerDataFile == 0) {
        if (writer) writer->close();
        const auto f = path(fmt::format("{}_{}_data_{:06d}.h5", prefix, d->name, k / kFramesPerDataFile + 1));
        data_files.push_back(f.string());
        writer = std::make_unique<io::Hdf5StackWriter>(f.string(), d->g.detector.shape, opt);
      }
      const std::uint64_t frame_seed = c.seed * 1000003ull + k * 2 + (d == &saxs ? 1 : 0);
      ImageF img;
      if (d == &waxs) {
        auto y = waxs_curve(wm, truth[k], wm.scale_norm, c.size_nm);
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += waxs_background(c, wm.tth_deg[i]);
        if (c.gasket) add_gasket(y, wm.tth_deg, c, truth[k].pressure_gpa);
        img = project(*d, to_rad_pattern(wm.tth_deg, y));
        std::mt19937_64 rng(frame_seed ^ 0xD1A3u);
        add_diamond_spots(img, *d, c.diamond_spots, rng);
      } else {
        img = project(*d, saxs_pattern(c, truth[k], d->tth_max_rad, c.wavelength_a / 10));
      }
      finish(img, *d, frame_seed, kAllOnes);
      writer->append(img);
    }
    writer->close();
    write_eiger_master(path(fmt::format("{}_{}_master.h5", prefix, d->name)).string(), data_files,
                       opt.metadata, d->gaps);
  }

  // Calibrant images: CeO2 on the WAXS detector, AgBh on the SAXS detector (no sample, no
  // beamstop arm change), int32 TIFF with −1 in the gaps, Pilatus-style.
  {
    const auto read_cal = [&](const std::string& name) {
      std::ifstream in(c.calibrant_dir / (name + ".toml"));
      if (!in) throw InputError((c.calibrant_dir / (name + ".toml")).string(), "file not found");
      std::stringstream ss;
      ss << in.rdbuf();
      return calibration::parse_calibrant(ss.str(), name);
    };
    struct Cal {
      const DetectorSim* d;
      std::string calibrant, file;
      double fwhm_rad, peak, bkg;
    };
    const Cal cals[] = {{&waxs, "CeO2", "ceo2_waxs", 0.04 * kDeg, 4000, 40},
                        {&saxs, "AgBh", "agbh_saxs", 1.6e-4, 3000, 15}};
    for (const auto& cal : cals) {
      const auto calib = read_cal(cal.calibrant);
      const auto lines =
          calibration::calibrant_lines_to_two_theta(calib, lambda_m, cal.d->tth_max_rad + 0.01);
      calibration::RingPatternSettings rs;
      rs.fwhm_rad = cal.fwhm_rad;
      rs.peak_counts = cal.peak;
      rs.background = cal.bkg;
      rs.max_two_theta_rad = cal.d->tth_max_rad + 0.01;
      auto img = project(*cal.d, calibration::calibrant_pattern(lines, lambda_m, rs));
      finish(img, *cal.d, c.seed * 7919 + (cal.d == &saxs ? 2 : 1), -1.0);
      io::TiffWriteOptions to;
      to.type = io::TiffSampleType::int32;
      to.compression = io::TiffCompression::deflate;
      to.description = fmt::format("# Simulated {} calibrant image (anvil simulate)\n# Exposure_time {} s\n",
                                   cal.calibrant, c.count_time_s);
      io::write_tiff(path(cal.file + ".tif").string(), {img}, to);
      geometry::write_poni(path(cal.file + ".poni"), cal.d->g);
    }
  }

  // Pressure log: a CSV table and a SPEC file with the ruby R1 wavelength (Dewaele 2008).
  {
    io::TableColumn fr{"frame", "", {}, {}}, p{"pressure_gpa", "GPa", {}, {}},
        pe{"pressure_esd_gpa", "GPa", {}, {}};
    for (const auto& t : truth) {
      fr.numbers.push_back(static_cast<double>(t.frame));
      p.numbers.push_back(std::round(t.pressure_measured_gpa * 1000) / 1000);
      pe.numbers.push_back(std::round(t.pressure_esd_gpa * 1000) / 1000);
    }
    io::write_csv(path("pressure.csv"), {fr, p, pe});
    std::string spec = fmt::format(
        "#F {0}.spec\n#E 1763600000\n#D Sat Nov 21 09:00:00 2026\n#C CHESS ID7B2 {0} (simulated by anvil "
        "simulate, seed {1})\n\n#S 1  ascan  dac_screw 0 {2} {3} {4}\n#D Sat Nov 21 09:00:00 2026\n#N 5\n"
        "#L dac_screw  Seconds  ic0  ruby R1  frame\n",
        prefix, c.seed, n - 1, n - 1, c.count_time_s);
    for (const auto& t : truth)
      spec += fmt::format(
          "{:.1f} {} {} {:.4f} {}\n", static_cast<double>(t.frame), c.count_time_s, 150000 + 17 * t.frame,
          pressure::ruby_r1_nm(t.pressure_measured_gpa, pressure::RubyScale::Dewaele2008), t.frame);
    write_text(path(prefix + ".spec"), spec);
  }

  // Truth.
  {
    json j;
    j["generator"] = fmt::format("anvil simulate {}", ANVIL_VERSION);
    j["seed"] = c.seed;
    j["detector_size"] = c.detector_size;
    j["wavelength_a"] = c.wavelength_a;
    j["crystallite_size_nm"] = c.size_nm;
    j["retained_rs_fraction"] = truth.back().rs;
    j["transition"] = {{"up_gpa", c.up_transition_gpa},
                       {"up_width_gpa", c.up_width_gpa},
                       {"down_gpa", c.down_transition_gpa},
                       {"down_width_gpa", c.down_width_gpa},
                       {"retained_rs_fraction_setting", c.retained_rs_fraction},
                       {"initial_zb_fraction", c.initial_zb_fraction}};
    const auto cells = ambient_cells(c);
    j["eos"] = {
        {"form", "BM3"},
        {"CdSe-WZ",
         {{"a0", cells.a_wz},
          {"c0", cells.c_wz},
          {"k0_gpa", c.eos_wz.k0_gpa},
          {"k0_prime", c.eos_wz.k0_prime}}},
        {"CdSe-ZB", {{"a0", cells.a_zb}, {"k0_gpa", c.eos_zb.k0_gpa}, {"k0_prime", c.eos_zb.k0_prime}}},
        {"CdSe-RS", {{"a0", cells.a_rs}, {"k0_gpa", c.eos_rs.k0_gpa}, {"k0_prime", c.eos_rs.k0_prime}}}};
    j["superlattice"] = {{"d111_nm", c.d111_nm},
                         {"fcc_distort_gpa", c.fcc_distort_gpa},
                         {"lamellar_onset_gpa", c.lamellar_onset_gpa},
                         {"lamellar_d_nm", c.lamellar_d_nm},
                         {"particle_radius_nm", c.particle_radius_nm},
                         {"polydispersity", c.polydispersity}};
    j["geometry"] = {
        {"waxs", {{"dist_m", waxs.g.dist_m}, {"beam_row_px", waxs.beam_row}, {"beam_col_px", waxs.beam_col}}},
        {"saxs",
         {{"dist_m", saxs.g.dist_m}, {"beam_row_px", saxs.beam_row}, {"beam_col_px", saxs.beam_col}}}};
    json frames = json::array();
    for (const auto& t : truth) {
      frames.push_back(
          {{"frame", t.frame},
           {"pressure_gpa", t.pressure_gpa},
           {"pressure_measured_gpa", t.pressure_measured_gpa},
           {"pressure_esd_gpa", t.pressure_esd_gpa},
           {"direction", t.direction},
           {"fractions", {{"CdSe-WZ", t.wz}, {"CdSe-ZB", t.zb}, {"CdSe-RS", t.rs}}},
           {"cells",
            {{"CdSe-WZ", {{"a", t.a_wz}, {"c", t.c_wz}}},
             {"CdSe-ZB", {{"a", t.a_zb}}},
             {"CdSe-RS", {{"a", t.a_rs}}}}},
           {"superlattice",
            {{"lattice", t.superlattice}, {"a_nm", t.sl_a_nm}, {"d_first_nm", t.sl_d_first_nm}}}});
    }
    j["frames"] = frames;
    write_text(path("truth.json"), j.dump(1) + "\n");
  }

  out.scan_toml = path(prefix + ".toml");
  write_text(out.scan_toml, scan_toml(c, prefix));
  return out;
}

}  // namespace anvil::pipeline
