// anvil._anvil, its analysis half: phase tables, WAXS fits (Bragg and Debye), SAXS indexing,
// calibration, pressure scales and whole-scan runs (python/common.hpp; module.cpp has the frames
// and integration). Long calls release the GIL.
#include "saxs/analysis.hpp"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cmath>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "azimuthal.hpp"
#include "calibration/calibrate.hpp"
#include "common.hpp"
#include "crystal/cif.hpp"
#include "crystal/lattice.hpp"
#include "crystal/lorentz_polarisation.hpp"
#include "crystal/phase.hpp"
#include "crystal/reflections.hpp"
#include "debye_fit.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/pattern_io.hpp"
#include "phase_models.hpp"
#include "pressure/ruby.hpp"
#include "pressure/standard.hpp"
#include "run_scan.hpp"
#include "saxs_json.hpp"
#include "scan_config.hpp"
#include "waxs_fit.hpp"

namespace anvil::python {
namespace {

// ---------------------------------------------------------------- phases, fits, indexing

py::dict phase_table(const std::string& name, std::optional<double> energy_kev,
                     std::optional<double> wavelength_a, double tth_min, double tth_max,
                     const std::string& phase_dir) {
  if (energy_kev && wavelength_a) throw InputError("phase", "give energy_kev or wavelength, not both");
  if (!energy_kev && !wavelength_a) throw InputError("phase", "no beam: give energy_kev= or wavelength= (Å)");
  const double lambda = wavelength_a ? *wavelength_a : crystal::wavelength_angstrom_from_energy(*energy_kev);
  if (!(lambda > 0) || !std::isfinite(lambda))
    throw InputError("phase", fmt::format("wavelength {} Å", lambda));
  const auto p = crystal::load_phase(name, phase_dir_or_default(phase_dir));
  const std::vector<crystal::Reflection> lines =
      crystal::merge_equal_d(crystal::reflection_list(p, lambda, tth_min, tth_max));
  std::vector<int> h, k, l, m;
  std::vector<double> d, tth, q, f2, intensity;
  double max = 0;
  for (const auto& r : lines) {
    h.push_back(r.hkl[0]), k.push_back(r.hkl[1]), l.push_back(r.hkl[2]), m.push_back(r.multiplicity);
    d.push_back(r.d_angstrom);
    tth.push_back(crystal::two_theta_deg(r.d_angstrom, lambda));
    q.push_back(2 * M_PI / r.d_angstrom);
    f2.push_back(r.f_squared);
    intensity.push_back(r.multiplicity * r.f_squared *
                        crystal::lp_factor(tth.back(), crystal::LpModel::PolarisationCorrected));
    max = std::max(max, intensity.back());
  }
  for (double& v : intensity) v = max > 0 ? 100 * v / max : 0;
  py::dict out;
  out["name"] = p.name;
  out["formula"] = p.formula;
  out["space_group"] = crystal::space_group_name(p);
  out["cell"] =
      py::make_tuple(p.cell.a, p.cell.b, p.cell.c, p.cell.alpha_deg, p.cell.beta_deg, p.cell.gamma_deg);
  out["wavelength_a"] = lambda;
  out["h"] = to_numpy(std::move(h)), out["k"] = to_numpy(std::move(k)), out["l"] = to_numpy(std::move(l));
  out["d_spacing_a"] = to_numpy(std::move(d));
  out["two_theta_deg"] = to_numpy(std::move(tth));
  out["q_inv_a"] = to_numpy(std::move(q));
  out["multiplicity"] = to_numpy(std::move(m));
  out["f_squared"] = to_numpy(std::move(f2));
  out["intensity"] = to_numpy(std::move(intensity));
  return out;
}

Pattern1D pattern_of(const py::array& x, const py::array& y, const py::object& sigma,
                     const std::string& unit) {
  const auto xs = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(x);
  const auto ys = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(y);
  if (!xs || !ys || xs.ndim() != 1 || ys.ndim() != 1)
    throw InputError("pattern", "x and y must be 1-D arrays");
  if (xs.size() != ys.size())
    throw InputError("pattern", fmt::format("{} x values but {} intensities", xs.size(), ys.size()));
  Pattern1D p;
  p.unit = io::parse_radial_unit(unit);
  p.x.assign(xs.data(), xs.data() + xs.size());
  p.intensity.assign(ys.data(), ys.data() + ys.size());
  if (!sigma.is_none()) {
    const auto ss = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(sigma);
    if (!ss || ss.ndim() != 1 || ss.size() != xs.size())
      throw InputError("pattern", "sigma must be a 1-D array as long as x");
    p.sigma.assign(ss.data(), ss.data() + ss.size());
  }
  return p;
}

// One WAXS pattern fitted: (result as the CLI's JSON, model curves).
py::tuple fit_pattern(const py::array& x, const py::array& y, const py::object& sigma,
                      const std::string& unit, double wavelength_a, const std::vector<std::string>& phases,
                      const std::string& model, const std::vector<std::string>& others,
                      const py::object& sizes_nm, const py::object& range_deg,
                      std::optional<double> pressure_gpa, const std::string& phase_dir, bool le_bail,
                      bool faulted) {
  if (phases.empty()) throw InputError("fit", "name at least one phase");
  if (!(wavelength_a > 0)) throw InputError("fit", "the wavelength (Å) must be positive");
  const Pattern1D pattern = pattern_of(x, y, sigma, unit);
  std::optional<integrate::Range> range;
  if (!range_deg.is_none()) {
    const auto r = range_deg.cast<std::pair<double, double>>();
    range = integrate::Range{r.first, r.second};
  }
  json j;
  py::dict curves;
  if (model == "debye" || le_bail) {
    pipeline::DebyeFitSettings ds;
    ds.phases = phases;
    ds.others = others;
    if (le_bail) {  // every phase profile-matched (`anvil fit --le-bail`): cells and widths, free intensities
      if (faulted) throw InputError("faulted", "profile matching (le_bail) has no stacking faults to refine");
      ds.others.insert(ds.others.begin(), ds.phases.begin(), ds.phases.end());
      ds.phases.clear();
    }
    ds.phase_dir = phase_dir_or_default(phase_dir);
    ds.wavelength_a = wavelength_a;
    ds.range_deg = range;
    ds.faulted = faulted;
    ds.cache_dir = pipeline::default_debye_cache_dir();
    if (!sizes_nm.is_none()) {
      const auto s = sizes_nm.cast<std::pair<double, double>>();
      ds.clusters.d_min_a = 10.0 * s.first, ds.clusters.d_max_a = 10.0 * s.second;
    }
    debye::FitResult r;
    {
      py::gil_scoped_release release;
      const pipeline::DebyeFitter fitter(ds);
      r = fitter.fit_raw(pattern, pipeline::eos_cells(fitter.powder_phases(), pressure_gpa), pressure_gpa);
      j = fitter.result_json(r);
    }
    curves["q_inv_a"] = to_numpy(r.q);
    curves["observed"] = to_numpy(r.observed);
    curves["calculated"] = to_numpy(r.calculated);
    curves["background"] = to_numpy(r.background);
    py::dict per_phase;
    for (std::size_t k = 0; k < r.phase_curves.size() && k < ds.phases.size(); ++k)
      per_phase[py::str(ds.phases[k])] = to_numpy(r.phase_curves[k]);
    curves["phases"] = per_phase;
  } else if (model == "bragg") {
    pipeline::WaxsFitSettings s;
    s.phases = phases;
    s.phase_dir = phase_dir_or_default(phase_dir);
    s.wavelength_a = wavelength_a;
    s.range_deg = range;
    powder::FitResult r;
    {
      py::gil_scoped_release release;
      const pipeline::WaxsFitter fitter(s);
      r = fitter.fit(pattern, pipeline::eos_cells(fitter.phases(), pressure_gpa));
      j = pipeline::fit_result_json(r, s.phases);
    }
    j["model"] = "bragg";
    curves["two_theta_deg"] = to_numpy(r.two_theta_deg);
    curves["observed"] = to_numpy(r.observed);
    curves["sigma"] = to_numpy(r.sigma);
    curves["calculated"] = to_numpy(r.model);
    curves["background"] = to_numpy(r.background);
  } else {
    throw InputError("model", "expected \"bragg\" or \"debye\", not \"" + model + "\"");
  }
  return py::make_tuple(to_python(j), curves);
}

py::dict index_pattern(const py::array& q, const py::array& intensity, const py::object& sigma,
                       const std::string& q_unit, const std::vector<std::string>& lattices,
                       const py::object& q_range) {
  const Pattern1D p = pattern_of(q, intensity, sigma, q_unit);
  saxs::SaxsSettings s;
  if (!lattices.empty()) {
    s.index.lattices.clear();
    for (const auto& name : lattices) {
      const auto l = saxs::parse_lattice(name);
      if (!l || *l == saxs::Lattice::none)
        throw InputError("lattices",
                         "unknown lattice \"" + name + "\" (fcc, bcc, sc, hcp, hex2d, hex3d, lamellar)");
      s.index.lattices.push_back(*l);
    }
  }
  if (!q_range.is_none()) {
    const auto r = q_range.cast<std::pair<double, double>>();
    const double k = p.unit == RadialUnit::QInvA ? 10.0 : 1.0;  // the range is in the pattern's unit
    s.q_min_inv_nm = r.first * k, s.q_max_inv_nm = r.second * k;
  }
  json j;
  saxs::SaxsResult r;
  {
    py::gil_scoped_release release;
    r = saxs::analyse_saxs(p, s);
    j = pipeline::saxs_result_json(r, s);
  }
  py::dict out = to_python(j).cast<py::dict>();
  out["flattened"] = py::make_tuple(to_numpy(r.q), to_numpy(r.flattened));
  out["baseline"] = to_numpy(r.baseline);
  return out;
}

// ---------------------------------------------------------------- calibration

// Geometry from a calibrant image, as `anvil calibrate` (without its flips and figure): the
// answer as a dict — status, message, the .poni text, parameters with σ, rings, points and
// residuals, and the log.
py::dict calibrate_image(const py::array& image, const std::string& calibrant, double wavelength_a,
                         const std::string& detector, std::optional<double> pixel_um, const py::object& mask,
                         std::optional<double> dist_mm, const py::object& center_xy, const std::string& guess,
                         const std::vector<std::string>& fix, bool refine_wavelength, bool refine_distortion,
                         std::optional<double> max_rms_px) {
  if (!(wavelength_a > 0)) throw InputError("calibrate", "the wavelength (Å) must be positive");
  const ImageF img = image_of(image, "image");
  Mask m = mask.is_none() ? Mask(img.shape, 0) : mask_of(mask.cast<py::array>(), img.shape);
  // NaN (no measurement) is masked, as the readers' invalid pixels are.
  for (std::size_t i = 0; i < img.pixels.size(); ++i)
    if (!std::isfinite(img.pixels[i])) m.pixels[i] = 1;
  std::optional<geometry::Geometry> start_geometry;
  if (!guess.empty()) start_geometry = pipeline::frame_geometry(guess, detector, {}).geometry;
  geometry::Detector det;
  if (!detector.empty()) {
    det = geometry::detector_preset(detector);
  } else if (pixel_um) {
    det = geometry::generic_detector(*pixel_um * 1e-6, *pixel_um * 1e-6);
  } else if (start_geometry) {
    det = start_geometry->detector;
  } else {
    throw InputError("calibrate",
                     "no pixel size: name the detector (detector=\"Pilatus1M\") or give pixel_um=");
  }
  if (det.shape.pixel_count() != 0 && det.shape != img.shape)
    throw InputError("calibrate", fmt::format("image is {} x {} but detector {} is {} x {}", img.shape.rows,
                                              img.shape.cols, det.name, det.shape.rows, det.shape.cols));
  calibration::CalibrationStart start;
  start.guess = start_geometry;
  if (dist_mm) start.dist_m = *dist_mm * 1e-3;
  if (!center_xy.is_none()) {
    const auto c = center_xy.cast<std::pair<double, double>>();
    start.center_px = std::array<double, 2>{c.second, c.first};
  }
  calibration::CalibrationOptions opt;
  opt.free.wavelength = refine_wavelength;
  opt.free.distortion = refine_distortion;
  opt.free.rot3 = true;
  for (const auto& f : fix)
    if (!opt.free.fix(f))
      throw InputError("fix", fmt::format("unknown parameter '{}': dist, poni1, poni2, rot1, rot2, rot3", f));
  if (max_rms_px) opt.max_rms_px = *max_rms_px;
  const auto cal = pipeline::load_calibrant(calibrant, pipeline::calib_dir(module_dir()) / "calibrants");
  const double wavelength_m = wavelength_a * 1e-10;
  const auto lines = calibration::calibrant_lines_to_two_theta(cal, wavelength_m, std::numbers::pi / 2);
  if (lines.empty())
    throw InputError("calibrant",
                     fmt::format("{} has no line below 2θ = 90° at λ = {:.4f} Å", cal.name, wavelength_a));
  calibration::CalibrationResult r;
  {
    py::gil_scoped_release release;
    r = calibration::calibrate(img, m, det, wavelength_m, lines, start, opt);
  }
  py::dict d;
  d["status"] = calibration::status_name(r.status);
  d["ok"] = r.ok();
  d["message"] = r.message;
  d["calibrant"] = cal.name;
  auto g = r.geometry;
  if (g.detector.shape.pixel_count() == 0) g.detector.shape = img.shape;
  d["poni"] = geometry::format_poni(g);
  const char* names[7] = {"dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"};
  const double values[7] = {g.dist_m, g.poni1_m, g.poni2_m, g.rot1, g.rot2, g.rot3, g.wavelength_m};
  py::dict params, sigma;
  for (int k = 0; k < 7; ++k) params[names[k]] = values[k], sigma[names[k]] = r.sigma[k];
  d["parameters"] = params;
  d["sigma"] = sigma;
  d["rms_px"] = r.rms_px;
  d["rms_rad"] = r.rms_rad;
  py::list rings;
  for (const auto& f : r.rings) {
    py::dict ring;
    const auto& h = f.calibrant_line.hkl;
    ring["hkl"] = py::make_tuple(h[0], h[1], h[2]);
    ring["d_spacing_a"] = f.calibrant_line.d_angstrom;
    ring["two_theta_expected_deg"] = f.two_theta_expected_rad * 180 / std::numbers::pi;
    ring["two_theta_observed_deg"] = f.two_theta_observed_rad * 180 / std::numbers::pi;
    ring["points"] = f.points;
    ring["mean_residual_rad"] = f.mean_residual_rad;
    ring["rms_residual_rad"] = f.rms_residual_rad;
    rings.append(ring);
  }
  d["rings"] = rings;
  std::vector<double> pts;
  for (const auto& p : r.points) pts.insert(pts.end(), {p.d1, p.d2, static_cast<double>(p.line)});
  d["points"] = to_numpy(std::move(pts), {static_cast<py::ssize_t>(r.points.size()), 3});
  d["residuals_rad"] = to_numpy(r.residuals_rad);
  d["log"] = r.log;
  return d;
}

// ---------------------------------------------------------------- runs

py::dict run(const std::string& scan_toml, const std::string& out_dir, std::size_t threads,
             const py::object& progress, bool force) {
  const auto config = pipeline::load_scan_config(scan_toml);
  pipeline::RunOptions o;
  o.output_dir = out_dir.empty()
                     ? fs::path(scan_toml).parent_path() / pipeline::default_output_name(config.name)
                     : fs::path(out_dir);
  o.phase_dir = phase_dir_or_default("");
  o.threads = threads;
  o.force = force;
  o.command_line = "python: anvil.run(" + scan_toml + ")";
  std::exception_ptr callback_error;
  if (!progress.is_none()) {
    o.on_frame = [&](const pipeline::FrameResult& r, std::size_t done, std::size_t total) {
      if (callback_error) return;
      py::gil_scoped_acquire acquire;
      try {
        progress(done, total, r.index, r.ok());
      } catch (...) {
        callback_error = std::current_exception();
      }
    };
  }
  pipeline::RunSummary s;
  {
    pipeline::OutputLock lock(o.output_dir, o.command_line);
    py::gil_scoped_release release;
    s = pipeline::run_scan(config, o);
  }
  if (callback_error) std::rethrow_exception(callback_error);
  py::dict d;
  d["output_dir"] = o.output_dir.string();
  d["frames"] = s.frames, d["succeeded"] = s.succeeded, d["failed"] = s.failed, d["resumed"] = s.resumed;
  d["failure_reasons"] = s.failure_reasons;
  std::vector<std::string> outputs;
  for (const auto& p : s.outputs) outputs.push_back(p.string());
  d["outputs"] = outputs;
  d["warnings"] = s.warnings;
  d["notes"] = s.notes;
  d["saxs_transitions"] = s.saxs_transitions;
  d["stage_seconds"] = s.stage_seconds;
  d["loop_seconds"] = s.loop_seconds;
  return d;
}

}  // namespace

void add_analysis(py::module_& m) {
  m.def("calibrate", &calibrate_image, py::arg("image"), py::arg("calibrant"), py::arg("wavelength"),
        py::arg("detector"), py::arg("pixel_um"), py::arg("mask"), py::arg("dist_mm"), py::arg("center"),
        py::arg("guess"), py::arg("fix"), py::arg("refine_wavelength"), py::arg("refine_distortion"),
        py::arg("max_rms_px"));
  m.def("phase_table", &phase_table, py::arg("name"), py::arg("energy_kev") = py::none(),
        py::arg("wavelength") = py::none(), py::arg("tth_min") = 2.0, py::arg("tth_max") = 60.0,
        py::arg("phase_dir") = "");
  m.def("fit_pattern", &fit_pattern, py::arg("x"), py::arg("y"), py::arg("sigma"), py::arg("unit"),
        py::arg("wavelength"), py::arg("phases"), py::arg("model"), py::arg("others"), py::arg("sizes_nm"),
        py::arg("range_deg"), py::arg("pressure_gpa"), py::arg("phase_dir"), py::arg("le_bail"),
        py::arg("faulted"));
  m.def("index_pattern", &index_pattern, py::arg("q"), py::arg("intensity"), py::arg("sigma"),
        py::arg("q_unit"), py::arg("lattices"), py::arg("q_range"));
  m.def(
      "ruby",
      [](double r1_nm, const std::string& scale, std::optional<double> lambda0_nm,
         std::optional<double> temperature_k) {
        const auto sc = pressure::parse_ruby_scale(scale);
        return temperature_k
                   ? pressure::ruby_pressure_gpa_at_temperature(r1_nm, *temperature_k, sc, lambda0_nm)
                   : pressure::ruby_pressure_gpa(r1_nm, sc, lambda0_nm);
      },
      py::arg("r1_nm"), py::arg("scale"), py::arg("lambda0_nm") = py::none(),
      py::arg("temperature_k") = py::none());
  m.def("ruby_scales", [] {
    std::vector<std::string> out;
    for (auto s : pressure::ruby_scales()) out.emplace_back(pressure::ruby_scale_name(s));
    return out;
  });
  m.def(
      "standard",
      [](const std::string& name, std::optional<double> a, std::optional<double> volume,
         std::optional<double> d, const std::string& hkl) {
        const auto& s = pressure::find_standard(name);
        const int given = a.has_value() + volume.has_value() + d.has_value();
        if (given != 1)
          throw InputError(name, "give exactly one of a= (Å), volume= (Å³ per cell) or d= (Å) with hkl=");
        py::dict out;
        out["standard"] = s.name;
        out["material"] = s.material;
        out["source"] = s.source;
        double p = 0;
        if (a) p = s.pressure_from_lattice_gpa(*a);
        if (volume) p = s.pressure_from_volume_gpa(*volume);
        if (d) {
          if (hkl.empty()) throw InputError(name, "a d-spacing needs its reflection: hkl=\"111\"");
          p = s.pressure_from_d_gpa(*d, pressure::parse_hkl(hkl));
        }
        out["pressure_gpa"] = p;
        out["a0_angstrom"] = s.a0_angstrom();
        return out;
      },
      py::arg("name"), py::arg("a") = py::none(), py::arg("volume") = py::none(), py::arg("d") = py::none(),
      py::arg("hkl") = "");
  m.def("standard_names", &pressure::standard_names);
  m.def("run", &run, py::arg("scan_toml"), py::arg("out_dir"), py::arg("threads"), py::arg("progress"),
        py::arg("force"));
  m.def("default_phase_dir", [] { return phase_dir_or_default("").string(); });
}

}  // namespace anvil::python
