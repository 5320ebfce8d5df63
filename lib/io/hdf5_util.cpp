#include "io/hdf5_util.hpp"

#include <cstring>
#include <mutex>
#include <sstream>

namespace anvil::io::h5 {

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

void prepare() {
  // Error-stack printing is a per-thread setting in a thread-safe HDF5.
  thread_local bool quiet = false;
  if (!quiet) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    quiet = true;
  }
  static std::once_flag plugin_once;
  std::call_once(plugin_once, [] {
#ifdef ANVIL_HDF5_PLUGIN_DIR
    // HDF5 already searches HDF5_PLUGIN_PATH and its built-in folder; add the folder the
    // build found Debian's plugins in, in case neither points there.
    unsigned n = 0;
    H5PLsize(&n);
    bool present = false;
    for (unsigned i = 0; i < n; ++i) {
      char buf[4096] = {};
      if (H5PLget(i, buf, sizeof buf) > 0 && std::string(buf) == ANVIL_HDF5_PLUGIN_DIR) present = true;
    }
    if (!present) H5PLappend(ANVIL_HDF5_PLUGIN_DIR);
#endif
  });
}

hid_t untimed_dataset_plist() {
  static const hid_t plist = [] {
    const hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(p, 0);
    return p;
  }();
  return plist;
}

hid_t untimed_group_plist() {
  static const hid_t plist = [] {
    const hid_t p = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(p, 0);
    return p;
  }();
  return plist;
}

std::string error_text() {
  std::vector<std::string> messages;
  auto walker = [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
    auto* out = static_cast<std::vector<std::string>*>(data);
    if (err->desc && *err->desc) out->emplace_back(err->desc);
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walker, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "HDF5 error";
  // Innermost first; keep three distinct messages.
  std::ostringstream os;
  int kept = 0;
  std::string last;
  for (const auto& m : messages) {
    if (m == last) continue;
    if (kept) os << "; ";
    os << m;
    last = m;
    if (++kept == 3) break;
  }
  return os.str();
}

hid_t check(hid_t id, const std::string& source, const std::string& what) {
  if (id < 0) throw InputError(source, what + ": " + error_text());
  return id;
}

void check_status(herr_t status, const std::string& source, const std::string& what) {
  if (status < 0) throw InputError(source, what + ": " + error_text());
}

bool link_exists(hid_t loc, const std::string& path) {
  if (path.empty()) return false;
  std::string partial;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const auto next = path.find('/', pos);
    const std::string part = path.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (!part.empty()) {
      partial += (partial.empty() && path[0] != '/') ? part : "/" + part;
      const htri_t e = H5Lexists(loc, partial.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return true;
}

namespace {
H5O_type_t object_type(hid_t loc, const std::string& path) {
  if (!link_exists(loc, path)) return H5O_TYPE_UNKNOWN;
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, path.c_str(), &info, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5O_TYPE_UNKNOWN;
  }
  return info.type;
}
}  // namespace

bool is_dataset(hid_t loc, const std::string& path) { return object_type(loc, path) == H5O_TYPE_DATASET; }
bool is_group(hid_t loc, const std::string& path) { return object_type(loc, path) == H5O_TYPE_GROUP; }

bool read_scalar(hid_t loc, const std::string& path, double& value, std::string* units) {
  if (!is_dataset(loc, path)) return false;
  Handle ds(H5Dopen2(loc, path.c_str(), H5P_DEFAULT));
  if (!ds) return false;
  Handle type(H5Dget_type(ds.get()));
  const auto cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) return false;
  Handle space(H5Dget_space(ds.get()));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 1) return false;
  std::vector<double> buf(static_cast<std::size_t>(n));
  if (H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  value = buf.front();
  if (units) *units = read_string_attribute(ds.get(), "units");
  return true;
}

namespace {
std::string read_string_from(hid_t obj, bool attribute) {
  Handle type(attribute ? H5Aget_type(obj) : H5Dget_type(obj));
  if (!type || H5Tget_class(type.get()) != H5T_STRING) return {};
  Handle space(attribute ? H5Aget_space(obj) : H5Dget_space(obj));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 1) return {};
  std::string out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    const herr_t st = attribute ? H5Aread(obj, mem.get(), ptrs.data())
                                : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
    if (st >= 0 && ptrs[0]) out = ptrs[0];
    if (st >= 0) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    // One byte more than stored: the memory type is null-terminated, the file's may be null-padded.
    const std::size_t size = H5Tget_size(type.get()) + 1;
    std::vector<char> buf(size * static_cast<std::size_t>(n) + 1, '\0');
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), size);
    const herr_t st = attribute ? H5Aread(obj, mem.get(), buf.data())
                                : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    if (st >= 0) out.assign(buf.data(), strnlen(buf.data(), size));
  }
  H5Eclear2(H5E_DEFAULT);
  while (!out.empty() && (out.back() == ' ' || out.back() == '\0')) out.pop_back();
  return out;
}
}  // namespace

std::string read_string(hid_t loc, const std::string& path) {
  if (!is_dataset(loc, path)) return {};
  Handle ds(H5Dopen2(loc, path.c_str(), H5P_DEFAULT));
  if (!ds) return {};
  return read_string_from(ds.get(), false);
}

std::string read_string_attribute(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return {};
  }
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!attr) return {};
  return read_string_from(attr.get(), true);
}

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space(H5Screate(H5S_SCALAR));
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), name,
                    "cannot create attribute"));
  H5Awrite(attr.get(), type.get(), value.empty() ? "" : value.c_str());
}

void write_string_array_attribute(hid_t obj, const std::string& name,
                                  const std::vector<std::string>& values) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  hsize_t dims[1] = {values.size()};
  Handle space(H5Screate_simple(1, dims, nullptr));
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle attr(check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), name,
                    "cannot create attribute"));
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  H5Awrite(attr.get(), type.get(), ptrs.data());
}

void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle attr(check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), name,
                    "cannot create attribute"));
  H5Awrite(attr.get(), H5T_NATIVE_INT64, &value);
}

void write_scalar(hid_t loc, const std::string& path, double value, const std::string& units) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle ds(check(H5Dcreate2(loc, path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                             untimed_dataset_plist(), H5P_DEFAULT),
                  path, "cannot create dataset"));
  H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
  if (!units.empty()) write_string_attribute(ds.get(), "units", units);
}

void write_string(hid_t loc, const std::string& path, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  Handle space(H5Screate(H5S_SCALAR));
  Handle ds(check(H5Dcreate2(loc, path.c_str(), type.get(), space.get(), H5P_DEFAULT, untimed_dataset_plist(),
                             H5P_DEFAULT),
                  path, "cannot create dataset"));
  H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.empty() ? "" : value.c_str());
}

hid_t ensure_group(hid_t file, const std::string& path) {
  std::string partial;
  std::size_t pos = 1;
  hid_t last = H5I_INVALID_HID;
  while (pos <= path.size()) {
    const auto next = path.find('/', pos);
    partial = path.substr(0, next);
    if (!link_exists(file, partial)) {
      Handle g(check(H5Gcreate2(file, partial.c_str(), H5P_DEFAULT, untimed_group_plist(), H5P_DEFAULT),
                     partial, "cannot create group"));
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  last = check(H5Gopen2(file, path.c_str(), H5P_DEFAULT), path, "cannot open group");
  return last;
}

}  // namespace anvil::io::h5
