// The live dashboard through the command line, as an operator uses it: `anvil run --follow
// --serve 127.0.0.1:0` on a scan whose frames arrive one by one, its JSON API checked after
// each frame with a bounded client that talks to 127.0.0.1 only; `anvil serve DIR` on the
// finished folder; and bad input (port in use, unreadable folder, paths outside the folder,
// malformed queries, a missing token) answered with a clear error or an HTTP 4xx while the
// reduction's tables stay byte-identical to a run without the dashboard.
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/frame_source.hpp"
#include "io/tiff.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace anvil;

namespace {

const fs::path kSample = fs::path(ANVIL_SOURCE_DIR) / "sample_data" / "cdse_dac";
// The sample scan's first 10 frames: wurtzite → rock salt on compression (3.3–9.8 GPa).
constexpr int kFrames = 10;
// A frame the detector wrote without a single valid pixel (all -1): it fails, the scan goes on.
constexpr int kBroken = 8;

fs::path scratch() { return test::scratch_for_test("dashboard"); }
using test::slurp;

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A child process (the anvil command line) with its stdout and stderr on a pipe, read with
// time limits; killed if the test ends before it does.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  // The first line of output containing `what`, or "" after `seconds`.
  std::string line_with(const std::string& what, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
        const std::string line = buffer_.substr(0, nl);
        output_ += line + "\n";
        buffer_.erase(0, nl + 1);
        if (has(line, what)) return line;
      }
      if (!read_some(100)) break;
    }
    return "";
  }
  // Waits (at most `seconds`) for the exit status; -1 when still running.
  int wait(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      read_some(50);
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (read_some(0)) {
        }
        output_ += buffer_;
        buffer_.clear();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }
  void stop() { ::kill(pid_, SIGTERM); }
  const std::string& output() const { return output_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return timeout_ms > 0;
    char buf[4096];
    const auto n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string buffer_, output_;
};

// The port in "… dashboard at http://127.0.0.1:PORT/…".
int port_of(const std::string& line) {
  const auto at = line.find("http://127.0.0.1:");
  if (at == std::string::npos) return -1;
  return std::stoi(line.substr(at + 17));
}

// A client of the dashboard: 127.0.0.1 only, every request bounded to 5 s.
struct Api {
  explicit Api(int port) : client("127.0.0.1", port) {
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    client.set_write_timeout(5, 0);
  }
  std::pair<int, std::string> get(const std::string& path) {
    const auto r = client.Get(path.c_str());
    if (!r) return {-1, httplib::to_string(r.error())};
    return {r->status, r->body};
  }
  json get_json(const std::string& path) {
    const auto [status, body] = get(path);
    EXPECT_EQ(status, 200) << path << ": " << body;
    return status == 200 ? json::parse(body) : json();
  }
  httplib::Client client;
};

// The sample scan's WAXS frames as a numbered TIFF series in `held` (gaps written as -1, as a
// Pilatus writes them), and its description in `dir` naming dir/waxs_{:05d}.tif.
void make_tiff_scan(const fs::path& dir, const fs::path& held) {
  fs::create_directories(held);
  const auto src = io::open_frames((kSample / "cdse_dac_waxs_master.h5").string());
  for (std::size_t k = 0; k < static_cast<std::size_t>(kFrames); ++k) {
    auto frame = src->read(k);
    for (std::size_t i = 0; i < frame.image.pixels.size(); ++i)
      if (frame.invalid.pixels[i] || static_cast<int>(k) == kBroken) frame.image.pixels[i] = -1.0f;
    char name[64];
    std::snprintf(name, sizeof name, "waxs_%05zu.tif", k);
    io::write_tiff((held / name).string(), {frame.image});
  }
  for (const char* f : {"waxs.poni", "waxs.mask"})
    fs::copy_file(kSample / f, dir / f, fs::copy_options::overwrite_existing);
  std::istringstream table(slurp(kSample / "pressure.csv"));  // its first kFrames rows
  std::ofstream rows(dir / "pressure.csv");
  std::string line;
  for (int k = 0; k <= kFrames && std::getline(table, line); ++k) rows << line << "\n";
  std::ofstream(dir / "scan.toml") << "[scan]\nname = \"live\"\n"
                                      "[waxs]\nframes = \"waxs_{:05d}.tif\"\nponi = \"waxs.poni\"\n"
                                      "mask = \"waxs.mask\"\n"
                                      "[waxs.integration]\nunit = \"2th_deg\"\nbins = 1500\n"
                                      "range = [3.0, 21.0]\nerror_model = \"azimuthal\"\n"
                                      "polarization = 0.99\n"
                                      "[pressure]\nfile = \"pressure.csv\"\n"
                                      "[fit]\nphases = [\"CdSe-WZ\", \"CdSe-ZB\", \"CdSe-RS\"]\n"
                                      "range = [4.0, 20.0]\n";
}

