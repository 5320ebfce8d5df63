// A scan reduced by several processes (MPI), for when one machine is not enough: started as
// `mpirun -n N anvil run SCAN.toml -o DIR --mpi`, with DIR on a file system every rank sees.
//
// Rank r reduces the frames k with k % N == r (run_scan's share: each frame checkpointed as it
// finishes, exactly as a single-process run does), the ranks meet, and rank 0 writes the tables,
// results.h5 and figures from every frame's checkpoint — the single-process resume path, so the
// outputs are the same files, with the same numbers, as `anvil run` on one machine. A rank that
// is killed loses only its frames in flight: running the same command again (with MPI or
// without) does the frames that are missing. `options.force` redoes each rank's own frames.
#pragma once

#include "run_scan.hpp"

namespace anvil::pipeline {

struct DistributedSummary {
  int rank = 0, size = 1;
  RunSummary summary;  // rank 0: the whole scan; other ranks: their share (partial)
  // Every rank's share: frames reduced (not resumed), failed, wall seconds of its frame loop.
  std::vector<std::size_t> reduced_per_rank, failed_per_rank;
  std::vector<double> loop_seconds_per_rank;
  std::string error;  // a rank that threw: its message (all ranks see the first one)
};

// Initialises MPI if the caller has not (MPI_THREAD_FUNNELED: only the calling thread uses MPI;
// TBB workers never do) and finalises it when it did so.
DistributedSummary run_scan_distributed(const ScanConfig& config, RunOptions options);

}  // namespace anvil::pipeline
