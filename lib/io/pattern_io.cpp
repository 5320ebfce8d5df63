#include "io/pattern_io.hpp"

#include <fmt/core.h>
#include <fmt/os.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/hdf5_util.hpp"
#include "io/nexus.hpp"

namespace anvil::io {

namespace fs = std::filesystem;
using h5::Handle;

namespace {

const char* axis_label(RadialUnit u) {
  switch (u) {
    case RadialUnit::QInvNm:
      return "Q (nm^-1)";
    case RadialUnit::QInvA:
      return "Q (A^-1)";
    case RadialUnit::TwoThetaDeg:
      return "2-Theta Angle (Degrees)";
    case RadialUnit::DSpacingA:
      return "d-spacing (A)";
    case RadialUnit::RMm:
      return "Radius (mm)";
  }
  return "x";
}

std::optional<RadialUnit> unit_in_text(const std::string& line) {
  const std::string l = lower(line);
  if (l.find("q_nm^-1") != std::string::npos || l.find("q_nm-1") != std::string::npos ||
      l.find("q (nm^-1)") != std::string::npos || l.find("nm^-1") != std::string::npos ||
      l.find("1/nm") != std::string::npos)
    return RadialUnit::QInvNm;
  if (l.find("q_a^-1") != std::string::npos || l.find("q (a^-1)") != std::string::npos ||
      l.find("a^-1") != std::string::npos || l.find("1/angstrom") != std::string::npos ||
      l.find("å^-1") != std::string::npos)
    return RadialUnit::QInvA;
  if (l.find("2th_deg") != std::string::npos || l.find("2-theta") != std::string::npos ||
      l.find("2theta") != std::string::npos || l.find("two_theta") != std::string::npos)
    return RadialUnit::TwoThetaDeg;
  if (l.find("d_a") != std::string::npos || l.find("d-spacing") != std::string::npos)
    return RadialUnit::DSpacingA;
  return std::nullopt;
}

}  // namespace

RadialUnit parse_radial_unit(const std::string& name) {
  const std::string l = lower(name);
  if (l == "q_nm^-1" || l == "q_nm-1" || l == "nm^-1" || l == "q_nm" || l == "1/nm")
    return RadialUnit::QInvNm;
  if (l == "q_a^-1" || l == "q_a-1" || l == "a^-1" || l == "q_a" || l == "1/a") return RadialUnit::QInvA;
  if (l == "2th_deg" || l == "2th" || l == "2theta" || l == "tth" || l == "deg")
    return RadialUnit::TwoThetaDeg;
  if (l == "d_a" || l == "d" || l == "d_spacing") return RadialUnit::DSpacingA;
  if (l == "r_mm" || l == "mm") return RadialUnit::RMm;
  throw InputError("", "unknown radial unit '" + name + "' (use q_nm^-1, q_A^-1, 2th_deg, d_A or r_mm)");
}

void write_pattern_text(const std::string& path, const Pattern1D& p, const std::vector<std::string>& header,
                        bool with_sigma, std::optional<double> wavelength_a) {
  if (p.x.size() != p.intensity.size()) throw InputError(path, "x and I differ in length");
  const bool sigma = with_sigma && p.sigma.size() == p.x.size();
  const std::string tmp = path + ".part";
  double x_scale = 1.0;
  {
    auto out = fmt::output_file(tmp);
    const auto ext = lower(fs::path(path).extension().string());
    if (ext == ".chi") {
      std::string label = axis_label(p.unit);
      const bool q = p.unit == RadialUnit::QInvNm || p.unit == RadialUnit::QInvA;
      if (q && wavelength_a && *wavelength_a > 0) {
        // GSAS-II (imports/G2pwd_xye.py): a ".chi" axis line with "q " takes its second word as
        // λ (Å) and the x column as Q in Å⁻¹.
        label = fmt::format("Q {:.8g} (A^-1; wavelength in A)", *wavelength_a);
        if (p.unit == RadialUnit::QInvNm) x_scale = 0.1;
      }
      out.print("{}\n{}\nIntensity\n{:>7}\n", fs::path(path).filename().string(), label, p.x.size());
    } else {
      for (const auto& h : header) out.print("# {}\n", h);
      out.print("# {:>14} {:>16}{}\n", unit_name(p.unit), "I", sigma ? fmt::format(" {:>16}", "sigma") : "");
    }
    for (std::size_t i = 0; i < p.x.size(); ++i) {
      if (sigma)
        out.print("{:16.9e} {:16.9e} {:16.9e}\n", x_scale * p.x[i], p.intensity[i], p.sigma[i]);
      else
        out.print("{:16.9e} {:16.9e}\n", x_scale * p.x[i], p.intensity[i]);
    }
  }
  nx::rename_into_place(tmp, path);
}

Pattern1D read_pattern_pdh(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path, fs::exists(path) ? "cannot open" : "file not found");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  if (lines.size() < 5)
    throw InputError(path, fmt::format("PDH: {} lines, the header alone has 5", lines.size()));
  long n = -1;
  {
    std::istringstream ss(lines[2]);
    if (!(ss >> n) || n <= 0)
      throw InputError(
          path, "PDH line 3: expected the number of points as its first integer, found '" + lines[2] + "'");
  }
  if (static_cast<long>(lines.size()) < 5 + n)
    throw InputError(path, fmt::format("PDH: header promises {} points, the file has {} lines after it", n,
                                       lines.size() - 5));
  Pattern1D p;
  p.unit = RadialUnit::QInvNm;
  for (long k = 0; k < n; ++k) {
    const auto& line = lines[5 + k];
    std::istringstream ss(line);
    double q = 0, i = 0, s = 0;
    if (!(ss >> q >> i))
      throw InputError(path, fmt::format("PDH line {}: expected q I σ, found '{}'", 6 + k, line));
    if (!(ss >> s)) s = 0;
    if (!std::isfinite(q)) throw InputError(path, fmt::format("PDH line {}: q is not finite", 6 + k));
    if (s < 0 || std::isnan(s)) throw InputError(path, fmt::format("PDH line {}: negative or NaN σ", 6 + k));
    p.x.push_back(q);
    p.intensity.push_back(i);
    p.sigma.push_back(s);
  }
  // The XML footer: <column key="X"> <value key="unit">n_m^-1</value>.
  for (std::size_t k = 5 + n; k < lines.size(); ++k) {
    if (lines[k].find("<column key=\"X\"") == std::string::npos) continue;
    for (std::size_t j = k + 1; j < lines.size() && j < k + 6; ++j) {
      const auto at = lines[j].find("key=\"unit\">");
      if (at == std::string::npos) continue;
      const auto start = at + 11, end = lines[j].find('<', start);
      const std::string unit =
          lines[j].substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (unit == "n_m^-1" || unit == "1/nm")
        p.unit = RadialUnit::QInvNm;
      else if (unit == "a^-1" || unit == "A^-1" || unit == "1/A")
        p.unit = RadialUnit::QInvA;
      else
        throw InputError(path,
                         fmt::format("PDH footer line {}: q unit '{}' is not nm^-1 or A^-1", j + 1, unit));
      break;
    }
    break;
  }
  return p;
}

