#!/usr/bin/env bash
# Kill `anvil run` halfway (SIGINT, then SIGKILL): re-running completes the scan, and no table
# is truncated or has a frame twice.
#   kill_resume.sh ANVIL SAMPLE_DIR WORKDIR
set -euo pipefail
anvil=$1 sample=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cp "$sample"/cdse_dac_waxs_* "$sample"/waxs.poni "$work"/
# 600 frames: the sample's 20 frames 30 times over, integrated with full pixel splitting.
{
  printf '[waxs]\nframes = ['
  for i in $(seq 30); do printf '"cdse_dac_waxs_master.h5", '; done
  printf ']\nponi = "waxs.poni"\n[waxs.integration]\nunit = "2th_deg"\nbins = 1000\nsplit = "full"\n'
} > "$work/long.toml"

count_done() { find "$work/out/.checkpoints" -name 'frame_*.json' 2>/dev/null | wc -l; }

for signal in INT KILL; do
  rm -rf "$work/out"
  "$anvil" run "$work/long.toml" -o "$work/out" --threads 2 -q > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1000); do  # wait until some frames are done, then kill
    [ "$(count_done)" -ge 10 ] && break
    sleep 0.01
  done
  kill -s "$signal" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  done_before=$(count_done)
  if [ "$done_before" -ge 600 ]; then echo "run finished before it could be killed ($signal)"; exit 1; fi
  [ ! -e "$work/out/results.h5" ] || { echo "results.h5 exists after a killed run"; exit 1; }
  # A write cut short leaves a .part<pid> file: the rerun must not mind it, and removes it.
  out=$("$anvil" run "$work/long.toml" -o "$work/out" --threads 2 -q)
  echo "$out" | grep -q "600 succeeded" || { echo "rerun after SIG$signal did not complete: $out"; exit 1; }
  echo "$out" | grep -Eq "\(([0-9]+) taken from an earlier run\)" || { echo "rerun redid everything: $out"; exit 1; }
  rows=$(tail -n +2 "$work/out/frames.csv" | wc -l)
  unique=$(tail -n +2 "$work/out/frames.csv" | cut -d, -f1 | sort -u | wc -l)
  [ "$rows" -eq 600 ] && [ "$unique" -eq 600 ] || { echo "frames.csv has $rows rows, $unique unique"; exit 1; }
  if ls "$work/out/.checkpoints" | grep -q '\.part[0-9]*$'; then echo "a .part file was left behind"; exit 1; fi
  echo "SIG$signal after $done_before frames: rerun resumed and completed 600 frames"
done