// Frame k arrives as a detector writer delivers it: written under another name, renamed.
void deliver(const fs::path& held, const fs::path& dir, int k) {
  char name[64];
  std::snprintf(name, sizeof name, "waxs_%05d.tif", k);
  fs::copy_file(held / name, dir / (std::string(name) + ".part"));
  fs::rename(dir / (std::string(name) + ".part"), dir / name);
}

// pressure.csv: frame → GPa.
std::map<int, double> pressures(const fs::path& file) {
  std::map<int, double> p;
  std::istringstream in(slurp(file));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    p[std::stoi(line.substr(0, comma))] = std::stod(line.substr(comma + 1));
  }
  return p;
}

// phase_fractions.csv: frame → {phase: fraction}.
std::map<int, std::map<std::string, double>> csv_fractions(const fs::path& file) {
  std::map<int, std::map<std::string, double>> out;
  std::istringstream in(slurp(file));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  {
    std::istringstream h(line);
    std::string f;
    while (std::getline(h, f, ',')) header.push_back(f);
  }
  while (std::getline(in, line)) {
    std::istringstream r(line);
    std::string f;
    std::vector<std::string> fields;
    while (std::getline(r, f, ',')) fields.push_back(f);
    const int frame = std::stoi(fields[0]);
    for (const char* ph : {"CdSe-WZ", "CdSe-ZB", "CdSe-RS"})
      for (std::size_t c = 0; c < header.size() && c < fields.size(); ++c)
        if (header[c] == ph && !fields[c].empty()) out[frame][ph] = std::stod(fields[c]);  // empty: failed
  }
  return out;
}

