// A progress line for long loops: a bar with frames/s and ETA on a terminal, plain periodic
// log lines otherwise (CI logs, pipes).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace anvil::cli {

class Progress {
 public:
  Progress(std::string label, std::size_t total);
  void advance(std::size_t n = 1);  // thread-safe
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
  std::mutex mutex_;
};

}  // namespace anvil::cli
