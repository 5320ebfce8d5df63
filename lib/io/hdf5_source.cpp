#include "io/hdf5_source.hpp"

#include <dlfcn.h>
#include <fmt/core.h>
#include <lz4.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>

#include "core/constants.hpp"
#include "io/hdf5_util.hpp"

namespace anvil::io {

namespace fs = std::filesystem;
using h5::Handle;

// ---------------------------------------------------------------- bitshuffle + LZ4

namespace {

constexpr H5Z_filter_t kBitshuffleFilter = 32008;
constexpr std::size_t kBitshuffleBlockedMult = 8;  // bitshuffle processes elements in groups of 8

// Debian ships bitshuffle only as the HDF5 plugin; its bit-transpose routines are exported
// from that shared object, so anvil borrows them rather than carrying a copy.
struct BitshuffleLibrary {
  using Untranspose = std::int64_t (*)(const void* in, void* out, std::size_t size, std::size_t elem_size,
                                       std::size_t block_size);
  Untranspose bitunshuffle = nullptr;
  std::string error;

  BitshuffleLibrary() {
#ifdef ANVIL_HDF5_PLUGIN_DIR
    const std::string lib = std::string(ANVIL_HDF5_PLUGIN_DIR) + "/libh5bshuf.so";
#else
    const std::string lib = "libh5bshuf.so";
#endif
    void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      error = std::string("cannot load the bitshuffle library ") + lib + ": " + dlerror();
      return;
    }
    bitunshuffle = reinterpret_cast<Untranspose>(dlsym(handle, "bshuf_bitunshuffle"));
    if (!bitunshuffle) error = lib + " has no bshuf_bitunshuffle";
  }
};

const BitshuffleLibrary& bitshuffle_library() {
  static const BitshuffleLibrary lib;
  return lib;
}

std::uint64_t read_be(const std::byte* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

}  // namespace

namespace {

// Decodes into `out` (resized, not zeroed when it already has the capacity); `scratch` is
// one block's worth of LZ4 output. Both are reused across frames by the caller.
void decode_bitshuffle_lz4_into(std::span<const std::byte> chunk, std::size_t elem_size,
                                std::vector<std::byte>& out, std::vector<std::byte>& scratch) {
  const auto& lib = bitshuffle_library();
  if (!lib.bitunshuffle) throw std::runtime_error(lib.error);
  if (elem_size == 0) throw std::runtime_error("bitshuffle: element size 0");
  if (chunk.size() < 12) throw std::runtime_error("bitshuffle chunk shorter than its 12-byte header");
  const std::uint64_t total_bytes = read_be(chunk.data(), 8);
  const std::uint64_t block_bytes = read_be(chunk.data() + 8, 4);
  if (total_bytes % elem_size != 0)
    throw std::runtime_error("bitshuffle: size not a multiple of the element");
  if (total_bytes > (std::uint64_t{1} << 36)) throw std::runtime_error("bitshuffle: implausible chunk size");
  const std::size_t n_elem = total_bytes / elem_size;
  const std::size_t block_elems = block_bytes / elem_size;
  if (block_bytes % elem_size != 0 || block_elems == 0 || block_elems % kBitshuffleBlockedMult != 0)
    throw std::runtime_error(fmt::format("bitshuffle: bad block size {} bytes", block_bytes));

  out.resize(total_bytes);
  scratch.resize(block_elems * elem_size);
  std::size_t in_pos = 12;
  std::size_t done = 0;  // elements decoded
  auto decode_block = [&](std::size_t elems) {
    if (in_pos + 4 > chunk.size()) throw std::runtime_error("bitshuffle: chunk truncated (block header)");
    const auto nbytes = static_cast<std::size_t>(read_be(chunk.data() + in_pos, 4));
    in_pos += 4;
    if (nbytes > chunk.size() - in_pos) throw std::runtime_error("bitshuffle: chunk truncated (block data)");
    const int want = static_cast<int>(elems * elem_size);
    const int got =
        LZ4_decompress_safe(reinterpret_cast<const char*>(chunk.data() + in_pos),
                            reinterpret_cast<char*>(scratch.data()), static_cast<int>(nbytes), want);
    if (got != want) throw std::runtime_error("bitshuffle: corrupt LZ4 block");
    in_pos += nbytes;
    if (lib.bitunshuffle(scratch.data(), out.data() + done * elem_size, elems, elem_size, elems) < 0)
      throw std::runtime_error("bitshuffle: bit-unshuffle failed");
    done += elems;
  };
  for (std::size_t b = 0; b < n_elem / block_elems; ++b) decode_block(block_elems);
  std::size_t last = n_elem % block_elems;
  last -= last % kBitshuffleBlockedMult;
  if (last) decode_block(last);
  // The final n % 8 elements are stored verbatim.
  const std::size_t leftover = (n_elem - done) * elem_size;
  if (leftover) {
    if (leftover > chunk.size() - in_pos) throw std::runtime_error("bitshuffle: chunk truncated (tail)");
    std::memcpy(out.data() + done * elem_size, chunk.data() + in_pos, leftover);
  }
}

}  // namespace

std::vector<std::byte> decode_bitshuffle_lz4(std::span<const std::byte> chunk, std::size_t elem_size) {
  std::vector<std::byte> out, scratch;
  decode_bitshuffle_lz4_into(chunk, elem_size, out, scratch);
  return out;
}

// ---------------------------------------------------------------- reading helpers

namespace {

struct PixelFormat {
  H5T_class_t cls = H5T_NO_CLASS;
  std::size_t size = 0;
  bool is_signed = false;
  hid_t native() const {
    if (cls == H5T_FLOAT) return size == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    switch (size) {
      case 1:
        return is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
      case 2:
        return is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
      case 4:
        return is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32;
      default:
        return is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
    }
  }
  std::string name() const { return dtype_name(cls == H5T_FLOAT, is_signed, size); }
  // The all-ones value detectors write for gaps and overflow (unsigned integers only).
  std::optional<double> integer_max() const {
    if (cls != H5T_INTEGER || is_signed) return std::nullopt;
    return size >= 8 ? 18446744073709551615.0 : static_cast<double>((std::uint64_t{1} << (8 * size)) - 1);
  }
};

// Converts stored pixels to float while marking sentinels, in one pass.
template <class T>
void convert_pixels(const void* src, std::size_t n, float* dst, std::uint8_t* invalid, bool mask_sentinels,
                    double saturation, double integer_max) {
  const T* s = static_cast<const T*>(src);
  if (!mask_sentinels) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    for (std::size_t i = 0; i < n; ++i) {
      const T v = s[i];
      dst[i] = static_cast<float>(v);
      // NaN fails v >= 0; a float64 beyond float's range became inf in dst: not a count either.
      invalid[i] = !(v >= 0) || v >= saturation || std::isinf(dst[i]);
    }
  } else {
    // Compare in the stored type: exact for every integer width.
    const T sat = saturation >= static_cast<double>(std::numeric_limits<T>::max())
                      ? std::numeric_limits<T>::max()
                      : static_cast<T>(std::max(saturation, 0.0));
    const bool sat_active = saturation < static_cast<double>(std::numeric_limits<T>::max());
    const bool max_active = integer_max == static_cast<double>(std::numeric_limits<T>::max());
    for (std::size_t i = 0; i < n; ++i) {
      const T v = s[i];
      dst[i] = static_cast<float>(v);
      bool bad = (sat_active && v >= sat) || (max_active && v == std::numeric_limits<T>::max());
      if constexpr (std::is_signed_v<T>) bad = bad || v < 0;
      invalid[i] = bad;
    }
  }
}

void convert(const PixelFormat& pf, const void* src, std::size_t n, float* dst, std::uint8_t* invalid,
             bool mask, double saturation, double imax) {
  if (pf.cls == H5T_FLOAT) {
    if (pf.size == 4) return convert_pixels<float>(src, n, dst, invalid, mask, saturation, imax);
    return convert_pixels<double>(src, n, dst, invalid, mask, saturation, imax);
  }
  switch (pf.size) {
    case 1:
      return pf.is_signed ? convert_pixels<std::int8_t>(src, n, dst, invalid, mask, saturation, imax)
                          : convert_pixels<std::uint8_t>(src, n, dst, invalid, mask, saturation, imax);
    case 2:
      return pf.is_signed ? convert_pixels<std::int16_t>(src, n, dst, invalid, mask, saturation, imax)
                          : convert_pixels<std::uint16_t>(src, n, dst, invalid, mask, saturation, imax);
    case 4:
      return pf.is_signed ? convert_pixels<std::int32_t>(src, n, dst, invalid, mask, saturation, imax)
                          : convert_pixels<std::uint32_t>(src, n, dst, invalid, mask, saturation, imax);
    default:
      return pf.is_signed ? convert_pixels<std::int64_t>(src, n, dst, invalid, mask, saturation, imax)
                          : convert_pixels<std::uint64_t>(src, n, dst, invalid, mask, saturation, imax);
  }
}

double length_to_m(double v, const std::string& units, double default_scale) {
  std::string u;
  for (char c : units) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u == "m" || u == "meter" || u == "metre" || u == "meters") return v;
  if (u == "mm" || u == "millimeter" || u == "millimetre") return v * 1e-3;
  if (u == "um" || u == "micron" || u == "micrometer" || u == "µm") return v * 1e-6;
  if (u == "nm" || u == "nanometer") return v * 1e-9;
  if (u == "a" || u == "angstrom" || u == "å" || u == "ang") return v * 1e-10;
  if (u == "cm") return v * 1e-2;
  return v * default_scale;
}

