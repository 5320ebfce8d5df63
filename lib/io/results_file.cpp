#include "io/results_file.hpp"

#include <fmt/core.h>
#include <fmt/os.h>
#include <unistd.h>

#include <atomic>
#include <cmath>

#include "core/error.hpp"
#include "io/hdf5_util.hpp"
#include "io/nexus.hpp"

namespace anvil::io {

namespace fs = std::filesystem;
using h5::Handle;

namespace {

void write_2d(hid_t loc, const std::string& name, const std::vector<std::vector<double>>& rows,
              std::size_t cols, const std::string& origin) {
  hsize_t dims[2] = {rows.size(), cols};
  Handle space(H5Screate_simple(2, dims, nullptr));
  Handle dcpl(H5Pcopy(h5::untimed_dataset_plist()));
  if (!rows.empty() && cols > 0) {
    hsize_t chunk[2] = {1, cols};
    H5Pset_chunk(dcpl.get(), 2, chunk);
    H5Pset_deflate(dcpl.get(), 2);
  }
  Handle ds(h5::check(
      H5Dcreate2(loc, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      origin, "cannot create " + name));
  std::vector<double> flat;
  flat.reserve(rows.size() * cols);
  for (const auto& r : rows) {
    if (r.size() != cols)
      throw InputError(origin, fmt::format("{}: a row has {} values, expected {}", name, r.size(), cols));
    flat.insert(flat.end(), r.begin(), r.end());
  }
  if (!flat.empty()) H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat.data());
}

}  // namespace

void write_results_file(const fs::path& path, const ResultsContent& c) {
  h5::prepare();
  const std::string origin = path.string();
  const fs::path tmp = fs::path(path).concat(".part");
  {
    Handle file(
        h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), origin, "cannot create"));
    const hid_t f = file.get();
    h5::write_string_attribute(f, "default", "entry");
    h5::write_string_attribute(f, "creator", "anvil " ANVIL_VERSION);
    Handle entry(h5::ensure_group(f, "/entry"));
    h5::write_string_attribute(entry.get(), "NX_class", "NXentry");
    if (!c.default_group.empty()) h5::write_string_attribute(entry.get(), "default", c.default_group);
    for (const auto& p : c.patterns) {
      Handle g(h5::ensure_group(f, "/entry/" + p.name));
      nx::tag_pattern_stack(g.get(), p.unit, p.x, {}, origin);
      {
        hsize_t dims[1] = {p.frame_index.size()};
        Handle space(H5Screate_simple(1, dims, nullptr));
        Handle ds(h5::check(H5Dcreate2(g.get(), "frame_index", H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                       h5::untimed_dataset_plist(), H5P_DEFAULT),
                            origin, "cannot create frame_index"));
        if (!p.frame_index.empty())
          H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.frame_index.data());
      }
      if (!p.pressure_gpa.empty()) {  // a second axis of the frames: plot against pressure
        nx::write_1d(g.get(), "pressure", p.pressure_gpa, "GPa", origin);
        h5::write_int_attribute(g.get(), "pressure_indices", 0);
      }
      write_2d(g.get(), "I", p.intensity, p.x.size(), origin);
      if (!p.sigma.empty()) write_2d(g.get(), "I_errors", p.sigma, p.x.size(), origin);
      nx::tag_stack_fields(g.get(), p.intensity_units);
    }
    nx::write_group_contents(entry.get(), c.entry, origin);
    if (!c.provenance.empty()) {
      Handle g(h5::ensure_group(f, "/entry/process"));
      h5::write_string_attribute(g.get(), "NX_class", "NXprocess");
      for (const auto& [k, v] : c.provenance) h5::write_string(g.get(), k, v);
    }
    H5Fflush(f, H5F_SCOPE_GLOBAL);
  }
  nx::rename_into_place(tmp, path);
}

