#include "geometry/poni.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace anvil::geometry {

namespace {

struct Entry {
  std::string value;
  std::size_t line = 0;
};
using Entries = std::map<std::string, Entry>;

// pyFAI PoniFile.read_from_file: "key: value" lines, later keys overwrite earlier ones.
Entries split_lines(std::string_view text) {
  Entries entries;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_no;
    const std::string_view stripped = trim(line);
    if (stripped.empty() || stripped.front() == '#') continue;
    const std::size_t colon = stripped.find(':');
    if (colon == std::string_view::npos) continue;
    entries[lower(trim(stripped.substr(0, colon)))] = {std::string(trim(stripped.substr(colon + 1))),
                                                       line_no};
  }
  return entries;
}

// The comment anvil writes into a v2 .poni to record its orientation:
// "# anvil: orientation 3 (BottomRight): ...". The value and its line, if present.
constexpr std::string_view kOrientationComment = "# anvil: orientation ";

std::optional<std::pair<long long, std::size_t>> orientation_comment(std::string_view text) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_no;
    if (line.substr(0, kOrientationComment.size()) != kOrientationComment) continue;
    std::string_view rest = line.substr(kOrientationComment.size());
    long long v = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc{} || ptr == rest.data()) return std::pair<long long, std::size_t>{-1, line_no};
    return std::pair<long long, std::size_t>{v, line_no};
  }
  return std::nullopt;
}

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size() && std::isfinite(out);
}

class Reader {
 public:
  Reader(const Entries& e, const std::string& source, const std::filesystem::path& base_dir)
      : e_(e), source_(source), base_dir_(base_dir) {}

  // The Fit2D spline a .poni names: a relative path is looked for next to the .poni first,
  // then (as pyFAI does) from the working directory.
  SplineDistortion spline(const std::string& name, const std::string& where) const {
    std::filesystem::path path(name);
    if (path.is_relative() && !base_dir_.empty() && std::filesystem::exists(base_dir_ / path))
      path = base_dir_ / path;
    if (!std::filesystem::exists(path)) fail(where + ": the spline file '" + name + "' does not exist");
    try {
      return read_fit2d_spline(path);
    } catch (const InputError& e) {
      fail(where + ": " + e.what());
    }
  }

  const Entry* find(const std::string& key) const {
    auto it = e_.find(key);
    return it == e_.end() ? nullptr : &it->second;
  }

  [[noreturn]] void fail(const std::string& problem) const { throw InputError(source_, problem); }

  double number(const std::string& key, const char* display) const {
    const Entry* en = find(key);
    double v = 0.0;
    if (!parse_double(en->value, v)) {
      fail(std::string(display) + " on line " + std::to_string(en->line) + " is not a number: '" + en->value +
           "'");
    }
    return v;
  }

  double optional_number(const std::string& key, const char* display, double fallback) const {
    return find(key) ? number(key, display) : fallback;
  }

 private:
  const Entries& e_;
  const std::string& source_;
  std::filesystem::path base_dir_;
};

// pyFAI Detector.set_splineFile: the spline sets the pixel size and the shape.
Detector with_spline(Detector d, std::optional<SplineDistortion> spline) {
  if (!spline) return d;
  d.pixel1_m = spline->pixel_y_um * 1e-6;
  d.pixel2_m = spline->pixel_x_um * 1e-6;
  d.shape = spline->shape();
  d.distortion = std::move(spline);
  return d;
}

std::string flips_text(ImageFlips f) {
  return f.up_down && f.left_right ? "flipped up-down and left-right"
         : f.up_down               ? "flipped up-down"
                                   : "flipped left-right";
}

std::string orientation_text(Orientation o) {
  return std::to_string(static_cast<int>(o)) + " (" + orientation_name(o) + ")";
}

Orientation orientation_from_int(long long v, const Reader& rd) {
  switch (v) {
    case 0:  // pyFAI "Unspecified": treated as the default
    case 3:
      return Orientation::BottomRight;
    case 1:
      return Orientation::TopLeft;
    case 2:
      return Orientation::TopRight;
    case 4:
      return Orientation::BottomLeft;
    default:
      rd.fail("detector orientation " + std::to_string(v) + " is not one of 1, 2, 3, 4");
  }
}