// One dataset of images (a 2D image or a 3D stack) in one open file.
struct ImageDataset {
  Handle file;  // kept open while the dataset is
  Handle dataset;
  std::string origin;  // "file.h5:/entry/data/data"
  std::size_t frames = 0;
  Shape shape;
  PixelFormat format;
  bool stack = false;            // rank 3
  bool bitshuffle_fast = false;  // chunks are whole frames stored with bitshuffle+LZ4 only
  std::string compression = "none";
  std::string error;  // non-empty: unreadable (e.g. a broken external link)
};

ImageDataset open_image_dataset(const std::string& file_path, const std::string& dataset_path) {
  ImageDataset d;
  d.origin = file_path + ":" + dataset_path;
  if (!fs::exists(file_path)) throw InputError(file_path, "file not found");
  d.file = Handle(h5::check(H5Fopen(file_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), file_path,
                            "not a readable HDF5 file (corrupt or truncated?)"));
  if (!h5::is_dataset(d.file.get(), dataset_path)) throw InputError(file_path, "no dataset " + dataset_path);
  d.dataset = Handle(h5::check(H5Dopen2(d.file.get(), dataset_path.c_str(), H5P_DEFAULT), file_path,
                               "cannot open dataset " + dataset_path));
  Handle type(H5Dget_type(d.dataset.get()));
  d.format.cls = H5Tget_class(type.get());
  if (d.format.cls != H5T_INTEGER && d.format.cls != H5T_FLOAT)
    throw InputError(d.origin, "dataset holds no numbers (HDF5 type class " +
                                   std::to_string(static_cast<int>(d.format.cls)) + ")");
  d.format.size = H5Tget_size(type.get());
  d.format.is_signed = d.format.cls == H5T_FLOAT || H5Tget_sign(type.get()) == H5T_SGN_2;
  Handle space(H5Dget_space(d.dataset.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t dims[H5S_MAX_RANK] = {};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (rank == 2) {
    d.frames = 1;
    d.shape = {dims[0], dims[1]};
  } else if (rank == 3) {
    d.frames = dims[0];
    d.shape = {dims[1], dims[2]};
    d.stack = true;
  } else {
    throw InputError(d.origin, fmt::format("dataset has rank {}; expected a 2D image or a 3D stack", rank));
  }
  if (d.shape.rows == 0 || d.shape.cols == 0) throw InputError(d.origin, "images are empty (0 pixels)");

  Handle dcpl(H5Dget_create_plist(d.dataset.get()));
  const int nfilters = H5Pget_nfilters(dcpl.get());
  std::vector<std::string> names;
  bool only_bitshuffle_lz4 = nfilters == 1;
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0;
    std::size_t ncd = 8;
    unsigned cd[8] = {};
    char name[256] = {};
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, sizeof name, name, nullptr);
    if (id == kBitshuffleFilter) {
      const bool lz4 = ncd >= 5 && cd[4] == 2;
      names.push_back(lz4 ? "bitshuffle+LZ4" : (ncd >= 5 && cd[4] == 3 ? "bitshuffle+zstd" : "bitshuffle"));
      if (!lz4) only_bitshuffle_lz4 = false;
    } else {
      only_bitshuffle_lz4 = false;
      if (id == H5Z_FILTER_DEFLATE)
        names.push_back("gzip");
      else if (id == H5Z_FILTER_SHUFFLE)
        names.push_back("shuffle");
      else if (id == 32004)
        names.push_back("LZ4");
      else
        names.push_back(name[0] ? std::string(name) : fmt::format("filter {}", id));
    }
    if (H5Zfilter_avail(id) <= 0 && !(id == kBitshuffleFilter && only_bitshuffle_lz4)) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError(d.origin, fmt::format("compressed with HDF5 filter {} ({}), which is not installed "
                                             "(install Debian's hdf5-filter-plugin / bitshuffle, or set "
                                             "HDF5_PLUGIN_PATH)",
                                             id, names.back()));
    }
  }
  if (!names.empty()) {
    d.compression.clear();
    for (std::size_t i = 0; i < names.size(); ++i) d.compression += (i ? "+" : "") + names[i];
  }
  if (only_bitshuffle_lz4 && H5Pget_layout(dcpl.get()) == H5D_CHUNKED && bitshuffle_library().bitunshuffle) {
    hsize_t chunk[3] = {};
    const int crank = H5Pget_chunk(dcpl.get(), 3, chunk);
    d.bitshuffle_fast = crank == rank && chunk[rank - 2] == d.shape.rows && chunk[rank - 1] == d.shape.cols &&
                        (rank == 2 || chunk[0] == 1);
  }
  return d;
}