Pattern1D read_pattern_text(const std::string& path, std::optional<RadialUnit> fallback_unit) {
  if (lower(fs::path(path).extension().string()) == ".pdh") return read_pattern_pdh(path);
  std::ifstream in(path);
  if (!in) throw InputError(path, fs::exists(path) ? "cannot open" : "file not found");
  Pattern1D p;
  std::optional<RadialUnit> unit;
  std::string line;
  std::size_t lineno = 0;
  bool chi_header = lower(fs::path(path).extension().string()) == ".chi";
  std::size_t columns = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    if (line[first] == '#' || line[first] == '!' || (chi_header && lineno <= 4)) {
      if (!unit) unit = unit_in_text(line);
      continue;
    }
    std::istringstream ss(line);
    std::vector<double> v;
    std::string tok;
    while (ss >> tok) {
      char* end = nullptr;
      const double d = std::strtod(tok.c_str(), &end);
      if (end == tok.c_str() || *end != '\0') {
        if (p.x.empty() && v.empty()) {  // a column-name line without '#'
          if (!unit) unit = unit_in_text(line);
          v.clear();
          goto next_line;
        }
        throw InputError(path, fmt::format("line {}: '{}' is not a number", lineno, tok));
      }
      v.push_back(d);
    }
    if (v.size() < 2)
      throw InputError(
          path, fmt::format("line {}: expected x and I (and σ), found {} column(s)", lineno, v.size()));
    if (columns == 0) columns = std::min<std::size_t>(v.size(), 3);
    if (std::min<std::size_t>(v.size(), 3) != columns)
      throw InputError(
          path, fmt::format("line {}: {} columns where earlier lines have {}", lineno, v.size(), columns));
    if (!std::isfinite(v[0])) throw InputError(path, fmt::format("line {}: x is not finite", lineno));
    p.x.push_back(v[0]);
    p.intensity.push_back(v[1]);
    if (columns == 3) {
      if (v[2] < 0 || std::isnan(v[2]))
        throw InputError(path, fmt::format("line {}: negative or NaN sigma", lineno));
      p.sigma.push_back(v[2]);
    }
  next_line:;
  }
  if (p.x.empty()) throw InputError(path, "no data rows");
  if (unit)
    p.unit = *unit;
  else if (fallback_unit)
    p.unit = *fallback_unit;
  else
    throw InputError(path, "the x unit is not named in the header: give it (q_nm^-1, q_A^-1, 2th_deg)");
  return p;
}

