#!/usr/bin/env bash
# dac_dev's WAXS frames integrated by anvil, then refined as a series with the Debye model
# (anvil fit-series --model debye): the same model and writers as anvil run, so every frame's
# WZ/ZB/RS fractions are within ±0.03 of truth.csv and the gasket is reported apart.
#   fit_series_debye.sh ANVIL DAC_DEV_DIR WORKDIR [CACHE_DIR]
# CACHE_DIR: where the pair sums are kept (one per build tree, so that a CI machine without a
# writable home still builds the faulted phase's eleven sets once, not once per command).
set -euo pipefail
anvil=$1 dac=$2 work=$3
[ -n "${4:-}" ] && export ANVIL_CACHE_DIR=$4
rm -rf "$work" && mkdir -p "$work"
"$anvil" integrate "$dac/waxs_master.h5" --poni "$dac/waxs.poni" --mask "$dac/waxs_mask.tif" --unit 2th_deg \
  --npt 2000 --radial-range 2.5,27 --error azimuthal --polarization 0.99 --sigma-clip 4 -q -o "$work/waxs.h5"
"$anvil" fit-series "$work/waxs.h5" --model debye --phases CdSe-WZ,CdSe-ZB,CdSe-RS --others Fe-fcc \
  --sizes 2.8,7.2 --range 3,26 --pressure "$dac/pressure.csv" --no-plots -o "$work/series" | tee "$work/series.log"
grep -q "16 of 16 frames fitted" "$work/series.log" || { echo "not every frame fitted"; exit 1; }
[ -s "$work/series/other_phases.csv" ] || { echo "no other_phases.csv"; exit 1; }
# truth.csv: frame (1-based), pressure, f_WZ, f_ZB, f_RS; phase_fractions.csv: frame (0-based), pressure_gpa,
# direction, CdSe-WZ, _esd, CdSe-ZB, _esd, CdSe-RS, _esd, ...
awk -F, 'NR == FNR { if (FNR > 1) { wz[$1 - 1] = $3; zb[$1 - 1] = $4; rs[$1 - 1] = $5 } next }
         FNR > 1 { n++
                   d1 = $4 - wz[$1]; d2 = $6 - zb[$1]; d3 = $8 - rs[$1]
                   if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2; if (d3 < 0) d3 = -d3
                   if (d1 > 0.03 || d2 > 0.03 || d3 > 0.03) { print "frame " $1 ": " $4, $6, $8 " vs " wz[$1], zb[$1], rs[$1]; bad = 1 } }
         END { if (n != 16) { print n " rows"; bad = 1 } exit bad }' "$dac/truth.csv" "$work/series/phase_fractions.csv"
# WZ and ZB as one faulted phase (--faulted): α ≈ 0 on the pure-WZ frame 0, α ≈ 1 on frame 15
# (0.695 ZB, 0.305 RS), the faulted phase's fraction within ±0.03.
for f in 0 15; do
  "$anvil" fit "$work/waxs.h5" --frame $f --model debye --faulted --phases CdSe-WZ,CdSe-ZB,CdSe-RS --others Fe-fcc \
    --sizes 2.8,7.2 --range 3,26 --pressure "$(awk -F, -v f=$((f + 1)) '$1 == f { print $2 }' "$dac/pressure.csv")" \
    -o "$work/faulted_$f.json" | tee "$work/faulted_$f.log"
done
awk '$1 == "CdSe-WZ/CdSe-ZB" { if ($2 < 0.97 || $(NF - 2) > 0.1) { print "frame 0: " $0; exit 1 } found = 1 }
     END { exit !found }' "$work/faulted_0.log"
awk '$1 == "CdSe-WZ/CdSe-ZB" { if ($2 < 0.665 || $2 > 0.725 || $(NF - 2) < 0.9) { print "frame 15: " $0; exit 1 } found = 1 }
     END { exit !found }' "$work/faulted_15.log"
