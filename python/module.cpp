// anvil's Python module, the compiled half (`anvil._anvil`): frame sources and pyFAI-style azimuthal
// integration here; phases, WAXS fits, SAXS indexing, pressure scales and whole-scan runs in
// analysis.cpp (helpers both use: common.hpp) — on the same
// C++ libraries as the `anvil` command. python/anvil/__init__.py gives it its Python face (result
// objects, tuple unpacking, pandas); docs/python.md documents both.
//
// Arrays: images and patterns come out as NumPy arrays that own anvil's buffers (no copy); images
// go in as C-contiguous float32 (other dtypes are converted once). The GIL is released in every
// call that reads, integrates or fits, so Python threads run them in parallel.
// Errors: anvil's InputError (bad input: shapes, values, file contents) is ValueError; a file that
// cannot be opened is OSError (FileNotFoundError when it does not exist).
#include <dlfcn.h>
#include <fmt/core.h>
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "azimuthal.hpp"
#include "calib_dirs.hpp"
#include "calibration/calibrate.hpp"
#include "common.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "crystal/cif.hpp"
#include "crystal/lattice.hpp"
#include "crystal/lorentz_polarisation.hpp"
#include "crystal/phase.hpp"
#include "crystal/reflections.hpp"
#include "debye_fit.hpp"
#include "geometry/detector.hpp"
#include "geometry/geometry.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"
#include "io/mask.hpp"
#include "io/pattern_io.hpp"
#include "phase_models.hpp"
#include "pressure/ruby.hpp"
#include "pressure/standard.hpp"
#include "run_scan.hpp"
#include "saxs/analysis.hpp"
#include "saxs_json.hpp"
#include "scan_config.hpp"
#include "waxs_fit.hpp"

