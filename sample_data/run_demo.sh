#!/usr/bin/env bash
# anvil's main job on the sample scan: `anvil run` reduces the whole scan described by
# cdse_dac.toml — ingest the EIGER-style WAXS and SAXS frames, integrate them pyFAI-exactly
# (masks, solid angle, polarisation, sigma clipping of the diamond spots), attach the ruby
# pressures tagged compression/decompression, fit WZ/ZB/RS phase fractions per frame — into
# results.h5, the CSV tables and the plots. The scan was made by `anvil simulate` (see
# README.md here), so truth.json says what the answers should be. The other commands show
# the building blocks on the same files.
#   sample_data/run_demo.sh [path/to/anvil]
set -euo pipefail
anvil=${1:-build/tools/anvil}
here=$(cd "$(dirname "$0")" && pwd)
scan="$here/cdse_dac"
out=${ANVIL_DEMO_OUT:-$(cd "$here/.." && pwd)/out/cdse_dac}

echo "== anvil run: the whole scan"
"$anvil" run "$scan/cdse_dac.toml" -o "$out" --force
echo "first rows of $out/frames.csv:"
head -n 4 "$out/frames.csv"
if [ -f "$out/phase_fractions.csv" ]; then
  echo "phase fractions (compare with $scan/truth.json: WZ → RS near 6 GPa, 30 % RS retained):"
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print "frame  P (GPa)  direction      WZ     ZB     RS"; next }
           { printf "%5s  %7.2f  %-13s  %5.3f  %5.3f  %5.3f\n", $col["frame"], $col["pressure_gpa"], $col["direction"],
             $col["CdSe-WZ"], $col["CdSe-ZB"], $col["CdSe-RS"] }' "$out/phase_fractions.csv"
fi
echo

echo "== anvil info: the WAXS and SAXS frames (EIGER master + bitshuffle-LZ4 data files)"
"$anvil" info "$scan/cdse_dac_waxs_master.h5"
"$anvil" info "$scan/cdse_dac_saxs_master.h5"
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
