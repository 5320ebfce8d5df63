// anvil serve DIR: the live dashboard (pipeline/dashboard) of an output folder that a run has
// finished or is writing now, read from its checkpoints; read-only.
#include <dirent.h>
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "commands.hpp"
#include "core/error.hpp"
#include "live_state.hpp"
#include "scan_config.hpp"
#include "server.hpp"

namespace anvil::cli {

namespace {

std::atomic<bool> g_serve_stop{false};  // set by SIGINT/SIGTERM
extern "C" void request_serve_stop(int) { g_serve_stop.store(true); }

struct ServeArgs {
  std::string dir;
  std::string listen = "127.0.0.1:8765";
  std::string scan;
  std::string token;
  double poll_s = 1.0;
  double for_s = 0;  // 0: until Ctrl-C
};

}  // namespace

void add_serve_command(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve", "Live dashboard of an output folder of anvil run (finished or being written), in a browser");
  cmd->add_option("dir", a->dir, "Output folder of anvil run (-o DIR)")->required();
  cmd->add_option("--listen", a->listen,
                  "[ADDR:]PORT to serve on (default address 127.0.0.1; port 0: any free)")
      ->capture_default_str();
  cmd->add_option("--scan", a->scan,
                  "The scan description the folder was made from: frame images are read from its frames");
  cmd->add_option("--token", a->token, "A secret every request must carry (the printed address has it)")
      ->envname("ANVIL_DASHBOARD_TOKEN");
  cmd->add_option("--poll", a->poll_s, "Seconds between looks for new frames in DIR")
      ->capture_default_str()
      ->check(number_in(0.05, 3600.0));
  cmd->add_option("--for", a->for_s, "Stop after this many seconds (default: until Ctrl-C)")
      ->check(non_negative_number());
  cmd->callback([a, &ctx] {
    const auto [address, port] = dashboard::parse_listen_address(a->listen, "--listen");
    const std::filesystem::path dir(a->dir);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw InputError(a->dir, "not a folder (give the output folder of anvil run)");
    if (DIR* d = ::opendir(dir.c_str())) {
      ::closedir(d);
    } else {
      throw InputError(a->dir, "cannot read this folder");
    }
    if (!std::filesystem::is_directory(dir / ".checkpoints", ec))
      fmt::print("anvil serve: {} holds no frames yet (no .checkpoints): watching it\n", a->dir);
    dashboard::LiveOptions lo;
    lo.output_dir = dir;
    lo.scan_name = std::filesystem::absolute(dir).lexically_normal().filename().string();
    std::shared_ptr<dashboard::FrameReader> reader;
    if (!a->scan.empty()) {
      const auto config = pipeline::load_scan_config(a->scan);
      lo.scan_name = config.name;
      lo.phases = config.fit.phases;
      reader = std::make_shared<dashboard::FrameReader>(config);
    }
    dashboard::LiveState live(lo);
    if (reader) live.set_frame_reader(reader);
    live.scan_checkpoints();
    dashboard::ServerOptions so;
    so.address = address;
    so.port = port;
    so.token = a->token;
    so.web_dir = dashboard::web_dir();
    so.chart_js = dashboard::chart_js_path();
    so.output_dir = dir;
    so.option = "--listen";
    dashboard::DashboardServer server(live, so);
    fmt::print("anvil serve: dashboard at {}\n", server.url());
    std::fflush(stdout);
    std::signal(SIGINT, request_serve_stop);
    std::signal(SIGTERM, request_serve_stop);
    const auto t0 = std::chrono::steady_clock::now();
    while (!g_serve_stop.load()) {
      std::this_thread::sleep_for(std::chrono::duration<double>(a->poll_s));
      live.scan_checkpoints();
      if (a->for_s > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= a->for_s)
        break;
    }
    ctx.exit_code = 0;
  });
}

}  // namespace anvil::cli