[[noreturn]] void unknown_detector(const std::string& name, const Reader& rd) {
  std::string known;
  for (const std::string& n : detector_preset_names()) known += (known.empty() ? "" : ", ") + n;
  rd.fail("unknown detector '" + name + "' and no pixel size given; known detectors: " + known);
}

Detector detector_v1(const Reader& rd) {
  std::optional<Detector> det;
  std::string name;
  if (const Entry* en = rd.find("detector")) {
    name = en->value;
    if (lower(name) != "detector") det = find_detector(name);
  }
  const Entry* px1 = rd.find("pixelsize1");
  const Entry* px2 = rd.find("pixelsize2");
  std::optional<SplineDistortion> spline;
  if (const Entry* sf = rd.find("splinefile"); sf && lower(sf->value) != "none" && !sf->value.empty())
    spline = rd.spline(sf->value, "SplineFile on line " + std::to_string(sf->line));
  if (px1 || px2) {
    if (!(px1 && px2)) rd.fail("PixelSize1 and PixelSize2 must both be given");
    const double p1 = rd.number("pixelsize1", "PixelSize1");
    const double p2 = rd.number("pixelsize2", "PixelSize2");
    if (!(p1 > 0) || !(p2 > 0)) rd.fail("pixel sizes must be positive");
    if (det) {  // pyFAI: a known detector class rebuilt with the given pixel size
      det->pixel1_m = p1;
      det->pixel2_m = p2;
      return with_spline(*det, spline);
    }
    return with_spline(generic_detector(p1, p2), spline);
  }
  if (det) return with_spline(*det, spline);
  if (spline) return with_spline(generic_detector(1, 1), spline);
  if (!name.empty() && lower(name) != "detector") unknown_detector(name, rd);
  rd.fail("no detector: give PixelSize1/PixelSize2 or a known Detector name");
}

Detector detector_v2(const Reader& rd, bool& orientation_recorded) {
  const Entry* name_entry = rd.find("detector");
  if (!name_entry) rd.fail("poni_version 2 file without a Detector line");
  const std::string name = name_entry->value;
  nlohmann::json config = nlohmann::json::object();
  if (const Entry* cfg = rd.find("detector_config")) {
    try {
      config = nlohmann::json::parse(cfg->value);
    } catch (const nlohmann::json::exception& err) {
      rd.fail("Detector_config on line " + std::to_string(cfg->line) + " is not valid JSON: " + err.what());
    }
    if (config.is_null()) config = nlohmann::json::object();
    if (!config.is_object())
      rd.fail("Detector_config on line " + std::to_string(cfg->line) + " is not a JSON object");
  }
  auto get_number = [&](const char* key, double& out) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return false;
    if (!it->is_number()) rd.fail(std::string("Detector_config: ") + key + " is not a number");
    out = it->get<double>();
    return true;
  };
  std::optional<SplineDistortion> spline;
  for (const char* key : {"splineFile", "splinefile"}) {
    auto it = config.find(key);
    if (it != config.end() && !it->is_null()) {
      if (!it->is_string()) rd.fail("Detector_config: splineFile is not a string");
      spline = rd.spline(it->get<std::string>(), "Detector_config splineFile");
    }
  }

  std::optional<Detector> det;
  if (lower(name) != "detector") det = find_detector(name);
  double p1 = 0.0, p2 = 0.0;
  bool has1 = get_number("pixel1", p1);
  bool has2 = get_number("pixel2", p2);
  if (!det) {
    if (!(has1 && has2) && spline) {
      has1 = has2 = true;
      p1 = p2 = 1.0;  // replaced by the spline's pixel size below
    }
    if (!(has1 && has2)) {
      if (lower(name) != "detector") unknown_detector(name, rd);
      rd.fail("Detector_config gives no pixel1/pixel2 for the generic detector");
    }
    det = generic_detector(p1, p2);
  } else {
    if (has1) det->pixel1_m = p1;
    if (has2) det->pixel2_m = p2;
  }
  if (!(det->pixel1_m > 0) || !(det->pixel2_m > 0)) rd.fail("pixel sizes must be positive");
  if (auto it = config.find("max_shape"); it != config.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_integer() ||
        !(*it)[1].is_number_integer() || (*it)[0].get<long long>() <= 0 || (*it)[1].get<long long>() <= 0) {
      rd.fail("Detector_config: max_shape must be [rows, columns]");
    }
    det->shape = {(*it)[0].get<std::size_t>(), (*it)[1].get<std::size_t>()};
  }
  if (auto it = config.find("orientation"); it != config.end() && !it->is_null()) {
    if (!it->is_number_integer()) rd.fail("Detector_config: orientation must be an integer 1..4");
    det->orientation = orientation_from_int(it->get<long long>(), rd);
    orientation_recorded = true;
  }
  return with_spline(*det, spline);
}

