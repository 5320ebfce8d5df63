// anvil's Python module, the compiled half (`anvil._anvil`): frame sources, pyFAI-style azimuthal
// integration, phases, WAXS fits, SAXS indexing, pressure scales and whole-scan runs, on the same
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

namespace py = pybind11;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace anvil::python {
namespace {

// ---------------------------------------------------------------- conversions

// A vector handed to NumPy without a copy: the array owns it through a capsule.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape = {}) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape = {static_cast<py::ssize_t>(owned->size())};
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  return to_numpy(std::vector<T>(v));
}

py::object to_python(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return py::none();
    case json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case json::value_t::number_integer:
      return py::int_(j.get<std::int64_t>());
    case json::value_t::number_unsigned:
      return py::int_(j.get<std::uint64_t>());
    case json::value_t::number_float:
      return py::float_(j.get<double>());
    case json::value_t::string:
      return py::str(j.get<std::string>());
    case json::value_t::array: {
      py::list l;
      for (const auto& e : j) l.append(to_python(e));
      return std::move(l);
    }
    case json::value_t::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = to_python(v);
      return std::move(d);
    }
    default:
      return py::none();
  }
}

// An image argument as float32 rows × cols (converted once when it is not already).
ImageF image_of(const py::array& a, const char* what) {
  const auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!f) throw InputError(what, "not an array of numbers");
  if (f.ndim() != 2)
    throw InputError(what, fmt::format("an image has 2 dimensions (rows, columns), this one {}", f.ndim()));
  ImageF img;
  img.shape = {static_cast<std::size_t>(f.shape(0)), static_cast<std::size_t>(f.shape(1))};
  img.pixels.assign(f.data(), f.data() + f.size());
  return img;
}

Mask mask_of(const py::array& a, Shape shape) {
  const auto m = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!m || m.ndim() != 2) throw InputError("mask", "a mask is a 2-D array (1 = masked)");
  Mask mask;
  mask.shape = {static_cast<std::size_t>(m.shape(0)), static_cast<std::size_t>(m.shape(1))};
  if (mask.shape != shape)
    throw InputError("mask", fmt::format("mask is {}x{} but the image is {}x{}", mask.shape.rows,
                                         mask.shape.cols, shape.rows, shape.cols));
  mask.pixels.resize(m.size());
  for (py::ssize_t i = 0; i < m.size(); ++i) mask.pixels[i] = m.data()[i] != 0;
  return mask;
}

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

// The folder this module was loaded from: calib/ is found from there (pipeline/calib_dirs.hpp),
// in an install (lib/python3.X/dist-packages/anvil → share/anvil/calib) or a build tree.
fs::path module_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&module_dir), &info) && info.dli_fname)
    return fs::path(info.dli_fname).parent_path();
  return {};
}

fs::path phase_dir_or_default(const std::string& given) {
  if (!given.empty()) return given;
  return pipeline::phase_dir(module_dir());
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
      return std::move(out);
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
  std::vector<crystal::Reflection> lines;
  try {
    lines = crystal::merge_equal_d(crystal::reflection_list(p, lambda, tth_min, tth_max));
  } catch (const std::invalid_argument& e) {
    throw InputError(name, e.what());
  }
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
