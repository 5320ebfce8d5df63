#include "geometry/detector.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/error.hpp"

namespace anvil::geometry {

namespace {

// pyFAI/detectors/_dectris.py: Pilatus MODULE_SIZE = (195, 487), MODULE_GAP = (17, 7), 172 µm;
// Eiger (514, 1030) / (37, 10); Eiger2 (512, 1028) / (38, 12), 75 µm.
constexpr ModuleLayout kPilatusModules{195, 487, 17, 7};
constexpr ModuleLayout kEigerModules{514, 1030, 37, 10};
constexpr ModuleLayout kEiger2Modules{512, 1028, 38, 12};

struct Preset {
  const char* name;  // pyFAI class name
  double pixel_m;
  std::size_t rows;
  std::size_t cols;
  std::optional<ModuleLayout> modules;
  bool circular;
  std::vector<const char*> aliases;  // beyond the class name itself
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"Pilatus100k", 172e-6, 195, 487, kPilatusModules, false, {"Pilatus 100k", "Pilatus3 100k"}},
      {"Pilatus200k", 172e-6, 407, 487, kPilatusModules, false, {"Pilatus 200k", "Pilatus3 200k"}},
      {"Pilatus300k", 172e-6, 619, 487, kPilatusModules, false, {"Pilatus 300k", "Pilatus3 300k"}},
      {"Pilatus300kw", 172e-6, 195, 1475, kPilatusModules, false, {"Pilatus 300kw", "Pilatus3 300kw"}},
      {"Pilatus1M", 172e-6, 1043, 981, kPilatusModules, false, {"Pilatus 1M", "Pilatus3 1M"}},
      {"Pilatus2M", 172e-6, 1679, 1475, kPilatusModules, false, {"Pilatus 2M", "Pilatus3 2M"}},
      {"Pilatus6M", 172e-6, 2527, 2463, kPilatusModules, false, {"Pilatus 6M", "Pilatus3 6M"}},
      {"Eiger500k", 75e-6, 514, 1030, kEigerModules, false, {"Eiger 500k"}},
      {"Eiger1M", 75e-6, 1065, 1030, kEigerModules, false, {"Eiger 1M"}},
      {"Eiger4M", 75e-6, 2167, 2070, kEigerModules, false, {"Eiger 4M"}},
      {"Eiger9M", 75e-6, 3269, 3110, kEigerModules, false, {"Eiger 9M"}},
      {"Eiger16M", 75e-6, 4371, 4150, kEigerModules, false, {"Eiger 16M"}},
      {"Eiger2_500k", 75e-6, 512, 1028, kEiger2Modules, false, {"Eiger2 500k"}},
      {"Eiger2_1M", 75e-6, 1062, 1028, kEiger2Modules, false, {"Eiger2 1M"}},
      {"Eiger2_4M", 75e-6, 2162, 2068, kEiger2Modules, false, {"Eiger2 4M"}},
      {"Eiger2_9M", 75e-6, 3262, 3108, kEiger2Modules, false, {"Eiger2 9M"}},
      {"Eiger2_16M", 75e-6, 4362, 4148, kEiger2Modules, false, {"Eiger2 16M"}},
      // pyFAI's Perkin defaults to 2x2 binning of a 4096² grid: 2048², 200 µm (XRD 1621).
      {"Perkin",
       200e-6,
       2048,
       2048,
       std::nullopt,
       false,
       {"Perkin detector", "Perkin Elmer", "PerkinElmer XRD 1621", "XRD 1621"}},
      {"Mar345", 100e-6, 3450, 3450, std::nullopt, true, {"MAR 345", "Mar3450"}},
      // Rayonix at pyFAI's default binning.
      {"RayonixMx225", 73.242e-6, 3072, 3072, std::nullopt, false, {"Rayonix MX225", "MAR 225"}},
      {"RayonixMx300", 73.242e-6, 4096, 4096, std::nullopt, false, {"Rayonix MX300", "MAR 300"}},
      {"RayonixMx170", 44.2708e-6, 3840, 3840, std::nullopt, false, {"Rayonix MX170", "Rayonix MX170-HS"}},
      {"RayonixSx200", 48e-6, 4096, 4096, std::nullopt, false, {"Rayonix SX200"}},
  };
  return table;
}

