#include "live_state.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "azimuthal.hpp"
#include "pressure/eos.hpp"
#include "series/eos_fit.hpp"

namespace anvil::dashboard {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json number_or_null(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return nullptr;
  const double v = j.at(key).get<double>();
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json floats(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? json(static_cast<float>(x)) : json(nullptr));
  return a;
}

json outcome_detail(const pipeline::DetectorOutcome& o) {
  json j;
  j["present"] = o.present;
  if (!o.present) return j;
  j["status"] = o.status();
  j["error"] = o.error;
  j["source"] = o.source;
  if (o.ok) {
    j["unit"] = unit_name(o.pattern.unit);
    j["x"] = floats(o.pattern.x);
    j["I"] = floats(o.pattern.intensity);
    j["sigma"] = floats(o.pattern.sigma);
  }
  j["analysis"] = o.analysis;
  return j;
}

// Another process holds the folder's write lock (a run writing to it now). Opened read-only:
// serving never writes into the folder.
bool writer_active(const fs::path& dir) {
  const int fd = ::open((dir / ".anvil.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

// Whether a phase counts as present in a fit: a fraction clear of zero.
bool present(const json& f) {
  if (!f.is_array() || f.size() < 2 || !f[0].is_number()) return false;
  const double v = f[0].get<double>(), e = f[1].is_number() ? f[1].get<double>() : 0.0;
  return v > 0.05 && v > 3.0 * e;
}

}  // namespace

LiveState::LiveState(LiveOptions options) : options_(std::move(options)) {
  preview_thread_ = std::thread([this] { preview_loop(); });
}

LiveState::~LiveState() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  preview_thread_.join();
}

void LiveState::pass_started(std::size_t first, std::size_t frames, std::size_t todo) {
  const std::lock_guard lock(mutex_);
  first_ = first;
  frames_ = frames;
  todo_ = todo;
  // Live mode looks for new frames every poll: "running" only when there is something to do.
  if (todo > 0 || state_ == "starting") state_ = "running";
  ++version_;
}

void LiveState::frame_resumed(const pipeline::FrameResult& r) {
  {
    const std::lock_guard lock(mutex_);
    // Known already (live mode looks again every poll), unless the pressure log has since
    // given it another pressure or direction.
    const auto it = summaries_.find(r.index);
    if (it != summaries_.end() && it->second["direction"] == pressure::direction_name(r.direction) &&
        it->second["pressure_gpa"] ==
            (r.pressure_gpa && std::isfinite(*r.pressure_gpa) ? json(*r.pressure_gpa) : json(nullptr)))
      return;
  }
  add_frame(r, false);
}

void LiveState::frame_started(std::size_t number) {
  const std::lock_guard lock(mutex_);
  in_flight_.insert(number);
  ++version_;
}

void LiveState::frame_read(std::size_t number, const std::string& detector, const io::Frame& frame,
                           const pipeline::DetectorIntegrator& integrator) {
  // The detector's invalid pixels outside the static mask: every frame (one pass over bytes).
  const auto& mask = integrator.static_mask();
  std::size_t flagged = 0;
  if (frame.invalid.shape == frame.image.shape) {
    const std::uint8_t* inv = frame.invalid.pixels.data();
    const std::size_t n = frame.invalid.pixels.size();
    if (mask.shape == frame.image.shape) {
      const std::uint8_t* m = mask.pixels.data();
      for (std::size_t i = 0; i < n; ++i) flagged += (inv[i] != 0) & (m[i] == 0);
    } else {
      for (std::size_t i = 0; i < n; ++i) flagged += inv[i] != 0;
    }
  }
  std::optional<geometry::Geometry> new_geometry;
  bool want_preview = false;
  {
    const std::lock_guard lock(mutex_);
    pixels_[number][detector].flagged = flagged;
    if (!geometry_.count(detector)) {
      geometry_[detector] = nullptr;  // being made (below, once per detector)
      new_geometry = integrator.geometry();
    }
    const auto latest = latest_preview_.find(detector);
    const bool newest = latest == latest_preview_.end() || !latest->second || latest->second->frame <= number;
    // Not while another frame is being previewed, nor within a second of this detector's last
    // preview (the page shows at most one image a second): such a frame is not previewed.
    const auto now = std::chrono::steady_clock::now();
    const auto last = last_preview_.find(detector);
    // …and only while someone looks at images (asked within the last 10 s).
    const bool watched = image_requested_ && now - *image_requested_ < std::chrono::seconds(10);
    want_preview = watched && !preview_busy_ && !pending_ && newest &&
                   (last == last_preview_.end() || now - last->second >= std::chrono::milliseconds(900));
    if (want_preview) last_preview_[detector] = now;
  }
  std::shared_ptr<const PreviewGeometry> made;
  if (new_geometry)
    made = std::make_shared<const PreviewGeometry>(
        make_preview_geometry(detector, *new_geometry, frame.image.shape, mask));
  if (!want_preview && !made) return;
  // Copied outside the lock (the only copy of pixels the dashboard makes, about once a second).
  std::optional<Pending> p;
  if (want_preview) p = Pending{number, detector, frame.image, frame.invalid};
  {
    const std::lock_guard lock(mutex_);
    if (made) geometry_[detector] = made;
    if (!p || preview_busy_ || pending_) return;
    pending_ = std::move(p);
  }
  wake_.notify_one();
}

void LiveState::preview_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || pending_; });
    if (stopping_) return;
    Pending p = std::move(*pending_);
    pending_.reset();
    const auto g = geometry_[p.detector];
    if (!g) continue;
    preview_busy_ = true;
    lock.unlock();
    auto preview =
        std::make_shared<const FramePreview>(make_preview(*g, p.number, p.image, p.invalid, std::nullopt));
    lock.lock();
    preview_busy_ = false;
    auto& counts = pixels_[p.number][p.detector];
    counts.spots = preview->spots;
    if (summaries_.count(p.number)) changed_[p.number] = ++frames_version_;
    auto& latest = latest_preview_[p.detector];
    if (!latest || latest->frame <= p.number) latest = preview;
    ++version_;
  }
}