struct FrameBuffers {
  std::vector<std::byte> raw;
};

// Reads frame `k` of `d` into `out` (float) and `invalid`; throws std::runtime_error with
// the HDF5 / codec message on failure.
void read_frame(const ImageDataset& d, std::size_t k, ImageF& out, Mask& invalid, bool mask_sentinels,
                double saturation) {
  h5::prepare();
  const std::size_t n = d.shape.pixel_count();
  out = ImageF(d.shape);
  invalid = Mask(d.shape, 0);
  const double imax = d.format.integer_max().value_or(std::numeric_limits<double>::infinity());

  if (d.bitshuffle_fast) {
    // Fetch the compressed chunk under HDF5's lock, decode it outside: frames decode in parallel.
    hsize_t offset[3] = {0, 0, 0};
    if (d.stack) offset[0] = k;
    hsize_t nbytes = 0;
    if (H5Dget_chunk_storage_size(d.dataset.get(), offset, &nbytes) < 0 || nbytes == 0) {
      H5Eclear2(H5E_DEFAULT);
      throw std::runtime_error("chunk not stored (frame never written?)");
    }
    // Per-thread buffers: a frame's worth of memory is reused, not faulted in anew.
    thread_local std::vector<std::byte> raw, decoded, scratch;
    raw.resize(nbytes);
    std::uint32_t filter_mask = 0;
    if (H5Dread_chunk(d.dataset.get(), H5P_DEFAULT, offset, &filter_mask, raw.data()) < 0)
      throw std::runtime_error("cannot read chunk: " + h5::error_text());
    const std::byte* pixels = raw.data();
    if ((filter_mask & 1u) == 0) {  // filter applied (bit set = skipped)
      decode_bitshuffle_lz4_into(raw, d.format.size, decoded, scratch);
      pixels = decoded.data();
      if (decoded.size() != n * d.format.size)
        throw std::runtime_error(
            fmt::format("decoded chunk holds {} bytes, expected {}", decoded.size(), n * d.format.size));
    } else if (raw.size() != n * d.format.size) {
      throw std::runtime_error("unfiltered chunk has the wrong size");
    }
    convert(d.format, pixels, n, out.pixels.data(), invalid.pixels.data(), mask_sentinels, saturation, imax);
    return;
  }

  thread_local std::vector<std::byte> buf;
  buf.resize(n * d.format.size);
  Handle fspace(H5Dget_space(d.dataset.get()));
  if (d.stack) {
    hsize_t start[3] = {k, 0, 0};
    hsize_t count[3] = {1, d.shape.rows, d.shape.cols};
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  }
  hsize_t mdims[2] = {d.shape.rows, d.shape.cols};
  Handle mspace(H5Screate_simple(2, mdims, nullptr));
  if (H5Dread(d.dataset.get(), d.format.native(), mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()) < 0)
    throw std::runtime_error(h5::error_text());
  convert(d.format, buf.data(), n, out.pixels.data(), invalid.pixels.data(), mask_sentinels, saturation,
          imax);
}

