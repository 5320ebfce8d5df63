#include "io/nexus.hpp"

#include <fmt/core.h>

#include "core/error.hpp"
#include "io/hdf5_util.hpp"

namespace anvil::io::nx {

using h5::Handle;

void rename_into_place(const std::filesystem::path& tmp, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw InputError(path.string(), "cannot write: " + why);
  }
}

void tag_pattern_stack(hid_t g, RadialUnit unit, const std::vector<double>& x,
                       const std::vector<double>& chi_deg, const std::string& origin) {
  h5::write_string_attribute(g, "NX_class", "NXdata");
  h5::write_string_attribute(g, "signal", "I");
  const std::string radial = axis_name(unit);
  h5::write_int_attribute(g, "frame_index_indices", 0);
  if (chi_deg.empty()) {
    h5::write_string_attribute(g, "interpretation", "spectrum");
    h5::write_string_array_attribute(g, "axes", {"frame_index", radial});
    h5::write_int_attribute(g, radial + "_indices", 1);
  } else {
    h5::write_string_attribute(g, "interpretation", "image");
    h5::write_string_array_attribute(g, "axes", {"frame_index", "chi", radial});
    h5::write_int_attribute(g, "chi_indices", 1);
    h5::write_int_attribute(g, radial + "_indices", 2);
    write_1d(g, "chi", chi_deg, "degree", origin);
    Handle c(H5Dopen2(g, "chi", H5P_DEFAULT));
    h5::write_string_attribute(c.get(), "long_name", "chi (degree)");
  }
  write_1d(g, radial, x, nexus_units(unit), origin);
  Handle ax(H5Dopen2(g, radial.c_str(), H5P_DEFAULT));
  h5::write_string_attribute(ax.get(), "long_name", unit_name(unit));
}

void tag_stack_fields(hid_t g, const std::string& intensity_units) {
  for (const char* name : {"frame_index", "I", "I_errors"}) {
    if (!h5::is_dataset(g, name)) continue;
    Handle ds(H5Dopen2(g, name, H5P_DEFAULT));
    h5::write_string_attribute(ds.get(), "units", name[0] == 'f' ? "1" : intensity_units);
  }
}

void write_1d(hid_t loc, const std::string& name, const std::vector<double>& v, const std::string& units,
              const std::string& origin) {
  hsize_t dims[1] = {v.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  Handle ds(h5::check(H5Dcreate2(loc, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                 h5::untimed_dataset_plist(), H5P_DEFAULT),
                      origin, "cannot create " + name));
  if (!v.empty())
    h5::check_status(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), origin,
                     "cannot write " + name);
  if (!units.empty()) h5::write_string_attribute(ds.get(), "units", units);
}

namespace {

void write_text(hid_t loc, const NxField& f, const std::string& origin) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  hsize_t dims[1] = {f.strings.size()};
  Handle space(f.scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr));
  Handle ds(h5::check(H5Dcreate2(loc, f.name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                 h5::untimed_dataset_plist(), H5P_DEFAULT),
                      origin, "cannot create " + f.name));
  std::vector<const char*> ptrs;
  for (const auto& s : f.strings) ptrs.push_back(s.c_str());
  if (f.scalar && ptrs.empty()) ptrs.push_back("");
  if (!ptrs.empty())
    h5::check_status(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), origin,
                     "cannot write " + f.name);
}

}  // namespace

void write_group(hid_t parent, const NxGroup& g, const std::string& origin) {
  Handle grp(
      h5::check(H5Gcreate2(parent, g.name.c_str(), H5P_DEFAULT, h5::untimed_group_plist(), H5P_DEFAULT),
                origin, "cannot create group " + g.name));
  write_group_contents(grp.get(), g, origin);
}

void write_group_contents(hid_t id, const NxGroup& g, const std::string& origin) {
  if (!g.nx_class.empty()) h5::write_string_attribute(id, "NX_class", g.nx_class);
  for (const auto& [k, v] : g.attributes) h5::write_string_attribute(id, k, v);
  for (const auto& [k, v] : g.array_attributes) h5::write_string_array_attribute(id, k, v);
  for (const auto& [k, v] : g.int_attributes) h5::write_int_attribute(id, k, v);
  for (const auto& f : g.fields) {
    if (f.text || !f.strings.empty()) {
      write_text(id, f, origin);
    } else if (f.scalar) {
      if (f.numbers.size() != 1)
        throw InputError(
            origin, fmt::format("{}/{}: a scalar needs one value, has {}", g.name, f.name, f.numbers.size()));
      h5::write_scalar(id, f.name, f.numbers.front(), f.units);
    } else {
      write_1d(id, f.name, f.numbers, f.units, origin);
    }
    if (!f.attributes.empty()) {
      Handle ds(H5Dopen2(id, f.name.c_str(), H5P_DEFAULT));
      for (const auto& [k, v] : f.attributes) h5::write_string_attribute(ds.get(), k, v);
    }
  }
  for (const auto& sub : g.groups) write_group(id, sub, origin);
}

}  // namespace anvil::io::nx
