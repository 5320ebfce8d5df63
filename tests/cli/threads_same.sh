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
echo "threads ok"
