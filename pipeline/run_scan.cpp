#include "run_scan.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <fmt/os.h>
#include <sys/file.h>
#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "debye_fit.hpp"
#include "fit_profile.hpp"
#include "geometry/detector.hpp"
#include "geometry/poni.hpp"
#include "io/frame_source.hpp"
#include "io/mask.hpp"
#include "io/pressure_table.hpp"
#include "io/results_file.hpp"
#include "phase_models.hpp"
#include "saxs/analysis.hpp"
#include "saxs_json.hpp"
#include "scan_outputs.hpp"
#include "scan_outputs_nexus.hpp"
#include "series/phase_eos.hpp"
#include "series/transition.hpp"
#include "waxs_fit.hpp"

namespace anvil::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Everything one detector needs for the whole scan, built once.
struct DetectorSetup {
  const DetectorConfig* config = nullptr;
  std::unique_ptr<io::FrameSource> source;
  std::unique_ptr<DetectorIntegrator> integrator;
  std::string poni_text;  // the geometry as a .poni of the frame files (orientation flipped back)
  std::uint64_t mask_checksum = 0;
  std::string mask_orientation;    // "raw" or "dioptas": how the mask file was read
  std::vector<std::string> notes;  // orientation decisions, for the log
};

DetectorSetup set_up(const DetectorConfig& c) {
  DetectorSetup d;
  d.config = &c;
  io::OpenOptions open;
  open.flip_up_down = c.flip_ud;
  open.flip_left_right = c.flip_lr;
  d.source = io::open_frames(c.frames, open);
  auto [geometry, poni_note] = frame_geometry(c.poni, c.detector, {c.flip_ud, c.flip_lr});
  if (!poni_note.empty()) d.notes.push_back(c.name + ": " + poni_note);
  const Shape shape = d.source->shape();
  Mask mask;
  if (!c.mask.empty()) {
    const auto stored = io::resolve_mask_orientation(c.mask, c.mask_orientation);
    mask = io::read_mask(c.mask, shape, open, stored);
    d.mask_orientation = std::string(io::mask_orientation_name(stored));
    d.notes.push_back(c.name + ": " + io::describe_mask_orientation(c.mask, stored, open));
  }
  std::optional<ImageF> dark, flat;
  if (!c.dark.empty()) dark = io::read_mean_frame(c.dark, shape, open);
  if (!c.flat.empty()) flat = io::read_mean_frame(c.flat, shape, open);
  try {
    d.integrator = std::make_unique<DetectorIntegrator>(geometry, shape, mask, c.integration,
                                                        dark ? &*dark : nullptr, flat ? &*flat : nullptr);
  } catch (const InputError& e) {
    throw InputError(c.name + " (" + c.poni + ")", e.what());
  }
  d.poni_text = geometry::format_poni(
      geometry::geometry_for_file(d.integrator->geometry(), geometry::ImageFlips{c.flip_ud, c.flip_lr}));
  const auto& m = d.integrator->static_mask();
  d.mask_checksum = fnv1a(m.pixels.data(), m.pixels.size());
  return d;
}

// Seconds spent per stage, summed over threads (lock-free: nanoseconds in atomics).
struct StageClock {
  std::array<std::atomic<std::int64_t>, 7> ns{};
  enum Stage { WaxsRead, WaxsIntegrate, WaxsAnalyse, SaxsRead, SaxsIntegrate, SaxsAnalyse, Write };
  void add(int stage, std::chrono::steady_clock::time_point since) {
    ns[static_cast<std::size_t>(stage)] +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since)
            .count();
  }
};

// An analysis of one pattern, given the frame's pressure when known.
using Analysis = std::function<json(std::size_t frame, const Pattern1D&, std::optional<double> pressure_gpa)>;

// The position in a detector's source of scan frame `number`, if it has that frame.
std::optional<std::size_t> position_of(const DetectorSetup& d, std::size_t number) {
  const std::size_t first = d.source->first_number();
  if (number < first || number - first >= d.source->frame_count()) return std::nullopt;
  return number - first;
}

std::string identity_of(const DetectorSetup& d, std::size_t number) {
  const auto k = position_of(d, number);
  return k ? d.source->frame_identity(*k) : fmt::format("{} frame {} (none)", d.config->name, number);
}

DetectorOutcome process(const DetectorSetup& d, std::size_t number, std::optional<double> pressure_gpa,
                        const Analysis& analyse, StageClock& clock, int first_stage, RunObserver* observer) {
  DetectorOutcome out;
  out.detector = d.config->name;
  out.present = true;
  out.source = identity_of(d, number);
  const auto k = position_of(d, number);
  if (!k) {
    const std::size_t first = d.source->first_number();
    out.error = fmt::format("frame {}: {} has no such frame (its frames are {}..{})", number, d.config->name,
                            first, first + d.source->frame_count() - 1);
    return out;
  }
  try {
    auto t = std::chrono::steady_clock::now();
    const auto frame = d.source->read(*k);
    clock.add(first_stage, t);
    if (observer) observer->frame_read(number, d.config->name, frame, *d.integrator);
    t = std::chrono::steady_clock::now();
    out.pattern = d.integrator->integrate(frame);
    clock.add(first_stage + 1, t);
    out.ok = true;
  } catch (const FrameError& e) {
    out.error = e.what();
    out.reason = e.reason();
    return out;
  } catch (const InputError& e) {
    out.error = e.what();  // the reason is read off it (error_reason)
    return out;
  } catch (const std::exception& e) {
    out.error = fmt::format("frame {}: {}", number, e.what());
    out.reason = e.what();
    return out;
  }
  if (analyse) {
    const auto t = std::chrono::steady_clock::now();
    try {
      out.analysis = analyse(number, out.pattern, pressure_gpa);
    } catch (const std::exception& e) {
      out.analysis = {{"status", "failed"}, {"reason", e.what()}};
    }
    clock.add(first_stage + 2, t);
  }
  return out;
}

