#!/usr/bin/env bash
# `anvil calibrate` on the PI lab CCD (Mo Kα, CeO2, no guess): a flat geometry is refused as a
# poor fit (exit 3, no .poni); with --refine-distortion it converges and writes .poni + .spline,
# and `anvil integrate` with that .poni puts CeO2 220 and 311 within 0.01° of SRM 674b.
#   calibrate_ccd.sh ANVIL SPE_FILE WORKDIR
set -euo pipefail
anvil=$1 spe=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
common=(--calibrant CeO2 --wavelength 0.71073 --pixel 48 --no-plot)

set +e
"$anvil" calibrate "$spe" "${common[@]}" -o "$work/flat.poni" > "$work/flat.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 3 ] || { cat "$work/flat.log"; echo "flat fit: exit $rc, expected 3"; exit 1; }
grep -q "poor fit" "$work/flat.log" || { cat "$work/flat.log"; echo "no 'poor fit' message"; exit 1; }
[ ! -e "$work/flat.poni" ] || { echo "a refused fit wrote its .poni"; exit 1; }

"$anvil" calibrate "$spe" "${common[@]}" --refine-distortion -o "$work/ccd.poni" > "$work/ccd.log"
cat "$work/ccd.log"
[ -s "$work/ccd.spline" ] || { echo "no ccd.spline"; exit 1; }
grep -q '"splineFile": ".*ccd.spline"' "$work/ccd.poni" || { echo "ccd.poni does not name ccd.spline"; exit 1; }

"$anvil" integrate "$spe" --poni "$work/ccd.poni" --unit 2th_deg --npt 3000 --radial-range 5 35 \
  -o "$work/ccd.xye" -q
# Background-subtracted centroid of the peak within ±0.35° of each SRM position.
for t0 in 21.40778 25.15872; do
  awk -v t0="$t0" '
    BEGIN { n = 0 }
    /^#/ || NF < 2 { next }
    { d = $1 - t0 }
    d < -0.35 && d > -0.455 { lo += $2; nlo++ }
    d > 0.35 && d < 0.455 { hi += $2; nhi++ }
    d >= -0.35 && d <= 0.35 { x[n] = $1; y[n] = $2; n++ }
    END {
      b0 = lo / nlo; b1 = hi / nhi
      for (i = 0; i < n; i++) { e = y[i] - (b0 + (b1 - b0) * (x[i] - t0 + 0.35) / 0.7); if (e > 0) { w += e; wx += e * x[i] } }
      off = wx / w - t0
      printf "CeO2 line at %.5f°: integrated centroid %+.4f°\n", t0, off
      exit (off < 0.01 && off > -0.01) ? 0 : 1
    }' "$work/ccd.xye"
done