void LiveState::frame_finished(const pipeline::FrameResult& r) { add_frame(r, true); }

json LiveState::summary_of(const pipeline::FrameResult& r) const {
  json s;
  s["frame"] = r.index;
  s["pressure_gpa"] =
      r.pressure_gpa && std::isfinite(*r.pressure_gpa) ? json(*r.pressure_gpa) : json(nullptr);
  s["pressure_esd_gpa"] = r.pressure_esd_gpa;
  s["direction"] = std::string(pressure::direction_name(r.direction));
  s["ok"] = r.ok();
  s["waxs_status"] = r.waxs.status();
  s["saxs_status"] = r.saxs.status();
  s["error"] = r.error();
  const json& a = r.waxs.analysis;
  const bool fitted = r.waxs.ok && a.is_object() && a.value("status", "") == "converged";
  s["rwp"] = fitted ? number_or_null(a, "rwp") : json(nullptr);
  json fractions = json::object(), volumes = json::object();
  if (fitted && a.contains("phases") && a["phases"].is_object())
    for (const auto& [name, ph] : a["phases"].items()) {
      fractions[name] = {number_or_null(ph, "fraction"), number_or_null(ph, "fraction_esd")};
      if (!ph.value("absent", false))
        volumes[name] = {number_or_null(ph, "volume"), number_or_null(ph, "volume_esd")};
    }
  s["fractions"] = fractions;
  s["volumes"] = volumes;
  const json& x = r.saxs.analysis;
  if (r.saxs.ok && x.is_object() && !r.saxs.analysis_failed())
    s["superlattice"] = {{"lattice", x.value("lattice", "none")},
                         {"a_nm", number_or_null(x, "a_nm")},
                         {"a_esd_nm", number_or_null(x, "a_esd_nm")},
                         {"d_nn_nm", number_or_null(x, "d_nn_nm")}};
  else
    s["superlattice"] = nullptr;
  return s;
}

void LiveState::add_frame(const pipeline::FrameResult& r, bool finished_now) {
  json s = summary_of(r);
  auto kept = finished_now ? std::make_shared<const pipeline::FrameResult>(r) : nullptr;
  const std::lock_guard lock(mutex_);
  const bool is_new = !summaries_.count(r.index);
  summaries_[r.index] = std::move(s);
  changed_[r.index] = ++frames_version_;
  in_flight_.erase(r.index);
  if (finished_now) {
    recent_.push_back(std::move(kept));
    while (recent_.size() > options_.frames_kept) recent_.pop_front();
    if (is_new) {  // (a failed frame tried again in live mode is not a new one for the rate)
      finish_times_.push_back(std::chrono::steady_clock::now());
      while (finish_times_.size() > 20) finish_times_.pop_front();
    }
    ++finished_this_run_;
    image_cache_.clear();  // rings of a redone frame may have moved
    image_cache_order_.clear();
  }
  if (!latest_ || r.index > *latest_ || finished_now) latest_ = r.index;
  if (!r.ok()) {
    last_error_ = r.error();
    last_error_frame_ = r.index;
  }
  ++version_;
}

