#include "io/frame_source.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
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

namespace {

// A file-name pattern as a regular expression: "{}" / "{:05d}" become one captured run of
// digits (of exactly that width when zero-padded), * and ? act as in a shell glob, the rest is
// literal. `fields` counts the number fields.
std::regex pattern_regex(const std::string& pattern, const std::string& name, int& fields) {
  std::string rx;
  fields = 0;
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
      ++fields;
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
  return std::regex(rx);
}

// The regular files of the pattern's folder whose names match, with the regex match.
template <class OnMatch>
void match_files(const std::string& pattern, const std::regex& re, OnMatch&& on_match) {
  const fs::path p(pattern);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const auto fname = entry.path().filename().string();
    std::smatch m;
    if (std::regex_match(fname, m, re)) on_match(p.has_parent_path() ? (dir / fname).string() : fname, m);
  }
}

void check_folder(const std::string& pattern) {
  const fs::path p(pattern);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) throw InputError(pattern, "folder " + dir.string() + " does not exist");
}

}  // namespace

std::vector<std::string> expand_pattern(const std::string& pattern) {
  check_folder(pattern);
  int fields = 0;
  const std::regex re = pattern_regex(pattern, fs::path(pattern).filename().string(), fields);
  std::vector<std::string> files;
  match_files(pattern, re, [&](const std::string& f, const std::smatch&) { files.push_back(f); });
  natural_sort(files);
  if (files.empty()) throw InputError(pattern, "no file matches this pattern");
  return files;
}

std::map<std::size_t, std::vector<std::string>> numbered_files(const std::string& pattern) {
  check_folder(pattern);
  int fields = 0;
  const std::regex re = pattern_regex(pattern, fs::path(pattern).filename().string(), fields);
  if (fields != 1)
    throw InputError(pattern, fmt::format("a numbered file series needs exactly one number field ({{}} or "
                                          "{{:05d}}); this pattern has {}",
                                          fields));
  std::map<std::size_t, std::vector<std::string>> out;
  match_files(pattern, re, [&](const std::string& f, const std::smatch& m) {
    const std::string digits = m[1].str();
    if (digits.size() > 15) return;  // not a frame number
    out[static_cast<std::size_t>(std::stoull(digits))].push_back(f);
  });
  for (auto& [number, files] : out) natural_sort(files);
  if (out.empty()) throw InputError(pattern, "no file matches this pattern");
  return out;
}

std::string file_stamp(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "";
  const auto size = fs::file_size(path, ec);
  if (ec) return "";
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return "";
  return fmt::format(" (size {}, mtime {})", size, mtime.time_since_epoch().count());
}