// ---------------------------------------------------------------- checkpoints

json outcome_to_json(const DetectorOutcome& o) {
  json j;
  j["detector"] = o.detector;
  j["present"] = o.present;
  j["ok"] = o.ok;
  if (!o.error.empty()) j["error"] = o.error;
  if (!o.reason.empty()) j["reason"] = o.reason;
  if (!o.source.empty()) j["source"] = o.source;
  if (o.ok) {
    j["unit"] = unit_name(o.pattern.unit);
    j["x"] = o.pattern.x;
    j["I"] = o.pattern.intensity;
    j["sigma"] = o.pattern.sigma;
  }
  if (!o.analysis.is_null()) j["analysis"] = o.analysis;
  return j;
}

DetectorOutcome outcome_from_json(const json& j) {
  DetectorOutcome o;
  o.detector = j.value("detector", "");
  o.present = j.value("present", false);
  o.ok = j.value("ok", false);
  o.error = j.value("error", "");
  o.reason = j.value("reason", "");
  o.source = j.value("source", "");
  if (o.ok) {
    const std::string u = j.at("unit");
    for (auto unit : {RadialUnit::QInvNm, RadialUnit::QInvA, RadialUnit::TwoThetaDeg, RadialUnit::DSpacingA,
                      RadialUnit::RMm})
      if (u == unit_name(unit)) o.pattern.unit = unit;
    o.pattern.x = j.at("x").get<std::vector<double>>();
    o.pattern.intensity = j.at("I").get<std::vector<double>>();
    o.pattern.sigma = j.at("sigma").get<std::vector<double>>();
  }
  if (j.contains("analysis")) o.analysis = j.at("analysis");
  return o;
}

json frame_to_json(const FrameResult& r, std::uint64_t fingerprint) {
  json j;
  j["fingerprint"] = fmt::format("{:016x}", fingerprint);
  j["frame"] = r.index;
  if (r.pressure_gpa) j["pressure_gpa"] = *r.pressure_gpa;
  j["pressure_esd_gpa"] = r.pressure_esd_gpa;
  j["direction"] = std::string(pressure::direction_name(r.direction));
  j["waxs"] = outcome_to_json(r.waxs);
  j["saxs"] = outcome_to_json(r.saxs);
  return j;
}

// `fingerprint` null: any scan description's.
std::optional<FrameResult> frame_from_json(const json& j, std::optional<std::uint64_t> fingerprint) {
  if (fingerprint && j.value("fingerprint", "") != fmt::format("{:016x}", *fingerprint)) return std::nullopt;
  FrameResult r;
  r.index = j.at("frame");
  if (j.contains("pressure_gpa")) r.pressure_gpa = j.at("pressure_gpa").get<double>();
  r.pressure_esd_gpa = j.value("pressure_esd_gpa", 0.0);
  const std::string dir = j.value("direction", "unknown");
  for (auto d :
       {pressure::Direction::Compression, pressure::Direction::Decompression, pressure::Direction::Unknown})
    if (dir == pressure::direction_name(d)) r.direction = d;
  r.waxs = outcome_from_json(j.at("waxs"));
  r.saxs = outcome_from_json(j.at("saxs"));
  return r;
}

// One checkpoint per frame number: frame_000012.json is frame 12 whatever files exist.
fs::path checkpoint_path(const fs::path& dir, std::size_t number) {
  return dir / fmt::format("frame_{:06d}.json", number);
}

enum class Checkpoint { Usable, Absent, Stale, SourceChanged };

// A frame finished by an earlier run, if its checkpoint belongs to this scan description and
// was made from the same source files (`sources`: the identity per detector, "" when absent).
Checkpoint load_checkpoint(const fs::path& dir, std::size_t number, std::uint64_t fingerprint,
                           const std::string& waxs_source, const std::string& saxs_source,
                           std::optional<FrameResult>& out) {
  const auto p = checkpoint_path(dir, number);
  if (!fs::exists(p)) return Checkpoint::Absent;
  try {
    out = frame_from_json(json::parse(read_text_file(p)), fingerprint);
  } catch (const std::exception&) {
    out.reset();  // unreadable: the frame is simply redone
  }
  if (!out || out->index != number) {
    out.reset();
    return Checkpoint::Stale;
  }
  if (out->waxs.source != waxs_source || out->saxs.source != saxs_source) {
    out.reset();
    return Checkpoint::SourceChanged;
  }
  return Checkpoint::Usable;
}

// ---------------------------------------------------------------- final outputs