namespace anvil::python {
namespace {

// Whether any value is NaN or ±inf (exponent bits all set), in one vectorisable pass.
bool any_non_finite(std::span<const float> values) {
  std::uint32_t hit = 0;
  for (const float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    hit |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return hit != 0;
}

// FNV-1a over 64-bit words: the identity of a mask, dark or flat in the integrator cache.
std::uint64_t hash_bytes(const void* data, std::size_t bytes) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

py::dict metadata_dict(const io::FrameMetadata& m) {
  py::dict d;
  const auto put = [&](const char* key, const std::optional<double>& v) {
    d[key] = v ? py::object(py::float_(*v)) : py::object(py::none());
  };
  put("wavelength_m", m.wavelength_m);
  put("distance_m", m.distance_m);
  put("beam_center_x_px", m.beam_center_x_px);
  put("beam_center_y_px", m.beam_center_y_px);
  put("pixel_size_x_m", m.pixel_size_x_m);
  put("pixel_size_y_m", m.pixel_size_y_m);
  put("count_time_s", m.count_time_s);
  put("saturation_value", m.saturation_value);
  d["detector"] = m.detector;
  return d;
}

// ---------------------------------------------------------------- frames

class FrameSource {
 public:
  FrameSource(const std::string& spec, bool flip_ud, bool flip_lr) {
    io::OpenOptions o;
    o.flip_up_down = flip_ud;
    o.flip_left_right = flip_lr;
    py::gil_scoped_release release;
    source_ = io::open_frames(spec, o);
  }
  std::size_t size() const { return source_->frame_count(); }
  std::size_t first_number() const { return source_->first_number(); }

  // The frame at `position` (negative: from the end): pixels as float32, and the detector's
  // invalid pixels (gaps, saturated, sentinel values) as a uint8 mask.
  py::tuple read(long long position) const {
    const auto n = static_cast<long long>(size());
    if (position < 0) position += n;
    if (position < 0 || position >= n)
      throw py::index_error(fmt::format("frame {} of a source of {} frames", position, n));
    io::Frame f;
    {
      py::gil_scoped_release release;
      f = source_->read(static_cast<std::size_t>(position));
    }
    const auto rows = static_cast<py::ssize_t>(f.image.shape.rows),
               cols = static_cast<py::ssize_t>(f.image.shape.cols);
    // What the detector says is no measurement (gaps, saturation, sentinel values) is NaN, which
    // integrate1d excludes as the reader's invalid mask is excluded in `anvil integrate`.
    for (std::size_t i = 0; i < f.invalid.pixels.size() && i < f.image.pixels.size(); ++i)
      if (f.invalid.pixels[i]) f.image.pixels[i] = NAN;
    py::object invalid = py::none();
    if (!f.invalid.empty()) invalid = to_numpy(std::move(f.invalid.pixels), {rows, cols});
    return py::make_tuple(to_numpy(std::move(f.image.pixels), {rows, cols}), invalid,
                          metadata_dict(f.metadata), f.origin);
  }

  py::dict info() const {
    const auto& i = source_->info();
    py::dict d;
    d["path"] = i.path;
    d["dataset"] = i.dataset;
    d["format"] = i.format;
    d["dtype"] = i.dtype;
    d["compression"] = i.compression;
    d["frames"] = i.frame_count;
    d["first_frame"] = source_->first_number();
    d["shape"] = py::make_tuple(i.shape.rows, i.shape.cols);
    d["metadata"] = metadata_dict(i.metadata);
    return d;
  }

 private:
  std::unique_ptr<io::FrameSource> source_;
};

// A mask file (TIFF, Dioptas .mask, EDF, CBF, file.h5:/path) as a uint8 array (1 = masked), laid
// over frames read with the given flips; orientation "auto" (Dioptas for .mask), "raw" or "dioptas".
py::array_t<std::uint8_t> read_mask(const std::string& spec, const py::object& shape,
                                    const std::string& orientation, bool flip_ud, bool flip_lr) {
  std::optional<Shape> expected;
  if (!shape.is_none()) {
    const auto t = shape.cast<std::pair<std::size_t, std::size_t>>();
    expected = Shape{t.first, t.second};
  }
  io::OpenOptions frames;
  frames.flip_up_down = flip_ud;
  frames.flip_left_right = flip_lr;
  const auto stored =
      io::resolve_mask_orientation(spec, io::parse_mask_orientation(orientation, "orientation"));
  Mask m;
  {
    py::gil_scoped_release release;
    m = io::read_mask(spec, expected, frames, stored);
  }
  const auto rows = static_cast<py::ssize_t>(m.shape.rows), cols = static_cast<py::ssize_t>(m.shape.cols);
  return to_numpy(std::move(m.pixels), {rows, cols});
}

// ---------------------------------------------------------------- integration

struct IntegrateArgs {
  std::size_t npt = 1000;
  std::size_t npt_azim = 0;
  std::string unit = "q_nm^-1";
  std::string method = "bbox";
  std::optional<double> polarization_factor;
  bool correct_solid_angle = true;
  std::string error_model = "poisson";
  std::optional<double> sigma_clip;
  int sigma_clip_iterations = 5;
  std::optional<std::pair<double, double>> radial_range, azimuth_range, quantiles;
};

pipeline::IntegrationSettings settings_of(const IntegrateArgs& a) {
  pipeline::IntegrationSettings s;
  s.unit = io::parse_radial_unit(a.unit);
  s.radial_bins = a.npt;
  s.azimuth_bins = a.npt_azim;
  const auto split = pipeline::parse_pixel_split(a.method);
  if (!split) throw InputError("method", "expected \"no\", \"bbox\" or \"full\", not \"" + a.method + "\"");
  s.split = *split;
  const auto error = pipeline::parse_error_model(a.error_model.empty() ? "none" : a.error_model);
  if (!error)
    throw InputError("error_model",
                     "expected \"poisson\", \"azimuthal\" or None, not \"" + a.error_model + "\"");
  s.error_model = *error;
  s.correct_solid_angle = a.correct_solid_angle;
  s.polarization_factor = a.polarization_factor;
  if (a.radial_range) s.radial_range = integrate::Range{a.radial_range->first, a.radial_range->second};
  if (a.azimuth_range)
    s.azimuth_range_deg = integrate::Range{a.azimuth_range->first, a.azimuth_range->second};
  s.sigma_clip = a.sigma_clip;
  s.sigma_clip_iterations = a.sigma_clip_iterations;
  if (a.quantiles) s.median_quantiles = integrate::Range{a.quantiles->first, a.quantiles->second};
  pipeline::validate(s);
  return s;
}

// A .poni's geometry with its integrators, built once per shape, settings, mask, dark and flat
// and reused for every frame (the pixel-to-bin table is the expensive part, as in pyFAI).
class Geometry {
 public:
  Geometry(const std::string& poni, const std::string& detector, bool flip_ud, bool flip_lr) {
    auto fg = pipeline::frame_geometry(poni, detector, {flip_ud, flip_lr});
    geometry_ = fg.geometry;
    note_ = fg.note;
    source_ = poni;
  }
  // From the text of a .poni (a calibration's answer), for frames read as stored.
  static std::unique_ptr<Geometry> from_text(const std::string& text, const std::string& source) {
    geometry::PoniInfo info;
    const auto g = geometry::parse_poni(text, source, {}, &info);
    auto out = std::unique_ptr<Geometry>(new Geometry());
    auto fg = geometry::geometry_for_frames(g, info, {}, source);
    out->geometry_ = fg.geometry;
    out->note_ = fg.note;
    out->source_ = source;
    return out;
  }

  py::dict describe() const {
    py::dict d;
    d["poni"] = source_;
    d["dist_m"] = geometry_.dist_m;
    d["poni1_m"] = geometry_.poni1_m;
    d["poni2_m"] = geometry_.poni2_m;
    d["rot1"] = geometry_.rot1;
    d["rot2"] = geometry_.rot2;
    d["rot3"] = geometry_.rot3;
    d["wavelength_m"] = geometry_.wavelength_m;
    d["detector"] = geometry_.detector.name;
    d["pixel1_m"] = geometry_.detector.pixel1_m;
    d["pixel2_m"] = geometry_.detector.pixel2_m;
    d["shape"] = py::make_tuple(geometry_.detector.shape.rows, geometry_.detector.shape.cols);
    d["note"] = note_;
    return d;
  }

  // 1-D or 2-D integration (npt_azim > 0): (radial, intensity, sigma, unit) or, for a cake,
  // (radial, chi_deg, intensity[χ][radial], sigma, unit).
  // 1-D or 2-D integration (npt_azim > 0) of one image, or 1-D of a stack (frames × rows ×
  // columns, batched: several times the throughput): (radial, intensity, sigma, unit) — a list of
  // them for a stack — or, for a cake, (radial, chi_deg, intensity[χ][radial], sigma, unit).
  py::object integrate(const py::array& image, const IntegrateArgs& args, const py::object& mask,
                       const py::object& dark, const py::object& flat) {
    // The image is read where NumPy holds it (converted once only when it is not C-contiguous
    // float32); it must not change while the call runs, as for any NumPy routine.
    const auto pixels = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(image);
    if (!pixels) throw InputError("image", "not an array of numbers");
    if (pixels.ndim() != 2 && !(pixels.ndim() == 3 && args.npt_azim == 0))
      throw InputError("image",
                       fmt::format("an image has 2 dimensions (rows, columns), a stack of them 3; this "
                                   "one {}",
                                   pixels.ndim()));
    const bool stack = pixels.ndim() == 3;
    const std::size_t frames = stack ? static_cast<std::size_t>(pixels.shape(0)) : 1;
    const Shape shape{static_cast<std::size_t>(pixels.shape(stack ? 1 : 0)),
                      static_cast<std::size_t>(pixels.shape(stack ? 2 : 1))};
    const auto integrator = integrator_for(shape, args, mask, dark, flat);
    py::gil_scoped_release release;
    // Non-finite pixels (the NaN a FrameSource puts where the detector has no measurement) are
    // invalid, as the reader's mask is in `anvil integrate`; the common case has none and pays
    // one branch-free pass.
    std::vector<std::vector<std::uint8_t>> invalid(frames);
    std::vector<pipeline::PixelsView> views(frames);
    tbb::parallel_for(std::size_t{0}, frames, [&](std::size_t k) {
      const std::span<const float> values(pixels.data() + k * shape.pixel_count(), shape.pixel_count());
      if (any_non_finite(values)) {
        invalid[k].resize(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) invalid[k][i] = !std::isfinite(values[i]);
      }
      views[k] = {shape, values, invalid[k], "image", k};
    });
    if (stack) {
      auto patterns = integrator->integrate(std::span<const pipeline::PixelsView>(views));
      py::gil_scoped_acquire acquire;
      py::list out;
      for (auto& p : patterns) out.append(pattern_tuple(std::move(p)));
      return out;
    }
    if (args.npt_azim == 0) {
      auto p = integrator->integrate(views[0]);
      py::gil_scoped_acquire acquire;
      return pattern_tuple(std::move(p));
    }
    auto c = integrator->integrate_cake(views[0]);
    py::gil_scoped_acquire acquire;
    const auto nchi = static_cast<py::ssize_t>(c.chi_deg.size()),
               nrad = static_cast<py::ssize_t>(c.radial.size());
    return py::make_tuple(
        to_numpy(std::move(c.radial)), to_numpy(std::move(c.chi_deg)),
        to_numpy(std::move(c.intensity), {nchi, nrad}),
        c.sigma.empty() ? py::object(py::none()) : py::object(to_numpy(std::move(c.sigma), {nchi, nrad})),
        std::string(unit_name(c.unit)));
  }

  // Per-pixel arrays at pixel centres, as the integrator sees them (orientation and distortion
  // included): 2θ (rad), χ (rad, −π..π), q (nm⁻¹).
  py::array_t<double> pixel_array(const std::string& what, const py::object& shape) const {
    auto g = geometry_;
    if (!shape.is_none()) {
      const auto t = shape.cast<std::pair<std::size_t, std::size_t>>();
      const Shape s{t.first, t.second};
      if (g.detector.shape.pixel_count() && g.detector.shape != s)
        throw InputError("shape", fmt::format("the detector '{}' is {}x{} pixels, not {}x{}", g.detector.name,
                                              g.detector.shape.rows, g.detector.shape.cols, s.rows, s.cols));
      g.detector.shape = s;
    }
    if (g.detector.shape.pixel_count() == 0)
      throw InputError(source_, "the .poni does not give the detector's shape: pass shape=(rows, columns)");
    Image<double> a;
    {
      py::gil_scoped_release release;
      a = what == "chi"      ? geometry::chi_array(g)
          : what == "2theta" ? geometry::radial_array(g, geometry::RadialUnit::TwoThetaRad)
                             : geometry::radial_array(g, geometry::RadialUnit::QInvNm);
    }
    return to_numpy(std::move(a.pixels),
                    {static_cast<py::ssize_t>(a.shape.rows), static_cast<py::ssize_t>(a.shape.cols)});
  }

 private:
  Geometry() = default;
  static py::tuple pattern_tuple(Pattern1D&& p) {
    return py::make_tuple(to_numpy(std::move(p.x)), to_numpy(std::move(p.intensity)),
                          p.sigma.empty() ? py::object(py::none()) : py::object(to_numpy(std::move(p.sigma))),
                          std::string(unit_name(p.unit)));
  }

  // The integrator of this shape, settings, mask, dark and flat: from the cache, or built (the
  // pixel-to-bin table) and kept.
  std::shared_ptr<const pipeline::DetectorIntegrator> integrator_for(const Shape& shape,
                                                                     const IntegrateArgs& args,
                                                                     const py::object& mask,
                                                                     const py::object& dark,
                                                                     const py::object& flat) {
    const auto settings = settings_of(args);
    std::optional<Mask> m;
    std::optional<ImageF> d, f;
    if (!mask.is_none()) m = mask_of(mask.cast<py::array>(), shape);
    if (!dark.is_none()) d = image_of(dark.cast<py::array>(), "dark");
    if (!flat.is_none()) f = image_of(flat.cast<py::array>(), "flat");
    for (const auto* x : {d ? &*d : nullptr, f ? &*f : nullptr})
      if (x && x->shape != shape)
        throw InputError("dark/flat", fmt::format("{}x{} but the image is {}x{}", x->shape.rows,
                                                  x->shape.cols, shape.rows, shape.cols));
    const std::string key = fmt::format(
        "{}x{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", shape.rows, shape.cols, args.npt, args.npt_azim,
        args.unit, args.method, args.polarization_factor.value_or(NAN), args.correct_solid_angle,
        args.error_model, args.sigma_clip.value_or(NAN), args.sigma_clip_iterations,
        args.radial_range ? fmt::format("{},{}", args.radial_range->first, args.radial_range->second) : "",
        args.azimuth_range ? fmt::format("{},{}", args.azimuth_range->first, args.azimuth_range->second) : "",
        args.quantiles ? fmt::format("{},{}", args.quantiles->first, args.quantiles->second) : "",
        m ? hash_bytes(m->pixels.data(), m->pixels.size()) : 0,
        (d ? hash_bytes(d->pixels.data(), 4 * d->pixels.size()) : 0) ^
            (f ? 31 * hash_bytes(f->pixels.data(), 4 * f->pixels.size()) : 0));
    {
      std::lock_guard lock(mutex_);
      if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
    std::shared_ptr<const pipeline::DetectorIntegrator> integrator;
    {
      py::gil_scoped_release release;
      integrator = std::make_shared<const pipeline::DetectorIntegrator>(
          geometry_, shape, m ? *m : Mask{}, settings, d ? &*d : nullptr, f ? &*f : nullptr);
    }
    std::lock_guard lock(mutex_);
    if (cache_.size() >= 8) cache_.clear();  // a notebook trying settings does not grow without end
    cache_.emplace(key, integrator);
    return integrator;
  }

  geometry::Geometry geometry_;
  std::string note_, source_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const pipeline::DetectorIntegrator>> cache_;
};

}  // namespace
}  // namespace anvil::python

PYBIND11_MODULE(_anvil, m) {
  using namespace anvil;
  using namespace anvil::python;
  m.doc() = "anvil's compiled core; use the `anvil` package (python/anvil/__init__.py)";

  // InputError (and FrameError) → ValueError, or OSError when the file itself cannot be had.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      const std::string msg = e.what();
      const auto has = [&](const char* s) { return msg.find(s) != std::string::npos; };
      if (has("No such file") || has("not found") || has("does not exist"))
        PyErr_SetString(PyExc_FileNotFoundError, msg.c_str());
      else if (has("cannot open") || has("cannot read") || has("cannot write") || has("Permission denied"))
        PyErr_SetString(PyExc_OSError, msg.c_str());
      else
        PyErr_SetString(PyExc_ValueError, msg.c_str());
    } catch (const std::filesystem::filesystem_error& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });

