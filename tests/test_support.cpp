#include "test_support.hpp"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace anvil::test {

std::filesystem::path reference_dir() {
  if (const char* env = std::getenv("ANVIL_REFERENCE_DIR"); env && *env) return env;
  return ANVIL_REFERENCE_DIR;
}

std::filesystem::path scratch_for_test(const std::string& prefix) {
  return scratch_dir(prefix + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path scratch_dir(const std::string& name) {
  // One root per build tree: the suites of two builds (Release and ASan) may run at once.
#ifdef ANVIL_BINARY_DIR
  const std::string tree = std::to_string(std::hash<std::string>{}(ANVIL_BINARY_DIR) % 1000000007u);
#else
  const std::string tree = "default";
#endif
  auto dir = std::filesystem::temp_directory_path() / "anvil-tests" / tree / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace anvil::test