void LiveState::set_state(const std::string& state) {
  const std::lock_guard lock(mutex_);
  if (state_ == state) return;
  state_ = state;
  if (state != "running") in_flight_.clear();
  ++version_;
}

void LiveState::set_error(const std::string& message) {
  const std::lock_guard lock(mutex_);
  last_error_ = message;
  last_error_frame_.reset();
  ++version_;
}

void LiveState::set_frame_reader(std::shared_ptr<FrameReader> reader) {
  const std::lock_guard lock(mutex_);
  reader_ = std::move(reader);
}

std::size_t LiveState::scan_checkpoints() {
  const fs::path dir = options_.output_dir / ".checkpoints";
  std::size_t loaded = 0;
  std::error_code ec;
  std::vector<std::pair<fs::path, fs::file_time_type>> changed;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("frame_", 0) != 0 || e.path().extension() != ".json") continue;
    const auto t = fs::last_write_time(e.path(), ec);
    if (ec) continue;
    const std::lock_guard lock(mutex_);
    auto it = seen_checkpoints_.find(e.path());
    if (it != seen_checkpoints_.end() && it->second == t) continue;
    changed.emplace_back(e.path(), t);
  }
  for (const auto& [path, t] : changed) {
    const auto r = pipeline::read_frame_checkpoint(path);
    if (!r) continue;  // being written: next time
    add_frame(*r, false);
    const std::lock_guard lock(mutex_);
    seen_checkpoints_[path] = t;
    ++loaded;
  }
  const bool running = writer_active(options_.output_dir);
  const std::lock_guard lock(mutex_);
  if (!summaries_.empty()) {
    first_ = summaries_.begin()->first;
    frames_ = std::max(frames_, summaries_.rbegin()->first - first_ + 1);
  }
  const std::string state = running ? "running (another process)" : "watching";
  if (state_ != state) {
    state_ = state;
    ++version_;
  }
  if (loaded) ++version_;
  return loaded;
}

std::uint64_t LiveState::version() const {
  const std::lock_guard lock(mutex_);
  return version_;
}

std::shared_ptr<const std::string> LiveState::cached(const char* what, bool by_frames,
                                                     const std::function<json()>& build,
                                                     std::chrono::milliseconds refresh) {
  std::uint64_t v = 0;
  const auto now = std::chrono::steady_clock::now();
  {
    const std::lock_guard lock(mutex_);
    v = by_frames ? frames_version_ : version_;
    auto& c = cache_[what];
    if (c.text && c.version == v) return c.text;
    // Out of date: made again by one request thread at a time, and not more often than
    // `refresh` (the EOS fits); the others get the text as it was.
    if (c.text && (c.building || now - c.built < refresh)) return c.text;
    c.building = true;
  }
  std::shared_ptr<const std::string> text;
  try {
    text = std::make_shared<const std::string>(build().dump());
  } catch (...) {
    const std::lock_guard lock(mutex_);
    cache_[what].building = false;
    throw;
  }
  const std::lock_guard lock(mutex_);
  cache_[what] = {v, text, now, false};
  return text;
}

