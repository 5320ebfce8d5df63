#!/usr/bin/env bash
# anvil's main job on the sample scan. Until the full pipeline (`anvil run`) lands, this runs
# the most complete job that exists: ingest every frame of the EIGER-style scan, read its
# metadata, and turn the pressure log and the ruby R1 readings into per-frame pressures
# tagged compression / decompression.
#   sample_data/run_demo.sh [path/to/anvil]
set -euo pipefail
anvil=${1:-build/tools/anvil}
here=$(cd "$(dirname "$0")" && pwd)
scan="$here/cdse_dac"

echo "== anvil info: the WAXS frames (EIGER master + bitshuffle-LZ4 data files)"
"$anvil" info "$scan/cdse_waxs_master.h5"
echo
echo "== anvil pressure table: the ruby pressure log, frames tagged compression/decompression"
"$anvil" pressure table "$scan/pressure.csv"
echo
echo "== anvil pressure spec: the ruby R1 column of SPEC scan 1, converted on the Dewaele 2008 scale"
"$anvil" pressure spec "$scan/cdse_dac.spec" --scan 1 --counter "ruby R1" --ruby-scale dewaele2008
echo
echo "== anvil pressure ruby: R1 = 700.0 nm on the Dewaele 2008 and Ruby2020 scales"
"$anvil" pressure ruby 700.0 --scale dewaele2008
"$anvil" pressure ruby 700.0 --scale shen2020
