// What the live dashboard shows, as one thread-safe snapshot of a scan's reduction: per-frame
// summaries (pressure, direction, status, phase fractions, cell volumes, superlattice), the
// scan's counters (done, failed, in flight, rate, ETA, last error), the latest frame image of
// each detector reduced to a preview, and alerts derived from the frames in order.
//
// Fed either by the reduction itself (it is a pipeline::RunObserver: `anvil run --follow
// --serve`) or by the checkpoints of an output folder (`anvil serve DIR`, watch_checkpoints).
// Writers hold the lock only to swap in what they built outside it; readers (the HTTP server's
// threads) get immutable JSON texts rebuilt at most once per change (`version`). Nothing here
// blocks the flow graph: the frame preview is made on the state's own thread, and a frame that
// arrives while it is busy is simply not previewed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "frame_preview.hpp"
#include "run_scan.hpp"

namespace anvil::dashboard {

struct LiveOptions {
  std::string scan_name;
  std::filesystem::path output_dir;
  std::vector<std::string> phases;  // the fitted sample phases, in the tables' order
  // Frames whose full results (patterns, fit curves) stay in memory; older ones are read back
  // from their checkpoints in output_dir when asked for.
  std::size_t frames_kept = 8;
};

class LiveState : public pipeline::RunObserver {
 public:
  explicit LiveState(LiveOptions options);
  ~LiveState() override;
  LiveState(const LiveState&) = delete;
  LiveState& operator=(const LiveState&) = delete;

  // RunObserver (from the flow graph's threads).
  void pass_started(std::size_t first, std::size_t frames, std::size_t todo) override;
  void frame_resumed(const pipeline::FrameResult& r) override;
  void frame_started(std::size_t number) override;
  void frame_read(std::size_t number, const std::string& detector, const io::Frame& frame,
                  const pipeline::DetectorIntegrator& integrator) override;
  void frame_finished(const pipeline::FrameResult& r) override;

  // The run's state as the command line knows it: "running", "waiting" (live mode, between
  // looks for new frames), "finished", "interrupted", "watching" (anvil serve).
  void set_state(const std::string& state);
  // An error of the run itself (a look for frames that failed), shown as the last error.
  void set_error(const std::string& message);
  // `anvil serve DIR`: the frames found in DIR/.checkpoints (new or rewritten files since the
  // last call). Returns how many were (re)loaded.
  std::size_t scan_checkpoints();
  // Images of frames other than the latest (`anvil serve --scan`, and frames clicked in `run
  // --serve`): read again from the scan's frame files.
  void set_frame_reader(std::shared_ptr<FrameReader> reader);

  std::uint64_t version() const;
  // JSON texts for the HTTP API (see docs/dashboard.md), rebuilt only when what they show
  // changed: the status with any change (`version`), the rest when a frame's summary did
  // (`frames_version`).
  std::shared_ptr<const std::string> status_json();
  // Every frame; with `since` (a frames_version the client has) only those changed after it.
  std::shared_ptr<const std::string> frames_json(std::uint64_t since = 0);
  // The radial coordinate of a detector's previews (the same for every frame): null when no
  // preview geometry is known yet.
  std::shared_ptr<const std::string> geometry_json(const std::string& detector);
  std::shared_ptr<const std::string> alerts_json();
  std::shared_ptr<const std::string> eos_json();
  // One frame's full results (patterns, analysis, fit curves); null when the frame is unknown.
  std::shared_ptr<const std::string> frame_json(std::size_t number);
  // A detector's image preview: `number` null for the latest previewed; null when there is
  // none (no such frame, detector or reader).
  std::shared_ptr<const std::string> image_json(const std::string& detector,
                                                std::optional<std::size_t> number);

 private:
  struct PixelCounts {
    std::size_t flagged = 0;  // the detector's invalid pixels outside the static mask
    std::optional<std::size_t> spots;
    std::optional<std::size_t> saturated;
  };
  void add_frame(const pipeline::FrameResult& r, bool finished_now);
  void preview_loop();
  nlohmann::json summary_of(const pipeline::FrameResult& r) const;
  nlohmann::json rings_of(const std::string& detector, std::size_t number);
  // `build`'s text for the current version (`by_frames`: frames_version), made again at most
  // every `refresh`.
  std::shared_ptr<const std::string> cached(const char* what, bool by_frames,
                                            const std::function<nlohmann::json()>& build,
                                            std::chrono::milliseconds refresh = std::chrono::milliseconds(0));

  LiveOptions options_;
  mutable std::mutex mutex_;
  std::uint64_t version_ = 0;
  std::uint64_t frames_version_ = 0;
  std::map<std::size_t, std::uint64_t> changed_;  // frame → frames_version of its last change
  std::map<std::string, std::chrono::steady_clock::time_point> last_preview_;  // per detector
  std::optional<std::chrono::steady_clock::time_point> image_requested_;       // the last /api/image
  std::string state_ = "starting";
  std::size_t first_ = 0, frames_ = 0, todo_ = 0;
  std::set<std::size_t> in_flight_;
  std::map<std::size_t, nlohmann::json> summaries_;  // by frame number
  std::map<std::size_t, std::map<std::string, PixelCounts>> pixels_;
  std::deque<std::shared_ptr<const pipeline::FrameResult>> recent_;  // the last frames_kept finished
  std::deque<std::chrono::steady_clock::time_point> finish_times_;   // for the rate
  std::size_t finished_this_run_ = 0;
  std::optional<std::size_t> latest_;
  std::string last_error_;
  std::optional<std::size_t> last_error_frame_;
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  struct Cached {
    std::uint64_t version = 0;
    std::shared_ptr<const std::string> text;
    std::chrono::steady_clock::time_point built{};
    bool building = false;
  };
  std::map<std::string, Cached> cache_;
  std::map<std::filesystem::path, std::filesystem::file_time_type> seen_checkpoints_;
  std::map<std::pair<std::string, std::size_t>, std::shared_ptr<const std::string>> image_cache_;
  std::deque<std::pair<std::string, std::size_t>> image_cache_order_;
  // Texts of frame_json by (frame, its frames_version): the last few.
  std::deque<std::pair<std::pair<std::size_t, std::uint64_t>, std::shared_ptr<const std::string>>>
      frame_cache_;

  // Previews: geometry per detector, the latest image, and the frame waiting to be previewed.
  std::map<std::string, std::shared_ptr<const PreviewGeometry>> geometry_;
  std::map<std::string, std::shared_ptr<const FramePreview>> latest_preview_;
  std::shared_ptr<FrameReader> reader_;
  struct Pending {
    std::size_t number = 0;
    std::string detector;
    ImageF image;
    Mask invalid;
  };
  std::optional<Pending> pending_;
  bool preview_busy_ = false;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread preview_thread_;
};

}  // namespace anvil::dashboard
