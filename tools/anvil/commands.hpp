// The anvil subcommands. Each adds itself to the CLI11 app; its callback returns the
// process exit code through `exit_code` (0 only on success).
#pragma once

#include <tbb/global_control.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "debye_fit.hpp"

namespace anvil::cli {

struct Context {
  int exit_code = 0;
  std::size_t threads = 0;                            // --threads of a command that has it; 0: all cores
  std::unique_ptr<tbb::global_control> thread_limit;  // holds it while the command runs
};

// `--threads N` on a command whose work runs on TBB threads (integration, calibration, fits,
// indexing, simulation): at most N worker threads for the whole command; results do not depend on
// it. (`anvil run` and `anvil fit-series` have their own, with the same meaning.)
inline void add_threads_option(CLI::App* cmd, Context& ctx) {
  cmd->add_option("--threads", ctx.threads,
                  "Worker threads (default: all cores); results do not depend on it")
      ->check(CLI::Range(1, 4096));
  cmd->parse_complete_callback([&ctx] {
    if (ctx.threads > 0)
      ctx.thread_limit =
          std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, ctx.threads);
  });
}

// Numbers entering from the command line: NaN and inf parse as doubles but are never
// settings, and CLI11's Range lets NaN through (every comparison with NaN is false). These
// validators reject them with the option's name (CLI11 prefixes it) and the value.
// `open_low`: the lower bound itself is excluded (a positive number).
inline CLI::Validator number_in(double lo, double hi, bool open_low = false) {
  const std::string desc =
      open_low && hi == HUGE_VAL ? "POSITIVE"
      : hi == HUGE_VAL           ? "NUMBER >= " + CLI::detail::to_string(lo)
                       : "NUMBER in [" + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, open_low](std::string& text) -> std::string {
        double v = 0;
        const char* b = text.data();
        const char* e = b + text.size();
        if (b != e && *b == '+') ++b;
        const auto [ptr, ec] = std::from_chars(b, e, v);
        if (ec != std::errc() || ptr != e) return "'" + text + "' is not a number";
        if (!std::isfinite(v)) return "'" + text + "' is not a finite number";
        if (v < lo || v > hi || (open_low && v == lo)) {
          if (open_low && hi == HUGE_VAL) return text + " must be positive";
          if (hi == HUGE_VAL) return text + " must be at least " + CLI::detail::to_string(lo);
          return text + " is outside [" + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) +
                 "]";
        }
        return {};
      },
      desc);
}
inline CLI::Validator finite_number() { return number_in(-HUGE_VAL, HUGE_VAL); }
inline CLI::Validator positive_number() { return number_in(0.0, HUGE_VAL, true); }
inline CLI::Validator non_negative_number() { return number_in(0.0, HUGE_VAL); }

// The Debye model's options, shared by `anvil fit` and `anvil fit-series` (fit.cpp).
struct DebyeOptions {
  std::string model = "bragg";   // bragg | debye
  std::string others;            // comma-separated gasket / marker phases
  std::vector<double> sizes_nm;  // cluster diameters min, max
  bool own_sizes = false;
  bool le_bail = false;  // every phase profile-matched (moved to `others`)
  bool faulted = false;  // WZ and ZB as one faulted phase with a refined α
};
void add_debye_options(CLI::App* cmd, DebyeOptions& o);
// Fills `others`, the size grid and the size sharing of `settings` from the options.
void apply_debye_options(const DebyeOptions& o, pipeline::DebyeFitSettings& settings);

// What an anvil pattern stack (.h5: `anvil integrate -o x.h5`, `anvil run`'s results.h5) says
// about itself beside the patterns: the frames' numbers and the wavelength of the .poni kept in
// its provenance (fit_series.cpp).
struct StackInfo {
  std::vector<std::size_t> frame_index;
  std::optional<double> wavelength_a;
};
StackInfo stack_info(const std::string& path, const std::string& group);

void add_info_command(CLI::App& app, Context& ctx);                                  // info.cpp
void add_pressure_command(CLI::App& app, Context& ctx);                              // pressure.cpp
void add_integrate_command(CLI::App& app, Context& ctx);                             // integrate.cpp
void add_run_command(CLI::App& app, Context& ctx, const std::string& command_line);  // run.cpp
void add_phase_command(CLI::App& app, Context& ctx);                                 // phase.cpp
void add_calibrate_command(CLI::App& app, Context& ctx);                             // calibrate.cpp
void add_fit_command(CLI::App& app, Context& ctx);                                   // fit.cpp
void add_simulate_command(CLI::App& app, Context& ctx);                              // simulate.cpp
void add_fit_series_command(CLI::App& app, Context& ctx);                            // fit_series.cpp
void add_index_command(CLI::App& app, Context& ctx);                                 // index.cpp
void add_serve_command(CLI::App& app, Context& ctx);                                 // serve.cpp

}  // namespace anvil::cli
