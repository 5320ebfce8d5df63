// anvil — synchrotron SAXS/WAXS reduction of diamond-anvil-cell scans.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"anvil: SAXS/WAXS diamond-anvil-cell scans to phase fractions and d-spacings vs pressure"};
  app.set_version_flag("--version", std::string("anvil ") + ANVIL_VERSION);
  app.require_subcommand(1);

  anvil::cli::Context ctx;
  anvil::cli::add_info_command(app, ctx);
  anvil::cli::add_pressure_command(app, ctx);
  anvil::cli::add_integrate_command(app, ctx);
  anvil::cli::add_calibrate_command(app, ctx);
  anvil::cli::add_phase_command(app, ctx);
  anvil::cli::add_fit_series_command(app, ctx);
  anvil::cli::add_fit_command(app, ctx);
  anvil::cli::add_simulate_command(app, ctx);
  anvil::cli::add_index_command(app, ctx);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  anvil::cli::add_run_command(app, ctx, command_line);
  anvil::cli::add_serve_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error (unknown option, bad value) exits 2, as
    // input errors do, with one line saying what was wrong.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string where = "anvil";
    for (const auto* sub : app.get_subcommands()) where += " " + sub->get_name();
    fmt::print(stderr, "anvil: error: {} (see `{} --help`)\n", e.what(), where);
    return 2;
  } catch (const anvil::InputError& e) {
    fmt::print(stderr, "anvil: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "anvil: error: {}\n", e.what());
    return 1;
  }
  return ctx.exit_code;
}
