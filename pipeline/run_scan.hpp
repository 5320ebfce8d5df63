// The scan reduction as a TBB flow graph:
//
//   frame index ─► limiter ─► read + correct + integrate (WAXS, SAXS) ─► analyse ─► sequencer ─► write
//                    ▲         (parallel, one frame per task)             (parallel)  (frame order)  (serial)
//                    └──────────────────────── frame done ─────────────────────────────────────────┘
//
// At most `frames_in_flight` frames are in memory whatever the scan's length. Each finished
// frame is made durable at once (a checkpoint file per frame, written to a temporary name and
// renamed), so a run killed at any point loses at most the frames in flight; running the same
// command again skips the frames already done (`force` redoes them). When every frame has been
// seen, results.h5 and the CSV tables are written from the checkpoints, atomically.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/pattern.hpp"
#include "pressure/direction.hpp"
#include "scan_config.hpp"

namespace anvil::io {
struct Frame;
}

namespace anvil::pipeline {

struct DetectorOutcome {
  std::string detector;  // "waxs" or "saxs"
  bool present = false;  // this detector is part of the scan
  bool ok = false;       // the frame was read and integrated
  std::string error;     // why it failed (read, integration)
  std::string reason;    // … without the file and frame: what groups failed frames
  std::string source;    // where the pixels came from (FrameSource::frame_identity)
  Pattern1D pattern;
  // The analysis of the pattern: WAXS phase fit (pipeline/waxs_fit.hpp's JSON) or SAXS
  // indexing; null when not asked for. A failed analysis keeps the pattern (ok stays true) and
  // says why in analysis["status"] / ["reason"].
  nlohmann::json analysis;

  // The analysis ran and did not give a result ("failed", "not_converged").
  bool analysis_failed() const;
  // Why reading or integrating failed, without the file and frame ("" when it did not): `reason`,
  // or for a checkpoint written before it existed, `error` with its "file: frame N: " cut off.
  std::string error_reason() const;
  // Why the analysis failed ("" when it did not).
  std::string analysis_reason() const;
  // "" (not part of the scan), "ok", "failed" (read/integration) or "fit failed" / "index failed".
  std::string status() const;
  // What the analysis of this detector is called: "fit" (WAXS) or "index" (SAXS).
  std::string analysis_name() const { return detector == "saxs" ? "index" : "fit"; }
};

struct FrameResult {
  std::size_t index = 0;  // the frame's number in the scan (io::FrameSource::first_number)
  std::optional<double> pressure_gpa;
  double pressure_esd_gpa = 0.0;
  pressure::Direction direction = pressure::Direction::Unknown;
  DetectorOutcome waxs, saxs;
  // Every detector's pattern was made (a failed analysis does not matter here).
  bool patterns_ok() const { return (!waxs.present || waxs.ok) && (!saxs.present || saxs.ok); }
  // Patterns made and every analysis asked for gave a result: what counts as a success.
  bool ok() const { return patterns_ok() && !waxs.analysis_failed() && !saxs.analysis_failed(); }
  // Every reason this frame failed, "; "-joined ("" when ok()).
  std::string error() const;
};

class DetectorIntegrator;

// Watches a run as it goes (the live dashboard, pipeline/dashboard). Called from the flow
// graph's threads: implementations must be thread-safe and quick (copy what they need under a
// short lock and return); they never change the reduction's results.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // A pass over the scan begins: frames first .. first + frames - 1, `todo` of them to reduce
  // now (the rest are taken from checkpoints and reported through frame_resumed first).
  virtual void pass_started(std::size_t /*first*/, std::size_t /*frames*/, std::size_t /*todo*/) {}
  virtual void frame_resumed(const FrameResult&) {}
  // A frame's reduction starts (worker thread).
  virtual void frame_started(std::size_t /*number*/) {}
  // A detector's ("waxs", "saxs") frame as read, before integration (worker thread): the pixels,
  // the detector's own invalid pixels, and the integrator with the static mask and geometry.
  virtual void frame_read(std::size_t /*number*/, const std::string& /*detector*/, const io::Frame&,
                          const DetectorIntegrator&) {}
  // A frame is finished and checkpointed (the writer, serially, in this pass's frame order).
  virtual void frame_finished(const FrameResult&) {}
};

