#!/usr/bin/env bash
# dac_dev's SAXS frames integrated by anvil, then indexed as a pressure series: the superlattice is fcc
# on compression, lamellar from 12.15 GPa on (kept on release), and the change is reported as a
# transition at its pressure from the beamline's 1-based pressure table.
#   index_dac_dev_series.sh ANVIL DAC_DEV_DIR WORKDIR
set -euo pipefail
anvil=$1 dac=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
"$anvil" integrate "$dac/saxs_master.h5" --poni "$dac/saxs.poni" --mask "$dac/saxs_mask.tif" --polarization 0.99 \
  -q -o "$work/saxs.h5"
"$anvil" index "$work/saxs.h5" --all-frames --pressure "$dac/pressure.csv" -o "$work/series.json" | tee "$work/series.log"
# Frames 0-4 (0.02-7.19 GPa, ordered) fcc, 7-15 lamellar; one transition into lamellar, at 12.15 GPa.
awk '$1 ~ /^[0-9]+$/ {
       want = ($1 <= 4) ? "fcc" : ($1 >= 7) ? "lamellar" : "";
       if (want != "" && $3 != want) { print "frame " $1 ": " $3 ", expected " want; bad = 1 } }
     END { exit bad }' "$work/series.log"
grep -q "transition: .* → lamellar at 12.15 GPa (frame 7)" "$work/series.log" || { echo "no transition into lamellar at 12.15 GPa"; exit 1; }
[ "$(grep -c '^transition: .* → lamellar' "$work/series.log")" = 1 ] || { echo "more than one transition into lamellar"; exit 1; }
