#include "server.hpp"

#include <fmt/core.h>
#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "calib_dirs.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace anvil::dashboard {

namespace fs = std::filesystem;

namespace {

// Equal, in time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() != b.size();
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  return diff == 0;
}

void send_json(httplib::Response& res, const std::shared_ptr<const std::string>& text) {
  res.set_header("Cache-Control", "no-store");
  res.set_content(*text, "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

// A frame number as a query gives it: digits only, at most 12.
std::optional<std::size_t> frame_number(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::size_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

const char* content_type(const fs::path& p) {
  const std::string e = p.extension().string();
  if (e == ".html") return "text/html; charset=utf-8";
  if (e == ".js") return "text/javascript; charset=utf-8";
  if (e == ".css") return "text/css; charset=utf-8";
  if (e == ".png") return "image/png";
  if (e == ".svg") return "image/svg+xml";
  if (e == ".pdf") return "application/pdf";
  if (e == ".json") return "application/json";
  if (e == ".csv" || e == ".txt" || e == ".xye" || e == ".chi") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::pair<std::string, int> parse_listen_address(const std::string& text, const std::string& what) {
  std::string address = "127.0.0.1", port = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (address.size() > 2 && address.front() == '[' && address.back() == ']')  // [::1]
      address = address.substr(1, address.size() - 2);
    if (address.empty())
      throw InputError(what, fmt::format("'{}': no address before ':' (give PORT or ADDR:PORT)", text));
  }
  int p = -1;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535)
    throw InputError(what, fmt::format("'{}' is not [ADDR:]PORT with PORT in 0..65535", text));
  return {address, p};
}

fs::path web_dir() {
  if (const char* env = std::getenv("ANVIL_DASHBOARD_DIR"); env && *env) return env;
  std::error_code ec;
  fs::path p = pipeline::executable_dir();
  for (int up = 0; up < 8 && !p.empty(); ++up) {
    if (fs::is_regular_file(p / "share" / "anvil" / "dashboard" / "index.html", ec))
      return p / "share" / "anvil" / "dashboard";
    if (fs::is_regular_file(p / "pipeline" / "dashboard" / "web" / "index.html", ec))
      return p / "pipeline" / "dashboard" / "web";
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  throw InputError("dashboard",
                   "the dashboard's page (share/anvil/dashboard of an install, or pipeline/dashboard/web "
                   "of the source tree) was not found above the anvil executable: set ANVIL_DASHBOARD_DIR");
}

fs::path chart_js_path() {
  if (const char* env = std::getenv("ANVIL_CHARTJS"); env && *env) return env;
  return "/usr/share/javascript/chart.js/chart.min.js";
}

DashboardServer::DashboardServer(LiveState& state, ServerOptions options)
    : state_(state), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  auto& s = *server_;
  const int threads = options_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  // One request per connection: a browser's idle keep-alive connection would hold one of the
  // few request threads for seconds.
  s.set_keep_alive_max_count(1);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_payload_max_length(64 * 1024);  // read-only: no request has a body worth reading
  // httplib's default adds SO_REUSEPORT, with which a second anvil could bind the same port and
  // take half of its requests: SO_REUSEADDR only (a restart need not wait for TIME_WAIT), so a
  // port in use is an error.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  const std::string token = options_.token;
  s.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      send_error(res, 405, "read-only: only GET");
      return httplib::Server::HandlerResponse::Handled;
    }
    // The page's own files hold no data: they load without the token (which the page then
    // sends with every request it makes); the API and the folder's files need it.
    const bool page = req.path == "/" || req.path == "/index.html" || req.path == "/dashboard.js" ||
                      req.path == "/dashboard.css" || req.path == "/chart.js";
    if (!token.empty() && !page) {
      std::string given = req.get_param_value("token");
      const std::string auth = req.get_header_value("Authorization");
      if (given.empty() && auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
      if (!same_secret(given, token)) {
        send_error(res, 401, "this dashboard needs its token: open the address anvil printed (…?token=…)");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
    return httplib::Server::HandlerResponse::Unhandled;
  });

  const fs::path web = options_.web_dir, chart = options_.chart_js;
  const auto page_file = [web](const std::string& name) {
    return [web, name](const httplib::Request&, httplib::Response& res) {
      const fs::path p = web / name;
      if (!fs::is_regular_file(p)) return send_error(res, 404, name + " is missing from " + web.string());
      res.set_content(read_text_file(p), content_type(p));
    };
  };
  s.Get("/", page_file("index.html"));
  s.Get("/index.html", page_file("index.html"));
  s.Get("/dashboard.js", page_file("dashboard.js"));
  s.Get("/dashboard.css", page_file("dashboard.css"));
  s.Get("/chart.js", [chart](const httplib::Request&, httplib::Response& res) {
    if (!fs::is_regular_file(chart))
      return send_error(res, 404,
                        chart.string() + " not found: install Debian's libjs-chart.js or set ANVIL_CHARTJS");
    res.set_header("Cache-Control", "max-age=3600");
    res.set_content(read_text_file(chart), "text/javascript; charset=utf-8");
  });

  LiveState* st = &state_;
  s.Get("/api/status",
        [st](const httplib::Request&, httplib::Response& res) { send_json(res, st->status_json()); });
  s.Get("/api/frames", [st](const httplib::Request& req, httplib::Response& res) {
    std::uint64_t since = 0;
    if (req.has_param("since")) {
      const auto v = frame_number(req.get_param_value("since"));
      if (!v)
        return send_error(res, 400, "since: '" + req.get_param_value("since") + "' is not a version number");
      since = *v;
    }
    send_json(res, st->frames_json(since));
  });
  s.Get("/api/geometry", [st](const httplib::Request& req, httplib::Response& res) {
    const std::string detector = req.get_param_value("detector");
    if (detector != "waxs" && detector != "saxs")
      return send_error(res, 400, "detector: give waxs or saxs, not '" + detector + "'");
    const auto text = st->geometry_json(detector);
    if (!text) return send_error(res, 404, "no " + detector + " geometry (yet)");
    send_json(res, text);
  });
  s.Get("/api/alerts",
        [st](const httplib::Request&, httplib::Response& res) { send_json(res, st->alerts_json()); });
  s.Get("/api/eos",
        [st](const httplib::Request&, httplib::Response& res) { send_json(res, st->eos_json()); });
  s.Get("/api/frame", [st](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("n")) return send_error(res, 400, "give the frame: /api/frame?n=NUMBER");
    const auto n = frame_number(req.get_param_value("n"));
    if (!n) return send_error(res, 400, "n: '" + req.get_param_value("n") + "' is not a frame number");
    const auto text = st->frame_json(*n);
    if (!text) return send_error(res, 404, fmt::format("frame {} is not done (yet)", *n));
    send_json(res, text);
  });
  s.Get("/api/image", [st](const httplib::Request& req, httplib::Response& res) {
    const std::string detector = req.get_param_value("detector");
    if (detector != "waxs" && detector != "saxs")
      return send_error(res, 400, "detector: give waxs or saxs, not '" + detector + "'");
    std::optional<std::size_t> n;
    if (req.has_param("n")) {
      n = frame_number(req.get_param_value("n"));
      if (!n) return send_error(res, 400, "n: '" + req.get_param_value("n") + "' is not a frame number");
    }
    const auto text = st->image_json(detector, n);
    if (!text)
      return send_error(
          res, 404,
          n ? fmt::format("no {} image of frame {} (anvil serve needs --scan to read frames)", detector, *n)
            : "no " + detector + " image yet");
    send_json(res, text);
  });
  // Files of the output folder (tables, figures, report): only regular files under it, by
  // their canonical path (no "..", no symbolic link out of it), and none hidden (.checkpoints,
  // the lock).
  const fs::path root = fs::weakly_canonical(options_.output_dir);
  s.Get(R"(/files/(.+))", [root](const httplib::Request& req, httplib::Response& res) {
    const std::string rel = req.matches[1];
    const fs::path asked(rel);
    if (asked.is_absolute()) return send_error(res, 403, "absolute paths are not served");
    for (const auto& part : asked)
      if (part.string().empty() || part.string().front() == '.')
        return send_error(res, 403, "'" + rel + "': hidden files and '..' are not served");
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(root / asked, ec);
    const auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
    if (ec || r != root.end()) return send_error(res, 403, "'" + rel + "' is outside the output folder");
    if (!fs::is_regular_file(p, ec))
      return send_error(res, 404, "'" + rel + "' is not a file of the output folder");
    res.set_header("Cache-Control", "no-store");
    res.set_content(read_text_file(p), content_type(p));
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) send_error(res, res.status, fmt::format("{} {}: not found", req.method, req.path));
  });

  errno = 0;
  if (options_.port == 0) {
    port_ = s.bind_to_any_port(options_.address);
  } else {
    port_ = s.bind_to_port(options_.address, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    const int err = errno;
    throw InputError(options_.option, fmt::format("cannot listen on {}:{}{}", options_.address, options_.port,
                                                  err ? fmt::format(" ({})", std::strerror(err))
                                                      : " (port in use, or not an address of this machine)"));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

DashboardServer::~DashboardServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string DashboardServer::url() const {
  const bool v6 = options_.address.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}/{}", v6 ? "[" : "", options_.address, v6 ? "]" : "", port_,
                     options_.token.empty() ? "" : "?token=" + options_.token);
}

}  // namespace anvil::dashboard
