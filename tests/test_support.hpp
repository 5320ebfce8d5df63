// Helpers shared by the test suites: where the reference data is, scratch folders.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace anvil::test {

// ../shared/reference, next to the repository (override with ANVIL_REFERENCE_DIR in the environment).
std::filesystem::path reference_dir();

// A fresh, empty scratch folder for this test, removed at the next call with the same name.
std::filesystem::path scratch_dir(const std::string& name);

// scratch_dir("<prefix>_<name of the running test>").
std::filesystem::path scratch_for_test(const std::string& prefix);

// A whole file as bytes ("" when it cannot be read: the assertions that follow say what is missing).
std::string slurp(const std::filesystem::path& path);

}  // namespace anvil::test

// Binds `var` to reference_dir()/rel, or skips the test with a message naming the missing file.
#define ANVIL_REFERENCE_FILE(var, rel)                                         \
  const std::filesystem::path var = ::anvil::test::reference_dir() / (rel);    \
  if (!std::filesystem::exists(var)) {                                         \
    GTEST_SKIP() << "reference file missing: " << var.string()                 \
                 << " (tests need ../shared/reference beside the repository)"; \
  }
