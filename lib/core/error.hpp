// Errors anvil reports to people: each names the file (or key) and what is wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace anvil {

// Something the user gave us is unusable: a file that is corrupt or truncated, a wrong
// shape, a missing key, a nonsense value. `what()` reads "<source>: <problem>".
class InputError : public std::runtime_error {
 public:
  InputError(std::string source, std::string problem)
      : std::runtime_error(source.empty() ? problem : source + ": " + problem),
        source_(std::move(source)),
        problem_(std::move(problem)) {}
  const std::string& source() const { return source_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string source_;
  std::string problem_;
};

// One frame of a multi-frame source cannot be read; the others may still be fine.
class FrameError : public InputError {
 public:
  FrameError(std::string source, std::size_t frame_index, std::string problem)
      : InputError(std::move(source), "frame " + std::to_string(frame_index) + ": " + problem),
        frame_index_(frame_index),
        reason_(std::move(problem)) {}
  std::size_t frame_index() const { return frame_index_; }
  // What is wrong, without the file and frame ("truncated chunk"): what groups failed frames.
  const std::string& reason() const { return reason_; }

 private:
  std::size_t frame_index_;
  std::string reason_;
};

}  // namespace anvil
