// Internal: RAII handles and error messages for the HDF5 C API (used by lib/io only).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace anvil::io::h5 {

// Owns an hid_t and closes it with the right H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns off HDF5's printing of error stacks for this thread and makes sure the system's
// filter-plugin folder (bitshuffle, LZ4) is searched. Call before any HDF5 use.
void prepare();

// Creation property lists without object timestamps, so that the same input always gives a
// byte-identical file (HDF5 records creation times by default). Shared, never close them.
hid_t untimed_dataset_plist();
hid_t untimed_group_plist();

// The innermost messages of the current thread's HDF5 error stack, e.g.
// "required filter 'bitshuffle' is not registered".
std::string error_text();

// Throws InputError(source, what + ": " + error_text()) when id < 0.
hid_t check(hid_t id, const std::string& source, const std::string& what);
void check_status(herr_t status, const std::string& source, const std::string& what);

bool link_exists(hid_t loc, const std::string& path);  // every component checked
bool is_dataset(hid_t loc, const std::string& path);
bool is_group(hid_t loc, const std::string& path);

// Scalar numeric dataset (or 1-element array) as double; false if absent or not numeric.
bool read_scalar(hid_t loc, const std::string& path, double& value, std::string* units = nullptr);
// String dataset or attribute (fixed or variable length); empty if absent.
std::string read_string(hid_t loc, const std::string& path);
std::string read_string_attribute(hid_t obj, const std::string& name);

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_string_array_attribute(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void write_scalar(hid_t loc, const std::string& path, double value, const std::string& units);
void write_string(hid_t loc, const std::string& path, const std::string& value);
void write_int_attribute(hid_t obj, const std::string& name, std::int64_t value);
// Creates every missing group along `path` and returns the last one, open.
hid_t ensure_group(hid_t file, const std::string& path);

}  // namespace anvil::io::h5
