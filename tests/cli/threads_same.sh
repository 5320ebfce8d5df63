#!/usr/bin/env bash
# --threads on the commands that run in parallel: any thread count gives the same numbers.
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
cmp "$work/i1.json" "$work/i2.json"
echo "threads ok"