// ---------------------------------------------------------------- HDF5 stack

struct PatternStackWriter::Impl {
  std::string path, tmp;
  std::string group;
  std::size_t npt = 0;   // values per frame
  std::size_t nchi = 0;  // cakes: χ bins (rows of each frame)
  std::size_t rows = 0;
  Handle file;
  Handle intensity, errors, frames;
};

PatternStackWriter::PatternStackWriter(const std::string& path, const std::string& name, RadialUnit unit,
                                       const std::vector<double>& x,
                                       const std::vector<std::pair<std::string, std::string>>& provenance,
                                       const std::vector<double>& chi_deg)
    : impl_(std::make_unique<Impl>()) {
  h5::prepare();
  impl_->path = path;
  impl_->tmp = path + ".part";
  impl_->nchi = chi_deg.size();
  impl_->npt = x.size() * std::max<std::size_t>(1, chi_deg.size());
  impl_->group = "/entry/" + name;
  if (x.empty()) throw InputError(path, "a pattern stack needs at least one bin");
  impl_->file = Handle(h5::check(H5Fcreate(impl_->tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path,
                                 "cannot create file"));
  const hid_t f = impl_->file.get();
  h5::write_string_attribute(f, "default", "entry");
  Handle entry(h5::ensure_group(f, "/entry"));
  h5::write_string_attribute(entry.get(), "NX_class", "NXentry");
  h5::write_string_attribute(entry.get(), "default", name);
  if (!provenance.empty()) {
    Handle proc(h5::ensure_group(f, "/entry/process"));
    h5::write_string_attribute(proc.get(), "NX_class", "NXprocess");
    for (const auto& [k, v] : provenance) h5::write_string(proc.get(), k, v);
  }
  Handle g(h5::ensure_group(f, impl_->group));
  nx::tag_pattern_stack(g.get(), unit, x, chi_deg, path);
  auto make2d = [&](const char* dname) {
    const int rank = impl_->nchi ? 3 : 2;
    hsize_t dims[3] = {0, impl_->nchi ? impl_->nchi : x.size(), x.size()};
    hsize_t maxd[3] = {H5S_UNLIMITED, dims[1], dims[2]};
    hsize_t chunk[3] = {1, dims[1], dims[2]};
    Handle space(H5Screate_simple(rank, dims, maxd));
    Handle dcpl(H5Pcopy(h5::untimed_dataset_plist()));
    H5Pset_chunk(dcpl.get(), rank, chunk);
    H5Pset_deflate(dcpl.get(), 2);
    return Handle(h5::check(
        H5Dcreate2(g.get(), dname, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), path,
        std::string("cannot create ") + dname));
  };
  impl_->intensity = make2d("I");
  impl_->errors = make2d("I_errors");
  hsize_t dims[1] = {0}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {256};
  Handle space(H5Screate_simple(1, dims, maxd));
  Handle dcpl(H5Pcopy(h5::untimed_dataset_plist()));
  H5Pset_chunk(dcpl.get(), 1, chunk);
  impl_->frames = Handle(h5::check(
      H5Dcreate2(g.get(), "frame_index", H5T_STD_I64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      path, "cannot create frame_index"));
  nx::tag_stack_fields(g.get(), "arbitrary");
}

PatternStackWriter::~PatternStackWriter() {
  try {
    close();
  } catch (...) {
  }
}

void PatternStackWriter::append(std::size_t frame_index, const Pattern1D& p) {
  if (impl_->nchi) throw InputError(impl_->path, "this stack holds cakes: use append_cake");
  append_cake(frame_index, p.intensity, p.sigma);
}

void PatternStackWriter::append_cake(std::size_t frame_index, const std::vector<double>& intensity,
                                     const std::vector<double>& sigma) {
  if (!impl_->file) throw InputError(impl_->path, "pattern stack already closed");
  if (intensity.size() != impl_->npt)
    throw InputError(impl_->path,
                     fmt::format("pattern has {} values, the stack {}", intensity.size(), impl_->npt));
  h5::prepare();
  const hsize_t k = impl_->rows;
  auto write_row = [&](const Handle& ds, const std::vector<double>& v) {
    Handle space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    hsize_t dims[3] = {};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    dims[0] = k + 1;
    H5Dset_extent(ds.get(), dims);
    Handle fs(H5Dget_space(ds.get()));
    hsize_t start[3] = {k, 0, 0}, count[3] = {1, dims[1], rank == 3 ? dims[2] : 1};
    H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    Handle ms(H5Screate_simple(rank, count, nullptr));
    h5::check_status(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, ms.get(), fs.get(), H5P_DEFAULT, v.data()),
                     impl_->path, "cannot write pattern");
  };
  write_row(impl_->intensity, intensity);
  write_row(impl_->errors, sigma.size() == impl_->npt ? sigma : std::vector<double>(impl_->npt, NAN));
  hsize_t dims[1] = {k + 1};
  H5Dset_extent(impl_->frames.get(), dims);
  Handle fs(H5Dget_space(impl_->frames.get()));
  hsize_t start[1] = {k}, count[1] = {1};
  H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle ms(H5Screate_simple(1, count, nullptr));
  const std::int64_t idx = static_cast<std::int64_t>(frame_index);
  H5Dwrite(impl_->frames.get(), H5T_NATIVE_INT64, ms.get(), fs.get(), H5P_DEFAULT, &idx);
  ++impl_->rows;
}

void PatternStackWriter::close() {
  if (!impl_ || !impl_->file) return;
  impl_->intensity.reset();
  impl_->errors.reset();
  impl_->frames.reset();
  H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL);
  impl_->file.reset();
  nx::rename_into_place(impl_->tmp, impl_->path);  // complete files only, never a half-written one
}

