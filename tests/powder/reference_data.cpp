#include "powder/reference_data.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test_support.hpp"

namespace anvil::powder::test {

std::filesystem::path phases_dir() { return anvil::test::reference_dir() / "phases"; }

namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) out.push_back(f);
  return out;
}
}  // namespace

std::map<std::string, std::vector<double>> load_csv_columns(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  std::map<std::string, std::vector<double>> cols;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto f = split(line);
    for (std::size_t i = 0; i < header.size() && i < f.size(); ++i) {
      try {
        cols[header[i]].push_back(std::stod(f[i]));
      } catch (const std::exception&) {
        cols[header[i]].push_back(NAN);
      }
    }
  }
  return cols;
}

PowderPhase load_reference_phase(const std::string& name) {
  struct Cell {
    CellKind kind;
    double a, c;
    int z;
    double m;
  };
  const double m_cdse = 191.371, m_cds = 144.476;
  static const std::map<std::string, Cell> cells{
      {"CdSe_WZ", {CellKind::Hexagonal, 4.299, 7.010, 2, m_cdse}},
      {"CdSe_WZ_u0377", {CellKind::Hexagonal, 4.299, 7.010, 2, m_cdse}},
      {"CdSe_ZB", {CellKind::Cubic, 6.077, 0, 4, m_cdse}},
      {"CdSe_RS", {CellKind::Cubic, 5.70, 0, 4, m_cdse}},
      {"CdS_WZ", {CellKind::Hexagonal, 4.1367, 6.7161, 2, m_cds}},
      {"CdS_ZB", {CellKind::Cubic, 5.818, 0, 4, m_cds}},
      {"CdS_RS", {CellKind::Cubic, 5.46, 0, 4, m_cds}},
  };
  const Cell& cell = cells.at(name);
  PowderPhase ph;
  ph.name = name;
  ph.kind = cell.kind;
  ph.a = cell.a;
  ph.c = cell.c;
  ph.z = cell.z;
  ph.formula_mass = cell.m;
  std::ifstream in(phases_dir() / "out" / "reflections" / (name + "_B0.csv"));
  if (!in) throw std::runtime_error("cannot open reflections of " + name);
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  std::size_t i_hkl = 0, i_mult = 0, i_f2 = 0;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "hkl") i_hkl = i;
    if (header[i] == "mult") i_mult = i;
    if (header[i] == "sumMF2_cctbx_wk_henke") i_f2 = i;
  }
  while (std::getline(in, line)) {
    const auto f = split(line);
    if (f.size() <= i_f2) continue;
    std::stringstream hs(f[i_hkl]);
    std::vector<int> idx;
    int v;
    while (hs >> v) idx.push_back(v);
    PowderReflection r;
    r.h = idx[0];
    r.k = idx[1];
    r.l = idx.size() == 4 ? idx[3] : idx[2];
    r.multiplicity = std::stoi(f[i_mult]);
    r.f2 = std::stod(f[i_f2]) / r.multiplicity;
    ph.reflections.push_back(r);
  }
  return ph;
}

PowderPattern load_reference_pattern(const std::string& file, const std::string& column) {
  auto cols = load_csv_columns(phases_dir() / "out" / "patterns" / file);
  PowderPattern p;
  p.two_theta_deg = cols.at("tth_deg");
  p.intensity = cols.at(column);
  return p;
}

}  // namespace anvil::powder::test
