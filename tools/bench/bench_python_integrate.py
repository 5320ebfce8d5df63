#!/usr/bin/env python3
"""integrate1d from Python against the C++ kernel (and pyFAI when installed), per frame.

A Pilatus-1M-sized frame set (1043 × 981 pixels of 172 µm, 16 distinct Poisson frames), 1000 q
bins, bbox splitting, solid angle + polarisation 0.99, Poisson σ — the setting of
build/tools/bench_integrate's BM_IntegrateOneFrame/1 (one frame per call, bbox: what
integrate1d calls) and BM_IntegrateFrames/1/2 (16 frames batched on 2 threads), which this
script also runs for the C++ figures. Usage (from the repository root, after the build):

    PYTHONPATH=build/python /usr/bin/python3 tools/bench/bench_python_integrate.py [--frames 64]

Prints ms per frame for anvil from Python, the C++ kernel, and pyFAI (python3-pyfai) if present.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import anvil

ROWS, COLS, PIXEL = 1043, 981, 172e-6


def poni_text():
    return (
        "poni_version: 2\nDetector: Detector\n"
        f'Detector_config: {{"pixel1": {PIXEL}, "pixel2": {PIXEL}, "max_shape": [{ROWS}, {COLS}]}}\n'
        "Distance: 0.2\nPoni1: 0.0905\nPoni2: 0.083\nRot1: 0.0\nRot2: 0.0\nRot3: 0.0\nWavelength: 4.859e-11\n")


def frames(n):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    r = np.hypot(y - 526, x - 483)
    base = 100 + 2000 * np.exp(-0.5 * ((r % 120) - 60) ** 2 / 9)
    return [rng.poisson(base).astype(np.float32) for _ in range(n)]


def time_per_frame(fn, data, repeat=3):
    fn(data[0])  # the integrator (pixel-to-bin table) is built here, once
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for f in data:
            fn(f)
        best = min(best, (time.perf_counter() - t) / len(data))
    return best * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--bench-integrate", default="build/tools/bench_integrate")
    a = ap.parse_args()
    data = frames(a.frames)
    with tempfile.TemporaryDirectory() as tmp:
        poni = os.path.join(tmp, "bench.poni")
        with open(poni, "w") as f:
            f.write(poni_text())
        ai = anvil.load(poni)
        ms_anvil = time_per_frame(lambda im: ai.integrate1d(im, 1000, unit="q_nm^-1", method="bbox",
                                                            polarization_factor=0.99, error_model="poisson"), data)
        print(f"anvil from Python, one frame per call: {ms_anvil:.2f} ms/frame ({1e3 / ms_anvil:.0f} frames/s)")
        stack = np.stack(data)
        integrate_stack = lambda st: ai.integrate1d(st, 1000, unit="q_nm^-1", method="bbox",  # noqa: E731
                                                    polarization_factor=0.99, error_model="poisson")
        ms_stack = time_per_frame(integrate_stack, [stack]) / len(data)
        print(f"anvil from Python, the {len(data)} frames as one stack: {ms_stack:.2f} ms/frame")
        ms_cpp = None
        if os.path.exists(a.bench_integrate):
            out = subprocess.run([a.bench_integrate,
                                  "--benchmark_filter=BM_IntegrateOneFrame/1/real_time$|BM_IntegrateFrames/1/2/real_time$",
                                  "--benchmark_format=json", "--benchmark_min_time=1"], capture_output=True, text=True)
            for b in json.loads(out.stdout)["benchmarks"]:
                if b["name"].startswith("BM_IntegrateOneFrame"):
                    ms_cpp = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] * 1e-6
                    print(f"C++ kernel, one frame per call (BM_IntegrateOneFrame/1): {ms_cpp:.2f} ms/frame; "
                          f"Python / C++ {ms_anvil / ms_cpp:.3f}")
                else:
                    print(f"C++ kernel, 16 frames batched on 2 threads (BM_IntegrateFrames/1/2): "
                          f"{1e3 / b['frames_per_s']:.2f} ms/frame")
        try:
            import pyFAI  # noqa: F401
            from pyFAI.azimuthalIntegrator import AzimuthalIntegrator
        except ImportError:
            print("pyFAI: not installed (python3-pyfai)")
            return 0
        pai = AzimuthalIntegrator()
        pai.load(poni)
        ms_pyfai = time_per_frame(lambda im: pai.integrate1d(im, 1000, unit="q_nm^-1", method=("bbox", "csr", "cython"),
                                                             polarization_factor=0.99, error_model="poisson"), data)
        print(f"pyFAI {pyFAI.version} bbox/csr/cython: {ms_pyfai:.2f} ms/frame; anvil is {ms_pyfai / ms_anvil:.1f}× "
              f"faster one frame per call, {ms_pyfai / ms_stack:.1f}× as a stack")
    return 0


if __name__ == "__main__":
    sys.exit(main())
