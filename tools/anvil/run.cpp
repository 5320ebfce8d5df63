// anvil run SCAN.toml -o DIR: the whole reduction of a scan (see pipeline/run_scan.hpp).
#include <fmt/core.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "calib_dirs.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "live_state.hpp"
#include "progress.hpp"
#include "run_scan.hpp"
#include "server.hpp"
#ifdef ANVIL_HAVE_MPI
#include "run_distributed.hpp"
#endif

namespace anvil::cli {

namespace {

std::atomic<bool> g_stop{false};  // set by SIGINT/SIGTERM: the only global, owned by the CLI
extern "C" void request_stop(int) { g_stop.store(true); }

struct RunArgs {
  std::string config;
  std::string output;
  std::size_t threads = 0;
  bool force = false;
  bool quiet = false;
  bool follow = false;
  bool mpi = false;
  double poll_s = 2.0;
  double idle_timeout_s = 60.0;
  std::string serve;  // [ADDR:]PORT of the live dashboard
  std::string token;
};

}  // namespace

void add_run_command(CLI::App& app, Context& ctx, const std::string& command_line) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Reduce a whole scan described by a TOML file: integrate, fit, index; tables, results.h5, plots");
  cmd->add_option("scan", a->config, "Scan description (TOML; see docs/scan_description.md)")->required();
  cmd->add_option("-o,--output", a->output, "Output folder (default: <scan name>_results next to the TOML)");
  cmd->add_option("--threads", a->threads,
                  "Worker threads (default: all cores); results do not depend on it");
  cmd->add_flag("--force", a->force, "Redo frames that an earlier run of this command already finished");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
  cmd->add_flag("--follow", a->follow,
                "Live mode: keep reducing frames as the scan is written (every --poll s) until no new frame "
                "arrives for --idle-timeout s or Ctrl-C; tables and figures are refreshed each time");
  cmd->add_flag("--mpi", a->mpi,
                "Distributed: run under mpirun; rank r reduces frames r, r+N, ..., rank 0 writes the tables "
                "(the output folder must be on a file system every rank sees)");
  cmd->add_option("--poll", a->poll_s, "Seconds between looks for new frames (--follow)")
      ->capture_default_str()
      ->check(number_in(0.01, 3600.0));
  cmd->add_option("--idle-timeout", a->idle_timeout_s,
                  "Stop following after this many seconds without a new frame")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--serve", a->serve,
                  "Live dashboard in a browser at [ADDR:]PORT (default address 127.0.0.1; port 0: any free "
                  "port, printed); read-only (docs/dashboard.md)");
  cmd->add_option("--token", a->token,
                  "With --serve: a secret every request for data must carry (the printed address has it); "
                  "for a shared beamline network (default: $ANVIL_DASHBOARD_TOKEN)");
  cmd->callback([a, &ctx, command_line] {
    if (!a->token.empty() && a->serve.empty()) throw InputError("anvil run", "--token goes with --serve");
    std::optional<std::pair<std::string, int>> listen;
    if (!a->serve.empty()) listen = dashboard::parse_listen_address(a->serve, "--serve");
    // (The variable is read only with --serve: set in a shell, it must not stop other runs.)
    if (const char* env = std::getenv("ANVIL_DASHBOARD_TOKEN"); listen && a->token.empty() && env)
      a->token = env;
    if (listen && a->mpi)
      throw InputError("anvil run", "--serve and --mpi do not go together (serve a folder with anvil serve)");
    const auto config = pipeline::load_scan_config(a->config);
    pipeline::RunOptions o;
    o.output_dir = a->output.empty() ? std::filesystem::path(a->config).parent_path() /
                                           pipeline::default_output_name(config.name)
                                     : std::filesystem::path(a->output);
    o.threads = a->threads;
    o.phase_dir = pipeline::phase_dir();
    o.force = a->force;
    o.growing = a->follow;
    o.command_line = command_line;
    std::unique_ptr<Progress> progress;
    o.on_frame = [&](const pipeline::FrameResult& r, std::size_t done, std::size_t total) {
      if (!progress && !a->quiet) progress = std::make_unique<Progress>("anvil run", total);
      if (progress) progress->advance();
      if (!r.ok() && !a->quiet) fmt::print(stderr, "\n{}\n", r.error());
      (void)done;
    };
    o.stop = &g_stop;
    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    // One writer per folder (MPI ranks share theirs by design and coordinate through rank 0).
    std::optional<pipeline::OutputLock> lock;
    if (!a->mpi) lock.emplace(o.output_dir, command_line);
    // The dashboard: fed by the run (o.observer), served from its own threads; it binds before
    // the first frame, so a port in use stops the command before any work.
    std::unique_ptr<dashboard::LiveState> live;
    std::unique_ptr<dashboard::DashboardServer> server;
    if (listen) {
      dashboard::LiveOptions lo;
      lo.scan_name = config.name;
      lo.output_dir = o.output_dir;
      lo.phases = config.fit.phases;
      live = std::make_unique<dashboard::LiveState>(lo);
      live->set_frame_reader(std::make_shared<dashboard::FrameReader>(config));
      dashboard::ServerOptions so;
      so.address = listen->first;
      so.port = listen->second;
      so.token = a->token;
      so.web_dir = dashboard::web_dir();
      so.chart_js = dashboard::chart_js_path();
      so.output_dir = o.output_dir;
      server = std::make_unique<dashboard::DashboardServer>(*live, so);
      fmt::print("anvil run: dashboard at {}\n", server->url());
      std::fflush(stdout);
      o.observer = live.get();
    }
    const auto t0 = std::chrono::steady_clock::now();
    bool print = true;
    pipeline::RunSummary s;
    if (a->mpi) {
#ifdef ANVIL_HAVE_MPI
      if (a->follow)
        throw InputError("anvil run",
                         "--follow and --mpi do not go together (live mode runs on one machine)");
      const auto d = pipeline::run_scan_distributed(config, o);
      if (!d.error.empty()) {
        if (d.rank == 0) fmt::print(stderr, "anvil run --mpi: {}\n", d.error);
        ctx.exit_code = 2;
        return;
      }
      print = d.rank == 0;
      s = d.summary;
      if (print && !s.interrupted) {
        fmt::print("anvil run --mpi: {} ranks\n", d.size);
        for (int r = 0; r < d.size; ++r)
          fmt::print("  rank {}: {} frames reduced ({} failed) in {:.2f} s\n", r, d.reduced_per_rank[r],
                     d.failed_per_rank[r], d.loop_seconds_per_rank[r]);
      }
#else
      throw InputError("anvil run",
                       "--mpi: this anvil was built without MPI (install libopenmpi-dev and rebuild)");
#endif
    } else {
      s = pipeline::run_scan(config, o);
    }
    if (a->follow) {
      // Live: look again every poll; frames finished before are taken from their checkpoints,
      // frames that failed (perhaps still being written) are tried again.
      o.retry_failed = true;
      std::size_t seen = s.frames;
      double idle = 0;
      while (!g_stop.load() && idle < a->idle_timeout_s && !s.interrupted) {
        if (live) live->set_state("waiting");
        std::this_thread::sleep_for(std::chrono::duration<double>(a->poll_s));
        if (g_stop.load()) break;
        try {
          s = pipeline::run_scan(config, o);
        } catch (const InputError& e) {  // e.g. a master file caught half-written: look again
          fmt::print(stderr, "anvil run --follow: {}\n", e.what());
          if (live) live->set_error(e.what());
          idle += a->poll_s;
          continue;
        }
        if (s.frames > seen || s.failed > 0) {
          if (!a->quiet) fmt::print("anvil run --follow: {} frames ({} new)\n", s.frames, s.frames - seen);
          idle = s.frames > seen ? 0 : idle + a->poll_s;
          seen = s.frames;
        } else {
          idle += a->poll_s;
        }
      }
    }
    if (progress) progress->finish();
    if (live) live->set_state(s.interrupted ? "interrupted" : "finished");
    if (!print) {  // an MPI rank other than 0: rank 0 reports
      ctx.exit_code = s.interrupted ? 130 : 0;
      return;
    }
    if (s.interrupted) {
      fmt::print(stderr,
                 "anvil run: interrupted after {} of {} frames; run the same command again to finish\n",
                 s.succeeded, s.frames);
      ctx.exit_code = 130;
      return;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& note : s.notes) fmt::print("note: {}\n", note);
    for (const auto& w : s.warnings) fmt::print(stderr, "warning: {}\n", w);
    fmt::print("scan '{}': {} frames, {} succeeded, {} failed{} in {:.2f} s\n", config.name, s.frames,
               s.succeeded, s.failed,
               s.resumed ? fmt::format(" ({} taken from an earlier run)", s.resumed) : "", secs);
    for (const auto& [reason, count] : s.failure_reasons) fmt::print("  {} x {}\n", count, reason);
    for (const auto& t : s.saxs_transitions) fmt::print("superlattice: {}\n", t);
    if (!s.stage_seconds.empty()) {
      fmt::print("time per stage (summed over threads; frame loop {:.2f} s wall, {:.1f} frames/s):\n",
                 s.loop_seconds,
                 s.loop_seconds > 0 ? static_cast<double>(s.frames - s.resumed) / s.loop_seconds : 0.0);
      for (const auto& [stage, stage_s] : s.stage_seconds)
        fmt::print("  {:<18} {:8.3f} s  {:7.2f} ms/frame\n", stage, stage_s,
                   1e3 * stage_s / static_cast<double>(std::max<std::size_t>(1, s.frames - s.resumed)));
    }
    fmt::print("wrote:\n");
    for (const auto& p : s.outputs) fmt::print("  {}\n", p.string());
    ctx.exit_code = s.failed ? 3 : 0;
  });
}

}  // namespace anvil::cli