  py::class_<FrameSource>(m, "FrameSource")
      .def(py::init<const std::string&, bool, bool>(), py::arg("spec"), py::arg("flip_ud") = false,
           py::arg("flip_lr") = false)
      .def("__len__", &FrameSource::size)
      .def("read", &FrameSource::read, py::arg("position"))
      .def_property_readonly("first_number", &FrameSource::first_number)
      .def("info", &FrameSource::info);

  py::class_<IntegrateArgs>(m, "IntegrateArgs")
      .def(py::init<>())
      .def_readwrite("npt", &IntegrateArgs::npt)
      .def_readwrite("npt_azim", &IntegrateArgs::npt_azim)
      .def_readwrite("unit", &IntegrateArgs::unit)
      .def_readwrite("method", &IntegrateArgs::method)
      .def_readwrite("polarization_factor", &IntegrateArgs::polarization_factor)
      .def_readwrite("correct_solid_angle", &IntegrateArgs::correct_solid_angle)
      .def_readwrite("error_model", &IntegrateArgs::error_model)
      .def_readwrite("sigma_clip", &IntegrateArgs::sigma_clip)
      .def_readwrite("sigma_clip_iterations", &IntegrateArgs::sigma_clip_iterations)
      .def_readwrite("radial_range", &IntegrateArgs::radial_range)
      .def_readwrite("azimuth_range", &IntegrateArgs::azimuth_range)
      .def_readwrite("quantiles", &IntegrateArgs::quantiles);

  py::class_<Geometry>(m, "Geometry")
      .def(py::init<const std::string&, const std::string&, bool, bool>(), py::arg("poni"),
           py::arg("detector") = "", py::arg("flip_ud") = false, py::arg("flip_lr") = false)
      .def_static("from_text", &Geometry::from_text, py::arg("text"), py::arg("source") = "calibration")
      .def("describe", &Geometry::describe)
      .def("integrate", &Geometry::integrate, py::arg("image"), py::arg("args"), py::arg("mask") = py::none(),
           py::arg("dark") = py::none(), py::arg("flat") = py::none())
      .def("pixel_array", &Geometry::pixel_array, py::arg("what"), py::arg("shape") = py::none());

  m.def("read_mask", &read_mask, py::arg("spec"), py::arg("shape") = py::none(),
        py::arg("orientation") = "auto", py::arg("flip_ud") = false, py::arg("flip_lr") = false);
  add_analysis(m);
}
