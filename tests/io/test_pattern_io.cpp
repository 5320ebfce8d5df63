// Integrated patterns on disk: pyFAI-style text and one NeXus file per scan.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/pattern_io.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace anvil;
using namespace anvil::io;

namespace {
fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

Pattern1D sample(RadialUnit u) {
  Pattern1D p;
  p.unit = u;
  for (int i = 0; i < 50; ++i) {
    p.x.push_back(1.0 + 0.1234567891 * i);
    p.intensity.push_back(1000.0 / (1 + i) + 0.5);
    p.sigma.push_back(std::sqrt(p.intensity.back()));
  }
  return p;
}
}  // namespace

TEST(PatternText, XyeAndChiRoundTripWithTheirUnit) {
  const auto dir = scratch();
  for (auto u : {RadialUnit::QInvNm, RadialUnit::QInvA, RadialUnit::TwoThetaDeg}) {
    for (const char* ext : {".xye", ".chi", ".dat"}) {
      SCOPED_TRACE(std::string(unit_name(u)) + ext);
      const auto p = sample(u);
      const auto path = (dir / (std::string("p") + ext)).string();
      write_pattern_text(path, p, {"anvil test", "wavelength 0.4859 A"});
      const auto back = read_pattern_text(path);
      EXPECT_EQ(back.unit, u);
      ASSERT_EQ(back.x.size(), p.x.size());
      for (std::size_t i = 0; i < p.x.size(); ++i) {
        EXPECT_NEAR(back.x[i], p.x[i], 1e-8 * p.x[i]);
        EXPECT_NEAR(back.intensity[i], p.intensity[i], 1e-8 * p.intensity[i]);
      }
      if (std::string(ext) != ".chi") EXPECT_EQ(back.sigma.size(), p.sigma.size());
    }
  }
}

TEST(PatternText, UnitMustBeKnownAndBadRowsAreNamed) {
  const auto dir = scratch();
  std::ofstream(dir / "plain.xy") << "1 10\n2 20\n";
  EXPECT_THROW(read_pattern_text((dir / "plain.xy").string()), InputError);
  EXPECT_EQ(read_pattern_text((dir / "plain.xy").string(), RadialUnit::TwoThetaDeg).unit,
            RadialUnit::TwoThetaDeg);
  std::ofstream(dir / "nan.xye") << "# 2th_deg I sigma\n1 10 1\n2 20 nan\n";
  try {
    read_pattern_text((dir / "nan.xye").string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "ragged.xy") << "# q_nm^-1\n1 10 1\n2 20\n";
  EXPECT_THROW(read_pattern_text((dir / "ragged.xy").string()), InputError);
  EXPECT_THROW(read_pattern_text((dir / "absent.xy").string()), InputError);
}

TEST(PatternStack, EveryFrameComesBackFromOneNexusFile) {
  const auto dir = scratch();
  const auto path = (dir / "integrated.h5").string();
  const auto p0 = sample(RadialUnit::QInvNm);
  auto p1 = p0;
  for (auto& v : p1.intensity) v *= 2;
  {
    PatternStackWriter w(path, "waxs", RadialUnit::QInvNm, p0.x, {{"program", "anvil test"}});
    w.append(0, p0);
    w.append(1, p1);
    EXPECT_FALSE(fs::exists(path));  // written under a temporary name until complete
  }
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(pattern_stack_size(path, "waxs"), 2u);
  const auto back = read_pattern_stack(path, "waxs", 1);
  EXPECT_EQ(back.unit, RadialUnit::QInvNm);
  EXPECT_EQ(back.x, p0.x);
  EXPECT_EQ(back.intensity, p1.intensity);
  EXPECT_EQ(back.sigma, p0.sigma);
  EXPECT_THROW(read_pattern_stack(path, "waxs", 2), InputError);
  EXPECT_THROW(read_pattern_stack(path, "saxs", 0), InputError);
}
