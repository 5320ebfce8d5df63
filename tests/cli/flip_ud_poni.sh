#!/usr/bin/env bash
# A .poni made by `anvil calibrate --flip-ud` says that it was fitted on the up-down flipped image:
# pyFAI .poni v2.1 with orientation 2 (TopRight), a geometry of the image as stored, as pyFAI >= 2024
# and Dioptas read it. `anvil integrate` then gives the same pattern from it with and without
# --flip-ud (the orientation follows the flip), and says what it did.
#   flip_ud_poni.sh ANVIL IMAGE PONI_FROM_CALIBRATE_FLIP_UD WORKDIR
set -euo pipefail
anvil=$1 image=$2 poni=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
cat "$poni"
grep -qx 'poni_version: 2.1' "$poni" || { echo "$poni: not poni_version 2.1"; exit 1; }
grep -q '"orientation": 2' "$poni" || { echo "$poni: no orientation 2 in Detector_config"; exit 1; }

common=(--unit 2th_deg --npt 2000 --radial-range 5 30 -q)
"$anvil" integrate "$image" --poni "$poni" "${common[@]}" -o "$work/as_stored.xye" 2> "$work/as_stored.log"
"$anvil" integrate "$image" --poni "$poni" --flip-ud "${common[@]}" -o "$work/flipped.xye" 2> "$work/flipped.log"
cat "$work/as_stored.log" "$work/flipped.log"
grep -q "records orientation 2 (TopRight) for the image as stored in the file; the frames are flipped up-down, so orientation 3 (BottomRight) is used on them" \
  "$work/flipped.log" || { echo "no orientation note with --flip-ud"; exit 1; }
# The same bins and intensities (to the text's precision) both ways, and real rings in them.
paste <(grep -v '^#' "$work/as_stored.xye") <(grep -v '^#' "$work/flipped.xye") | awk '
  NF < 4 { next }
  { n++; if ($1 != $(NF/2 + 1)) { print "bin " n ": x " $1 " vs " $(NF/2 + 1); bad = 1 }
    d = $2 - $(NF/2 + 2); s = ($2 < 0 ? -$2 : $2) + 1e-30; if ((d < 0 ? -d : d) > 1e-6 * s + 1e-9) {
      print "bin " n ": I " $2 " vs " $(NF/2 + 2); bad = 1 }
    if ($2 > max) max = $2; if (min == "" || $2 < min) min = $2 }
  END { printf "%d bins compared, I from %g to %g\n", n, min, max
        exit (bad || n < 1000 || max < 2 * min) ? 1 : 0 }'
