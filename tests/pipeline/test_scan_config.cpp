// The scan description: what a beamline scientist writes, and the mistakes they make.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "scan_config.hpp"

using namespace anvil;
using namespace anvil::pipeline;

namespace {

const char* kGood = R"(# a CdSe compression-decompression scan
[scan]
name = "cdse_dac_3"

[waxs]
frames = "raw/cdse_waxs_master.h5"
poni = "waxs.poni"
mask = "waxs.mask"
flip_ud = true

[waxs.integration]
unit = "2th_deg"
bins = 2000
range = [2.0, 25.0]
split = "full"
polarization = 0.99
sigma_clip = 4

[saxs]
frames = ["raw/saxs_00001.tif", "raw/saxs_00002.tif"]
poni = "/abs/saxs.poni"

[pressure]
source = "ruby"
file = "log.spec"
scan = 12
counter = "ruby R1"
scale = "dewaele2008"

[fit]
phases = ["CdSe-WZ", "CdSe-ZB", "CdSe-RS"]
mode = "sequential"

[index]
lattices = ["fcc", "lamellar"]
q_range = [0.3, 3.0]
)";

std::string error_of(const std::string& text) {
  try {
    parse_scan_config(text, "/data/beamtime/scan.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ScanConfig, ReadsEverySectionWithPathsRelativeToTheFile) {
  const auto c = parse_scan_config(kGood, "/data/beamtime/scan.toml");
  EXPECT_EQ(c.name, "cdse_dac_3");
  ASSERT_TRUE(c.waxs && c.saxs && c.pressure);
  EXPECT_EQ(c.waxs->frames, std::vector<std::string>{"/data/beamtime/raw/cdse_waxs_master.h5"});
  EXPECT_EQ(c.waxs->poni, "/data/beamtime/waxs.poni");
  EXPECT_TRUE(c.waxs->flip_ud);
  EXPECT_EQ(c.waxs->integration.unit, RadialUnit::TwoThetaDeg);
  EXPECT_EQ(c.waxs->integration.radial_bins, 2000u);
  EXPECT_EQ(c.waxs->integration.split, integrate::PixelSplit::full);
  ASSERT_TRUE(c.waxs->integration.sigma_clip);
  EXPECT_DOUBLE_EQ(*c.waxs->integration.sigma_clip, 4.0);
  EXPECT_DOUBLE_EQ(c.waxs->integration.radial_range->max, 25.0);
  EXPECT_EQ(c.saxs->frames.size(), 2u);
  EXPECT_EQ(c.saxs->poni, "/abs/saxs.poni");
  EXPECT_EQ(c.saxs->integration.unit, RadialUnit::QInvNm);  // SAXS default
  EXPECT_EQ(c.pressure->kind, PressureSource::Kind::SpecRuby);
  EXPECT_EQ(c.pressure->spec_scan, "12");
  EXPECT_EQ(c.pressure->ruby_scale, pressure::RubyScale::Dewaele2008);
  EXPECT_EQ(c.fit.phases.size(), 3u);
  EXPECT_EQ(c.fit.mode, "sequential");
  EXPECT_EQ(c.saxs_index.lattices, (std::vector<std::string>{"fcc", "lamellar"}));
}

TEST(ScanConfig, UnknownKeysAreNamedWithTheirLine) {
  std::string text = kGood;
  text.replace(text.find("sigma_clip = 4"), 14, "sigma_clipp = 4");
  const auto e = error_of(text);
  EXPECT_NE(e.find("scan.toml:17"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'waxs.integration.sigma_clipp'"), std::string::npos) << e;
}

TEST(ScanConfig, WrongTypesAndValuesAreNamed) {
  std::string text = kGood;
  text.replace(text.find("bins = 2000"), 11, "bins = \"2000\"");
  auto e = error_of(text);
  EXPECT_NE(e.find("'waxs.integration.bins'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;
  EXPECT_NE(error_of(std::string(kGood).replace(std::string(kGood).find("\"full\""), 6, "\"exact\""))
                .find("none, bbox or full"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kGood).replace(std::string(kGood).find("[2.0, 25.0]"), 11, "[25.0, 2.0]"))
                .find("empty range"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kGood).replace(std::string(kGood).find("dewaele2008"), 11, "dewael"))
                .find("'pressure.scale'"),
            std::string::npos);
  EXPECT_NE(error_of("[fit]\nphases = [\"CdSe-WZ\"]\n").find("no detector"), std::string::npos);
  EXPECT_NE(error_of("[waxs]\nponi = \"a.poni\"\n").find("needs 'frames'"), std::string::npos);
  EXPECT_NE(error_of("[waxs\nframes = 1").find("scan.toml:1"), std::string::npos);  // TOML syntax
}

// A Dioptas .mask is read in Dioptas' layout unless the description says otherwise.
// [index] takes `range` like [waxs.integration] and [fit] (issue 17), or `q_range`, not both.
TEST(ScanConfig, IndexRangeTakesTheCommonName) {
  std::string text = kGood;
  const std::string old_key = "q_range = [0.3, 3.0]";
  text.replace(text.find(old_key), old_key.size(), "range = [0.4, 2.5]");
  const auto c = parse_scan_config(text, "/data/beamtime/scan.toml");
  ASSERT_TRUE(c.saxs_index.q_range_inv_nm);
  EXPECT_DOUBLE_EQ(c.saxs_index.q_range_inv_nm->min, 0.4);
  EXPECT_DOUBLE_EQ(c.saxs_index.q_range_inv_nm->max, 2.5);
  std::string both = kGood;
  both.replace(both.find(old_key), old_key.size(), "q_range = [0.3, 3.0]\nrange = [0.4, 2.5]");
  EXPECT_NE(error_of(both).find("range or q_range, not both"), std::string::npos) << error_of(both);
}

TEST(ScanConfig, MaskOrientationIsAutoUnlessGiven) {
  const auto c = parse_scan_config(kGood, "/data/beamtime/scan.toml");
  EXPECT_EQ(c.waxs->mask_orientation, io::MaskOrientation::Auto);
  std::string text = kGood;
  text.replace(text.find("flip_ud = true"), 14, "flip_ud = true\nmask_orientation = \"raw\"");
  EXPECT_EQ(parse_scan_config(text, "/data/beamtime/scan.toml").waxs->mask_orientation,
            io::MaskOrientation::Raw);
  text.replace(text.find("\"raw\""), 5, "\"upside-down\"");
  const auto e = error_of(text);
  EXPECT_NE(e.find("scan.toml:10"), std::string::npos) << e;
  EXPECT_NE(e.find("'waxs.mask_orientation'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected auto, raw or dioptas, not 'upside-down'"), std::string::npos) << e;
}

// The Debye model's keys: model, others, sizes_nm, shape, aspect, axis, shared_size; nonsense is
// named.
TEST(ScanConfig, DebyeModelKeys) {
  const std::string waxs = "[waxs]\nframes = \"f.h5\"\nponi = \"g.poni\"\n";
  const auto c =
      parse_scan_config(waxs +
                            "[fit]\nphases = [\"CdSe-WZ\"]\nmodel = \"debye\"\nothers = [\"Fe-fcc\"]\n"
                            "sizes_nm = [3.0, 8.0]\nshape = \"cylinder\"\naspect = 3.0\naxis = [0, 0, 1]\n"
                            "shared_size = false\n",
                        "/d/scan.toml");
  EXPECT_EQ(c.fit.model, "debye");
  EXPECT_EQ(c.fit.others, std::vector<std::string>{"Fe-fcc"});
  EXPECT_DOUBLE_EQ(c.fit.sizes_nm->max, 8.0);
  EXPECT_EQ(c.fit.shape, "cylinder");
  EXPECT_DOUBLE_EQ(c.fit.aspect, 3.0);
  EXPECT_EQ(c.fit.axis_uvw[2], 1);
  EXPECT_FALSE(c.fit.shared_size);
  EXPECT_NE(error_of(waxs + "[fit]\nphases = [\"X\"]\nfaulted = true\n").find("Debye-model setting"),
            std::string::npos);
  const auto lb = parse_scan_config(
      waxs + "[fit]\nphases = [\"Au\"]\nle_bail = true\nothers = [\"Fe-fcc\"]\n", "/d/scan.toml");
  EXPECT_TRUE(lb.fit.le_bail);
  const auto fl = parse_scan_config(
      waxs + "[fit]\nphases = [\"CdSe-WZ\", \"CdSe-ZB\"]\nmodel = \"debye\"\nfaulted = true\n",
      "/d/scan.toml");
  EXPECT_TRUE(fl.fit.faulted);
  const auto au = parse_scan_config(
      waxs + "[fit]\nphases = [\"CdSe-WZ\"]\nmodel = \"auto\"\nsizes_nm = [3.0, 8.0]\n", "/d/scan.toml");
  EXPECT_EQ(au.fit.model, "auto");
  EXPECT_NE(error_of(waxs + "[fit]\nphases = [\"X\"]\nshared_size = false\n").find("Debye-model setting"),
            std::string::npos);
  EXPECT_NE(
      error_of(waxs + "[fit]\nphases = [\"X\"]\nmodel = \"debye\"\nshared_size = 1\n").find("true or false"),
      std::string::npos);
  EXPECT_NE(error_of(waxs + "[fit]\nphases = [\"X\"]\nmodel = \"dse\"\n").find("bragg, debye or auto"),
            std::string::npos);
  EXPECT_NE(error_of(waxs + "[fit]\nphases = [\"X\"]\nothers = [\"Fe-fcc\"]\n").find("'fit.others'"),
            std::string::npos);
  EXPECT_NE(
      error_of(waxs + "[fit]\nphases = [\"X\"]\nmodel = \"debye\"\nsizes_nm = [0.1, 8]\n").find("0.5–50"),
      std::string::npos);
  EXPECT_NE(
      error_of(waxs + "[fit]\nphases = [\"X\"]\nmodel = \"debye\"\naxis = [0, 0, 0]\n").find("no direction"),
      std::string::npos);
}

// [sample] and [saxs.normalization]: what results.h5 and saxs_nxcansas.h5 record; nonsense is named.
TEST(ScanConfig, SampleAndSaxsNormalization) {
  const std::string saxs = "[saxs]\nframes = \"f.h5\"\nponi = \"g.poni\"\n";
  const auto c = parse_scan_config(saxs +
                                       "[saxs.normalization]\nmonitor = \"ic0\"\ntransmitted = \"ic2\"\n"
                                       "empty_ratio = 0.9\nthickness_mm = 0.05\nabsolute_scale = 2.5e3\n"
                                       "file = \"counters.spec\"\nscan = 3\n"
                                       "[sample]\nname = \"CdSe\"\nmedium = \"Ne\"\n",
                                   "/data/beamtime/scan.toml");
  ASSERT_TRUE(c.saxs && c.saxs->normalization);
  const auto& n = *c.saxs->normalization;
  EXPECT_EQ(n.monitor, "ic0");
  EXPECT_EQ(n.transmitted, "ic2");
  EXPECT_DOUBLE_EQ(n.empty_ratio, 0.9);
  EXPECT_DOUBLE_EQ(*n.thickness_mm, 0.05);
  EXPECT_DOUBLE_EQ(*n.absolute_scale, 2.5e3);
  EXPECT_EQ(n.file, "/data/beamtime/counters.spec");
  EXPECT_EQ(n.scan, "3");
  EXPECT_EQ(c.sample.name, "CdSe");
  EXPECT_EQ(c.sample.medium, "Ne");
  EXPECT_NE(error_of(saxs + "[saxs.normalization]\ntransmitted = \"ic2\"\n").find("needs 'monitor'"),
            std::string::npos);
  EXPECT_NE(error_of(saxs + "[saxs.normalization]\nmonitor = \"ic0\"\nthickness_mm = -1\n")
                .find("'saxs.normalization.thickness_mm'"),
            std::string::npos);
  EXPECT_NE(error_of(saxs + "[saxs.normalization]\nmonitor = \"ic0\"\nmonitr = 1\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(
      error_of("[waxs]\nframes = \"f.h5\"\nponi = \"g.poni\"\n[waxs.normalization]\nmonitor = \"ic0\"\n")
          .find("[saxs.normalization]"),
      std::string::npos);
  EXPECT_NE(error_of(saxs + "[sample]\nnam = \"x\"\n").find("unknown key 'sample.nam'"), std::string::npos);
  EXPECT_NE(error_of(saxs + "[saxs.normalization]\n").find("does nothing"), std::string::npos);
  // A glassy-carbon standard: its files relative to the description; not with a given scale.
  const std::string gc =
      "[saxs.normalization]\nthickness_mm = 1.0\nempty = \"empty.tif\"\n[saxs.normalization.glassy_carbon]\n"
      "frames = \"gc.tif\"\nempty = \"holder.tif\"\nreference = \"gc.txt\"\nthickness_mm = 1.06\n"
      "transmission = 0.72\nq_range = [0.4, 3.0]\n";
  const auto g = parse_scan_config(saxs + gc, "/data/beamtime/scan.toml");
  ASSERT_TRUE(g.saxs->normalization->glassy_carbon);
  const auto& s = *g.saxs->normalization->glassy_carbon;
  EXPECT_EQ(g.saxs->normalization->empty, "/data/beamtime/empty.tif");
  EXPECT_EQ(s.frames, "/data/beamtime/gc.tif");
  EXPECT_EQ(s.reference, "/data/beamtime/gc.txt");
  EXPECT_EQ(s.reference_unit, RadialUnit::QInvA);
  EXPECT_DOUBLE_EQ(s.transmission, 0.72);
  EXPECT_DOUBLE_EQ(s.q_range->max, 3.0);
  std::string opaque = saxs + gc;
  opaque.replace(opaque.find("0.72"), 4, "1.5");
  EXPECT_NE(error_of(opaque).find("'saxs.normalization.glassy_carbon.transmission'"), std::string::npos)
      << error_of(opaque);
  std::string both = saxs + gc;
  both.replace(both.find("thickness_mm = 1.0\n"), 19, "thickness_mm = 1.0\nabsolute_scale = 2.0\n");
  EXPECT_NE(error_of(both).find("not both"), std::string::npos);
  std::string no_ref = saxs + gc;
  no_ref.replace(no_ref.find("reference = \"gc.txt\"\n"), 21, "");
  EXPECT_NE(error_of(no_ref).find("needs 'reference'"), std::string::npos);
}
