#!/usr/bin/env bash
# The measured silver-behenate MarCCD image, end to end from the command line: calibrated from a
# rough distance (the zero corners outside the CCD's round active area masked by anvil itself and
# saved with --save-mask), integrated with that mask and the dark, indexed lamellar with
# d within 1 % of AgBh's 5.838 nm.
#   agbh_marccd.sh ANVIL SAXS_AGBH_APS_DIR WORKDIR
set -euo pipefail
anvil=$1 dir=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
"$anvil" calibrate "$dir/AgBehenate_003.tif" --calibrant AgBh --wavelength 1.0332 --pixel 158 --dist 570 \
  --save-mask "$work/agbh_mask.tif" --no-plot -o "$work/agbh.poni" | tee "$work/calibrate.log"
[ -s "$work/agbh_mask.tif" ] || { echo "no saved mask"; exit 1; }
"$anvil" integrate "$dir/AgBehenate_003.tif" --poni "$work/agbh.poni" --mask "$work/agbh_mask.tif" \
  --dark "$dir/Dark_5s_003.tif" -q -o "$work/agbh.xye"
"$anvil" index "$work/agbh.xye" -o "$work/agbh.json" | tee "$work/index.log"
awk '$1 == "lattice" && $2 == "lamellar" { d = $5; found = 1 }
     END { if (!found) { print "not lamellar"; exit 1 }
           if (d < 5.780 || d > 5.896) { print "d = " d " nm, not within 1 % of 5.838"; exit 1 } }' "$work/index.log"