struct RunOptions {
  std::filesystem::path output_dir;
  std::filesystem::path phase_dir;  // where named phases (CdSe-WZ, ...) are found: calib/phases
  std::size_t threads = 0;          // 0: all cores
  bool force = false;               // redo frames already done
  bool retry_failed = false;        // redo frames an earlier run could not read or integrate (live mode: a
                                    // frame may have been read while the detector was still writing it)
  bool growing = false;  // live mode: the scan is still being written (pressure rows may run ahead)
  std::string command_line;
  // A share of a distributed run (run_distributed.hpp): this process reduces only the frames k
  // with k % share_count == share_rank, checkpoints them and returns (RunSummary::partial)
  // without writing tables; a later run that finds every frame checkpointed writes them.
  std::size_t share_rank = 0, share_count = 1;
  // Set (e.g. by a SIGINT handler) to stop: frames in flight finish and are checkpointed, no
  // new frame starts, and the final tables are not written (the next run resumes).
  const std::atomic<bool>* stop = nullptr;
  // Called from the writer (serially, in frame order) for every frame finished in this run.
  std::function<void(const FrameResult&, std::size_t done, std::size_t total)> on_frame;
  RunObserver* observer = nullptr;  // optional: the live dashboard
};

struct RunSummary {
  std::size_t frames = 0;
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::size_t first_frame = 0;  // the scan's frames are numbered first_frame .. first_frame + frames - 1
  std::size_t resumed = 0;      // frames taken from an earlier run's checkpoints
  std::size_t changed = 0;      // checkpointed frames redone because their source file changed
  bool interrupted = false;     // stopped early: checkpoints kept, tables not written
  bool partial = false;         // a share of a distributed run: its frames checkpointed, no tables
  std::map<std::string, std::size_t> failure_reasons;
  std::vector<std::filesystem::path> outputs;
  std::vector<std::string> warnings;
  // How things were decided, for the log: pressure numbering, .poni and mask orientation.
  std::vector<std::string> notes;
  // Superlattice changes along the scan: "fcc → lamellar at 12.15 GPa (frame 7)".
  std::vector<std::string> saxs_transitions;
  // Where the time went: seconds per stage summed over all threads ("waxs read", "waxs
  // integrate", "waxs fit", "saxs index", "write", ...), and the wall time of the frame loop.
  std::map<std::string, double> stage_seconds;
  double loop_seconds = 0;
};

RunSummary run_scan(const ScanConfig& config, const RunOptions& options);

// A frame's checkpoint file (DIR/.checkpoints/frame_NNNNNN.json) as the run wrote it, whatever
// scan description it was made with; nullopt when it cannot be read or parsed. For readers of a
// finished or running output folder (`anvil serve`).
std::optional<FrameResult> read_frame_checkpoint(const std::filesystem::path& file);

// The folder name a scan's results go to when none is given: "<name>_results" with the name
// reduced to letters, digits, '.', '-' and '_' (a scan name is never a path: "../../x" gives
// "x_results" beside the scan description, not a folder two levels up).
std::string default_output_name(const std::string& scan_name);

// One writer per output folder. Holds an advisory lock (flock) on DIR/.anvil.lock for its
// lifetime; the kernel drops it when the process dies, so a killed run never leaves the folder
// locked. The file says who holds it (pid, host, start time, command) so that a second run
// into the same folder fails with InputError naming them.
class OutputLock {
 public:
  OutputLock(const std::filesystem::path& dir, const std::string& command_line);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace anvil::pipeline
