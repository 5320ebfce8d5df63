#!/usr/bin/env python3
"""Load benchmark of the live dashboard (docs/benchmarks.md, "Dashboard load"): the reduction
rate of `anvil run` (frames per second of its frame loop, as it prints it) without the
dashboard, with `--serve` and no client, and with `--serve` and N clients polling as the page
does (status every 0.5 s; on each change the frames, alerts, EOS, the latest frame and both of
its images). Runs alternate between the settings so that drifts of a shared machine hit each.

usage: dashboard_load.py ANVIL SCAN.toml [--runs 5] [--clients 20] [--threads 2] [--pin]

--pin: anvil (its reduction and its server) on CPUs 0..threads-1, the clients — stand-ins for
browsers on the operators' own machines — on the CPUs after (taskset), so that what is measured
is the cost to anvil, not the clients' own parsing. Without it everything shares every CPU.
"""
import os
import argparse
import resource
import http.client
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

RATE = re.compile(r"frame loop ([0-9.]+) s wall, ([0-9.]+) frames/s")


class Client(threading.Thread):
    """One browser's requests: bounded, to 127.0.0.1 only. Bodies are read, only the small status
    is parsed (a browser's parsing and drawing happens on the operator's machine, not anvil's)."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop, self.requests, self.bytes, self.errors = port, stop, 0, 0, 0

    def get(self, path):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            self.requests += 1
            self.bytes += len(body)
            return r.status, body
        except OSError:
            self.errors += 1
            return 0, b""

    def run(self):
        # As dashboard.js: status every 0.5 s; the frames changed since the last look, the alerts
        # and the EOS when a frame changed (at most at every poll); the latest frame and each
        # detector's latest preview when they changed (at most once a second); the geometry once.
        frames_version, shown_frame, images, last = 0, None, {}, {}
        for det in ("waxs", "saxs"):
            self.get(f"/api/geometry?detector={det}")

        def due(key):  # as dashboard.js: the changed frames at every poll, the rest once a second
            now = time.monotonic()
            if now - last.get(key, -1e9) < (0.5 if key == "frames" else 1.0) - 0.05:
                return False
            last[key] = now
            return True

        while not self.stop.is_set():
            status, body = self.get("/api/status")
            if status == 200:
                s = json.loads(body)
                if s["frames_version"] != frames_version and due("frames"):
                    _, reply = self.get(f"/api/frames?since={frames_version}")
                    m = re.search(rb'"frames_version":(\d+)', reply)
                    frames_version = int(m.group(1)) if m else s["frames_version"]
                    self.get("/api/alerts")
                    self.get("/api/eos")
                if s["latest_frame"] is not None and s["latest_frame"] != shown_frame and due("frame"):
                    shown_frame = s["latest_frame"]
                    self.get(f"/api/frame?n={shown_frame}")
                for det, n in s.get("previews", {}).items():
                    if images.get(det) != n and due("image-" + det):
                        images[det] = n
                        self.get(f"/api/image?detector={det}")
            self.stop.wait(0.5)


def one_run(anvil, scan, setting, clients, threads, pin):
    out = tempfile.mkdtemp(prefix="anvil-load-")
    cmd = [anvil, "run", scan, "-o", out, "-q", "--threads", str(threads)]
    if pin:
        cmd = ["taskset", "-c", f"0-{threads - 1}"] + cmd
    if setting != "plain":
        cmd += ["--serve", "127.0.0.1:0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()
    pool = []
    lines = []
    if setting != "plain":
        line = p.stdout.readline()
        lines.append(line)
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        if setting == "clients":
            pool = [Client(port, stop) for _ in range(clients)]
            for c in pool:
                c.start()
    lines += p.stdout.readlines()
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # anvil's, all threads
    stop.set()
    for c in pool:
        c.join()
    shutil.rmtree(out, ignore_errors=True)
    text = "".join(lines)
    m = RATE.search(text)
    n = re.search(r"scan '.*': (\d+) frames", text)
    if p.returncode not in (0, 3) or not m or not n:
        raise SystemExit(f"anvil run failed ({p.returncode}):\n{text}")
    # The rate from the frame loop's wall time (printed to 10 ms) and the frame count: the
    # printed frames/s has one decimal only.
    wall = float(m.group(1))
    rate = int(n.group(1)) / wall
    frames = int(n.group(1))
    return (rate, sum(c.requests for c in pool), sum(c.bytes for c in pool), sum(c.errors for c in pool), wall,
            cpu / frames)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anvil")
    ap.add_argument("scan")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pin", action="store_true")
    a = ap.parse_args()
    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) <= a.threads:
            raise SystemExit(f"--pin needs more than {a.threads} CPUs")
        os.sched_setaffinity(0, cpus[a.threads:])
    rates = {"plain": [], "serve": [], "clients": []}
    cpu = {"plain": [], "serve": [], "clients": []}
    load = []
    one_run(a.anvil, a.scan, "plain", a.clients, a.threads, a.pin)  # warm the caches (files, Debye pair sums)
    for r in range(a.runs):
        for setting in ("plain", "serve", "clients"):
            rate, requests, nbytes, errors, wall, cpu_per_frame = one_run(a.anvil, a.scan, setting, a.clients,
                                                                          a.threads, a.pin)
            rates[setting].append(rate)
            cpu[setting].append(cpu_per_frame)
            if setting == "clients":
                load.append((requests / wall, nbytes / wall / 1e6, errors))
            print(f"run {r + 1} {setting:8s} {rate:7.3f} frames/s  {1e3 * cpu_per_frame:7.1f} ms CPU/frame" +
                  (f"  ({requests} requests, {requests / wall:.0f}/s, {nbytes / wall / 1e6:.1f} MB/s, {errors} errors)"
                   if setting == "clients" else ""), flush=True)
    base = statistics.median(rates["plain"])
    base_cpu = statistics.median(cpu["plain"])
    print(f"\n{'setting':36s} median frames/s  (min–max)      vs without   CPU ms/frame (anvil, all threads)  vs without")
    names = {"plain": "anvil run (no dashboard)", "serve": "anvil run --serve, no client",
             "clients": f"anvil run --serve, {a.clients} polling clients"}
    for s, v in rates.items():
        med = statistics.median(v)
        c = statistics.median(cpu[s])
        print(f"{names[s]:36s} {med:8.3f}        ({min(v):.3f}–{max(v):.3f})  {100 * (med / base - 1):+.1f} %"
              f"      {1e3 * c:7.1f} ({1e3 * min(cpu[s]):.1f}–{1e3 * max(cpu[s]):.1f})   {100 * (c / base_cpu - 1):+.1f} %")
    print(json.dumps({"rates": rates, "cpu_s_per_frame": cpu, "client_load": load}))


if __name__ == "__main__":
    main()