// pyFAI registers lower-case names with spaces removed or turned into '_'; we go further and
// drop every non-alphanumeric character.
std::string normalise(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

Detector from_preset(const Preset& p) {
  Detector d;
  d.name = p.name;
  d.pixel1_m = p.pixel_m;
  d.pixel2_m = p.pixel_m;
  d.shape = {p.rows, p.cols};
  d.modules = p.modules;
  d.circular_active_area = p.circular;
  return d;
}

}  // namespace

Mask Detector::dead_pixel_mask() const {
  Mask mask(shape, 0);
  if (modules) {
    // pyFAI _Dectris.calc_mask: a gap starts after every module, up to the detector edge.
    const ModuleLayout& m = *modules;
    for (std::size_t r = m.module_rows; r < shape.rows; r += m.module_rows + m.gap_rows) {
      for (std::size_t rr = r; rr < std::min(r + m.gap_rows, shape.rows); ++rr) {
        std::fill(mask.row(rr).begin(), mask.row(rr).end(), std::uint8_t{1});
      }
    }
    for (std::size_t c = m.module_cols; c < shape.cols; c += m.module_cols + m.gap_cols) {
      for (std::size_t r = 0; r < shape.rows; ++r) {
        for (std::size_t cc = c; cc < std::min(c + m.gap_cols, shape.cols); ++cc) mask(r, cc) = 1;
      }
    }
  }
  if (circular_active_area) {
    // pyFAI Mar345.calc_mask: outside the circle inscribed in the square (integer centre).
    const double c0 = static_cast<double>(shape.rows / 2);
    const double c1 = static_cast<double>(shape.cols / 2);
    for (std::size_t r = 0; r < shape.rows; ++r) {
      const double dy = static_cast<double>(r) + 0.5 - c0;
      for (std::size_t c = 0; c < shape.cols; ++c) {
        const double dx = static_cast<double>(c) + 0.5 - c1;
        if (dy * dy + dx * dx > c0 * c0) mask(r, c) = 1;
      }
    }
  }
  return mask;
}

Orientation flipped(Orientation o, bool up_down, bool left_right) {
  const bool rows = (o == Orientation::TopLeft || o == Orientation::TopRight) != up_down;
  const bool cols = (o == Orientation::TopLeft || o == Orientation::BottomLeft) != left_right;
  return rows ? (cols ? Orientation::TopLeft : Orientation::TopRight)
              : (cols ? Orientation::BottomLeft : Orientation::BottomRight);
}

const char* orientation_name(Orientation o) {
  switch (o) {
    case Orientation::TopLeft:
      return "TopLeft";
    case Orientation::TopRight:
      return "TopRight";
    case Orientation::BottomRight:
      return "BottomRight";
    case Orientation::BottomLeft:
      return "BottomLeft";
  }
  return "?";
}

Detector generic_detector(double pixel1_m, double pixel2_m, Shape shape, Orientation orientation) {
  Detector d;
  d.pixel1_m = pixel1_m;
  d.pixel2_m = pixel2_m;
  d.shape = shape;
  d.orientation = orientation;
  return d;
}

std::optional<Detector> find_detector(std::string_view name) {
  const std::string key = normalise(name);
  if (key.empty()) return std::nullopt;
  for (const Preset& p : presets()) {
    if (normalise(p.name) == key) return from_preset(p);
    for (const char* alias : p.aliases) {
      if (normalise(alias) == key) return from_preset(p);
    }
  }
  return std::nullopt;
}

Detector detector_preset(std::string_view name) {
  if (auto d = find_detector(name)) return *d;
  std::string known;
  for (const std::string& n : detector_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError(std::string(name), "unknown detector; known detectors: " + known +
                                          " (or give the pixel size for a generic detector)");
}

std::vector<std::string> detector_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : presets()) names.emplace_back(p.name);
  return names;
}

}  // namespace anvil::geometry
