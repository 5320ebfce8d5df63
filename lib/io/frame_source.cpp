#include "io/frame_source.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

#include "core/text.hpp"
#include "io/cbf.hpp"
#include "io/edf.hpp"
#include "io/hdf5_source.hpp"
#include "io/spe.hpp"
#include "io/tiff.hpp"

namespace anvil::io {

namespace fs = std::filesystem;

void FrameMetadata::merge_defaults(const FrameMetadata& other) {
  auto fill = [](std::optional<double>& mine, const std::optional<double>& theirs) {
    if (!mine && theirs) mine = theirs;
  };
  fill(wavelength_m, other.wavelength_m);
  fill(distance_m, other.distance_m);
  fill(beam_center_x_px, other.beam_center_x_px);
  fill(beam_center_y_px, other.beam_center_y_px);
  fill(pixel_size_x_m, other.pixel_size_x_m);
  fill(pixel_size_y_m, other.pixel_size_y_m);
  fill(count_time_s, other.count_time_s);
  fill(saturation_value, other.saturation_value);
  if (detector.empty()) detector = other.detector;
}

std::string dtype_name(bool is_float, bool is_signed, std::size_t bytes) {
  if (is_float) return fmt::format("float{}", bytes * 8);
  return fmt::format("{}int{}", is_signed ? "" : "u", bytes * 8);
}

void mask_sentinels(const ImageF& image, Mask& invalid, std::optional<double> saturation,
                    std::optional<double> integer_max) {
  if (invalid.shape != image.shape) invalid = Mask(image.shape, 0);
  const float sat = saturation ? static_cast<float>(*saturation) : std::numeric_limits<float>::infinity();
  const float imax = integer_max ? static_cast<float>(*integer_max) : std::numeric_limits<float>::infinity();
  const std::size_t n = image.pixels.size();
  const float* px = image.pixels.data();
  std::uint8_t* m = invalid.pixels.data();
  for (std::size_t i = 0; i < n; ++i) {
    const float v = px[i];
    // !(v >= 0) also catches NaN.
    if (!(v >= 0.0f) || v >= sat || v >= imax || std::isinf(v)) m[i] = 1;
  }
}

void apply_orientation(Frame& frame, const OpenOptions& options) {
  if (options.flip_up_down) {
    flip_up_down(frame.image);
    flip_up_down(frame.invalid);
  }
  if (options.flip_left_right) {
    flip_left_right(frame.image);
    flip_left_right(frame.invalid);
  }
}

std::size_t for_each_frame(const FrameSource& source, const std::function<void(Frame&&)>& on_frame,
                           const std::function<void(const FrameError&)>& on_error) {
  std::size_t good = 0;
  for (std::size_t i = 0; i < source.frame_count(); ++i) {
    Frame frame;
    try {
      frame = source.read(i);
    } catch (const FrameError& e) {
      on_error(e);
      continue;
    } catch (const InputError& e) {
      on_error(FrameError(e.source(), i, e.problem()));
      continue;
    }
    on_frame(std::move(frame));
    ++good;
  }
  return good;
}

// ---------------------------------------------------------------- file patterns

void natural_sort(std::vector<std::string>& names) {
  auto less = [](const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
      if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
        std::size_t i2 = i, j2 = j;
        while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
        while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
        // Compare digit runs by value: strip leading zeros, then length, then text.
        auto strip = [](const std::string& s, std::size_t from, std::size_t to) {
          while (from + 1 < to && s[from] == '0') ++from;
          return std::string_view(s).substr(from, to - from);
        };
        auto da = strip(a, i, i2), db = strip(b, j, j2);
        if (da.size() != db.size()) return da.size() < db.size();
        if (da != db) return da < db;
        i = i2;
        j = j2;
      } else {
        if (a[i] != b[j]) return a[i] < b[j];
        ++i;
        ++j;
      }
    }
    return (a.size() - i) < (b.size() - j);
  };
  std::stable_sort(names.begin(), names.end(), less);
}