// The Detector / Detector_config pair pyFAI writes for `d`.
std::pair<std::string, std::string> detector_lines(const Detector& d) {
  const std::optional<Detector> preset =
      d.is_generic() || d.distortion ? std::nullopt : find_detector(d.name);
  const bool as_preset =
      preset && preset->name == d.name && preset->pixel1_m == d.pixel1_m && preset->pixel2_m == d.pixel2_m;
  std::string cfg = "{";
  auto add = [&cfg](const std::string& item) { cfg += (cfg.size() > 1 ? ", " : "") + item; };
  if (!as_preset) {
    add("\"pixel1\": " + python_float_repr(d.pixel1_m));
    add("\"pixel2\": " + python_float_repr(d.pixel2_m));
  }
  if (!as_preset || d.shape != preset->shape) {
    add(d.shape.pixel_count() == 0
            ? std::string("\"max_shape\": null")
            : "\"max_shape\": [" + std::to_string(d.shape.rows) + ", " + std::to_string(d.shape.cols) + "]");
  }
  // pyFAI before 2024 (e.g. Debian's 0.21) reads only version 2 files, which have no
  // orientation: write it, and version 2.1, only when it is not the default (3).
  if (d.orientation != Orientation::BottomRight)
    add("\"orientation\": " + std::to_string(static_cast<int>(d.orientation)));
  if (d.distortion) {
    if (d.distortion->file.empty())
      throw std::invalid_argument(
          "format_poni: write the detector's spline file first (distortion.file is empty)");
    add("\"splineFile\": " + nlohmann::json(d.distortion->file).dump());
  }
  cfg += "}";
  return {as_preset ? d.name : std::string("Detector"), cfg};
}

}  // namespace

Geometry parse_poni(std::string_view text, const std::string& source, const std::filesystem::path& base_dir,
                    PoniInfo* info) {
  const Entries entries = split_lines(text);
  const Reader rd(entries, source, base_dir);

  double version = 1.0;
  if (rd.find("poni_version")) version = rd.number("poni_version", "poni_version");
  if (rd.find("detector_config")) version = std::max(version, 2.0);
  if (version != 1.0 && version != 2.0 && version != 2.1) {
    rd.fail("poni_version " + python_float_repr(version) + " is not supported (1, 2 and 2.1 are)");
  }

  Geometry g;
  bool recorded = false;
  g.detector = version == 1.0 ? detector_v1(rd) : detector_v2(rd, recorded);
  if (const auto comment = orientation_comment(text)) {
    // anvil's own record of the orientation: it must agree with what pyFAI reads from the file.
    if (comment->first != static_cast<long long>(g.detector.orientation))
      rd.fail("the comment on line " + std::to_string(comment->second) + " says orientation " +
              std::to_string(comment->first) + " but the file describes orientation " +
              orientation_text(g.detector.orientation) + ": correct one of them");
    recorded = true;
  }
  if (info) *info = {version, recorded};

  if (rd.find("distance")) {
    g.dist_m = rd.number("distance", "Distance");
  } else if (rd.find("dist")) {
    g.dist_m = rd.number("dist", "Dist");
  } else {
    rd.fail("no Distance");
  }
  if (!rd.find("wavelength")) rd.fail("no Wavelength");
  g.wavelength_m = rd.number("wavelength", "Wavelength");
  g.poni1_m = rd.optional_number("poni1", "Poni1", 0.0);
  g.poni2_m = rd.optional_number("poni2", "Poni2", 0.0);
  g.rot1 = rd.optional_number("rot1", "Rot1", 0.0);
  g.rot2 = rd.optional_number("rot2", "Rot2", 0.0);
  g.rot3 = rd.optional_number("rot3", "Rot3", 0.0);
  if (!(g.dist_m > 0)) rd.fail("Distance must be positive, found " + python_float_repr(g.dist_m) + " m");
  if (!(g.wavelength_m > 0)) {
    rd.fail("Wavelength must be positive, found " + python_float_repr(g.wavelength_m) + " m");
  }
  return g;
}

