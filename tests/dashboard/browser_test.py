#!/usr/bin/env python3
"""Browser test of the live dashboard: headless Chromium, driven over the DevTools protocol
(Debian's python3-websocket), loads the page of `anvil run --follow --serve 127.0.0.1:0` on the
sample scan (with a token, which the printed address carries), waits until the phase-fraction
plot holds N points, clicks one of them and checks
that the page opened that frame (its patterns and fit loaded), and saves a screenshot.

usage: browser_test.py ANVIL SCAN_TOML WORK_DIR SCREENSHOT.png [N_POINTS]
Exit status 77 (ctest: skipped) when chromium or python3-websocket is not installed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def read_line_matching(proc, prefix_test, timeout, what):
    """The first line of proc's stdout/stderr (a pipe) for which prefix_test is true."""
    import select
    end = time.time() + timeout
    buf = b""
    stream = proc.stdout if proc.stdout is not None else proc.stderr
    while time.time() < end:
        r, _, _ = select.select([stream], [], [], 0.2)
        if r:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if prefix_test(text):
                    return text
        if proc.poll() is not None and not r:
            break
    fail(f"{what}: no line within {timeout} s")


class DevTools:
    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"page script failed: {expression}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression, timeout, what):
        end = time.time() + timeout
        value = None
        while time.time() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        fail(f"{what} (after {timeout} s; last value {value!r})")


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    anvil, scan, work, screenshot = sys.argv[1:5]
    n_points = int(sys.argv[5]) if len(sys.argv) > 5 else 60
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP: chromium is not installed (setup.sh installs Debian's chromium)")
        return SKIP
    try:
        import websocket  # noqa: F401
    except ImportError:
        print("SKIP: python3-websocket is not installed")
        return SKIP
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run = subprocess.Popen([anvil, "run", scan, "-o", os.path.join(work, "out"), "--follow", "--serve",
                            "127.0.0.1:0", "--token", "browser-test", "--poll", "0.2", "--idle-timeout", "60", "-q",
                            "--threads", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    profile = tempfile.mkdtemp(prefix="anvil-chromium-")
    browser = None
    try:
        line = read_line_matching(run, lambda t: "dashboard at http://" in t, 60, "anvil's dashboard address")
        url = line.split("dashboard at ", 1)[1].strip()
        print("dashboard:", url, flush=True)
        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                                    "--disable-background-networking", "--remote-debugging-port=0",
                                    "--remote-debugging-address=127.0.0.1",
                                    f"--user-data-dir={profile}", "--window-size=1500,1750", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        line = read_line_matching(browser, lambda t: "DevTools listening on ws://" in t, 60, "chromium's DevTools")
        port = line.split("ws://127.0.0.1:", 1)[1].split("/", 1)[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        dt = DevTools(page["webSocketDebuggerUrl"])
        dt.call("Page.enable")
        dt.call("Emulation.setDeviceMetricsOverride", width=1500, height=1750, deviceScaleFactor=1, mobile=False)
        dt.call("Page.navigate", url=url)
        dt.wait_for("typeof window.anvilDashboard === 'object'", 30, "the page's script did not start")
        dt.wait_for(f"Number(document.body.dataset.fractionPoints || 0) >= {n_points}", 120,
                    f"the fraction plot did not reach {n_points} points")
        points = dt.evaluate("Number(document.body.dataset.fractionPoints)")
        print(f"fraction plot: {points} points", flush=True)
        # A point of the first phase near the middle of the scan, clicked with the mouse (its
        # place asked for again once the plot has scrolled into view).
        where = """(() => {
            const c = anvilDashboard.charts.fractions;
            const ds = c.data.datasets[0];
            const i = Math.floor(ds.data.length / 2);
            const el = c.getDatasetMeta(0).data[i];
            const r = c.canvas.getBoundingClientRect();
            return {x: r.left + el.x, y: r.top + el.y, frame: ds.data[i].frame};
        })()"""
        dt.evaluate("anvilDashboard.charts.fractions.canvas.scrollIntoView({block: 'center'})")
        time.sleep(0.3)
        target = dt.evaluate(where)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            dt.call("Input.dispatchMouseEvent", type=kind, x=target["x"], y=target["y"], button="left", clickCount=1)
        frame = target["frame"]
        dt.wait_for(f"document.body.dataset.loadedFrame === '{frame}'", 30,
                    f"clicking frame {frame}'s point did not open it")
        selected = dt.evaluate("document.getElementById('selected-frame').textContent")
        following = dt.evaluate("document.getElementById('follow').checked")
        if selected != f"frame {frame}" or following:
            fail(f"after the click: '{selected}', following the latest: {following}")
        dt.wait_for("window.anvilDashboard.state.images.waxs && "
                    f"window.anvilDashboard.state.images.waxs.frame === {frame}", 30,
                    f"frame {frame}'s WAXS image did not load")
        fit_points = dt.evaluate("anvilDashboard.charts.waxs.data.datasets.reduce((n, d) => n + d.data.length, 0)")
        if not fit_points:
            fail("the WAXS pattern of the clicked frame is empty")
        print(f"clicked frame {frame}: opened, its WAXS pattern/fit has {fit_points} points", flush=True)
        dt.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.5)
        shot = dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        import base64
        data = base64.b64decode(shot["data"])
        if len(data) < 10000 or not data.startswith(b"\x89PNG"):
            fail("the screenshot is not a picture")
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        with open(screenshot, "wb") as f:
            f.write(data)
        print(f"screenshot: {screenshot} ({len(data)} bytes)")
        # anvil served all of it without falling over, and stops cleanly when told to.
        if run.poll() is not None:
            fail(f"anvil exited ({run.returncode}) while the page was open")
        run.send_signal(signal.SIGTERM)
        try:
            code = run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("anvil did not stop within 60 s of SIGTERM")
        if code not in (0, 130):
            fail(f"anvil run --follow --serve ended with exit status {code}")
        print("PASS")
        return 0
    finally:
        for p in (browser, run):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
