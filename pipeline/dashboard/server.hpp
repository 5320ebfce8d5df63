// The dashboard's HTTP server (cpp-httplib, on its own threads): one page, its script and
// Chart.js, a small read-only JSON API over a LiveState, and downloads of the files of the
// output folder. Nothing outside the output folder and the page's own files is ever served;
// an optional token guards a shared beamline network. docs/dashboard.md lists the API.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "live_state.hpp"

namespace httplib {
class Server;
}

namespace anvil::dashboard {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;                      // 0: any free port (the bound one: DashboardServer::port)
  std::string token;                 // "": none; else every request carries ?token= or a Bearer header
  std::filesystem::path web_dir;     // index.html, dashboard.js, dashboard.css
  std::filesystem::path chart_js;    // Chart.js (Debian's libjs-chart.js)
  std::filesystem::path output_dir;  // DIR: /files/... serves files under it, nothing else
  int threads = 4;                   // request threads
  std::string option = "--serve";    // the command-line option that gave the address (for errors)
};

// "[ADDR:]PORT" as the command line gives it: ("127.0.0.1", PORT) without an address. Throws
// InputError (source `what`) for anything else.
std::pair<std::string, int> parse_listen_address(const std::string& text, const std::string& what);

// The page's folder: $ANVIL_DASHBOARD_DIR when set, else share/anvil/dashboard of an install or
// pipeline/dashboard/web of the source tree, from the executable's folder upward (as calib_dir).
std::filesystem::path web_dir();
// Chart.js: $ANVIL_CHARTJS when set, else Debian's /usr/share/javascript/chart.js/chart.min.js.
std::filesystem::path chart_js_path();

class DashboardServer {
 public:
  // Binds at once: InputError naming the address when it cannot (port in use, no such address).
  DashboardServer(LiveState& state, ServerOptions options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const { return port_; }
  // http://ADDR:PORT/ (with ?token=… when there is one).
  std::string url() const;

 private:
  LiveState& state_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace anvil::dashboard