std::shared_ptr<const std::string> LiveState::status_json() {
  return cached("status", false, [&] {
    const std::lock_guard lock(mutex_);
    json j;
    j["scan"] = options_.scan_name;
    j["state"] = state_;
    j["version"] = version_;
    j["frames_version"] = frames_version_;
    json previews = json::object();
    for (const auto& [det, p] : latest_preview_)
      if (p) previews[det] = p->frame;
    j["previews"] = previews;
    j["phases"] = options_.phases;
    j["first_frame"] = first_;
    j["frames"] = std::max(frames_, summaries_.size());
    j["done"] = summaries_.size();
    std::size_t failed = 0;
    for (const auto& [n, s] : summaries_) failed += !s.value("ok", false);
    j["succeeded"] = summaries_.size() - failed;
    j["failed"] = failed;
    j["in_flight"] = in_flight_;
    j["latest_frame"] = latest_ ? json(*latest_) : json(nullptr);
    double rate = 0;  // frames per second over the last (up to) 20 finished in this process
    if (finish_times_.size() >= 2) {
      const double span = std::chrono::duration<double>(finish_times_.back() - finish_times_.front()).count();
      if (span > 0) rate = static_cast<double>(finish_times_.size() - 1) / span;
    }
    j["rate_per_min"] = rate > 0 ? json(60.0 * rate) : json(nullptr);
    const std::size_t left = std::max(frames_, summaries_.size()) - summaries_.size();
    j["eta_s"] = rate > 0 && state_ == "running" ? json(static_cast<double>(left) / rate) : json(nullptr);
    j["last_error"] = last_error_;
    j["last_error_frame"] = last_error_frame_ ? json(*last_error_frame_) : json(nullptr);
    j["elapsed_s"] = std::chrono::duration<double>(std::chrono::system_clock::now() - started_).count();
    return j;
  });
}

std::shared_ptr<const std::string> LiveState::frames_json(std::uint64_t since) {
  const auto build = [&] {
    const std::lock_guard lock(mutex_);
    json frames = json::array();
    for (const auto& [n, s] : summaries_) {
      if (since > 0) {
        const auto c = changed_.find(n);
        if (c == changed_.end() || c->second <= since) continue;
      }
      json f = s;
      json px = json::object();
      if (const auto it = pixels_.find(n); it != pixels_.end())
        for (const auto& [det, c] : it->second)
          px[det] = {{"flagged", c.flagged}, {"spots", c.spots ? json(*c.spots) : json(nullptr)}};
      f["pixels"] = px;
      frames.push_back(std::move(f));
    }
    return json{{"frames_version", frames_version_},
                {"since", since},
                {"phases", options_.phases},
                {"frames", frames}};
  };
  if (since > 0) return std::make_shared<const std::string>(build().dump());
  return cached("frames", true, build);
}

std::shared_ptr<const std::string> LiveState::geometry_json(const std::string& detector) {
  std::shared_ptr<const PreviewGeometry> g;
  std::shared_ptr<FrameReader> reader;
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = geometry_.find(detector); it != geometry_.end()) g = it->second;
    reader = reader_;
  }
  if (!g && reader) {
    try {
      g = reader->geometry(detector);
    } catch (const std::exception& e) {  // the scan's files cannot be opened: said in the reply
      return std::make_shared<const std::string>(json{{"detector", detector}, {"error", e.what()}}.dump());
    }
  }
  if (!g) return nullptr;
  return std::make_shared<const std::string>(geometry_preview_json(*g).dump());
}

