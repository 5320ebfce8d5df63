// libFuzzer target: arbitrary bytes through anvil's in-memory TIFF reader. Anything but a
// clean result or an anvil::InputError (a crash, a sanitizer report, another exception,
// a hang, an allocation past -rss_limit_mb) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/tiff.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  anvil::io::OpenOptions options;
  options.flip_up_down = size % 2 == 1;  // exercise the orientation step too
  try {
    const auto frames = anvil::io::read_tiff_memory(std::as_bytes(std::span(data, size)), options, "fuzz",
                                                    std::size_t{1} << 22);
    volatile float sink = 0;
    for (const auto& frame : frames)
      if (!frame.image.empty()) sink = sink + frame.image.pixels.front() + frame.invalid.pixels.back();
  } catch (const anvil::InputError&) {
    // The expected outcome for most inputs.
  }
  return 0;
}
