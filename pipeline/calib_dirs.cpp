#include "calib_dirs.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace anvil::pipeline {

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw InputError(p.string(), "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

fs::path executable_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

fs::path calib_dir(const fs::path& from) {
  if (const char* env = std::getenv("ANVIL_CALIB_DIR"); env && *env) return env;
  std::error_code ec;
  fs::path p = from.empty() ? fs::current_path(ec) : fs::absolute(from, ec);
  for (int up = 0; up < 8 && !p.empty(); ++up) {
    if (fs::is_directory(p / "share" / "anvil" / "calib" / "phases", ec))
      return p / "share" / "anvil" / "calib";
    if (fs::is_directory(p / "calib" / "phases", ec)) return p / "calib";
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  throw InputError("calib",
                   fmt::format("anvil's data folder (share/anvil/calib of an install, or calib/ of the "
                               "source tree) is not in {} or a folder above it: set ANVIL_CALIB_DIR",
                               from.string()));
}

fs::path phase_dir(const fs::path& from) {
  if (const char* env = std::getenv("ANVIL_PHASE_DIR"); env && *env) return env;
  return calib_dir(from) / "phases";
}

calibration::Calibrant load_calibrant(const std::string& spec, const fs::path& dir, const std::string& what) {
  const fs::path p(spec);
  if (p.extension() == ".toml" && fs::exists(p)) return calibration::parse_calibrant(read_text(p), spec);
  if (p.extension() == ".cif" && fs::exists(p)) return calibration::calibrant_from_cif(read_text(p), spec);
  if (spec.find(':') != std::string::npos) return calibration::calibrant_from_cell_spec(spec);
  std::vector<std::string> known;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".toml") continue;
      const std::string stem = e.path().stem().string();
      known.push_back(stem);
      if (lower(stem) == lower(spec))
        return calibration::parse_calibrant(read_text(e.path()), e.path().string());
    }
  std::sort(known.begin(), known.end());
  std::string names;
  for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
  throw InputError(what,
                   fmt::format("unknown calibrant '{}': give one of {} (in {}), a .toml or .cif file, or a "
                               "cell such as Fm-3m:4.0786",
                               spec, names.empty() ? "(none found)" : names, dir.string()));
}

}  // namespace anvil::pipeline