// ---------------------------------------------------------------- metadata

void read_nexus_metadata(hid_t file, FrameMetadata& md) {
  double v = 0;
  std::string units;
  const std::string det = "/entry/instrument/detector";
  for (const char* p :
       {"/entry/instrument/beam/incident_wavelength", "/entry/instrument/monochromator/wavelength",
        "/entry/sample/beam/incident_wavelength", "/entry/instrument/detector/wavelength"}) {
    if (!md.wavelength_m && h5::read_scalar(file, p, v, &units) && v > 0)
      md.wavelength_m = length_to_m(v, units, 1e-10);  // NeXus default for wavelength: Å
  }
  for (const char* p : {"/entry/instrument/beam/incident_energy", "/entry/instrument/monochromator/energy",
                        "/entry/instrument/source/energy"}) {
    if (!md.wavelength_m && h5::read_scalar(file, p, v, &units) && v > 0) {
      double kev = v;
      if (units == "eV" || units == "ev") kev = v / 1000;
      md.wavelength_m = wavelength_angstrom_from_energy_kev(kev) * 1e-10;
    }
  }
  if (h5::read_scalar(file, det + "/detector_distance", v, &units))
    md.distance_m = length_to_m(v, units, 1.0);
  else if (h5::read_scalar(file, det + "/distance", v, &units))
    md.distance_m = length_to_m(v, units, 1.0);
  if (h5::read_scalar(file, det + "/beam_center_x", v, &units)) md.beam_center_x_px = v;
  if (h5::read_scalar(file, det + "/beam_center_y", v, &units)) md.beam_center_y_px = v;
  if (h5::read_scalar(file, det + "/x_pixel_size", v, &units)) md.pixel_size_x_m = length_to_m(v, units, 1.0);
  if (h5::read_scalar(file, det + "/y_pixel_size", v, &units)) md.pixel_size_y_m = length_to_m(v, units, 1.0);
  if (h5::read_scalar(file, det + "/count_time", v, &units))
    md.count_time_s = v;
  else if (h5::read_scalar(file, det + "/frame_time", v, &units))
    md.count_time_s = v;
  if (h5::read_scalar(file, det + "/saturation_value", v) && v > 0)
    md.saturation_value = v;
  else if (h5::read_scalar(file, det + "/detectorSpecific/countrate_correction_count_cutoff", v) && v > 0)
    md.saturation_value = v + 1;  // the cutoff itself is the last valid count
  md.detector = h5::read_string(file, det + "/description");
  if (md.detector.empty()) md.detector = h5::read_string(file, det + "/local_name");
}