io::PatternStackData stack_of(const std::string& name, const std::vector<FrameResult>& frames, bool waxs) {
  io::PatternStackData s;
  s.name = name;
  for (const auto& r : frames) {
    const auto& o = waxs ? r.waxs : r.saxs;
    if (!o.ok) continue;
    if (s.x.empty()) {
      s.x = o.pattern.x;
      s.unit = o.pattern.unit;
    }
    s.frame_index.push_back(static_cast<std::int64_t>(r.index));
    s.pressure_gpa.push_back(r.pressure_gpa.value_or(NAN));
    s.intensity.push_back(o.pattern.intensity);
    if (!o.pattern.sigma.empty()) s.sigma.push_back(o.pattern.sigma);
  }
  if (s.sigma.size() != s.intensity.size()) s.sigma.clear();
  return s;
}

}  // namespace

std::optional<FrameResult> read_frame_checkpoint(const fs::path& file) {
  try {
    return frame_from_json(json::parse(read_text_file(file)), std::nullopt);
  } catch (const std::exception&) {  // half-written or not a checkpoint: nothing to show
    return std::nullopt;
  }
}

std::string DetectorOutcome::error_reason() const {
  if (!reason.empty()) return reason;
  // A checkpoint from before `reason` was kept: errors read "<file>: frame <N>: <reason>".
  static const std::regex frame_prefix(R"(^.*?frame [0-9]+: )");
  std::smatch m;
  if (std::regex_search(error, m, frame_prefix)) return m.suffix().str();
  return error;
}

bool DetectorOutcome::analysis_failed() const {
  if (!present || !ok || !analysis.is_object()) return false;
  const std::string st = analysis.value("status", "");
  return st == "failed" || st == "not_converged";
}

std::string DetectorOutcome::analysis_reason() const {
  if (!analysis_failed()) return "";
  const std::string why = analysis.value("reason", "");
  const std::string st = analysis.value("status", "");
  return why.empty() ? (st == "not_converged" ? "did not converge" : "failed") : why;
}

std::string DetectorOutcome::status() const {
  if (!present) return "";
  if (!ok) return "failed";
  if (analysis_failed()) return analysis_name() + " failed";
  return "ok";
}

std::string FrameResult::error() const {
  std::vector<std::string> why;
  for (const auto* o : {&waxs, &saxs}) {
    if (o->present && !o->ok) why.push_back(o->error);
    if (o->analysis_failed())
      why.push_back(fmt::format("frame {}: {} {} failed: {}", index, o == &waxs ? "waxs" : "saxs",
                                o->analysis_name(), o->analysis_reason()));
  }
  std::string e;
  for (const auto& w : why) e += (e.empty() ? "" : "; ") + w;
  return e;
}

std::string default_output_name(const std::string& scan_name) {
  std::string out;
  for (const char ch : scan_name) {
    const bool keep = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
    if (keep)
      out += ch;
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  // No leading dots or underscores (".." or a hidden folder), none trailing.
  const auto b = out.find_first_not_of("._");
  out = b == std::string::npos ? std::string() : out.substr(b);
  while (!out.empty() && (out.back() == '_' || out.back() == '.')) out.pop_back();
  return (out.empty() ? std::string("scan") : out) + "_results";
}

OutputLock::OutputLock(const fs::path& dir, const std::string& command_line) {
  fs::create_directories(dir);
  const fs::path path = dir / ".anvil.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw InputError(path.string(), fmt::format("cannot open the lock file: {}", std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder = read_text_file(path);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw InputError(dir.string(),
                     fmt::format("another anvil run is writing to this folder ({}); wait for it to "
                                 "finish, stop it, or give another output folder with -o",
                                 holder.empty() ? "holder unknown" : holder));
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char when[64] = {};
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  const std::string who =
      fmt::format("pid {} on {}, started {}: {}\n", static_cast<long>(::getpid()), host, when, command_line);
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, who.data(), who.size(), 0);
  }
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

