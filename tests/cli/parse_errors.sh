#!/usr/bin/env bash
# A usage error (bad value, unknown option, missing argument) is one line on stderr and exit 2,
# for every subcommand; --help exits 0.
#   parse_errors.sh ANVIL
set -uo pipefail
anvil=$1
check() {  # expected-exit, then the command's arguments
  local want=$1; shift
  local err rc
  err=$("$anvil" "$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" != "$want" ]; then echo "anvil $*: exit $rc, expected $want"; exit 1; fi
  if [ "$want" = 2 ]; then
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || { echo "anvil $*: more than one line:"; echo "$err"; exit 1; }
    [[ "$err" == "anvil: error: "* ]] || { echo "anvil $*: '$err'"; exit 1; }
  fi
}
check 2
check 2 integrate --npt abc frames.h5
check 2 integrate frames.h5 --no-such-option
check 2 fit
check 2 index --qmin -1 x.xy -o r.json
check 2 fit-series --bogus
check 2 run
check 2 calibrate
check 2 phase --energy -3 CdSe-WZ
check 0 integrate --help
check 0 --version
echo "parse errors ok"
