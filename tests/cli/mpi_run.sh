#!/usr/bin/env bash
# `mpirun -n 2 anvil run --mpi` on the sample scan writes the same tables, byte for byte, as a
# single-process `anvil run`; run again it takes every frame from the checkpoints.
#   mpi_run.sh MPIEXEC ANVIL SCAN_TOML WORKDIR
set -euo pipefail
mpiexec=$1 anvil=$2 scan=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
# CI runs as root in a container with 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$mpiexec" -n 2 "$anvil" run "$scan" -o "$work/mpi" --mpi --threads 1 -q > "$work/mpi.log"
cat "$work/mpi.log"
grep -q "rank 1: 10 frames reduced" "$work/mpi.log" || { echo "rank 1 did not reduce its 10 frames"; exit 1; }
"$anvil" run "$scan" -o "$work/single" -q > /dev/null
for f in frames.csv phase_fractions.csv lattice.csv eos.csv transitions.csv superlattice.csv; do
  cmp "$work/mpi/$f" "$work/single/$f" || { echo "$f differs between the MPI and the single-process run"; exit 1; }
done
[ -s "$work/mpi/results.h5" ] || { echo "no results.h5"; exit 1; }
"$mpiexec" -n 2 "$anvil" run "$scan" -o "$work/mpi" --mpi --threads 1 -q > "$work/again.log"
grep -q "20 taken from an earlier run" "$work/again.log" || { cat "$work/again.log"; echo "resume did not take the checkpoints"; exit 1; }
echo "MPI run equals the single-process run"
