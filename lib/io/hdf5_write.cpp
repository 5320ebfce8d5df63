// Writing detector stacks as HDF5/NeXus (EIGER layout): used by round-trip tests, the
// benchmarks and the sample-data simulator.
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "io/hdf5_source.hpp"
#include "io/hdf5_util.hpp"

namespace anvil::io {

namespace fs = std::filesystem;
using h5::Handle;

namespace {

constexpr H5Z_filter_t kBitshuffleFilter = 32008;
constexpr H5Z_filter_t kLz4Filter = 32004;

hid_t file_type(PixelType t) {
  switch (t) {
    case PixelType::UInt8:
      return H5T_STD_U8LE;
    case PixelType::UInt16:
      return H5T_STD_U16LE;
    case PixelType::UInt32:
      return H5T_STD_U32LE;
    case PixelType::Int16:
      return H5T_STD_I16LE;
    case PixelType::Int32:
      return H5T_STD_I32LE;
    case PixelType::Float32:
      return H5T_IEEE_F32LE;
    case PixelType::Float64:
      return H5T_IEEE_F64LE;
  }
  return H5T_IEEE_F32LE;
}

void tag(hid_t obj, const char* nx_class) { h5::write_string_attribute(obj, "NX_class", nx_class); }

void write_metadata(hid_t file, const FrameMetadata& md, const Mask& pixel_mask, const std::string& origin) {
  Handle entry(h5::ensure_group(file, "/entry"));
  tag(entry.get(), "NXentry");
  Handle inst(h5::ensure_group(file, "/entry/instrument"));
  tag(inst.get(), "NXinstrument");
  Handle det(h5::ensure_group(file, "/entry/instrument/detector"));
  tag(det.get(), "NXdetector");
  if (md.wavelength_m) {
    Handle beam(h5::ensure_group(file, "/entry/instrument/beam"));
    tag(beam.get(), "NXbeam");
    h5::write_scalar(beam.get(), "incident_wavelength", *md.wavelength_m * 1e10, "angstrom");
  }
  if (md.distance_m) h5::write_scalar(det.get(), "detector_distance", *md.distance_m, "m");
  if (md.beam_center_x_px) h5::write_scalar(det.get(), "beam_center_x", *md.beam_center_x_px, "pixel");
  if (md.beam_center_y_px) h5::write_scalar(det.get(), "beam_center_y", *md.beam_center_y_px, "pixel");
  if (md.pixel_size_x_m) h5::write_scalar(det.get(), "x_pixel_size", *md.pixel_size_x_m, "m");
  if (md.pixel_size_y_m) h5::write_scalar(det.get(), "y_pixel_size", *md.pixel_size_y_m, "m");
  if (md.count_time_s) h5::write_scalar(det.get(), "count_time", *md.count_time_s, "s");
  if (md.saturation_value) h5::write_scalar(det.get(), "saturation_value", *md.saturation_value, "counts");
  if (!md.detector.empty()) h5::write_string(det.get(), "description", md.detector);
  if (!pixel_mask.empty()) {
    hsize_t dims[2] = {pixel_mask.rows(), pixel_mask.cols()};
    Handle space(H5Screate_simple(2, dims, nullptr));
    Handle dcpl(H5Pcopy(h5::untimed_dataset_plist()));
    H5Pset_chunk(dcpl.get(), 2, dims);
    H5Pset_deflate(dcpl.get(), 4);
    Handle ds(h5::check(
        H5Dcreate2(det.get(), "pixel_mask", H5T_STD_U32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        origin, "cannot create pixel_mask"));
    std::vector<std::uint32_t> bits(pixel_mask.pixels.begin(), pixel_mask.pixels.end());
    H5Dwrite(ds.get(), H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data());
  }
}

template <class T>
void to_type(const ImageF& img, std::vector<std::byte>& out) {
  out.resize(img.pixels.size() * sizeof(T));
  T* dst = reinterpret_cast<T*>(out.data());
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    const float v = img.pixels[i];
    if constexpr (std::is_integral_v<T>) {
      const double r = std::isnan(v) ? 0.0 : std::nearbyint(static_cast<double>(v));
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      dst[i] = static_cast<T>(std::clamp(r, lo, hi));
    } else {
      dst[i] = static_cast<T>(v);
    }
  }
}

}  // namespace

struct Hdf5StackWriter::Impl {
  std::string path;
  Shape shape;
  Hdf5StackOptions options;
  Handle file;
  Handle dataset;
  std::size_t frames = 0;
  std::vector<std::byte> buffer;
};

Hdf5StackWriter::Hdf5StackWriter(const std::string& path, Shape shape, const Hdf5StackOptions& options)
    : impl_(std::make_unique<Impl>()) {
  h5::prepare();
  impl_->path = path;
  impl_->shape = shape;
  impl_->options = options;
  if (shape.pixel_count() == 0) throw InputError(path, "cannot write images with 0 pixels");
  impl_->file = Handle(h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path,
                                 "cannot create HDF5 file"));
  const hid_t file = impl_->file.get();
  if (options.nexus) {
    write_metadata(file, options.metadata, options.pixel_mask, path);
    h5::write_string_attribute(file, "default", "entry");
    Handle entry(H5Gopen2(file, "/entry", H5P_DEFAULT));
    h5::write_string_attribute(entry.get(), "default", "data");
  }
  const auto slash = options.dataset.rfind('/');
  const std::string parent =
      slash == 0 || slash == std::string::npos ? "/" : options.dataset.substr(0, slash);
  if (parent != "/") {
    Handle g(h5::ensure_group(file, parent));
    if (options.nexus && parent == "/entry/data") {
      tag(g.get(), "NXdata");
      h5::write_string_attribute(g.get(), "signal", options.dataset.substr(slash + 1));
    }
  }
  hsize_t dims[3] = {0, shape.rows, shape.cols};
  hsize_t maxdims[3] = {H5S_UNLIMITED, shape.rows, shape.cols};
  hsize_t chunk[3] = {1, shape.rows, shape.cols};
  Handle space(H5Screate_simple(3, dims, maxdims));
  Handle dcpl(H5Pcopy(h5::untimed_dataset_plist()));
  H5Pset_chunk(dcpl.get(), 3, chunk);
  switch (options.compression) {
    case Hdf5Compression::None:
      break;
    case Hdf5Compression::Gzip:
      H5Pset_deflate(dcpl.get(), 4);
      break;
    case Hdf5Compression::Lz4: {
      const unsigned cd[1] = {0};
      h5::check_status(H5Pset_filter(dcpl.get(), kLz4Filter, H5Z_FLAG_MANDATORY, 1, cd), path,
                       "LZ4 filter (hdf5-filter-plugin) unavailable");
      break;
    }
    case Hdf5Compression::BitshuffleLz4: {
      // User values are (block size, compression): 0 = automatic block, 2 = LZ4. The plugin
      // prepends its version and the element size when the dataset is created.
      const unsigned cd[2] = {0, 2};
      h5::check_status(H5Pset_filter(dcpl.get(), kBitshuffleFilter, H5Z_FLAG_MANDATORY, 2, cd), path,
                       "bitshuffle filter unavailable");
      break;
    }
  }
  impl_->dataset = Handle(h5::check(H5Dcreate2(file, options.dataset.c_str(), file_type(options.pixel_type),
                                               space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                                    path, "cannot create dataset " + options.dataset));
}

Hdf5StackWriter::~Hdf5StackWriter() {
  try {
    close();
  } catch (...) {
  }
}

void Hdf5StackWriter::append(const ImageF& image) {
  if (!impl_->dataset) throw InputError(impl_->path, "writer already closed");
  if (image.shape != impl_->shape)
    throw InputError(impl_->path, fmt::format("frame is {}x{}, stack is {}x{}", image.rows(), image.cols(),
                                              impl_->shape.rows, impl_->shape.cols));
  h5::prepare();
  auto& buf = impl_->buffer;
  hid_t mem_type = H5T_NATIVE_FLOAT;
  switch (impl_->options.pixel_type) {
    case PixelType::UInt8:
      to_type<std::uint8_t>(image, buf);
      mem_type = H5T_NATIVE_UINT8;
      break;
    case PixelType::UInt16:
      to_type<std::uint16_t>(image, buf);
      mem_type = H5T_NATIVE_UINT16;
      break;
    case PixelType::UInt32:
      to_type<std::uint32_t>(image, buf);
      mem_type = H5T_NATIVE_UINT32;
      break;
    case PixelType::Int16:
      to_type<std::int16_t>(image, buf);
      mem_type = H5T_NATIVE_INT16;
      break;
    case PixelType::Int32:
      to_type<std::int32_t>(image, buf);
      mem_type = H5T_NATIVE_INT32;
      break;
    case PixelType::Float32:
      to_type<float>(image, buf);
      mem_type = H5T_NATIVE_FLOAT;
      break;
    case PixelType::Float64:
      to_type<double>(image, buf);
      mem_type = H5T_NATIVE_DOUBLE;
      break;
  }
  const hid_t ds = impl_->dataset.get();
  const std::size_t k = impl_->frames;
  hsize_t dims[3] = {k + 1, impl_->shape.rows, impl_->shape.cols};
  h5::check_status(H5Dset_extent(ds, dims), impl_->path, "cannot extend stack");
  Handle fspace(H5Dget_space(ds));
  hsize_t start[3] = {k, 0, 0};
  hsize_t count[3] = {1, impl_->shape.rows, impl_->shape.cols};
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mspace(H5Screate_simple(3, count, nullptr));
  h5::check_status(H5Dwrite(ds, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()), impl_->path,
                   "cannot write frame");
  ++impl_->frames;
}

void Hdf5StackWriter::close() {
  if (!impl_ || !impl_->file) return;
  impl_->dataset.reset();
  H5Fflush(impl_->file.get(), H5F_SCOPE_LOCAL);
  impl_->file.reset();
}

std::size_t Hdf5StackWriter::frames_written() const { return impl_->frames; }

void write_eiger_master(const std::string& master_path, const std::vector<std::string>& data_files,
                        const FrameMetadata& metadata, const Mask& pixel_mask) {
  h5::prepare();
  Handle file(h5::check(H5Fcreate(master_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), master_path,
                        "cannot create master file"));
  write_metadata(file.get(), metadata, pixel_mask, master_path);
  Handle data(h5::ensure_group(file.get(), "/entry/data"));
  tag(data.get(), "NXdata");
  const fs::path dir = fs::absolute(master_path).parent_path();
  for (std::size_t i = 0; i < data_files.size(); ++i) {
    const std::string name = fmt::format("data_{:06d}", i + 1);
    const std::string rel = fs::relative(fs::absolute(data_files[i]), dir).string();
    h5::check_status(H5Lcreate_external(rel.c_str(), "/entry/data/data", data.get(), name.c_str(),
                                        H5P_DEFAULT, H5P_DEFAULT),
                     master_path, "cannot create external link " + name);
  }
}

}  // namespace anvil::io