// EIGER pixel_mask: 1 gap, 2 dead, 4 under-responding, 8 over-responding, 16 noisy, ... (any bit masks).
Mask read_pixel_mask(hid_t file, const std::string& origin, Shape expected) {
  for (const char* p :
       {"/entry/instrument/detector/pixel_mask", "/entry/instrument/detector/detectorSpecific/pixel_mask"}) {
    if (!h5::is_dataset(file, p)) continue;
    Handle ds(H5Dopen2(file, p, H5P_DEFAULT));
    Handle space(H5Dget_space(ds.get()));
    hsize_t dims[H5S_MAX_RANK] = {};
    const int rank = H5Sget_simple_extent_ndims(space.get());
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    if (rank != 2 || dims[0] != expected.rows || dims[1] != expected.cols)
      throw InputError(origin, fmt::format("{} has shape {}x{}, frames are {}x{}", p, rank >= 1 ? dims[0] : 0,
                                           rank >= 2 ? dims[1] : 0, expected.rows, expected.cols));
    std::vector<std::uint32_t> bits(expected.pixel_count());
    if (H5Dread(ds.get(), H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data()) < 0)
      throw InputError(origin, std::string("cannot read ") + p + ": " + h5::error_text());
    Mask m(expected, 0);
    for (std::size_t i = 0; i < bits.size(); ++i) m.pixels[i] = bits[i] != 0;
    return m;
  }
  return {};
}

