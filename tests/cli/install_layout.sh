#!/usr/bin/env bash
# `cmake --install` into a fresh prefix, then the installed anvil and Python package used from
# elsewhere, with the source tree out of sight: calib/ must be found beside the install, not at a
# compiled-in path.
#   install_layout.sh CMAKE BUILD_DIR WORKDIR PYTHON
set -euo pipefail
cmake=$1 build=$2 work=$3 python=${4:-}
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log"
test -x "$prefix/bin/anvil"
test -f "$prefix/share/anvil/calib/phases/CdSe-WZ.cif"
test -f "$prefix/share/anvil/calib/calibrants/CeO2.toml"
test -f "$prefix/share/doc/anvil/python.md"
# The binary names no source path.
if grep -q "$(cd "$(dirname "$0")/../.." && pwd)/calib" "$prefix/bin/anvil"; then
  echo "the installed anvil has the source tree's calib path compiled in"; exit 1
fi
cd "$work"
env -u ANVIL_PHASE_DIR -u ANVIL_CALIB_DIR "$prefix/bin/anvil" phase CdSe-WZ --energy 25.5 > phase.txt
grep -q "CdSe" phase.txt
# Moved elsewhere, it still finds its data (relocatable).
mv "$prefix" "$work/moved"
env -u ANVIL_PHASE_DIR -u ANVIL_CALIB_DIR "$work/moved/bin/anvil" phase CeO2 --energy 25.5 > phase2.txt
grep -q "CeO2" phase2.txt
if [ -n "$python" ]; then
  site=$(find "$work/moved" -type d -name dist-packages | head -1)
  test -n "$site" && test -f "$site/anvil/__init__.py"
  env -u ANVIL_PHASE_DIR -u ANVIL_CALIB_DIR PYTHONPATH="$site" "$python" -c \
    "import anvil; t = anvil.phase('CdSe-ZB', energy_kev=25.5); assert tuple(int(t[x][0]) for x in 'hkl') == (1, 1, 1); print('python ok')"
fi
echo "install layout ok"
