#include "progress.hpp"

#include <fmt/core.h>
#include <unistd.h>

namespace anvil::cli {

Progress::Progress(std::string label, std::size_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::advance(std::size_t n) {
  std::lock_guard lock(mutex_);
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const auto since = std::chrono::duration<double>(now - last_).count();
  if ((tty_ && since > 0.1) || (!tty_ && since > 10.0)) {
    last_ = now;
    draw(false);
  }
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  draw(true);
}

void Progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done_, total_)) / rate : 0.0;
  if (tty_) {
    constexpr int width = 30;
    const int filled =
        total_ ? static_cast<int>(width * static_cast<double>(done_) / static_cast<double>(total_)) : width;
    fmt::print(stderr, "\r{} [{}{}] {}/{} frames  {:.1f} frames/s  ETA {:.0f} s ", label_,
               std::string(filled, '#'), std::string(width - filled, '.'), done_, total_, rate, eta);
    if (final) fmt::print(stderr, "\n");
  } else {
    fmt::print(stderr, "{}: {}/{} frames, {:.1f} frames/s{}\n", label_, done_, total_, rate,
               final ? fmt::format(", {:.1f} s", elapsed) : fmt::format(", ETA {:.0f} s", eta));
  }
}

}  // namespace anvil::cli