std::shared_ptr<const std::string> LiveState::alerts_json() {
  const auto frames_text = frames_json();
  return cached(
      "alerts", true,
      [&] {
        const json frames = json::parse(*frames_text)["frames"];
        json alerts = json::array();
        const auto add = [&](const json& f, const std::string& kind, const std::string& message,
                             const std::string& level) {
          alerts.push_back({{"frame", f["frame"]},
                            {"pressure_gpa", f["pressure_gpa"]},
                            {"kind", kind},
                            {"level", level},
                            {"message", message}});
        };
        const auto at = [](const json& f) {
          return f["pressure_gpa"].is_number()
                     ? fmt::format(" at {:.2f} GPa", f["pressure_gpa"].get<double>())
                     : "";
        };
        const json* previous_fit = nullptr;
        std::string previous_lattice;
        std::map<std::string, std::vector<double>> history;  // pixel counts of earlier frames
        for (const auto& f : frames) {
          const std::size_t n = f["frame"].get<std::size_t>();
          if (!f["pressure_gpa"].is_number())
            add(f, "no pressure", fmt::format("frame {} has no pressure", n), "warning");
          for (const char* det : {"waxs_status", "saxs_status"}) {
            const std::string st = f.value(det, "");
            if (!st.empty() && st != "ok")
              add(f, st,
                  fmt::format("frame {}: {} {}: {}", n, std::string(det).substr(0, 4), st,
                              f.value("error", "")),
                  "error");
          }
          if (f["waxs_status"] == "ok" && !f["fractions"].empty()) {
            if (previous_fit)
              for (const auto& [name, v] : f["fractions"].items()) {
                const bool now = present(v),
                           before = present((*previous_fit)["fractions"].value(name, json()));
                if (now != before)
                  add(f, now ? "phase appeared" : "phase vanished",
                      fmt::format("{} {}{} (frame {}, {:.0f} %)", name, now ? "appeared" : "vanished", at(f),
                                  n, v[0].is_number() ? 100.0 * v[0].get<double>() : 0.0),
                      "info");
              }
            previous_fit = &f;
          }
          if (f["superlattice"].is_object()) {
            const std::string lattice = f["superlattice"].value("lattice", "none");
            if (!previous_lattice.empty() && lattice != previous_lattice)
              add(f, "superlattice changed",
                  fmt::format("superlattice {} → {}{} (frame {})", previous_lattice, lattice, at(f), n),
                  "info");
            previous_lattice = lattice;
          }
          // Pixel counts rising: above twice the median of the five frames before, and by 50 pixels.
          for (const auto& [det, c] : f["pixels"].items())
            for (const char* what : {"flagged", "spots"}) {
              if (!c[what].is_number()) continue;
              const double v = c[what].get<double>();
              auto& h = history[det + what];
              if (h.size() >= 2) {
                std::vector<double> last(
                    h.end() - static_cast<std::ptrdiff_t>(std::min<std::size_t>(5, h.size())), h.end());
                std::nth_element(last.begin(), last.begin() + static_cast<std::ptrdiff_t>(last.size() / 2),
                                 last.end());
                const double median = last[last.size() / 2];
                if (v > 2.0 * median + 50.0)
                  add(f, std::string(what) == "spots" ? "spots rising" : "invalid pixels rising",
                      fmt::format("{} {} pixels: {:.0f} (the frames before: ~{:.0f}){} frame {}", det,
                                  std::string(what) == "spots" ? "diamond-spot" : "saturated/invalid", v,
                                  median, at(f), n),
                      "warning");
              }
              h.push_back(v);
            }
        }
        return json{{"alerts", alerts}};
      },
      std::chrono::milliseconds(1000));
}

std::shared_ptr<const std::string> LiveState::eos_json() {
  const auto frames_text = frames_json();
  return cached(
      "eos", true,
      [&] {
        const json frames = json::parse(*frames_text)["frames"];
        json out = json::object();
        for (const auto& phase : options_.phases) {
          std::vector<series::PvPoint> points;
          for (const auto& f : frames) {
            const json v = f["volumes"].value(phase, json());
            if (!f["pressure_gpa"].is_number() || !v.is_array() || !v[0].is_number()) continue;
            if (!present(f["fractions"].value(phase, json()))) continue;
            points.push_back({f["pressure_gpa"].get<double>(), f.value("pressure_esd_gpa", 0.0),
                              v[0].get<double>(), v[1].is_number() ? v[1].get<double>() : 0.0});
          }
          json j;
          j["points"] = points.size();
          const auto form = points.size() >= 5 ? pressure::EosForm::BM3 : pressure::EosForm::BM2;
          if (points.size() < 3) {
            j["error"] = "fewer than 3 frames with this phase and a pressure";
            out[phase] = j;
            continue;
          }
          try {
            const auto fit = series::fit_eos(points, form);
            j["form"] = std::string(pressure::eos_form_name(form));
            j["converged"] = fit.converged;
            j["v0"] = fit.eos.v0;
            j["v0_esd"] = fit.v0_esd;
            j["k0_gpa"] = fit.eos.k0_gpa;
            j["k0_esd_gpa"] = fit.k0_esd;
            j["k0_prime"] = fit.eos.k0_prime;
            j["k0_prime_esd"] = fit.k0_prime_esd;
            double lo = INFINITY, hi = -INFINITY;
            for (const auto& p : points) {
              lo = std::min(lo, p.pressure_gpa);
              hi = std::max(hi, p.pressure_gpa);
            }
            json curve = json::array();
            for (int k = 0; k <= 40; ++k) {
              const double p = lo + (hi - lo) * k / 40.0;
              const double v = fit.eos.volume_at(p);
              if (std::isfinite(v)) curve.push_back({p, v});
            }
            j["curve"] = curve;
          } catch (const InputError& e) {  // too few usable points: said, not drawn
            j["error"] = e.what();
          }
          out[phase] = j;
        }
        return out;
      },
      std::chrono::milliseconds(2000));  // the EOS fits: at most every 2 s
}

