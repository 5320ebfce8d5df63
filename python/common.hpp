// Shared by the Python module's sources (module.cpp: frames and integration; analysis.cpp: phases,
// fits, indexing, calibration, runs): NumPy and JSON conversions, image arguments, data folders.
#pragma once

#include <dlfcn.h>
#include <fmt/core.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib_dirs.hpp"
#include "core/error.hpp"
#include "core/image.hpp"

namespace anvil::python {

namespace py = pybind11;
namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------- conversions

// A vector handed to NumPy without a copy: the array owns it through a capsule.
template <class T>
inline py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape = {}) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape = {static_cast<py::ssize_t>(owned->size())};
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

template <class T>
inline py::array_t<T> to_numpy(const std::vector<T>& v) {
  return to_numpy(std::vector<T>(v));
}

inline py::object to_python(const json& j) {
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
      return l;
    }
    case json::value_t::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = to_python(v);
      return d;
    }
    default:
      return py::none();
  }
}

// An image argument as float32 rows × cols (converted once when it is not already).
inline ImageF image_of(const py::array& a, const char* what) {
  const auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!f) throw InputError(what, "not an array of numbers");
  if (f.ndim() != 2)
    throw InputError(what, fmt::format("an image has 2 dimensions (rows, columns), this one {}", f.ndim()));
  ImageF img;
  img.shape = {static_cast<std::size_t>(f.shape(0)), static_cast<std::size_t>(f.shape(1))};
  img.pixels.assign(f.data(), f.data() + f.size());
  return img;
}

inline Mask mask_of(const py::array& a, Shape shape) {
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

// The folder this module was loaded from: calib/ is found from there (pipeline/calib_dirs.hpp),
// in an install (lib/python3.X/dist-packages/anvil → share/anvil/calib) or a build tree.
inline fs::path module_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&module_dir), &info) && info.dli_fname)
    return fs::path(info.dli_fname).parent_path();
  return {};
}

inline fs::path phase_dir_or_default(const std::string& given) {
  if (!given.empty()) return given;
  return pipeline::phase_dir(module_dir());
}

// The phases, fits, indexing, calibration and run functions (analysis.cpp).
void add_analysis(py::module_& m);

}  // namespace anvil::python
