// `anvil simulate` against the pipeline: a simulated DAC scan, reduced by run_scan exactly as
// `anvil run` does, gives back the phase fractions and the superlattice it was made with.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "io/frame_source.hpp"
#include "run_scan.hpp"
#include "saxs/analysis.hpp"
#include "scan_config.hpp"
#include "simulate.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace anvil;
using namespace anvil::pipeline;

namespace {

fs::path scratch() {
  return test::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

SimulationConfig small_config(std::size_t frames, std::uint64_t seed) {
  SimulationConfig c;
  c.frames = frames;
  c.seed = seed;
  c.phase_dir = ANVIL_SOURCE_DIR "/calib/phases";
  c.calibrant_dir = ANVIL_SOURCE_DIR "/calib/calibrants";
  return c;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Simulate, TruthFollowsThePressurePath) {
  const auto t = simulation_truth(small_config(20, 1));
  ASSERT_EQ(t.size(), 20u);
  EXPECT_EQ(t.front().direction, "compression");
  EXPECT_EQ(t.back().direction, "decompression");
  double p_max = 0;
  for (const auto& f : t) {
    EXPECT_NEAR(f.wz + f.zb + f.rs, 1.0, 1e-12);
    p_max = std::max(p_max, f.pressure_gpa);
  }
  EXPECT_NEAR(p_max, 11.0, 1e-9);
  EXPECT_GT(t.front().wz, 0.99);             // WZ at ambient
  EXPECT_GT(t[10].rs, 0.99);                 // RS at the top
  EXPECT_NEAR(t.back().rs, 0.3, 0.03);       // partly retained
  EXPECT_GT(t.back().zb, 0.65);              // the rest went back to ZB, not WZ
  EXPECT_EQ(t.front().superlattice, "fcc");  // fcc at ambient ...
  EXPECT_NEAR(t.front().sl_d_first_nm, 5.03 * (1 - 0.012 * 0.1), 1e-9);
  EXPECT_EQ(t[10].superlattice, "lamellar");  // ... lamellar at the top, and it stays
  EXPECT_EQ(t.back().superlattice, "lamellar");
  // EOS: ~17 % volume drop per formula unit at the transition (ZB → RS near 6 GPa).
  const auto& f6 = t[5];
  const double v_zb = std::pow(f6.a_zb, 3) / 4, v_rs = std::pow(f6.a_rs, 3) / 4;
  EXPECT_NEAR(1 - v_rs / v_zb, 0.17, 0.03);
}

TEST(Simulate, BadTruthFileNamesTheKey) {
  const auto dir = scratch();
  std::ofstream(dir / "t.toml") << "[transition]\nretained_rs = 0.5\n";
  auto c = small_config(20, 1);
  try {
    load_simulation_truth(dir / "t.toml", c);
    FAIL() << "unknown key accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.toml:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("transition.retained_rs"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "u.toml") << "[transition]\nretained_rs_fraction = 0.55\n[scan]\nframes = 16\n";
  load_simulation_truth(dir / "u.toml", c);
  EXPECT_EQ(c.frames, 16u);
  EXPECT_DOUBLE_EQ(c.retained_rs_fraction, 0.55);
}

// The main check: simulate, reduce with the pipeline, compare with truth.json.
TEST(Simulate, PipelineRecoversTheTruth) {
  const auto dir = scratch();
  auto c = small_config(16, 7);
  c.retained_rs_fraction = 0.45;  // another truth than the sample scan's
  const auto sim = simulate_scan(c, dir / "scan");
  const auto truth = json::parse(slurp(dir / "scan" / "truth.json"));
  ASSERT_EQ(truth["frames"].size(), 16u);

  const auto config = load_scan_config(sim.scan_toml);
  RunOptions opt;
  opt.output_dir = dir / "out";
  opt.phase_dir = ANVIL_SOURCE_DIR "/calib/phases";
  opt.threads = 2;
  std::vector<FrameResult> results(16);
  opt.on_frame = [&](const FrameResult& r, std::size_t, std::size_t) { results.at(r.index) = r; };
  const auto summary = run_scan(config, opt);
  ASSERT_EQ(summary.frames, 16u);
  ASSERT_EQ(summary.succeeded, 16u);

  double worst = 0;
  for (std::size_t k = 0; k < 16; ++k) {
    const auto& tf = truth["frames"][k];
    const auto& a = results[k].waxs.analysis;
    ASSERT_EQ(a.value("status", ""), "converged") << "frame " << k << ": " << a.dump();
    for (const char* ph : {"CdSe-WZ", "CdSe-ZB", "CdSe-RS"}) {
      const double want = tf["fractions"][ph];
      const double got = a["phases"][ph]["fraction"].get<double>();
      EXPECT_NEAR(got, want, 0.05) << "frame " << k << " " << ph;
      worst = std::max(worst, std::abs(got - want));
    }
    // The measured (ruby) pressure is the true one within a few esd.
    ASSERT_TRUE(results[k].pressure_gpa.has_value());
    EXPECT_NEAR(*results[k].pressure_gpa, tf["pressure_gpa"].get<double>(),
                4 * tf["pressure_esd_gpa"].get<double>() + 0.02);
  }
  const double retained = results.back().waxs.analysis["phases"]["CdSe-RS"]["fraction"];
  EXPECT_NEAR(retained, truth["retained_rs_fraction"].get<double>(), 0.03);
  std::cout << "worst WAXS fraction error " << worst << ", retained RS " << retained << " (truth "
            << truth["retained_rs_fraction"].get<double>() << ")\n";

  // SAXS: the pipeline's indexing when run_scan provides it, else lib/saxs on its patterns.
  std::size_t right = 0, a_within = 0;
  for (std::size_t k = 0; k < 16; ++k) {
    const auto& sl = truth["frames"][k]["superlattice"];
    const std::string want = sl["lattice"];
    const double want_a = sl["a_nm"];
    ASSERT_TRUE(results[k].saxs.ok) << results[k].saxs.error;
    std::string got;
    double got_a = 0;
    const auto& an = results[k].saxs.analysis;
    if (an.is_object() && an.contains("lattice") && an.contains("a_nm") && an["a_nm"].is_number()) {
      got = an["lattice"];
      got_a = an["a_nm"];
    } else {
      saxs::SaxsSettings s;
      s.q_min_inv_nm = 0.3;
      s.q_max_inv_nm = 3.8;
      const auto r = saxs::analyse_saxs(results[k].saxs.pattern, s);
      got = saxs::lattice_name(r.lattice);
      if (!r.phases.empty()) got_a = r.phases.front().solution.a_nm;
    }
    right += got == want;
    a_within += got == want && std::abs(got_a / want_a - 1) < 0.01;
    if (got != want || std::abs(got_a / want_a - 1) >= 0.01)
      std::cout << "frame " << k << ": SAXS " << got << " a = " << got_a << " nm, truth " << want << " "
                << want_a << " nm\n";
  }
  EXPECT_GE(right, 15u);  // ≥ 90 % of 16
  EXPECT_GE(a_within, 15u);
}

// The same seed gives the same frames (pixel for pixel) and the same side files byte for byte.
TEST(Simulate, DeterministicForASeed) {
  const auto dir = scratch();
  const auto c = small_config(4, 3);
  const auto a = simulate_scan(c, dir / "a");
  const auto b = simulate_scan(c, dir / "b");
  ASSERT_EQ(a.files.size(), b.files.size());
  for (const auto& f : a.files) {
    const auto name = f.filename().string();
    if (f.extension() == ".h5") continue;  // HDF5 headers carry creation times: frames below
    EXPECT_EQ(slurp(f), slurp(dir / "b" / name)) << name;
  }
  for (const char* det : {"waxs", "saxs"}) {
    const auto master = std::string("cdse_dac_") + det + "_master.h5";
    const auto sa = io::open_frames((dir / "a" / master).string());
    const auto sb = io::open_frames((dir / "b" / master).string());
    ASSERT_EQ(sa->frame_count(), 4u);
    for (std::size_t k = 0; k < 4; ++k)
      EXPECT_EQ(sa->read(k).image.pixels, sb->read(k).image.pixels) << det << k;
  }
  // Another seed, other noise.
  const auto d = simulate_scan(small_config(4, 4), dir / "d");
  const auto s1 = io::open_frames((dir / "a" / "cdse_dac_waxs_master.h5").string());
  const auto s2 = io::open_frames((dir / "d" / "cdse_dac_waxs_master.h5").string());
  EXPECT_NE(s1->read(0).image.pixels, s2->read(0).image.pixels);
}
