#!/usr/bin/env bash
# anvil's main job on the sample scan: `anvil run` reduces the whole scan described by
# cdse_dac.toml (ingest the EIGER-style frames, integrate them pyFAI-exactly, attach ruby
# pressures tagged compression/decompression) into results.h5 and frames.csv. WAXS fitting,
# SAXS indexing and plots join the same run as those stages land. The other commands show
# the building blocks on the same files.
#   sample_data/run_demo.sh [path/to/anvil]
set -euo pipefail
anvil=${1:-build/tools/anvil}
here=$(cd "$(dirname "$0")" && pwd)
scan="$here/cdse_dac"
out=${ANVIL_DEMO_OUT:-$here/../out/cdse_dac}

echo "== anvil run: the whole scan"
"$anvil" run "$scan/cdse_dac.toml" -o "$out" --force
echo "first rows of $out/frames.csv:"
head -n 4 "$out/frames.csv"
echo

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
