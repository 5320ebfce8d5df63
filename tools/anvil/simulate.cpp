// anvil simulate -o OUTDIR [--truth TRUTH.toml] [--frames N] [--seed S] [--detector-size small|pilatus1m]:
// a simulated CdSe diamond-anvil-cell scan (WAXS + SAXS frames, geometry, masks, pressure log,
// calibrant images, scan description and truth). See docs/simulate.md.
#include "simulate.hpp"

#include <fmt/core.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include "calib_dirs.hpp"
#include "commands.hpp"

namespace anvil::cli {

namespace fs = std::filesystem;

namespace {

struct SimulateArgs {
  std::string truth, output, detector_size;
  std::optional<std::size_t> frames;
  std::optional<std::uint64_t> seed;
  bool quiet = false;
};

}  // namespace

void add_simulate_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<SimulateArgs>();
  auto* cmd = app.add_subcommand(
      "simulate", "Simulate a CdSe DAC scan (WAXS + SAXS frames, geometry, masks, pressures, truth)");
  cmd->add_option("-o,--output", a->output, "Output folder")->required();
  cmd->add_option("--truth", a->truth, "Truth file (TOML, docs/simulate.md); default: the built-in scan");
  cmd->add_option("--frames", a->frames, "Number of frames (default 20, or the truth file's)");
  cmd->add_option("--seed", a->seed, "Random seed (default 1, or the truth file's)");
  cmd->add_option("--detector-size", a->detector_size, "small (Pilatus 300K) or pilatus1m")
      ->check(CLI::IsMember({"small", "pilatus1m"}));
  cmd->add_flag("-q,--quiet", a->quiet, "Print nothing but errors");
  add_threads_option(cmd, ctx);
  cmd->callback([a, &ctx] {
    pipeline::SimulationConfig c;
    c.phase_dir = pipeline::phase_dir();
    c.calibrant_dir = pipeline::calib_dir() / "calibrants";
    if (!a->truth.empty()) pipeline::load_simulation_truth(a->truth, c);
    if (a->frames) c.frames = *a->frames;
    if (a->seed) c.seed = *a->seed;
    if (!a->detector_size.empty()) c.detector_size = a->detector_size;
    const auto out = pipeline::simulate_scan(c, a->output);
    if (!a->quiet) {
      fmt::print("simulated {} frames ({} detector, seed {}) into {}\n", out.truth.size(), c.detector_size,
                 c.seed, a->output);
      fmt::print("  pressure {:.1f} → {:.1f} → {:.1f} GPa; retained RS fraction {:.3f}\n",
                 out.truth.front().pressure_gpa, c.p_max_gpa, out.truth.back().pressure_gpa,
                 out.truth.back().rs);
      fmt::print("  scan description: {}\n  truth: {}\n", out.scan_toml.string(),
                 (fs::path(a->output) / "truth.json").string());
      fmt::print("  reduce it with: anvil run {} -o OUTDIR\n", out.scan_toml.string());
    }
    ctx.exit_code = 0;
  });
}

}  // namespace anvil::cli
