#!/usr/bin/python3
"""pyFAI vs anvil azimuthal integration throughput, measured in one run on this machine.

Reference script, not part of anvil or its CI. Run with Debian's python3-pyfai (0.21.3):

    /usr/bin/python3 tools/bench/pyfai_side_by_side.py [--anvil-bench build/tools/bench_integrate]

pyFAI: integrate1d_ng on a Pilatus-1M-sized frame (1043x981, the CeO2 reference frame of
shared/reference/pyfai when present, else Poisson noise), 1000 points in q_nm^-1, solid angle +
polarisation 0.99, Poisson error model, methods ("no", "histogram", "cython") and
("bbox"/"full", "csr", "cython"), on 1 and 2 OpenMP threads (OMP_NUM_THREADS, set before pyFAI is
imported, hence one worker process per thread count). Each figure is the median of 3 repetitions
of a timed loop after a warm-up call (the warm-up builds the CSR engine; its extra time is
reported as the build time); for the CSR methods the CSR engine alone (CsrIntegrator.integrate_ng)
is timed too. Then anvil's bench_integrate runs with --benchmark_repetitions=3, and a side-by-side
summary (frames/s, ratio, % of the memory-bandwidth bound = read bandwidth measured by the same
bench_integrate run / frame bytes) is printed, with the load average before, between and after:
the machine may be shared, note it with the numbers.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "..", "shared", "reference", "pyfai")
SHAPE = (1043, 981)
METHODS = [("no", "histogram", "cython"), ("bbox", "csr", "cython"), ("full", "csr", "cython")]


def worker(threads, seconds, repetitions):
    """Runs in a child process whose OMP_NUM_THREADS is already set."""
    import numpy
    import pyFAI
    from pyFAI.azimuthalIntegrator import AzimuthalIntegrator

    image_path = os.path.join(REFERENCE, "image_1043x981_f32le.bin")
    if os.path.exists(image_path):
        image = numpy.fromfile(image_path, dtype="<f4").reshape(SHAPE)
        source = "shared/reference/pyfai CeO2 frame"
    else:
        image = numpy.random.default_rng(42).poisson(800.0, SHAPE).astype(numpy.float32)
        source = "Poisson(800) noise"
    results = []
    for method in METHODS:
        ai = AzimuthalIntegrator(dist=0.2, poni1=0.0905, poni2=0.083, rot1=0.012, rot2=-0.007, rot3=0.0,
                                 pixel1=172e-6, pixel2=172e-6, wavelength=4.859e-11)
        ai.detector.max_shape = SHAPE
        kwargs = dict(unit="q_nm^-1", method=method, correctSolidAngle=True, polarization_factor=0.99,
                      error_model="poisson")
        t0 = time.perf_counter()
        ai.integrate1d_ng(image, 1000, **kwargs)  # warm-up: positions, corrections, CSR engine
        first = time.perf_counter() - t0
        per_call, cpu_per_call = [], []
        for _ in range(repetitions):
            calls = 0
            t0, c0 = time.perf_counter(), time.process_time()
            while True:
                ai.integrate1d_ng(image, 1000, **kwargs)
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds:
                    break
            per_call.append(elapsed / calls)
            cpu_per_call.append((time.process_time() - c0) / calls)
        median = statistics.median(per_call)
        # The CSR engine alone (CsrIntegrator.integrate_ng, what integrate1d_ng calls after its
        # Python-level checks and preprocessing set-up): pyFAI's kernel throughput.
        engine_fps = None
        engines = [e.engine for k, e in ai.engines.items()
                   if getattr(k, "algo_lower", None) == "csr" and getattr(k, "impl_lower", None) == "cython"
                   and e.engine is not None]
        if engines:
            engine = engines[0]
            solidangle = ai.solidAngleArray(SHAPE, True)
            polarization = ai.polarization(SHAPE, 0.99)
            engine_per_call = []
            for _ in range(repetitions):
                calls = 0
                t0 = time.perf_counter()
                while True:
                    engine.integrate_ng(image, poissonian=True, solidangle=solidangle, polarization=polarization)
                    calls += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed >= seconds:
                        break
                engine_per_call.append(elapsed / calls)
            engine_fps = 1.0 / statistics.median(engine_per_call)
        results.append({"method": "/".join(method), "threads": threads, "frames_per_s": 1.0 / median,
                        "engine_frames_per_s": engine_fps,
                        "repetitions_frames_per_s": [1.0 / t for t in per_call],
                        "cpu_ms_per_frame": 1e3 * statistics.median(cpu_per_call),
                        "first_call_s": first, "build_s": first - median})
    print(json.dumps({"pyFAI": pyFAI.version, "numpy": numpy.__version__, "image": source,
                      "results": results}))


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anvil-bench", default=None, help="path to anvil's bench_integrate")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each timed pyFAI loop")
    parser.add_argument("--benchmark-filter", default=".", help="passed to bench_integrate")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.seconds, 3)
        return

    bench = args.anvil_bench
    if bench is None:
        for candidate in ("build-perf/tools/bench_integrate", "build/tools/bench_integrate"):
            if os.path.exists(os.path.join(ROOT, candidate)):
                bench = os.path.join(ROOT, candidate)
                break
    print("load before:", uptime())
    print()
    print("== pyFAI integrate1d_ng, 1043x981, 1000 q bins, solid angle + polarisation 0.99, poisson ==")
    rows = []
    for threads in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(threads),
                              "--seconds", str(args.seconds)], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("pyFAI worker failed:\n" + out.stderr)
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        rows += doc["results"]
    print(f"pyFAI {doc['pyFAI']}, numpy {doc['numpy']}, image: {doc['image']}")
    print(f"{'method':<24}{'threads':>8}{'frames/s':>10}   {'repetitions':<18}{'CPU ms/frame':>13}{'build (s)':>11}"
          f"{'engine only':>13}")
    for r in rows:
        reps = ", ".join(f"{x:.0f}" for x in r["repetitions_frames_per_s"])
        engine = f"{r['engine_frames_per_s']:13.1f}" if r["engine_frames_per_s"] else f"{'-':>13}"
        print(f"{r['method']:<24}{r['threads']:>8}{r['frames_per_s']:>10.1f}   [{reps:<16}]"
              f"{r['cpu_ms_per_frame']:>13.2f}{r['build_s']:>11.3f}{engine}")
    print()
    print("load between:", uptime())
    print()
    if bench is None or not os.path.exists(bench):
        print("anvil bench_integrate not found: build it (ninja -C build bench_integrate) or pass --anvil-bench")
        return
    print(f"== anvil {os.path.relpath(bench, ROOT)} (medians of 3) ==")
    sys.stdout.flush()
    json_path = os.path.join(tempfile.gettempdir(), f"bench_integrate_{os.getpid()}.json")
    subprocess.run([bench, "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true",
                    "--benchmark_display_aggregates_only=true", f"--benchmark_filter={args.benchmark_filter}",
                    f"--benchmark_out={json_path}", "--benchmark_out_format=json"], check=True)
    print()
    print("load after:", uptime())
    with open(json_path) as f:
        anvil = {b["run_name"]: b for b in json.load(f)["benchmarks"] if b.get("aggregate_name") == "median"}
    os.unlink(json_path)
    summary(rows, anvil)


def summary(pyfai_rows, anvil):
    """Side-by-side table; the bound is the read bandwidth over the frame's bytes (4 B/pixel)."""
    def get(name, key):
        b = anvil.get(name)
        return b.get(key) if b else None

    bandwidth = {t: get(f"BM_MemRead/{t}/real_time", "GB_per_s") for t in (1, 2)}
    frame_mb = {"1M": 1043 * 981 * 4e-6, "4M": 2167 * 2070 * 4e-6}
    print()
    print("== side by side (frames/s, medians; bound = read GB/s of this run / frame bytes) ==")
    print(f"{'detector':<9}{'method':<10}{'threads':>8}{'anvil':>9}{'pyFAI':>9}{'anvil/pyFAI':>13}"
          f"{'bound':>8}{'anvil %':>9}{'pyFAI %':>9}")
    names = {"no": 0, "bbox": 1, "full": 2}
    for detector, bench_name in (("1M", "BM_IntegrateFrames"), ("4M", "BM_Eiger4MFrames")):
        for method, index in names.items():
            for threads in (1, 2):
                fps = get(f"{bench_name}/{index}/{threads}/real_time", "frames_per_s")
                if fps is None:
                    continue
                ref = None
                if detector == "1M":
                    ref = next((r["frames_per_s"] for r in pyfai_rows
                                if r["method"].startswith(method + "/") and r["threads"] == threads), None)
                bw = bandwidth.get(threads)
                bound = bw * 1e3 / frame_mb[detector] if bw else None
                cells = [f"{fps:9.0f}", f"{ref:9.1f}" if ref else f"{'-':>9}",
                         f"{fps / ref:13.1f}" if ref else f"{'-':>13}",
                         f"{bound:8.0f}" if bound else f"{'-':>8}",
                         f"{100 * fps / bound:8.0f}%" if bound else f"{'-':>9}",
                         f"{100 * ref / bound:8.1f}%" if bound and ref else f"{'-':>9}"]
                print(f"{detector:<9}{method:<10}{threads:>8}" + "".join(cells))
    for name, label in (("BM_IntegratorBuild/0/2/real_time", "1M build, no split, 2 threads"),
                        ("BM_IntegratorBuild/2/1/real_time", "1M build, full split, 1 thread"),
                        ("BM_IntegratorBuild/2/2/real_time", "1M build, full split, 2 threads"),
                        ("BM_Eiger4MBuild/2/2/real_time", "4M build, full split, 2 threads")):
        t = get(name, "real_time")
        if t is not None:
            print(f"{label:<34}{t:8.0f} ms")
    for t in (1, 2):
        print(f"memory read {t} thread(s): {bandwidth[t] or 0:.1f} GB/s, triad: "
              f"{get(f'BM_Triad/{t}/real_time', 'GB_per_s') or 0:.1f} GB/s")


if __name__ == "__main__":
    main()