// ---------------------------------------------------------------- finding the images

std::vector<std::string> eiger_data_links(hid_t file) {
  std::vector<std::string> names;
  if (!h5::is_group(file, "/entry/data")) return names;
  Handle g(H5Gopen2(file, "/entry/data", H5P_DEFAULT));
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256] = {};
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    const std::string s(name);
    if (s.size() == 11 && s.starts_with("data_") &&
        std::all_of(s.begin() + 5, s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      names.push_back(s);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string find_image_dataset(hid_t file) {
  if (h5::is_dataset(file, "/entry/data/data")) return "/entry/data/data";
  // NeXus: /@default -> entry, entry@default -> NXdata, NXdata@signal -> dataset.
  std::string entry = h5::read_string_attribute(file, "default");
  if (entry.empty() && h5::is_group(file, "/entry")) entry = "entry";
  if (!entry.empty() && h5::is_group(file, "/" + entry)) {
    Handle eg(H5Gopen2(file, ("/" + entry).c_str(), H5P_DEFAULT));
    const std::string data = h5::read_string_attribute(eg.get(), "default");
    if (!data.empty() && h5::is_group(file, "/" + entry + "/" + data)) {
      Handle dg(H5Gopen2(file, ("/" + entry + "/" + data).c_str(), H5P_DEFAULT));
      const std::string signal = h5::read_string_attribute(dg.get(), "signal");
      const std::string path = "/" + entry + "/" + data + "/" + signal;
      if (!signal.empty() && h5::is_dataset(file, path)) return path;
    }
  }
  // Otherwise the largest 2D/3D numeric dataset.
  struct Best {
    std::string path;
    hsize_t size = 0;
  } best;
  auto visit = [](hid_t obj, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    if (info->type != H5O_TYPE_DATASET) return 0;
    Handle ds(H5Dopen2(obj, name, H5P_DEFAULT));
    if (!ds) return 0;
    Handle type(H5Dget_type(ds.get()));
    const auto cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) return 0;
    Handle space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank != 2 && rank != 3) return 0;
    hsize_t dims[3] = {};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    const hsize_t size = dims[0] * dims[1] * (rank == 3 ? dims[2] : 1);
    auto* b = static_cast<Best*>(data);
    const std::string path = std::string("/") + name;
    if (size > b->size && path.find("pixel_mask") == std::string::npos &&
        path.find("flatfield") == std::string::npos) {
      b->size = size;
      b->path = path;
    }
    return 0;
  };
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, visit, &best);
  H5Eclear2(H5E_DEFAULT);
  return best.path;
}