std::size_t pattern_stack_size(const std::string& path, const std::string& name) {
  h5::prepare();
  Handle f(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open"));
  const std::string ds_path = "/entry/" + name + "/I";
  if (!h5::is_dataset(f.get(), ds_path)) throw InputError(path, "no pattern stack " + ds_path);
  Handle ds(H5Dopen2(f.get(), ds_path.c_str(), H5P_DEFAULT));
  Handle sp(H5Dget_space(ds.get()));
  hsize_t dims[2] = {};
  H5Sget_simple_extent_dims(sp.get(), dims, nullptr);
  return dims[0];
}

std::vector<std::size_t> pattern_stack_frame_index(const std::string& path, const std::string& name) {
  h5::prepare();
  Handle f(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open"));
  const std::string ds_path = "/entry/" + name + "/frame_index";
  std::vector<std::size_t> out;
  if (!h5::is_dataset(f.get(), ds_path)) return out;
  Handle ds(H5Dopen2(f.get(), ds_path.c_str(), H5P_DEFAULT));
  Handle sp(H5Dget_space(ds.get()));
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(sp.get()));
  std::vector<long long> v(n);
  if (n > 0 && H5Dread(ds.get(), H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    throw InputError(path, ds_path + ": cannot read");
  for (long long x : v) out.push_back(static_cast<std::size_t>(std::max(0LL, x)));
  return out;
}

std::string pattern_stack_process_text(const std::string& path, const std::string& key) {
  h5::prepare();
  Handle f(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open"));
  return h5::read_string(f.get(), "/entry/process/" + key);
}

Pattern1D read_pattern_stack(const std::string& path, const std::string& name, std::size_t k) {
  h5::prepare();
  Handle f(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "cannot open"));
  const std::string g = "/entry/" + name;
  if (!h5::is_group(f.get(), g)) throw InputError(path, "no pattern stack " + g);
  Handle grp(H5Gopen2(f.get(), g.c_str(), H5P_DEFAULT));
  Pattern1D p;
  std::string axis;
  for (const char* a : {"q", "two_theta", "d_spacing", "r"})
    if (h5::is_dataset(grp.get(), a)) axis = a;
  if (axis.empty()) throw InputError(path, g + " has no radial axis");
  Handle ax(H5Dopen2(grp.get(), axis.c_str(), H5P_DEFAULT));
  const std::string units = h5::read_string_attribute(ax.get(), "units");
  const std::string long_name = h5::read_string_attribute(ax.get(), "long_name");
  p.unit = parse_radial_unit(long_name.empty() ? units : long_name);
  Handle axs(H5Dget_space(ax.get()));
  const auto npt = static_cast<std::size_t>(H5Sget_simple_extent_npoints(axs.get()));
  p.x.resize(npt);
  H5Dread(ax.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.x.data());
  auto read_row = [&](const char* dname, std::vector<double>& out) {
    Handle ds(H5Dopen2(grp.get(), dname, H5P_DEFAULT));
    Handle fs(H5Dget_space(ds.get()));
    hsize_t dims[2] = {};
    H5Sget_simple_extent_dims(fs.get(), dims, nullptr);
    if (k >= dims[0]) throw InputError(path, fmt::format("{} holds {} patterns; {} asked", g, dims[0], k));
    hsize_t start[2] = {k, 0}, count[2] = {1, npt};
    H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    Handle ms(H5Screate_simple(2, count, nullptr));
    out.resize(npt);
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, ms.get(), fs.get(), H5P_DEFAULT, out.data()), path,
                     std::string("cannot read ") + dname);
  };
  read_row("I", p.intensity);
  read_row("I_errors", p.sigma);
  if (!p.sigma.empty() && std::isnan(p.sigma.front())) p.sigma.clear();
  return p;
}

}  // namespace anvil::io
