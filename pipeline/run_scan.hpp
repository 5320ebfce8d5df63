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

namespace anvil::pipeline {

struct DetectorOutcome {
  bool present = false;  // this detector is part of the scan
  bool ok = false;
  std::string error;  // why it failed (read, integration)
  Pattern1D pattern;
  // The analysis of the pattern: WAXS phase fit (pipeline/waxs_fit.hpp's JSON) or SAXS
  // indexing; null when not asked for. A failed analysis keeps the pattern (ok stays true) and
  // says why in analysis["status"] / ["reason"].
  nlohmann::json analysis;
};

struct FrameResult {
  std::size_t index = 0;
  std::optional<double> pressure_gpa;
  double pressure_esd_gpa = 0.0;
  pressure::Direction direction = pressure::Direction::Unknown;
  DetectorOutcome waxs, saxs;
  bool ok() const { return (!waxs.present || waxs.ok) && (!saxs.present || saxs.ok); }
};

struct RunOptions {
  std::filesystem::path output_dir;
  std::filesystem::path phase_dir;  // where named phases (CdSe-WZ, ...) are found: calib/phases
  std::size_t threads = 0;          // 0: all cores
  bool force = false;               // redo frames already done
  bool retry_failed = false;        // redo frames an earlier run recorded as failed (live mode: a frame may
                                    // have been read while the detector was still writing it)
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
};

struct RunSummary {
  std::size_t frames = 0;
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::size_t resumed = 0;   // frames taken from an earlier run's checkpoints
  bool interrupted = false;  // stopped early: checkpoints kept, tables not written
  bool partial = false;      // a share of a distributed run: its frames checkpointed, no tables
  std::map<std::string, std::size_t> failure_reasons;
  std::vector<std::filesystem::path> outputs;
  std::vector<std::string> warnings;
  // Where the time went: seconds per stage summed over all threads ("waxs read", "waxs
  // integrate", "waxs fit", "saxs index", "write", ...), and the wall time of the frame loop.
  std::map<std::string, double> stage_seconds;
  double loop_seconds = 0;
};

RunSummary run_scan(const ScanConfig& config, const RunOptions& options);

}  // namespace anvil::pipeline
