// The anvil subcommands. Each adds itself to the CLI11 app; its callback returns the
// process exit code through `exit_code` (0 only on success).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace anvil::cli {

struct Context {
  int exit_code = 0;
};

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

}  // namespace anvil::cli
