#include "test_support.hpp"

#include <cstdlib>

namespace anvil::test {

std::filesystem::path reference_dir() {
  if (const char* env = std::getenv("ANVIL_REFERENCE_DIR"); env && *env) return env;
  return ANVIL_REFERENCE_DIR;
}

std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "anvil-tests" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace anvil::test
