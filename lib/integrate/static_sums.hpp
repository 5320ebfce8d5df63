// Internal: frame-independent sums of an integrator for one set of corrections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace anvil::integrate::detail {

// Σ c·norm, Σ (c·norm)², Σ c over the statically valid pixels of each row (norm = factor ·
// static normalisation, valid = norm neither 0 nor NaN). They do not depend on the frame, so the
// fast kernel only forms Σ c·signal and Σ c²·variance per frame; rows where a frame has a NaN or
// an invalid pixel are re-integrated with the exact per-pixel checks.
struct StaticSums {
  std::uint64_t corrections_id = 0;
  const float* norm_data = nullptr;
  std::size_t norm_size = 0;
  std::uint32_t factor_bits = 0;
  std::vector<double> norm, norm_sq, count;  // per row
  // Rows holding a statically invalid pixel (always integrated exactly); empty: none.
  std::vector<std::uint8_t> dirty_rows;
};

struct StaticSumsCache {
  std::mutex mutex;
  std::vector<std::shared_ptr<const StaticSums>> entries;  // most recently used last
};

}  // namespace anvil::integrate::detail