// Polls /api/status (at most `seconds`) until `done` frames are done and none is in flight.
json wait_for_done(Api& api, std::size_t done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  json s;
  while (std::chrono::steady_clock::now() < end) {
    const auto [status, body] = api.get("/api/status");
    if (status == 200) {
      s = json::parse(body);
      if (s["done"].get<std::size_t>() >= done && s["in_flight"].empty()) return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "the dashboard did not report " << done << " frames within " << seconds
                << " s: " << s.dump();
  return s;
}

}  // namespace

// The scan arrives frame by frame; after each, the API says how many frames are done, and each
// frame's pressure and phase fractions; at the end they equal the tables the run wrote, and the
// tables equal those of a run without the dashboard (bad requests and a second server on the
// same port in between change nothing).
TEST(Dashboard, LiveRunServesEachFrameAsItArrivesAndBadRequestsChangeNothing) {
  const auto dir = scratch();
  const fs::path held = dir / "held";
  make_tiff_scan(dir, held);
  // Reference: the same scan reduced whole, without a dashboard.
  {
    const fs::path whole = dir / "whole";
    fs::create_directories(whole);
    for (const char* f : {"scan.toml", "waxs.poni", "waxs.mask", "pressure.csv"})
      fs::copy_file(dir / f, whole / f);
    for (int k = 0; k < kFrames; ++k) deliver(held, whole, k);
    Child plain({ANVIL_CLI, "run", (whole / "scan.toml").string(), "-o", (whole / "out").string(), "-q",
                 "--threads", "2"});
    ASSERT_EQ(plain.wait(120), 3) << plain.output();  // 3: a frame failed
  }
  deliver(held, dir, 0);
  Child run({ANVIL_CLI, "run", (dir / "scan.toml").string(), "-o", (dir / "out").string(), "--follow",
             "--serve", "127.0.0.1:0", "--poll", "0.1", "--idle-timeout", "4", "-q", "--threads", "2"});
  const std::string line = run.line_with("dashboard at http://127.0.0.1:", 30);
  const int port = port_of(line);
  ASSERT_GT(port, 0) << run.output();
  Api api(port);
  const auto p = pressures(dir / "pressure.csv");
  ASSERT_EQ(p.size(), static_cast<std::size_t>(kFrames));
  for (int k = 0; k < kFrames; ++k) {
    if (k > 0) deliver(held, dir, k);
    const json s = wait_for_done(api, static_cast<std::size_t>(k + 1), 60);
    EXPECT_EQ(s["done"], k + 1);
    EXPECT_EQ(s["failed"], k >= kBroken ? 1 : 0);
    if (k >= kBroken) {  // the failure is said where the operator looks
      EXPECT_EQ(s["last_error_frame"], kBroken) << s.dump();
      EXPECT_TRUE(has(s["last_error"], "no valid pixel")) << s.dump();
    }
    EXPECT_EQ(s["scan"], "live");
    const json frames = api.get_json("/api/frames")["frames"];
    ASSERT_EQ(frames.size(), static_cast<std::size_t>(k + 1));
    for (int i = 0; i <= k; ++i) {
      const json& f = frames[static_cast<std::size_t>(i)];
      EXPECT_EQ(f["frame"], i);
      EXPECT_NEAR(f["pressure_gpa"].get<double>(), p.at(i), 1e-9) << "frame " << i;
      EXPECT_EQ(f["waxs_status"], i == kBroken ? "failed" : "ok") << "frame " << i;
      if (i == kBroken) continue;
      double sum = 0;
      for (const auto& [name, v] : f["fractions"].items()) sum += v[0].get<double>();
      EXPECT_NEAR(sum, 1.0, 2e-3) << "frame " << i;  // fractions with their rounding
    }
    const json detail = api.get_json("/api/frame?n=" + std::to_string(k));
    EXPECT_EQ(detail["frame"], k);
    if (k == kBroken) {
      EXPECT_TRUE(has(detail["waxs"]["error"], "no valid pixel")) << detail["waxs"].dump();
      continue;
    }
    EXPECT_EQ(detail["waxs"]["analysis"]["status"], "converged");
    EXPECT_EQ(detail["waxs"]["analysis"]["profile"]["model"].size(),
              detail["waxs"]["analysis"]["profile"]["x"].size());
    if (k == kFrames / 2) {  // bad input while the scan runs
      EXPECT_EQ(api.get("/api/frame?n=abc").first, 400);
      EXPECT_EQ(api.get("/api/frame?n=-1").first, 400);
      EXPECT_EQ(api.get("/api/frame?n=99999999999999999999").first, 400);
      EXPECT_EQ(api.get("/api/frame").first, 400);
      EXPECT_EQ(api.get("/api/frame?n=9999").first, 404);
      EXPECT_EQ(api.get("/api/image?detector=../../etc").first, 400);
      EXPECT_EQ(api.get("/api/image?detector=saxs").first, 404);  // no SAXS in this scan
      EXPECT_EQ(api.get("/files/../../../etc/passwd").first / 100, 4);
      EXPECT_EQ(api.get("/files/%2e%2e/%2e%2e/etc/passwd").first / 100, 4);
      EXPECT_EQ(api.get("/files/.checkpoints/scan.toml").first, 403);
      EXPECT_EQ(api.get("/files/.anvil.lock").first, 403);
      EXPECT_EQ(api.get("/../scan.toml").first, 404);
      EXPECT_EQ(api.get("/files/%2Fetc%2Fpasswd").first / 100, 4);
      fs::create_symlink("/etc", dir / "out" / "etc_link");
      EXPECT_EQ(api.get("/files/etc_link/passwd").first, 403);
      fs::remove(dir / "out" / "etc_link");
      const auto post = api.client.Post("/api/status", "x", "text/plain");
      ASSERT_TRUE(post);
      EXPECT_EQ(post->status, 405);
      EXPECT_EQ(api.get("/files/frames.csv").first, 200);
      // A second server on the same port: a clear error before any work, the first one goes on.
      const fs::path other = dir / "other_out";
      Child second({ANVIL_CLI, "run", (dir / "scan.toml").string(), "-o", other.string(), "--follow",
                    "--serve", "127.0.0.1:" + std::to_string(port), "-q"});
      EXPECT_EQ(second.wait(30), 2) << second.output();
      EXPECT_TRUE(has(second.output(), "cannot listen on 127.0.0.1:" + std::to_string(port)))
          << second.output();
      EXPECT_FALSE(fs::exists(other / "frames.csv"));
    }
    // The latest frame's image, log-scaled, with the fitted phases' rings.
    const json image = api.get_json("/api/image?detector=waxs&n=" + std::to_string(k));
    EXPECT_EQ(image["frame"], k);
    EXPECT_GT(image["width"].get<int>(), 0);
    EXPECT_FALSE(image["rings"].empty());
  }
  const json alerts = api.get_json("/api/alerts")["alerts"];
  bool rs_appeared = false, broken_said = false;
  for (const auto& a : alerts) {
    rs_appeared |= a["kind"] == "phase appeared" && has(a["message"], "CdSe-RS");
    broken_said |= a["frame"] == kBroken && a["level"] == "error" && has(a["message"], "no valid pixel");
  }
  EXPECT_TRUE(rs_appeared) << alerts.dump();
  EXPECT_TRUE(broken_said) << alerts.dump();
  const json eos = api.get_json("/api/eos");
  EXPECT_TRUE(eos["CdSe-WZ"].contains("k0_gpa")) << eos.dump();
  const json frames = api.get_json("/api/frames")["frames"];
  ASSERT_EQ(run.wait(60), 3) << run.output();  // the idle timeout ends the live run; a frame failed
  // The API's fractions are the tables' (the same fits), and the tables are those of the plain run.
  const auto table = csv_fractions(dir / "out" / "phase_fractions.csv");
  ASSERT_EQ(table.size(), static_cast<std::size_t>(kFrames - 1));  // the failed frame has no fractions
  for (const auto& f : frames)
    for (const auto& [name, v] : f["fractions"].items())  // (none for the failed frame)
      EXPECT_NEAR(v[0].get<double>(), table.at(f["frame"].get<int>()).at(name), 1e-9) << f.dump();
  // (The failed frame's error names its file, which is in the other folder there.)
  const auto same_folder = [&](std::string text) {
    const std::string from = (dir / "whole").string() + "/", to = dir.string() + "/";
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
    return text;
  };
  for (const char* table_file : {"phase_fractions.csv", "frames.csv", "lattice.csv"})
    EXPECT_EQ(slurp(dir / "out" / table_file), same_folder(slurp(dir / "whole" / "out" / table_file)))
        << table_file;
}

// `anvil serve DIR` on a finished folder: the same frames from its checkpoints; images only
// with --scan; a token when asked for; an unreadable folder, a bad address or a port in use is
// a clear error (exit 2).
TEST(Dashboard, ServeAFinishedFolderWithTokenAndBadInput) {
  const auto dir = scratch();
  make_tiff_scan(dir, dir / "held");
  for (int k = 0; k < kFrames; ++k) deliver(dir / "held", dir, k);
  // A token left in the shell's environment does not stop a run without --serve.
  ::setenv("ANVIL_DASHBOARD_TOKEN", "from-the-shell", 1);
  Child plain(
      {ANVIL_CLI, "run", (dir / "scan.toml").string(), "-o", (dir / "out").string(), "-q", "--threads", "2"});
  ASSERT_EQ(plain.wait(120), 3) << plain.output();  // frame 8 has no valid pixel
  ::unsetenv("ANVIL_DASHBOARD_TOKEN");

  Child serve({ANVIL_CLI, "serve", (dir / "out").string(), "--listen", "127.0.0.1:0", "--scan",
               (dir / "scan.toml").string(), "--token", "s3cret", "--for", "60"});
  const int port = port_of(serve.line_with("dashboard at http://127.0.0.1:", 30));
  ASSERT_GT(port, 0) << serve.output();
  EXPECT_TRUE(has(serve.output(), "?token=s3cret")) << serve.output();
  Api api(port);
  EXPECT_EQ(api.get("/api/status").first, 401);
  EXPECT_EQ(api.get("/api/status?token=wrong").first, 401);
  EXPECT_EQ(api.get("/files/frames.csv").first, 401);
  EXPECT_EQ(api.get("/").first, 200);  // the page holds no data: it then sends the token itself
  const json s = api.get_json("/api/status?token=s3cret");
  EXPECT_EQ(s["done"], kFrames);
  EXPECT_EQ(s["frames"], kFrames);
  api.client.set_bearer_token_auth("s3cret");
  EXPECT_EQ(api.get_json("/api/frames")["frames"].size(), static_cast<std::size_t>(kFrames));
  const json image = api.get_json("/api/image?detector=waxs&n=7");  // read again from the scan's files
  EXPECT_EQ(image["frame"], 7);
  EXPECT_GT(image["pixels"].get<std::string>().size(), 1000u);
  EXPECT_EQ(api.get("/api/image?detector=waxs&n=400").first, 404);
  EXPECT_EQ(api.get("/").first, 200);
  EXPECT_EQ(api.get("/chart.js").first, 200);
  // Bad input to the command itself.
  Child in_use({ANVIL_CLI, "serve", (dir / "out").string(), "--listen", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(in_use.wait(30), 2) << in_use.output();
  EXPECT_TRUE(has(in_use.output(), "cannot listen on")) << in_use.output();
  Child missing({ANVIL_CLI, "serve", (dir / "no_such_folder").string(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(missing.wait(30), 2) << missing.output();
  EXPECT_TRUE(has(missing.output(), "no_such_folder: not a folder")) << missing.output();
  Child file({ANVIL_CLI, "serve", (dir / "scan.toml").string(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(file.wait(30), 2) << file.output();
  Child address({ANVIL_CLI, "serve", (dir / "out").string(), "--listen", "127.0.0.1:99999"});
  EXPECT_EQ(address.wait(30), 2) << address.output();
  EXPECT_TRUE(has(address.output(), "99999")) << address.output();
  Child token_alone(
      {ANVIL_CLI, "run", (dir / "scan.toml").string(), "-o", (dir / "out2").string(), "--token", "x"});
  EXPECT_EQ(token_alone.wait(30), 2) << token_alone.output();
  serve.stop();
  EXPECT_EQ(serve.wait(30), 0) << serve.output();
}
