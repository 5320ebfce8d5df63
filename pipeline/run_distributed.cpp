#include "run_distributed.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>

namespace anvil::pipeline {

namespace {

// The per-stage times every share reports, summed over ranks on rank 0.
constexpr std::array<const char*, 7> kStages = {"waxs read",       "waxs integrate", "waxs fit",
                                                "saxs read",       "saxs integrate", "saxs index",
                                                "write checkpoint"};

struct MpiSession {
  bool owner = false;
  MpiSession() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owner = true;
    }
  }
  ~MpiSession() {
    if (owner) MPI_Finalize();
  }
};

}  // namespace

DistributedSummary run_scan_distributed(const ScanConfig& config, RunOptions options) {
  const MpiSession session;
  DistributedSummary out;
  MPI_Comm_rank(MPI_COMM_WORLD, &out.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &out.size);
  options.share_rank = static_cast<std::size_t>(out.rank);
  options.share_count = static_cast<std::size_t>(out.size);
  if (out.rank != 0) options.on_frame = nullptr;  // progress is rank 0's to show

  // 1. Each rank its share. An exception (bad input found by one rank) is passed to all.
  RunSummary mine;
  char error[1024] = {0};
  try {
    mine = run_scan(config, options);
  } catch (const std::exception& e) {
    std::strncpy(error, e.what(), sizeof error - 1);
  }
  // 2. Meet: who failed, who was interrupted, what each did.
  const int n = out.size;
  std::vector<char> errors(static_cast<std::size_t>(n) * sizeof error);
  MPI_Allgather(error, sizeof error, MPI_CHAR, errors.data(), sizeof error, MPI_CHAR, MPI_COMM_WORLD);
  for (int r = 0; r < n && out.error.empty(); ++r)
    if (errors[static_cast<std::size_t>(r) * sizeof error] != 0)
      out.error = "rank " + std::to_string(r) + ": " +
                  std::string(&errors[static_cast<std::size_t>(r) * sizeof error]);
  const int interrupted_here = mine.interrupted ? 1 : 0;
  int interrupted = 0;
  MPI_Allreduce(&interrupted_here, &interrupted, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  const unsigned long long share[2] = {
      mine.succeeded + mine.failed - std::min(mine.resumed, mine.succeeded + mine.failed), mine.failed};
  std::vector<unsigned long long> shares(2 * static_cast<std::size_t>(n));
  MPI_Allgather(share, 2, MPI_UNSIGNED_LONG_LONG, shares.data(), 2, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
  std::vector<double> loops(static_cast<std::size_t>(n));
  MPI_Allgather(&mine.loop_seconds, 1, MPI_DOUBLE, loops.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  std::array<double, kStages.size()> stage{}, stage_sum{};
  for (std::size_t i = 0; i < kStages.size(); ++i)
    if (auto it = mine.stage_seconds.find(kStages[i]); it != mine.stage_seconds.end()) stage[i] = it->second;
  MPI_Reduce(stage.data(), stage_sum.data(), static_cast<int>(stage.size()), MPI_DOUBLE, MPI_SUM, 0,
             MPI_COMM_WORLD);
  for (int r = 0; r < n; ++r) {
    out.reduced_per_rank.push_back(shares[2 * static_cast<std::size_t>(r)]);
    out.failed_per_rank.push_back(shares[2 * static_cast<std::size_t>(r) + 1]);
    out.loop_seconds_per_rank.push_back(loops[static_cast<std::size_t>(r)]);
  }

  // 3. Rank 0 writes the tables from every checkpoint (nothing left to reduce).
  if (out.rank != 0 || !out.error.empty() || interrupted) {
    out.summary = mine;
    out.summary.interrupted = interrupted != 0;
    return out;
  }
  RunOptions all = options;
  all.share_rank = 0;
  all.share_count = 1;
  all.force = false;  // every frame was just (re)done by its rank
  all.on_frame = nullptr;
  try {
    out.summary = run_scan(config, all);
  } catch (const std::exception& e) {
    out.error = std::string("rank 0, writing the tables: ") + e.what();
    return out;
  }
  std::size_t reduced = 0;
  for (auto v : out.reduced_per_rank) reduced += v;
  out.summary.resumed = out.summary.frames - std::min(out.summary.frames, reduced);
  out.summary.loop_seconds = *std::max_element(loops.begin(), loops.end());
  for (std::size_t i = 0; i < kStages.size(); ++i)
    if (stage_sum[i] > 0) out.summary.stage_seconds[kStages[i]] = stage_sum[i];
  return out;
}

}  // namespace anvil::pipeline