RunSummary run_scan(const ScanConfig& config, const RunOptions& options) {
  RunSummary summary;
  const fs::path out = options.output_dir;
  const fs::path checkpoints = out / ".checkpoints";
  fs::create_directories(checkpoints);
  // Writes cut short by a killed run (not when distributed: other ranks may be writing now).
  if (options.share_count <= 1)
    for (const auto& e : fs::directory_iterator(checkpoints))
      if (e.path().extension().string().rfind(".part", 0) == 0) fs::remove(e.path());

  // Everything a result depends on goes into the fingerprint: a changed description, geometry
  // or mask makes earlier checkpoints stale, and they are redone rather than reused.
  std::vector<DetectorSetup> setups;
  if (config.waxs) setups.push_back(set_up(*config.waxs));
  if (config.saxs) setups.push_back(set_up(*config.saxs));
  for (const auto& s : setups) summary.notes.insert(summary.notes.end(), s.notes.begin(), s.notes.end());
  const std::string config_text = fs::exists(config.file) ? read_text_file(config.file) : std::string();
  std::uint64_t fingerprint = fnv1a(config_text.data(), config_text.size());
  for (const auto& s : setups) {
    fingerprint = fnv1a(s.poni_text.data(), s.poni_text.size(), fingerprint);
    fingerprint = fnv1a(&s.mask_checksum, sizeof s.mask_checksum, fingerprint);
  }
  const fs::path config_copy = checkpoints / "scan.toml";

  // The scan's frames are numbered first..first+n-1: every detector's numbers together (a
  // numbered file series starts at its lowest file number, a stack at 0).
  std::size_t first = std::numeric_limits<std::size_t>::max(), end = 0;
  for (const auto& s : setups) {
    first = std::min(first, s.source->first_number());
    end = std::max(end, s.source->first_number() + s.source->frame_count());
  }
  const std::size_t n = end - first;
  for (const auto& s : setups)
    if (s.source->first_number() != first || s.source->frame_count() != n)
      summary.warnings.push_back(fmt::format(
          "{} has frames {}..{}, the scan {}..{}: the frames it lacks fail for {}", s.config->name,
          s.source->first_number(), s.source->first_number() + s.source->frame_count() - 1, first, end - 1,
          s.config->name));
  summary.frames = n;
  summary.first_frame = first;

  ScanPressures pressures;
  if (config.pressure) {
    pressures = load_scan_pressures(*config.pressure, first, n, options.growing);
    for (const auto& w : pressures.warnings) summary.warnings.push_back(w);
    if (!pressures.numbering.empty()) summary.notes.push_back(pressures.numbering);
  }
  // The SAXS normalisation's counters per frame ([saxs.normalization]): from its SPEC file and
  // scan, or the pressure log's when that is a SPEC file (matched to frames the same way).
  struct {
    std::string source;
    std::vector<double> monitor, transmitted;
  } saxs_counters;
  if (config.saxs && config.saxs->normalization && !config.saxs->normalization->monitor.empty()) {
    const auto& nc = *config.saxs->normalization;
    const bool spec_log = config.pressure && config.pressure->kind != PressureSource::Kind::Table;
    const std::string file = !nc.file.empty() ? nc.file : spec_log ? config.pressure->path : "";
    const std::string scan = !nc.scan.empty() ? nc.scan : spec_log ? config.pressure->spec_scan : "";
    const std::string frame_counter = !nc.frame_counter.empty() || !spec_log || !nc.file.empty()
                                          ? nc.frame_counter
                                          : config.pressure->spec_frame_counter;
    const std::optional<std::int64_t> log_first =
        spec_log && nc.file.empty() ? config.pressure->first_frame : std::nullopt;
    if (file.empty())
      throw InputError(
          config.file.string(),
          "[saxs.normalization] needs 'file' and 'scan' (a SPEC file) when [pressure] is not a SPEC log");
    saxs_counters.source = fmt::format("{} scan {}", file, scan);
    saxs_counters.monitor =
        load_scan_counter(file, scan, nc.monitor, frame_counter, log_first, first, n, options.growing);
    if (!nc.transmitted.empty())
      saxs_counters.transmitted =
          load_scan_counter(file, scan, nc.transmitted, frame_counter, log_first, first, n, options.growing);
  }

  // Frames to do, and frames an earlier run finished (resume). results[k] is frame first + k.
  std::vector<std::optional<FrameResult>> results(n);
  std::vector<std::size_t> todo;
  if (options.share_count == 0 || options.share_rank >= options.share_count)
    throw InputError("run_scan", "share_rank must be below share_count");
  const bool shared = options.share_count > 1;
  const auto mine = [&](std::size_t k) { return k % options.share_count == options.share_rank; };
  const DetectorSetup* waxs = config.waxs ? &setups.front() : nullptr;
  const DetectorSetup* saxs = config.saxs ? &setups.back() : nullptr;
  std::vector<std::size_t> changed;
  for (std::size_t k = 0; k < n; ++k) {
    if (!mine(k)) continue;  // another process's frame
    if (!options.force) {
      const auto state =
          load_checkpoint(checkpoints, first + k, fingerprint, waxs ? identity_of(*waxs, first + k) : "",
                          saxs ? identity_of(*saxs, first + k) : "", results[k]);
      if (state == Checkpoint::SourceChanged) changed.push_back(first + k);
    }
    if (results[k] && options.retry_failed && !results[k]->patterns_ok()) results[k].reset();
    if (results[k]) {
      // The pressure log may have grown since the checkpoint (live mode): a frame's direction is
      // only known once the next pressure is, so pressure and direction are the log's as it is now.
      if (k < pressures.pressure_gpa.size()) {
        results[k]->pressure_gpa = pressures.pressure_gpa[k];
        results[k]->pressure_esd_gpa = pressures.esd_gpa[k];
        results[k]->direction = pressures.direction[k];
      }
      ++summary.resumed;
    } else {
      todo.push_back(k);
    }
  }
  summary.changed = changed.size();
  if (!changed.empty())
    summary.notes.push_back(fmt::format("frames {}: the source file changed since their checkpoint: redone",
                                        io::frame_ranges(changed)));
  if (options.share_rank == 0)
    write_text_atomically(config_copy, config_text);  // one writer when distributed
  if (options.observer) {
    options.observer->pass_started(first, n, todo.size());
    for (const auto& r : results)
      if (r) options.observer->frame_resumed(*r);
  }

  std::unique_ptr<WaxsFitter> fitter;
  std::unique_ptr<DebyeFitter> debye_fitter;
  // model = "auto": the Bragg model's crystallite size on the scan's first frame decides. Below
  // kDebyeBelowNm a Bragg peak profile misses the shifts, asymmetry and diffuse scattering of so
  // few unit cells (docs/debye.md) and clusters of that size are cheap to build; above it the
  // Debye model gains little and its clusters grow as d⁶ in pairs.
  constexpr double kDebyeBelowNm = 8.0;
  std::string model = config.fit.model;
  std::optional<integrate::Range> auto_sizes_nm;
  const auto build_bragg = [&] {
    WaxsFitSettings fs_;
    fs_.phases = config.fit.phases;
    fs_.phase_dir = options.phase_dir;
    if (!config.fit.instrument.empty()) read_instrument(config.fit.instrument, fs_);
    fs_.wavelength_a = waxs->integrator->geometry().wavelength_m * 1e10;
    fs_.range_deg = config.fit.range;
    if (!fs_.range_deg && waxs->config->integration.unit == RadialUnit::TwoThetaDeg)
      fs_.range_deg = waxs->config->integration.radial_range;
    fitter = std::make_unique<WaxsFitter>(fs_);
  };
  if (waxs && !config.fit.phases.empty() && model == "auto" && !config.fit.le_bail) {
    build_bragg();
    std::string why;
    try {
      const auto frame = waxs->source->read(0);
      const auto pattern = waxs->integrator->integrate(frame);
      const auto j = fit_result_json(fitter->fit(pattern, eos_cells(fitter->phases(), std::nullopt)),
                                     fitter->settings().phases);
      double size = 0, weight = 0;
      if (j.value("status", "") == "converged")
        for (const auto& [name, ph] : j["phases"].items())
          if (ph.value("fraction", 0.0) > 0 && ph.contains("size_nm") && ph["size_nm"].is_number()) {
            size += ph["fraction"].get<double>() * ph["size_nm"].get<double>();
            weight += ph["fraction"].get<double>();
          }
      if (weight > 0) {
        size /= weight;
        model = size < kDebyeBelowNm ? "debye" : "bragg";
        why = fmt::format("crystallites {:.1f} nm by the Bragg fit of the first frame ({} {:.0f} nm)", size,
                          size < kDebyeBelowNm ? "<" : "≥", kDebyeBelowNm);
        if (model == "debye" && !config.fit.sizes_nm)
          auto_sizes_nm = integrate::Range{std::max(0.5, 0.6 * size), std::min(50.0, 1.5 * size)};
      } else {
        model = "bragg";
        why = "the Bragg fit of the first frame gave no size: Bragg kept";
      }
    } catch (const std::exception& e) {  // the choice must not stop the scan: Bragg, and why
      model = "bragg";
      why = fmt::format("the first frame could not be fitted ({}): Bragg kept", e.what());
    }
    summary.notes.push_back(fmt::format("WAXS model (auto): {} — {}", model, why));
    if (model == "bragg" && !config.fit.others.empty())
      summary.notes.push_back("others (gasket, markers) are fitted by the Debye model only: not fitted");
    if (model == "bragg" && (config.fit.faulted || !config.fit.shared_size || config.fit.shape != "sphere"))
      summary.notes.push_back("faulted, shared_size and shape are Debye-model settings: not used with Bragg");
    if (model == "debye") fitter.reset();
  }
  if (waxs && !config.fit.phases.empty() && (model == "debye" || config.fit.le_bail)) {
    DebyeFitSettings ds;
    ds.phases = config.fit.phases;
    ds.others = config.fit.others;
    ds.phase_dir = options.phase_dir;
    ds.wavelength_a = waxs->integrator->geometry().wavelength_m * 1e10;
    ds.range_deg = config.fit.range;
    if (!ds.range_deg && waxs->config->integration.unit == RadialUnit::TwoThetaDeg)
      ds.range_deg = waxs->config->integration.radial_range;
    if (const auto sizes = config.fit.sizes_nm ? config.fit.sizes_nm : auto_sizes_nm) {
      ds.clusters.d_min_a = sizes->min * 10.0;
      ds.clusters.d_max_a = sizes->max * 10.0;
    }
    ds.fit.shared_size = config.fit.shared_size;
    ds.cache_dir = default_debye_cache_dir();
    ds.faulted = config.fit.faulted;
    if (config.fit.le_bail) {  // every phase profile-matched: cells (and a marker's pressure), no fractions
      ds.others.insert(ds.others.begin(), ds.phases.begin(), ds.phases.end());
      ds.phases.clear();
    }
    if (config.fit.shape == "cylinder") {
      ds.clusters.shape = debye::Shape::Cylinder;
      ds.clusters.aspect = config.fit.aspect;
      ds.clusters.axis_uvw = config.fit.axis_uvw;
    }
    debye_fitter = std::make_unique<DebyeFitter>(ds);
    summary.notes.push_back(
        fmt::format("WAXS model: Debye-function clusters ({}–{} Å, {} sizes, {} centrings), "
                    "set up in {:.2f} s ({})",
                    ds.clusters.d_min_a, ds.clusters.d_max_a, ds.clusters.sizes, ds.clusters.centrings,
                    debye_fitter->setup_seconds(), debye_fitter->cache_note()));
  } else if (waxs && !config.fit.phases.empty() && !fitter) {
    build_bragg();
  }
  Analysis waxs_analysis, saxs_analysis;
  if (debye_fitter)
    // The fitted curves go with the numbers (fit_profile.hpp): the dashboard draws them again.
    waxs_analysis = [&](std::size_t, const Pattern1D& p, std::optional<double> pressure_gpa) {
      const auto r =
          debye_fitter->fit_raw(p, eos_cells(debye_fitter->powder_phases(), pressure_gpa), pressure_gpa);
      json j = debye_fitter->result_json(r);
      if (r.converged) j["profile"] = fit_profile_json(r, debye_fitter->settings().phases);
      return j;
    };
  if (fitter)
    // Each frame starts from the cells its phases' equations of state predict at its pressure
    // (lib/series' starting EOS), so fits begin near their answer whatever the frame order.
    waxs_analysis = [&](std::size_t, const Pattern1D& p, std::optional<double> pressure_gpa) {
      const auto r = fitter->fit(p, eos_cells(fitter->phases(), pressure_gpa));
      json j = fit_result_json(r, fitter->settings().phases);
      if (r.status == powder::FitStatus::Converged)
        j["profile"] = fit_profile_json(r, fitter->settings().phases);
      return j;
    };
  saxs::SaxsSettings saxs_settings;
  // Each frame's SAXS analysis by frame number (a few tens of kB each; beyond kSaxsAnalysedKept frames
  // the series pass analyses afresh).
  constexpr std::size_t kSaxsAnalysedKept = 4000;
  std::map<std::size_t, saxs::SaxsResult> saxs_analysed;
  std::mutex saxs_analysed_mutex;
  if (saxs) {
    saxs_settings.index.lattices.clear();
    for (const auto& name : config.saxs_index.lattices)
      if (const auto l = saxs::parse_lattice(name); l && *l != saxs::Lattice::none)
        saxs_settings.index.lattices.push_back(*l);
    if (config.saxs_index.q_range_inv_nm) {
      saxs_settings.q_min_inv_nm = config.saxs_index.q_range_inv_nm->min;
      saxs_settings.q_max_inv_nm = config.saxs_index.q_range_inv_nm->max;
    }
    saxs_analysis = [&](std::size_t frame, const Pattern1D& p, std::optional<double>) {
      auto result = saxs::analyse_saxs(p, saxs_settings);
      json j = saxs_result_json(result, saxs_settings);
      // Kept for the series pass below, which then takes only the lattice decisions again (the
      // flattening and peak search, most of the time, do not depend on the prior).
      const std::lock_guard lock(saxs_analysed_mutex);
      if (saxs_analysed.size() < kSaxsAnalysedKept) saxs_analysed.emplace(frame, std::move(result));
      return j;
    };
  }
  StageClock clock;

  struct Work {
    std::size_t seq = 0;    // position among this run's frames: the sequencer restores this order
    std::size_t index = 0;  // position in the scan (frame number - first)
  };
  struct Done {
    std::size_t seq = 0;
    std::size_t position = 0;  // in results
    FrameResult result;
  };

  std::exception_ptr fatal;
  std::mutex fatal_mutex;
  const std::size_t threads =
      options.threads ? options.threads : static_cast<std::size_t>(tbb::this_task_arena::max_concurrency());
  tbb::task_arena arena(static_cast<int>(threads));
  const auto loop_start = std::chrono::steady_clock::now();
  arena.execute([&] {
    tbb::flow::graph g;
    std::size_t next = 0;
    tbb::flow::input_node<Work> source(g, [&](tbb::flow_control& fc) -> Work {
      if (next >= todo.size() || (options.stop && options.stop->load())) {
        fc.stop();
        return {};
      }
      const Work w{next, todo[next]};
      ++next;
      return w;
    });
    tbb::flow::limiter_node<Work> limiter(g, config.frames_in_flight);
    tbb::flow::function_node<Work, Done> work(g, tbb::flow::unlimited, [&](const Work& w) {
      Done d;
      d.seq = w.seq;
      d.position = w.index;
      FrameResult& r = d.result;
      r.index = first + w.index;  // the frame's number
      if (w.index < pressures.pressure_gpa.size()) {
        r.pressure_gpa = pressures.pressure_gpa[w.index];
        r.pressure_esd_gpa = pressures.esd_gpa[w.index];
        r.direction = pressures.direction[w.index];
      }
      if (options.observer) options.observer->frame_started(r.index);
      if (waxs)
        r.waxs = process(*waxs, r.index, r.pressure_gpa, waxs_analysis, clock, StageClock::WaxsRead,
                         options.observer);
      if (saxs)
        r.saxs = process(*saxs, r.index, r.pressure_gpa, saxs_analysis, clock, StageClock::SaxsRead,
                         options.observer);
      return d;
    });
    tbb::flow::sequencer_node<Done> order(g, [](const Done& d) { return d.seq; });
    std::size_t written = 0;
    tbb::flow::function_node<Done, tbb::flow::continue_msg> writer(g, tbb::flow::serial, [&](const Done& d) {
      const auto t_write = std::chrono::steady_clock::now();
      try {
        write_text_atomically(checkpoint_path(checkpoints, d.result.index),
                              frame_to_json(d.result, fingerprint).dump());
      } catch (...) {
        std::lock_guard lock(fatal_mutex);
        if (!fatal) fatal = std::current_exception();
      }
      results[d.position] = d.result;
      clock.add(StageClock::Write, t_write);
      ++written;
      if (options.observer) options.observer->frame_finished(d.result);
      if (options.on_frame) options.on_frame(d.result, written, todo.size());
      return tbb::flow::continue_msg();
    });
    tbb::flow::make_edge(source, limiter);
    tbb::flow::make_edge(limiter, work);
    tbb::flow::make_edge(work, order);
    tbb::flow::make_edge(order, writer);
    tbb::flow::make_edge(writer, limiter.decrementer());
    source.activate();
    g.wait_for_all();
  });
  if (fatal) std::rethrow_exception(fatal);
  summary.loop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  const char* stage_names[] = {"waxs read",      "waxs integrate", "waxs fit",        "saxs read",
                               "saxs integrate", "saxs index",     "write checkpoint"};
  for (std::size_t i = 0; i < clock.ns.size(); ++i)
    if (clock.ns[i] > 0)
      summary.stage_seconds[stage_names[i]] = static_cast<double>(clock.ns[i].load()) * 1e-9;
  if (shared) {  // this process's share is checkpointed; the tables wait for all shares
    summary.partial = true;
    summary.interrupted = options.stop && options.stop->load();
    for (std::size_t k = 0; k < n; ++k)
      if (mine(k) && results[k]) ++(results[k]->ok() ? summary.succeeded : summary.failed);
    return summary;
  }
  for (std::size_t k = 0; k < n; ++k)
    if (!results[k]) {
      summary.interrupted = true;
      summary.resumed = 0;
      for (const auto& r : results) summary.succeeded += r && r->ok();
      return summary;  // stopped early: the checkpoints stand, the tables wait for a complete run
    }

  // Tables and results file from every frame, this run's and resumed ones.
  std::vector<FrameResult> all;
  all.reserve(n);
  for (auto& r : results) all.push_back(std::move(*r));

  // SAXS across the scan: the frames indexed again in frame order, each with its predecessor's
  // lattice as a prior (saxs::analyse_series), so the scan does not flicker between answers; a
  // change of lattice is a transition at the frame's pressure. Frames whose analysis failed keep
  // their failure.
  if (saxs && saxs_analysis) {
    std::vector<std::size_t> which;
    std::vector<Pattern1D> patterns;
    std::vector<const saxs::SaxsResult*> analysed;  // null for a resumed frame: analysed afresh
    std::vector<double> saxs_pressures;
    for (std::size_t k = 0; k < all.size(); ++k) {
      const auto& o = all[k].saxs;
      if (!o.ok || !o.analysis.is_object() || o.analysis_failed()) continue;
      which.push_back(k);
      patterns.push_back(o.pattern);
      const auto kept = saxs_analysed.find(all[k].index);
      analysed.push_back(kept != saxs_analysed.end() ? &kept->second : nullptr);
      saxs_pressures.push_back(all[k].pressure_gpa.value_or(NAN));
    }
    const auto series = saxs::analyse_series(patterns, analysed, saxs_settings, {}, saxs_pressures);
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (!series[i].error.empty()) continue;
      json j = saxs_result_json(series[i].result, saxs_settings);
      j["transition"] = series[i].transition;
      j["change"] = series[i].change;
      all[which[i]].saxs.analysis = std::move(j);
      if (series[i].transition) summary.saxs_transitions.push_back(series[i].change);
    }
  }
  io::TableColumn frame{"frame", "1", {}, {}}, p{"pressure_gpa", "GPa", {}, {}},
      pe{"pressure_esd_gpa", "GPa", {}, {}};
  io::TableColumn dir{"direction", "", {}, {}}, ws{"waxs_status", "", {}, {}}, ss{"saxs_status", "", {}, {}};
  io::TableColumn err{"error", "", {}, {}};
  for (const auto& r : all) {
    frame.numbers.push_back(static_cast<double>(r.index));
    p.numbers.push_back(r.pressure_gpa.value_or(NAN));
    pe.numbers.push_back(r.pressure_gpa ? r.pressure_esd_gpa : NAN);
    dir.strings.push_back(std::string(pressure::direction_name(r.direction)));
    ws.strings.push_back(r.waxs.status());
    ss.strings.push_back(r.saxs.status());
    err.strings.push_back(r.error());
    if (r.ok()) {
      ++summary.succeeded;
    } else {
      ++summary.failed;
      for (const auto* o : {&r.waxs, &r.saxs}) {
        if (o->present && !o->ok) ++summary.failure_reasons[o->error_reason()];
        if (o->analysis_failed())
          ++summary.failure_reasons[fmt::format("{} {} failed: {}", o->detector, o->analysis_name(),
                                                o->analysis_reason())];
      }
    }
  }
  std::vector<io::TableColumn> table = {frame, p, pe, dir};
  if (waxs) table.push_back(ws);
  if (saxs) table.push_back(ss);
  table.push_back(err);
  io::write_csv(out / "frames.csv", table);
  summary.outputs.push_back(out / "frames.csv");

  // The phases of the tables: the scan description's, as the Debye fitter has them (a faulted
  // WZ/ZB pair is one phase; with le_bail every phase is a Le Bail one).
  const std::vector<std::string> table_phases =
      debye_fitter ? debye_fitter->settings().phases : config.fit.phases;
  const std::vector<std::string> table_others =
      debye_fitter ? debye_fitter->settings().others : config.fit.others;
  ScanTables tables;  // what the CSVs hold, for results.h5
  tables.frames = table;
  if (fitter || debye_fitter) {
    if (!table_phases.empty())
      for (auto& f : write_phase_tables(out, all, table_phases, &tables)) summary.outputs.push_back(f);
    const auto& pp = fitter ? fitter->phases() : debye_fitter->powder_phases();
    if (!table_phases.empty())
      for (auto& f : write_series_tables(out, all, table_phases, series::densest_phase(pp), &tables))
        summary.outputs.push_back(f);
    if (!table_others.empty())
      summary.outputs.push_back(write_other_phases_table(out, all, table_others, &tables));
  }
  std::vector<fs::path> saxs_outputs;
  if (saxs) saxs_outputs = write_superlattice_outputs(out, all, &tables);

  io::ResultsContent rc;
  if (waxs) rc.patterns.push_back(stack_of("waxs", all, true));
  if (saxs) rc.patterns.push_back(stack_of("saxs", all, false));
  NexusScan nexus_scan;
  nexus_scan.title = config.name;
  nexus_scan.sample_name = config.sample.name;
  nexus_scan.sample_medium = config.sample.medium;
  nexus_scan.sample_description = config.sample.description;
  for (const auto& s : setups) nexus_scan.detectors.push_back({s.config->name, s.integrator->geometry()});
  if (!saxs_counters.monitor.empty())  // frames.csv's rows are the scan's frames first..first+n-1
    nexus_scan.monitor =
        NexusMonitor{config.saxs->normalization->monitor, saxs_counters.source, saxs_counters.monitor};
  rc.entry = results_entry(tables, nexus_scan, &rc.default_group);
  if (rc.default_group.empty()) rc.default_group = waxs ? "waxs" : "saxs";
  rc.provenance = {{"program", "anvil"},
                   {"version", ANVIL_VERSION},
                   {"command_line", options.command_line},
                   {"scan_description", config_text},
                   {"fingerprint", fmt::format("{:016x}", fingerprint)}};
  for (const auto& s : setups) {
    rc.provenance.emplace_back(s.config->name + "_poni", s.poni_text);
    rc.provenance.emplace_back(s.config->name + "_poni_file", s.config->poni);
    if (!s.config->mask.empty()) rc.provenance.emplace_back(s.config->name + "_mask_file", s.config->mask);
    rc.provenance.emplace_back(s.config->name + "_mask_fnv1a", fmt::format("{:016x}", s.mask_checksum));
    if (!s.mask_orientation.empty())
      rc.provenance.emplace_back(s.config->name + "_mask_orientation", s.mask_orientation);
    if (!s.config->dark.empty()) rc.provenance.emplace_back(s.config->name + "_dark_file", s.config->dark);
    if (!s.config->flat.empty()) rc.provenance.emplace_back(s.config->name + "_flat_file", s.config->flat);
    rc.provenance.emplace_back(s.config->name + "_integration", s.integrator->describe());
    rc.provenance.emplace_back(s.config->name + "_frames", s.source->info().path);
  }
  io::write_results_file(out / "results.h5", rc);
  summary.outputs.push_back(out / "results.h5");
  if (saxs) {
    SaxsDescription sd;
    sd.scan_name = config.name;
    sd.sample = config.sample;
    sd.config = saxs->config;
    sd.geometry = saxs->integrator->geometry();
    sd.integration = saxs->integrator->describe();
    sd.counters_source = saxs_counters.source;
    sd.monitor = saxs_counters.monitor;
    sd.transmitted = saxs_counters.transmitted;
    if (saxs->config->normalization && !saxs->config->normalization->empty.empty())
      sd.empty = integrate_image(saxs->config->normalization->empty, *saxs->config, *saxs->integrator);
    if (saxs->config->normalization && saxs->config->normalization->glassy_carbon) {
      sd.glassy_carbon = glassy_carbon_scale(*saxs->config, *saxs->integrator);
      summary.notes.push_back(
          fmt::format("saxs: absolute scale {:.6g} (± {:.1f} % over {} points, q {:.3g}-{:.3g} 1/nm) from "
                      "the glassy carbon {}",
                      sd.glassy_carbon->factor, 100 * sd.glassy_carbon->relative_spread,
                      sd.glassy_carbon->points, sd.glassy_carbon->q_min_inv_nm,
                      sd.glassy_carbon->q_max_inv_nm, saxs->config->normalization->glassy_carbon->frames));
    }
    const auto cansas = write_saxs_nxcansas(out, all, sd, summary.warnings);
    if (!cansas.empty()) summary.outputs.push_back(cansas);
    for (auto& f : saxs_outputs) summary.outputs.push_back(f);
  }
  for (auto& f : write_scan_plots(out, all, table_phases)) summary.outputs.push_back(f);
  summary.outputs.push_back(
      write_report(out, config.name, all, table_phases, summary.outputs, options.command_line));
  return summary;
}

}  // namespace anvil::pipeline