void write_csv(const fs::path& path, const std::vector<TableColumn>& columns) {
  std::size_t rows = 0;
  for (const auto& c : columns) rows = std::max(rows, std::max(c.numbers.size(), c.strings.size()));
  const fs::path tmp = fs::path(path).concat(".part");
  {
    auto out = fmt::output_file(tmp.string());
    for (std::size_t j = 0; j < columns.size(); ++j) out.print("{}{}", j ? "," : "", columns[j].name);
    out.print("\n");
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t j = 0; j < columns.size(); ++j) {
        const auto& c = columns[j];
        if (j) out.print(",");
        if (!c.strings.empty()) {
          const std::string& s = i < c.strings.size() ? c.strings[i] : std::string();
          if (s.find_first_of(",\"\n") != std::string::npos) {
            std::string q = "\"";
            for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
            out.print("{}\"", q);
          } else {
            out.print("{}", s);
          }
        } else if (i < c.numbers.size() && std::isfinite(c.numbers[i])) {
          out.print("{}", c.numbers[i]);
        }
      }
      out.print("\n");
    }
  }
  nx::rename_into_place(tmp, path);
}

}  // namespace anvil::io

namespace anvil::io {

void write_nxcansas(const fs::path& path, const std::vector<CanSasFrame>& frames, const CanSasRun& run) {
  h5::prepare();
  const std::string origin = path.string();
  const fs::path tmp = fs::path(path).concat(".part");
  // A group of the entry, made and tagged with its NeXus and canSAS classes.
  const auto sas_group = [](hid_t file, const std::string& path, const char* nx_class,
                            const char* cansas_class) {
    Handle g(h5::ensure_group(file, path));
    h5::write_string_attribute(g.get(), "NX_class", nx_class);
    h5::write_string_attribute(g.get(), "canSAS_class", cansas_class);
    return g;
  };
  const auto scalar_if = [](hid_t g, const char* name, double v, const char* units) {
    if (std::isfinite(v)) h5::write_scalar(g, name, v, units);
  };
  {
    Handle file(
        h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), origin, "cannot create"));
    const hid_t f = file.get();
    h5::write_string_attribute(f, "creator", "anvil " ANVIL_VERSION);
    if (!frames.empty())
      h5::write_string_attribute(f, "default", fmt::format("sasentry{:05d}", frames.front().frame));
    for (const auto& fr : frames) {
      const std::string entry = fmt::format("/sasentry{:05d}", fr.frame);
      Handle e = sas_group(f, entry, "NXentry", "SASentry");
      h5::write_string_attribute(e.get(), "version", "1.1");
      h5::write_string_attribute(e.get(), "default", "sasdata");
      h5::write_string(e.get(), "definition", "NXcanSAS");
      h5::write_string(e.get(), "title", fr.title);
      h5::write_string(e.get(), "run", std::to_string(fr.frame));
      Handle d = sas_group(f, entry + "/sasdata", "NXdata", "SASdata");
      h5::write_string_attribute(d.get(), "signal", "I");
      h5::write_string_attribute(d.get(), "I_axes", "Q");
      h5::write_int_attribute(d.get(), "Q_indices", 0);
      nx::write_1d(d.get(), "Q", fr.q_inv_nm, "1/nm", origin);
      nx::write_1d(d.get(), "I", fr.intensity, run.intensity_units, origin);
      {
        Handle ids(H5Dopen2(d.get(), "I", H5P_DEFAULT));
        if (!fr.sigma.empty()) h5::write_string_attribute(ids.get(), "uncertainties", "Idev");
      }
      if (!fr.sigma.empty()) nx::write_1d(d.get(), "Idev", fr.sigma, run.intensity_units, origin);

      Handle sample = sas_group(f, entry + "/sassample", "NXsample", "SASsample");
      h5::write_string(sample.get(), "name", run.sample_name);
      scalar_if(sample.get(), "pressure", fr.pressure_gpa, "GPa");
      scalar_if(sample.get(), "pressure_errors", fr.pressure_esd_gpa, "GPa");
      scalar_if(sample.get(), "thickness", run.thickness_mm, "mm");
      scalar_if(sample.get(), "transmission", fr.transmission, "");
      std::string details = run.sample_details;
      if (!fr.direction.empty()) details += (details.empty() ? "" : "; ") + fr.direction;
      if (!details.empty()) h5::write_string(sample.get(), "details", details);

      sas_group(f, entry + "/sasinstrument", "NXinstrument", "SASinstrument");
      Handle src = sas_group(f, entry + "/sasinstrument/sassource", "NXsource", "SASsource");
      h5::write_string(src.get(), "radiation", run.radiation);
      scalar_if(src.get(), "incident_wavelength", run.wavelength_a, "angstrom");
      Handle det = sas_group(f, entry + "/sasinstrument/sasdetector", "NXdetector", "SASdetector");
      h5::write_string(det.get(), "name", run.detector_name);
      scalar_if(det.get(), "SDD", run.distance_m, "m");
      scalar_if(det.get(), "x_pixel_size", run.pixel_x_m, "m");
      scalar_if(det.get(), "y_pixel_size", run.pixel_y_m, "m");

      Handle proc = sas_group(f, entry + "/sasprocess", "NXprocess", "SASprocess");
      h5::write_string(proc.get(), "name", run.process_name);
      if (!run.process_date.empty()) h5::write_string(proc.get(), "date", run.process_date);
      if (!run.process_description.empty())
        h5::write_string(proc.get(), "description", run.process_description);
      scalar_if(proc.get(), "monitor", fr.monitor, "counts");
      if (!run.process_notes.empty()) {
        Handle note = sas_group(f, entry + "/sasprocess/sasnote", "NXnote", "SASnote");
        for (const auto& [k, v] : run.process_notes) h5::write_string(note.get(), k, v);
      }
    }
    H5Fflush(f, H5F_SCOPE_GLOBAL);
  }
  nx::rename_into_place(tmp, path);
}

