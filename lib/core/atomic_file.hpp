// Text files read whole, and written whole or not at all: to a temporary name of this process's own
// ("<path>.part<pid>", so processes sharing a folder never collide), then renamed.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.hpp"

namespace anvil {

// The whole file as bytes; "" when it cannot be opened (the caller says what was expected there).
inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// InputError(path, "cannot create|write <what>...") on failure; no partial file is left.
inline void write_text_atomically(const std::filesystem::path& path, std::string_view text,
                                  const std::string& what = "the file") {
  std::filesystem::path tmp = path;
  tmp += ".part" + std::to_string(static_cast<long>(::getpid()));
  std::error_code ec;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path.string(), "cannot create " + what);
    out << text;
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp, ec);
      throw InputError(path.string(), "cannot write " + what + " (disk full?)");
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw InputError(path.string(), "cannot write " + what + ": " + ec.message());
  }
}

}  // namespace anvil