std::string FrameSource::frame_identity(std::size_t position) const {
  const auto& i = info();
  std::string id = i.path + (i.dataset.empty() ? "" : ":" + i.dataset) + fmt::format("[{}]", position);
  if (i.frame_count == 1) id += file_stamp(i.path);
  return id;
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

// Frame `k` of one file of a multi-file source, as frame `number` of the scan: errors name the
// file and the scan's frame, and a frame of another shape than the scan's is a bad frame.
Frame read_part(const FrameSource& part, std::size_t k, const std::string& file, std::size_t number,
                Shape expected) {
  Frame f;
  try {
    f = part.read(k);
  } catch (const FrameError& e) {
    throw FrameError(file, number, e.problem());
  }
  if (f.image.shape != expected)
    throw FrameError(file, number,
                     fmt::format("shape {}x{} differs from the scan's {}x{}", f.image.rows(), f.image.cols(),
                                 expected.rows, expected.cols));
  f.index = number;
  return f;
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
        return read_part(*p.source, index - base, p.file, index, info_.shape);
      }
      base += p.count;
    }
    throw FrameError(info_.path, index, "internal: frame not found in file list");
  }

  std::string frame_identity(std::size_t index) const override {
    std::size_t base = 0;
    for (const auto& p : parts_) {
      if (index < base + p.count) {
        if (!p.source) return p.file + file_stamp(p.file) + " (unreadable)";
        return p.source->frame_identity(index - base);
      }
      base += p.count;
    }
    return info_.path + fmt::format("[{}] (out of range)", index);
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

// A numbered series, one frame per file: frame N is read from the file whose name carries N,
// whatever other files exist. Numbers run from the lowest present to the highest; a file
// missing in between is a frame that fails ("file not found"), never a reason to shift the
// frames after it. A file that cannot be opened, holds more than one frame or has another
// shape is one bad frame.
class NumberedFileSource final : public FrameSource {
 public:
  NumberedFileSource(const std::string& pattern, const std::string& dataset, const OpenOptions& options) {
    const auto numbered = numbered_files(pattern);
    first_ = numbered.begin()->first;
    const std::size_t last = numbered.rbegin()->first;
    info_.path = pattern + (dataset.empty() ? "" : ":" + dataset);
    info_.frame_count = last - first_ + 1;
    parts_.resize(info_.frame_count);
    for (const auto& [number, files] : numbered) {
      Part& part = parts_[number - first_];
      part.file = files.front();
      part.exists = true;
      if (files.size() > 1) {
        part.error =
            fmt::format("{} files carry number {}: {}", files.size(), number, fmt::join(files, ", "));
        continue;
      }
      try {
        part.source = open_one(dataset.empty() ? part.file : part.file + ":" + dataset, options);
        if (part.source->frame_count() != 1) {
          part.error = fmt::format("holds {} frames; a numbered file series takes one frame per file",
                                   part.source->frame_count());
          part.source.reset();
        }
      } catch (const InputError& e) {
        part.error = e.source() == part.file ? e.problem() : e.what();
      }
    }
    const Part* first = nullptr;
    for (const auto& p : parts_)
      if (p.source) {
        first = &p;
        break;
      }
    if (!first) {
      std::string why;
      for (const auto& p : parts_)
        if (p.exists) {
          why = p.file + ": " + p.error;
          break;
        }
      throw InputError(info_.path, "none of the files of this series could be read; first error: " + why);
    }
    const auto& fi = first->source->info();
    info_.shape = fi.shape;
    info_.dtype = fi.dtype;
    info_.compression = fi.compression;
    info_.metadata = fi.metadata;
    info_.format = "numbered file series of " + fi.format;
  }

  const SourceInfo& info() const override { return info_; }
  std::size_t first_number() const override { return first_; }

  Frame read(std::size_t position) const override {
    if (position >= parts_.size())
      throw InputError(info_.path, fmt::format("frame {} out of range (the series has frames {}..{})",
                                               first_ + position, first_, first_ + parts_.size() - 1));
    const Part& p = parts_[position];
    const std::size_t number = first_ + position;
    if (!p.exists)
      throw FrameError(
          info_.path, number,
          fmt::format("file not found (the series has frames {}..{})", first_, first_ + parts_.size() - 1));
    if (!p.source) throw FrameError(p.file, number, p.error);
    return read_part(*p.source, 0, p.file, number, info_.shape);
  }

  std::string frame_identity(std::size_t position) const override {
    if (position >= parts_.size())
      return info_.path + fmt::format(" frame {} (out of range)", first_ + position);
    const Part& p = parts_[position];
    if (!p.exists) return info_.path + fmt::format(" frame {} (file not found)", first_ + position);
    return p.file + file_stamp(p.file);
  }

 private:
  struct Part {
    std::string file;
    bool exists = false;
    std::unique_ptr<FrameSource> source;
    std::string error;
  };
  std::vector<Part> parts_;
  std::size_t first_ = 0;
  SourceInfo info_;
};

}  // namespace

std::unique_ptr<FrameSource> open_frames(const std::string& spec, const OpenOptions& options) {
  if (spec.empty()) throw InputError("", "empty frame source name");
  const auto [path, dataset] = split_dataset(spec);
  if (has_pattern(path) && !fs::exists(path)) {
    if (fs::path(path).filename().string().find('{') != std::string::npos)
      return std::make_unique<NumberedFileSource>(path, dataset, options);
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
