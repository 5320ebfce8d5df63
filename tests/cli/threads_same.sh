#!/usr/bin/env bash
# --threads on the commands that run in parallel: any thread count gives the same numbers; and the
# scan description's option names on the command line.
#   threads_same.sh ANVIL SAMPLE_DIR WORKDIR
set -euo pipefail
anvil=$1 sample=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
for t in 1 2; do
  "$anvil" integrate "$sample/cdse_dac_waxs_master.h5" --poni "$sample/waxs.poni" --mask "$sample/waxs.mask" \
    --sigma-clip 4 --threads $t -q -o "$work/w$t.h5"
  "$anvil" index "$work/w1.h5" --frame 0 --threads $t -o "$work/i$t.json" > /dev/null || true
done
h5diff "$work/w1.h5" "$work/w2.h5" /entry/integrated /entry/integrated
# The scan description's names work on the command line too: --bins, --error-model, --range.
"$anvil" integrate "$sample/cdse_dac_waxs_master.h5" --poni "$sample/waxs.poni" --npt 800 --error azimuthal \
  --radial-range 3 21 -q -o "$work/n1.h5"
"$anvil" integrate "$sample/cdse_dac_waxs_master.h5" --poni "$sample/waxs.poni" --bins 800 --error-model azimuthal \
  --range 3 21 -q -o "$work/n2.h5"
h5diff "$work/n1.h5" "$work/n2.h5" /entry/integrated /entry/integrated
cmp "$work/i1.json" "$work/i2.json"
# anvil index takes the same names for the range, the unit and the pattern group as integrate
# and the scan description (--range, --unit, --group), beside its own (--qmin/--qmax, --q-unit,
# --dataset); anvil fit's --x-unit is also --unit and fit-series' --group also --dataset.
"$anvil" integrate "$sample/cdse_dac_saxs_master.h5" --poni "$sample/saxs.poni" --unit q_nm^-1 -q -o "$work/s.h5"
"$anvil" index "$work/s.h5" --frame 2 --qmin 0.3 --qmax 3.5 --q-unit nm^-1 --dataset integrated -o "$work/r1.json" > /dev/null
"$anvil" index "$work/s.h5" --frame 2 --range 0.3,3.5 --unit q_nm^-1 --group integrated -o "$work/r2.json" > /dev/null
cmp "$work/r1.json" "$work/r2.json"
if "$anvil" index "$work/s.h5" --range 0.3,3.5 --qmin 0.2 -o "$work/r3.json" 2> "$work/err.txt"; then
  echo "--range with --qmin accepted"; exit 1
fi
echo "threads and names ok"