namespace {

bool has_pattern(const std::string& spec) {
  const auto name = fs::path(spec).filename().string();
  return name.find('{') != std::string::npos || name.find('*') != std::string::npos ||
         name.find('?') != std::string::npos;
}

}  // namespace

std::vector<std::string> expand_pattern(const std::string& pattern) {
  const fs::path p(pattern);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string name = p.filename().string();
  if (!fs::is_directory(dir)) throw InputError(pattern, "folder " + dir.string() + " does not exist");

  // "{}" or "{:05d}" -> one run of digits (of exactly that width when zero-padded);
  // everything else is matched literally, except * and ? which act as in a shell glob.
  std::string rx;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char ch = name[i];
    if (ch == '{') {
      const auto close = name.find('}', i);
      if (close == std::string::npos) throw InputError(pattern, "unclosed '{' in file pattern");
      const std::string field = name.substr(i + 1, close - i - 1);
      std::smatch m;
      static const std::regex width_rx(R"(^:0?(\d*)d?$)");
      if (field.empty() || field == ":d") {
        rx += "([0-9]+)";
      } else if (std::regex_match(field, m, width_rx) && !m[1].str().empty()) {
        rx += "([0-9]{" + m[1].str() + "})";
      } else {
        throw InputError(pattern, "unsupported field {" + field + "} in file pattern (use {} or {:05d})");
      }
      i = close;
    } else if (ch == '*') {
      rx += ".*";
    } else if (ch == '?') {
      rx += ".";
    } else if (std::string("\\^$.|+()[]").find(ch) != std::string::npos) {
      rx += '\\';
      rx += ch;
    } else {
      rx += ch;
    }
  }
  const std::regex re(rx);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const auto fname = entry.path().filename().string();
    if (std::regex_match(fname, re)) names.push_back(fname);
  }
  natural_sort(names);
  std::vector<std::string> files;
  files.reserve(names.size());
  for (const auto& n : names) files.push_back(p.has_parent_path() ? (dir / n).string() : n);
  if (files.empty()) throw InputError(pattern, "no file matches this pattern");
  return files;
}

// ---------------------------------------------------------------- format dispatch

namespace {

enum class Format { Hdf5, Tiff, Cbf, Edf, Spe, Unknown };

Format sniff_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) throw InputError(path, "file not found");
    throw InputError(path, "cannot open file for reading");
  }
  char head[16] = {};
  in.read(head, sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  const std::string_view h(head, got);
  if (h.starts_with("\x89HDF\r\n\x1a\n")) return Format::Hdf5;
  if (h.starts_with(std::string_view("II*\0", 4)) || h.starts_with(std::string_view("MM\0*", 4)) ||
      h.starts_with(std::string_view("II+\0", 4)) || h.starts_with(std::string_view("MM\0+", 4)))
    return Format::Tiff;
  if (h.starts_with("###CBF") || h.starts_with("data_")) return Format::Cbf;
  if (!h.empty() && (h[0] == '{' || (h.size() > 1 && h[0] == '\n' && h[1] == '{'))) return Format::Edf;
  const auto ext = lower(fs::path(path).extension().string());
  if (ext == ".h5" || ext == ".hdf5" || ext == ".nxs" || ext == ".hdf" || ext == ".nx5") return Format::Hdf5;
  if (ext == ".tif" || ext == ".tiff" || ext == ".mask") return Format::Tiff;
  if (ext == ".cbf") return Format::Cbf;
  if (ext == ".edf") return Format::Edf;
  if (ext == ".spe") return Format::Spe;
  return Format::Unknown;
}

// "file.h5:/entry/data/data" -> {"file.h5", "/entry/data/data"}; plain paths -> {path, ""}.
std::pair<std::string, std::string> split_dataset(const std::string& spec) {
  const auto pos = spec.find(":/");
  if (pos != std::string::npos && pos > 0) return {spec.substr(0, pos), spec.substr(pos + 1)};
  return {spec, ""};
}