Geometry read_poni(const std::filesystem::path& path, PoniInfo* info) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open the .poni file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path.string(), "cannot read the .poni file");
  return parse_poni(text.str(), path.string(), path.parent_path(), info);
}

std::string format_poni(const Geometry& g) {
  const auto [det_name, det_config] = detector_lines(g.detector);
  std::string out;
  out += "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis\n";
  out += "# Written by anvil " ANVIL_VERSION "\n";
  if (g.detector.orientation == Orientation::BottomRight) {
    // pyFAI 0.21 reads v2 only; the comment records the orientation for anvil (pyFAI skips it).
    out += std::string(kOrientationComment) + "3 (BottomRight, pyFAI's default): the geometry of the image " +
           "as stored in the file\n";
    out += "poni_version: 2\n";
  } else {
    out += "poni_version: 2.1\n";
  }
  out += "Detector: " + det_name + "\n";
  out += "Detector_config: " + det_config + "\n";
  out += "Distance: " + python_float_repr(g.dist_m) + "\n";
  out += "Poni1: " + python_float_repr(g.poni1_m) + "\n";
  out += "Poni2: " + python_float_repr(g.poni2_m) + "\n";
  out += "Rot1: " + python_float_repr(g.rot1) + "\n";
  out += "Rot2: " + python_float_repr(g.rot2) + "\n";
  out += "Rot3: " + python_float_repr(g.rot3) + "\n";
  out += "Wavelength: " + python_float_repr(g.wavelength_m) + "\n";
  return out;
}

void write_poni(const std::filesystem::path& path, const Geometry& g) {
  write_text_atomically(path, format_poni(g), "the .poni file");
}

FramesGeometry geometry_for_frames(const Geometry& g, const PoniInfo& info, ImageFlips flips,
                                   const std::string& poni_name) {
  FramesGeometry out{g, {}};
  const bool flipping = flips.up_down || flips.left_right;
  const std::string version = "poni_version " + (info.version == std::floor(info.version)
                                                     ? std::to_string(static_cast<int>(info.version))
                                                     : python_float_repr(info.version));
  if (!info.orientation_recorded) {
    out.note = flipping
                   ? poni_name + " records no orientation (" + version +
                         "): taken as the geometry of the frames " + flips_text(flips) +
                         ", as a Dioptas .poni without orientation is"
                   : poni_name + " records no orientation (" + version +
                         "): taken as the geometry of the frames as stored, as pyFAI reads it (a Dioptas "
                         ".poni without orientation belongs to the up-down flipped frames: flip them)";
    return out;
  }
  const Orientation file = g.detector.orientation;
  out.geometry.detector.orientation = flipped(file, flips.up_down, flips.left_right);
  if (flipping) {
    out.note = poni_name + " records orientation " + orientation_text(file) +
               " for the image as stored in the file; the frames are " + flips_text(flips) +
               ", so orientation " + orientation_text(out.geometry.detector.orientation) +
               " is used on them (every pixel keeps its 2θ and χ)";
  } else if (file != Orientation::BottomRight) {
    const char* reversed = file == Orientation::TopRight     ? "rows"
                           : file == Orientation::BottomLeft ? "columns"
                                                             : "rows and columns";
    out.note = poni_name + " records orientation " + orientation_text(file) + ": " + reversed +
               " reversed relative to the frames as stored, as pyFAI >= 2024 computes it";
  }
  return out;
}

Geometry geometry_for_file(Geometry frames_geometry, ImageFlips flips) {
  frames_geometry.detector.orientation =
      flipped(frames_geometry.detector.orientation, flips.up_down, flips.left_right);
  return frames_geometry;
}

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<std::size_t>(res.ptr - buf));
  const bool negative = s.front() == '-';
  if (negative) s.remove_prefix(1);
  const std::size_t e = s.find('e');
  int exponent = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0), s.data() + s.size(), exponent);
  std::string digits;
  for (char c : s.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  std::string out = negative ? "-" : "";
  // Python float_repr_style 'short': fixed notation for 1e-4 <= |v| < 1e16.
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else {
      const std::size_t int_len = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int a = std::abs(exponent);
    out += std::string("e") + (exponent < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
  }
  return out;
}

}  // namespace anvil::geometry