void write_array_file(const fs::path& path, const ArrayFile& content) {
  h5::prepare();
  // A name of this process and call: two writers of one file (two runs, two threads) never share
  // a temporary, and the last rename wins with a whole file.
  static std::atomic<unsigned> calls{0};
  const fs::path tmp = path.string() + fmt::format(".tmp{}-{}", static_cast<long>(::getpid()), calls++);
  {
    Handle file(h5::check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp.string(),
                          "cannot create"));
    for (const auto& [name, v] : content.arrays) nx::write_1d(file.get(), name, v, "", tmp.string());
    for (const auto& [name, value] : content.text) h5::write_string_attribute(file.get(), name, value);
  }
  nx::rename_into_place(tmp, path);
}

ArrayFile read_array_file(const fs::path& path) {
  h5::prepare();
  Handle file(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path.string(), "cannot open"));
  ArrayFile out;
  H5G_info_t info;
  h5::check_status(H5Gget_info(file.get(), &info), path.string(), "cannot list");
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    char name[256];
    if (H5Lget_name_by_idx(file.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) <
        0)
      throw InputError(path.string(), "cannot list");
    Handle ds(h5::check(H5Dopen2(file.get(), name, H5P_DEFAULT), path.string(),
                        std::string("cannot open ") + name));
    Handle space(H5Dget_space(ds.get()));
    if (H5Sget_simple_extent_ndims(space.get()) != 1)
      throw InputError(path.string(), std::string(name) + " is not a 1-D array");
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space.get(), &n, nullptr);
    std::vector<double> v(n);
    if (n)
      h5::check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()),
                       path.string(), std::string("cannot read ") + name);
    out.arrays[name] = std::move(v);
  }
  H5O_info_t oinfo;
  h5::check_status(H5Oget_info2(file.get(), &oinfo, H5O_INFO_NUM_ATTRS), path.string(), "cannot inspect");
  for (hsize_t k = 0; k < oinfo.num_attrs; ++k) {
    char name[256];
    if (H5Aget_name_by_idx(file.get(), ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) <
        0)
      throw InputError(path.string(), "cannot list attributes");
    out.text[name] = h5::read_string_attribute(file.get(), name);
  }
  return out;
}

}  // namespace anvil::io