std::unique_ptr<FrameSource> open_one(const std::string& spec, const OpenOptions& options) {
  const auto [path, dataset] = split_dataset(spec);
  if (fs::is_directory(path)) throw InputError(path, "is a folder, not a detector file");
  const Format format = sniff_format(path);
  if (!dataset.empty() && format != Format::Hdf5)
    throw InputError(path, "a dataset path (" + dataset + ") was given but this is not an HDF5 file");
  switch (format) {
    case Format::Hdf5:
      return open_hdf5(path, dataset, options);
    case Format::Tiff:
      return open_tiff(path, options);
    case Format::Cbf:
      return open_cbf(path, options);
    case Format::Edf:
      return open_edf(path, options);
    case Format::Spe:
      return open_spe(path, options);
    case Format::Unknown:
      break;
  }
  throw InputError(path, "unrecognised file format (expected HDF5/NeXus, TIFF, CBF, EDF or SPE)");
}

// Several sources read as one: frames concatenated. A file that cannot be opened at all
// becomes one bad frame, so one corrupt file never stops a scan.
class FileListSource final : public FrameSource {
 public:
  FileListSource(const std::vector<std::string>& files, const OpenOptions& options, std::string label) {
    if (files.empty()) throw InputError(label, "empty list of files");
    info_.path = std::move(label);
    info_.format = "file list";
    for (const auto& f : files) {
      Part part;
      part.file = f;
      try {
        part.source = open_one(f, options);
        part.count = part.source->frame_count();
      } catch (const InputError& e) {
        part.error = e.source() == f ? e.problem() : e.what();
        part.count = 1;
      }
      parts_.push_back(std::move(part));
    }
    const Part* first = nullptr;
    for (const auto& p : parts_)
      if (p.source && p.source->frame_count() > 0) {
        first = &p;
        break;
      }
    if (!first)
      throw InputError(info_.path, "none of the " + std::to_string(files.size()) +
                                       " files could be read; first error: " + parts_.front().error);
    const auto& fi = first->source->info();
    info_.shape = fi.shape;
    info_.dtype = fi.dtype;
    info_.compression = fi.compression;
    info_.metadata = fi.metadata;
    info_.format = "file list of " + fi.format;
    for (const auto& p : parts_) info_.frame_count += p.count;
  }

  const SourceInfo& info() const override { return info_; }

  Frame read(std::size_t index) const override {
    if (index >= info_.frame_count)
      throw InputError(info_.path,
                       fmt::format("frame {} out of range (scan has {} frames)", index, info_.frame_count));
    std::size_t base = 0;
    for (const auto& p : parts_) {
      if (index < base + p.count) {
        if (!p.source) throw FrameError(p.file, index, p.error);
        Frame f;
        try {
          f = p.source->read(index - base);
        } catch (const FrameError& e) {
          throw FrameError(p.file, index, e.problem());
        }
        if (f.image.shape != info_.shape)
          throw FrameError(p.file, index,
                           fmt::format("shape {}x{} differs from the scan's {}x{}", f.image.rows(),
                                       f.image.cols(), info_.shape.rows, info_.shape.cols));
        f.index = index;
        return f;
      }
      base += p.count;
    }
    throw FrameError(info_.path, index, "internal: frame not found in file list");
  }

 private:
  struct Part {
    std::string file;
    std::unique_ptr<FrameSource> source;
    std::size_t count = 0;
    std::string error;
  };
  std::vector<Part> parts_;
  SourceInfo info_;
};

}  // namespace

std::unique_ptr<FrameSource> open_frames(const std::string& spec, const OpenOptions& options) {
  if (spec.empty()) throw InputError("", "empty frame source name");
  const auto [path, dataset] = split_dataset(spec);
  if (has_pattern(path) && !fs::exists(path)) {
    auto files = expand_pattern(path);
    if (!dataset.empty())
      for (auto& f : files) f += ":" + dataset;
    return std::make_unique<FileListSource>(files, options, spec);
  }
  return open_one(spec, options);
}

std::unique_ptr<FrameSource> open_frames(const std::vector<std::string>& files, const OpenOptions& options) {
  if (files.size() == 1) return open_frames(files.front(), options);
  return std::make_unique<FileListSource>(files, options,
                                          files.empty() ? std::string() : files.front() + " (+ more)");
}

}  // namespace anvil::io
