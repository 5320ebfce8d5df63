// Integrated patterns on disk: pyFAI-style text and one NeXus file per scan.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/pattern_io.hpp"
#include "io/results_file.hpp"
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

// GSAS-II (imports/G2pwd_xye.py) reads a q ".chi" only with the wavelength: in the first four lines,
// one containing "q " whose second word is λ (Å); the x column is then Q in Å⁻¹.
TEST(PatternText, QChiCarriesTheWavelengthAsGsasIIReadsIt) {
  const auto dir = scratch();
  const auto p = sample(RadialUnit::QInvNm);
  const auto path = (dir / "q.chi").string();
  write_pattern_text(path, p, {}, true, 0.4859);
  std::ifstream in(path);
  std::string line;
  double wavelength = 0;
  for (int i = 0; i < 4 && std::getline(in, line); ++i) {
    std::string low = line;
    for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (low.find("q ") == std::string::npos) continue;
    std::istringstream words(line);
    std::string first;
    words >> first >> wavelength;
  }
  EXPECT_DOUBLE_EQ(wavelength, 0.4859);
  const auto back = read_pattern_text(path);
  EXPECT_EQ(back.unit, RadialUnit::QInvA);
  ASSERT_EQ(back.x.size(), p.x.size());
  for (std::size_t i = 0; i < p.x.size(); ++i) EXPECT_NEAR(back.x[i], 0.1 * p.x[i], 1e-8 * p.x[i]);
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

// SAXS patterns as NXcanSAS: one SASentry per frame, Q/I/Idev with the attributes readers need.
TEST(NxCanSas, EveryFrameIsASasEntryWithQIAndIdev) {
  const auto dir = scratch();
  std::vector<CanSasFrame> frames(2);
  for (int k = 0; k < 2; ++k) {
    frames[k].frame = 7 + k;
    frames[k].title = "frame";
    frames[k].q_inv_nm = {0.1, 0.2, 0.3};
    frames[k].intensity = {10.0 + k, 5.0, 2.0};
    frames[k].sigma = {1.0, 0.5, 0.2};
  }
  const auto path = dir / "saxs.h5";
  write_nxcansas(path, frames);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_GT(H5Lexists(f, "/sasentry00008", H5P_DEFAULT), 0);
  const hid_t d = H5Dopen2(f, "/sasentry00008/sasdata/I", H5P_DEFAULT);
  ASSERT_GE(d, 0);
  double v[3] = {};
  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  EXPECT_DOUBLE_EQ(v[0], 11.0);
  EXPECT_GT(H5Aexists(d, "uncertainties"), 0);
  H5Dclose(d);
  const hid_t g = H5Gopen2(f, "/sasentry00007/sasdata", H5P_DEFAULT);
  EXPECT_GT(H5Aexists(g, "I_axes"), 0);
  EXPECT_GT(H5Aexists(g, "Q_indices"), 0);
  H5Gclose(g);
  H5Fclose(f);
}

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// An Anton Paar SAXSquant file as it writes them: title, keywords, 8 integers (points first), two
// lines of 5 reals, q I σ rows, an XML footer naming the q unit.
const char* kPdhHeader =
    "\nSAXS BOX\n     3  0  0  0  0  0  0  0\n  0.0 306.8 0.0 1012.4 0.1542\n  25.2 1.06 0.0 0.0 0.0\n";

}  // namespace

TEST(PdhPatterns, SaxsquantFilesAreReadWithTheirFooterUnit) {
  const auto dir = anvil::test::scratch_dir("PdhRead");
  const auto path = (dir / "standard.pdh").string();
  write_text(path, std::string(kPdhHeader) +
                       "  1.0E-01 2.0E+00 1.0E-01\n  2.0E-01 3.0E+00 2.0E-01\n  3.0E-01 4.0E+00 0.0E+00\n"
                       "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<fileinfo>\n  <column key=\"X\">\n"
                       "    <value key=\"unit\">a^-1</value>\n  </column>\n</fileinfo>\n");
  const auto p = anvil::io::read_pattern_text(path);  // dispatched by the extension
  ASSERT_EQ(p.x.size(), 3u);
  EXPECT_EQ(p.unit, anvil::RadialUnit::QInvA);
  EXPECT_DOUBLE_EQ(p.x[1], 0.2);
  EXPECT_DOUBLE_EQ(p.intensity[2], 4.0);
  EXPECT_DOUBLE_EQ(p.sigma[0], 0.1);
}

TEST(PdhPatterns, ATruncatedFileIsAnInputErrorNamingTheFileAndTheShortfall) {
  const auto dir = anvil::test::scratch_dir("PdhTruncated");
  const auto path = (dir / "cut.pdh").string();
  write_text(path, std::string(kPdhHeader) + "  1.0E-01 2.0E+00 1.0E-01\n");
  try {
    anvil::io::read_pattern_pdh(path);
    FAIL() << "no error";
  } catch (const anvil::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cut.pdh"), std::string::npos) << what;
    EXPECT_NE(what.find("header promises 3 points"), std::string::npos) << what;
  }
  write_text(path,
             std::string(kPdhHeader) + "  1.0E-01 2.0E+00 1.0E-01\n  x y z\n  3.0E-01 4.0E+00 0.0E+00\n");
  try {
    anvil::io::read_pattern_pdh(path);
    FAIL() << "no error";
  } catch (const anvil::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("PDH line 7: expected q I σ"), std::string::npos) << e.what();
  }
}
