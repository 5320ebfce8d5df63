// Compressed sparse row matrix: one row per output bin, one column per detector pixel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace anvil::integrate {

struct CsrMatrix {
  std::vector<std::uint32_t> row_ptr;  // rows + 1 offsets into col_idx / weights
  std::vector<std::uint32_t> col_idx;  // pixel index (row-major), ascending within a row
  std::vector<float> weights;          // fraction of the pixel that falls in the bin

  std::size_t rows() const { return row_ptr.empty() ? 0 : row_ptr.size() - 1; }
  std::size_t nnz() const { return col_idx.size(); }
};

}  // namespace anvil::integrate