// ---------------------------------------------------------------- the source

class Hdf5Source final : public FrameSource {
 public:
  Hdf5Source(const std::string& path, const std::string& dataset, const OpenOptions& options)
      : options_(options) {
    h5::prepare();
    if (!fs::exists(path)) throw InputError(path, "file not found");
    if (H5Fis_hdf5(path.c_str()) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError(path, "not an HDF5 file, or its superblock is corrupt");
    }
    Handle file(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path,
                          "cannot open HDF5 file (corrupt or truncated?)"));
    info_.path = path;
    read_nexus_metadata(file.get(), info_.metadata);

    std::vector<std::string> links;
    if (dataset.empty()) links = eiger_data_links(file.get());
    if (!links.empty()) {
      info_.format = "NeXus/EIGER master";
      info_.dataset = "/entry/data/data_NNNNNN";
      open_master_links(file.get(), path, links);
    } else {
      const std::string ds = dataset.empty() ? find_image_dataset(file.get()) : dataset;
      if (ds.empty()) throw InputError(path, "no 2D or 3D numeric dataset (detector images) in this file");
      if (!dataset.empty() && !h5::link_exists(file.get(), ds)) throw InputError(path, "no dataset " + ds);
      info_.format = h5::is_group(file.get(), "/entry") ? "NeXus/HDF5" : "HDF5";
      info_.dataset = ds;
      parts_.push_back(open_part(file.get(), path, ds));
    }
    const ImageDataset* first = nullptr;
    for (const auto& p : parts_)
      if (p.error.empty()) {
        first = &p;
        break;
      }
    if (!first) throw InputError(path, parts_.front().error);
    info_.shape = first->shape;
    info_.dtype = first->format.name();
    info_.compression = first->compression;
    for (auto& p : parts_) {
      if (p.error.empty() && p.shape != info_.shape)
        throw InputError(p.origin,
                         fmt::format("images are {}x{}, the first data set's are {}x{}", p.shape.rows,
                                     p.shape.cols, info_.shape.rows, info_.shape.cols));
      if (!p.error.empty()) p.frames = first->frames;  // a missing data file: its frames are bad frames
      info_.frame_count += p.frames;
    }
    pixel_mask_ = read_pixel_mask(file.get(), path, info_.shape);
    saturation_ = options.saturation_value ? options.saturation_value : info_.metadata.saturation_value;
    if (saturation_) info_.metadata.saturation_value = saturation_;
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    if (index >= info_.frame_count)
      throw InputError(info_.path,
                       fmt::format("frame {} out of range ({} frames)", index, info_.frame_count));
    std::size_t base = 0;
    for (const auto& p : parts_) {
      if (index < base + p.frames) {
        if (!p.error.empty()) throw FrameError(p.origin, index, p.error);
        const std::size_t k = index - base;
        Frame f;
        f.index = index;
        f.metadata = info_.metadata;
        f.origin = p.stack ? fmt::format("{}[{}]", p.origin, k) : p.origin;
        try {
          read_frame(p, k, f.image, f.invalid, options_.mask_sentinels,
                     saturation_.value_or(std::numeric_limits<double>::infinity()));
        } catch (const std::exception& e) {
          throw FrameError(p.origin, index, e.what());
        }
        if (!pixel_mask_.empty())
          for (std::size_t i = 0; i < f.invalid.pixels.size(); ++i)
            f.invalid.pixels[i] |= pixel_mask_.pixels[i];
        apply_orientation(f, options_);
        return f;
      }
      base += p.frames;
    }
    throw InputError(info_.path, "internal: frame index not mapped");
  }

 private:
  static ImageDataset open_part(hid_t, const std::string& path, const std::string& ds) {
    return open_image_dataset(path, ds);
  }

  // EIGER master: each data_NNNNNN is an external link (file, path) or a dataset in the master.
  void open_master_links(hid_t master, const std::string& master_path,
                         const std::vector<std::string>& links) {
    const fs::path dir = fs::path(master_path).parent_path();
    for (const auto& name : links) {
      const std::string link = "/entry/data/" + name;
      H5L_info_t linfo;
      if (H5Lget_info(master, link.c_str(), &linfo, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        continue;
      }
      if (linfo.type == H5L_TYPE_EXTERNAL) {
        std::vector<char> val(linfo.u.val_size + 1, '\0');
        H5Lget_val(master, link.c_str(), val.data(), val.size(), H5P_DEFAULT);
        const char* target_file = nullptr;
        const char* target_path = nullptr;
        unsigned flags = 0;
        H5Lunpack_elink_val(val.data(), linfo.u.val_size, &flags, &target_file, &target_path);
        fs::path tf(target_file ? target_file : "");
        if (tf.is_relative()) tf = dir / tf;  // EIGER writes names relative to the master
        try {
          parts_.push_back(open_image_dataset(tf.string(), target_path ? target_path : "/entry/data/data"));
        } catch (const InputError& e) {
          ImageDataset bad;
          bad.origin = master_path + ":" + link;
          bad.error = fmt::format("external link {} -> {}: {}", link, tf.string(), e.problem());
          parts_.push_back(std::move(bad));
        }
      } else {
        parts_.push_back(open_image_dataset(master_path, link));
      }
    }
  }

  OpenOptions options_;
  SourceInfo info_;
  std::vector<ImageDataset> parts_;
  Mask pixel_mask_;
  std::optional<double> saturation_;
};

}  // namespace