std::shared_ptr<const std::string> LiveState::frame_json(std::size_t number) {
  std::shared_ptr<const pipeline::FrameResult> r;
  std::uint64_t changed = 0;
  {
    const std::lock_guard lock(mutex_);
    // Every client that follows the scan asks for the same latest frame: made once per change.
    if (const auto c = changed_.find(number); c != changed_.end()) changed = c->second;
    for (const auto& [key, text] : frame_cache_)
      if (key.first == number && key.second == changed) return text;
    for (const auto& k : recent_)
      if (k->index == number) r = k;
    if (!r && !summaries_.count(number)) return nullptr;
  }
  if (!r) {
    auto read = pipeline::read_frame_checkpoint(options_.output_dir / ".checkpoints" /
                                                fmt::format("frame_{:06d}.json", number));
    if (!read) return nullptr;
    r = std::make_shared<const pipeline::FrameResult>(std::move(*read));
  }
  json j = summary_of(*r);
  j["waxs"] = outcome_detail(r->waxs);
  j["saxs"] = outcome_detail(r->saxs);
  auto text = std::make_shared<const std::string>(j.dump());
  const std::lock_guard lock(mutex_);
  frame_cache_.push_back({{number, changed}, text});
  while (frame_cache_.size() > 8) frame_cache_.pop_front();
  return text;
}

json LiveState::rings_of(const std::string& detector, std::size_t number) {
  json rings = json::array();
  const auto text = frame_json(number);
  if (!text) return rings;
  const json f = json::parse(*text);
  const json a = f[detector].value("analysis", json());
  if (!a.is_object()) return rings;
  if (detector == "waxs" && a.contains("phases") && a["phases"].is_object()) {
    for (const auto& [name, ph] : a["phases"].items()) {
      if (ph.value("absent", false) || !ph.contains("main_lines")) continue;
      for (const auto& l : ph["main_lines"])
        if (l.contains("two_theta_deg") && l["two_theta_deg"].is_number())
          rings.push_back({{"phase", name}, {"hkl", l.value("hkl", json())}, {"value", l["two_theta_deg"]}});
    }
  } else if (detector == "saxs" && a.contains("reflections") && a["reflections"].is_array()) {
    // The indexed lattice's first reflections (beyond a dozen, rings crowd the picture).
    std::size_t k = 0;
    for (const auto& l : a["reflections"])
      if (l.contains("q") && l["q"].is_number() && k++ < 12)
        rings.push_back(
            {{"phase", a.value("lattice", "")}, {"hkl", l.value("hkl", json())}, {"value", l["q"]}});
  }
  return rings;
}

std::shared_ptr<const std::string> LiveState::image_json(const std::string& detector,
                                                         std::optional<std::size_t> number) {
  std::shared_ptr<const FramePreview> preview;
  std::shared_ptr<const PreviewGeometry> g;
  std::shared_ptr<FrameReader> reader;
  {
    const std::lock_guard lock(mutex_);
    image_requested_ = std::chrono::steady_clock::now();  // previews are made while someone looks
    const auto it = latest_preview_.find(detector);
    if (it != latest_preview_.end() && it->second && (!number || it->second->frame == *number))
      preview = it->second;
    if (preview) number = preview->frame;
    if (number)
      if (const auto c = image_cache_.find({detector, *number}); c != image_cache_.end()) return c->second;
    if (const auto gi = geometry_.find(detector); gi != geometry_.end()) g = gi->second;
    reader = reader_;
  }
  if (!number) return nullptr;
  if (!preview) {
    if (!reader) return nullptr;
    try {
      auto made = reader->preview(detector, *number);
      if (!made) return nullptr;
      preview = std::make_shared<const FramePreview>(std::move(*made));
    } catch (const std::exception& e) {  // unreadable frame file: said in the reply
      return std::make_shared<const std::string>(
          json{{"frame", *number}, {"detector", detector}, {"error", e.what()}}.dump());
    }
    g = reader->geometry(detector);
  }
  if (!g) return nullptr;
  json j = preview_json(*preview, *g);
  j["rings"] = rings_of(detector, *number);
  auto text = std::make_shared<const std::string>(j.dump());
  const std::lock_guard lock(mutex_);
  image_cache_[{detector, *number}] = text;
  image_cache_order_.push_back({detector, *number});
  while (image_cache_order_.size() > 16) {
    image_cache_.erase(image_cache_order_.front());
    image_cache_order_.pop_front();
  }
  return text;
}

}  // namespace anvil::dashboard
