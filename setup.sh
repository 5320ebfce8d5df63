#!/usr/bin/env bash
# anvil set-up: installs the Debian packages anvil needs (only those missing), builds, and
#   ./setup.sh demo   runs the main job on sample_data/            (README quick start, 1st command)
#   ./setup.sh test   runs the whole test suite, incl. the sanitizer/fuzz job (2nd command, CI)
#   ./setup.sh deps   only installs the packages
#   ./setup.sh build  only installs and builds (build/)
# Environment: ANVIL_JOBS (parallel build jobs, default: all cores), ANVIL_SKIP_SANITIZE=1.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache clang libclang-rt-14-dev
  libhdf5-dev hdf5-tools bitshuffle hdf5-filter-plugin liblz4-dev
  libtiff-dev libcbf-dev
  libfftw3-dev libceres-dev libeigen3-dev libtbb-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gemmi-dev tao-pegtl-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libplplot-dev plplot-driver-cairo
  libopenmpi-dev openmpi-bin
  python3-dev pybind11-dev python3-numpy python3-pytest python3-h5py python3-silx
  python3-nbconvert python3-ipykernel python3-matplotlib
  python3-pandas python3-pyfai python3-fabio
  libcpp-httplib-dev libjs-chart.js chromium python3-websocket
)

log() { printf '[setup] %s\n' "$*"; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

JOBS=${ANVIL_JOBS:-$(nproc)}

build() {
  if [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build build -j "$JOBS"
}

# The whole test suite (fault injection included) under AddressSanitizer + UndefinedBehaviorSanitizer
# (GCC: clang 14 cannot compile gemmi's CIF headers against libstdc++ 12), and the readers'
# libFuzzer targets under ASan + UBSan (clang). docs/reliability.md says why ThreadSanitizer is
# not run.
sanitize() {
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DANVIL_SANITIZE=address -DANVIL_FUZZ=ON -DANVIL_READERS_ONLY=ON -DANVIL_BUILD_BENCHMARKS=OFF >/dev/null
  fi
  cmake --build build-fuzz -j "$JOBS"
  # Leaks inside CBFlib (CIF syntax errors) and Open MPI's runtime are theirs: tests/fuzz/lsan.supp.
  local lsan="suppressions=$PWD/tests/fuzz/lsan.supp"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS="$lsan" \
    ctest --test-dir build-fuzz --output-on-failure -j "$JOBS"
  if [ ! -f build-asan/build.ninja ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
      -DANVIL_SANITIZE=address -DANVIL_BUILD_BENCHMARKS=OFF -DANVIL_PYTHON=OFF >/dev/null
  fi
  cmake --build build-asan -j "$JOBS"
  # Leak detection stays with the readers' job above: in the whole suite, plug-ins that are
  # dlopen'ed and closed (PLplot's cairo driver with fontconfig, HDF5's filter plug-ins) leak at
  # exit from code LSan can no longer name, so it could not tell them from anvil's.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900
}

cmd=${1:-build}
case "$cmd" in
  deps) install_deps ;;
  build) install_deps; build ;;
  demo)
    install_deps; build
    exec bash sample_data/run_demo.sh build/tools/anvil
    ;;
  test)
    install_deps; build
    if [ "${ANVIL_SKIP_SANITIZE:-0}" != 1 ]; then
      log "sanitizer + fuzz job (build-asan/)"
      sanitize
    fi
    log "test suite (build/)"
    ctest --test-dir build --output-on-failure -j "$JOBS"
    ;;
  *) echo "usage: $0 [demo|test|deps|build]" >&2; exit 2 ;;
esac