std::unique_ptr<FrameSource> open_hdf5(const std::string& path, const std::string& dataset,
                                       const OpenOptions& options) {
  return std::make_unique<Hdf5Source>(path, dataset, options);
}

std::vector<std::byte> read_dataset_bytes(const std::string& path, const std::string& dataset) {
  h5::prepare();
  Handle file(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open HDF5 file"));
  Handle ds(h5::check(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), path, "cannot open " + dataset));
  Handle type(H5Dget_type(ds.get()));
  Handle space(H5Dget_space(ds.get()));
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get()));
  std::vector<std::byte> out(n * H5Tget_size(type.get()));
  h5::check_status(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path,
                   "cannot read " + dataset);
  return out;
}

RawChunk read_raw_chunk(const std::string& path, const std::string& dataset,
                        const std::vector<unsigned long long>& offset) {
  h5::prepare();
  Handle file(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open HDF5 file"));
  Handle ds(h5::check(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), path, "cannot open " + dataset));
  std::vector<hsize_t> off(offset.begin(), offset.end());
  hsize_t nbytes = 0;
  h5::check_status(H5Dget_chunk_storage_size(ds.get(), off.data(), &nbytes), path, "no such chunk");
  RawChunk chunk;
  chunk.bytes.resize(nbytes);
  std::uint32_t mask = 0;
  h5::check_status(H5Dread_chunk(ds.get(), H5P_DEFAULT, off.data(), &mask, chunk.bytes.data()), path,
                   "cannot read chunk");
  chunk.filter_mask = mask;
  return chunk;
}

}  // namespace anvil::io
