// anvil live dashboard: polls the read-only JSON API of `anvil run --serve` / `anvil serve`
// (docs/dashboard.md) twice a second and redraws what changed. Charts: Chart.js (Debian's
// libjs-chart.js, served by anvil as /chart.js). No other script, nothing from the internet.
"use strict";

const POLL_MS = 500;
const token = new URLSearchParams(location.search).get("token");
const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#787878", "#000000"];
const LATTICE_COLOURS = { fcc: "#0072b2", bcc: "#d55e00", sc: "#009e73", hcp: "#cc79a7", hex2d: "#e69f00",
                          hex3d: "#56b4e9", lamellar: "#7b3294", none: "#999999" };

const state = { version: -1, framesVersion: 0, framesShown: -1, frames: [], byFrame: new Map(), phases: [],
                selected: null, follow: true, shownFrame: null, images: {}, geometry: {}, eos: {}, failures: 0,
                last: {} };
// The heavier requests (the frame, images) at most once a second, the changed frames (with alerts
// and EOS) at most at every poll: with frames slower than one a second, everything is redrawn
// within one poll (0.5 s) of a frame finishing.
const THROTTLE_MS = { frames: POLL_MS, default: 1000 };

function api(path) {
  const url = path + (token ? (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : "");
  return fetch(url, { cache: "no-store" }).then(r => {
    if (!r.ok) return r.json().then(j => Promise.reject(new Error(j.error || r.statusText)),
                                    () => Promise.reject(new Error(r.statusText)));
    return r.json();
  });
}

function $(id) { return document.getElementById(id); }
function fmt(v, digits) { return v === null || v === undefined || !isFinite(v) ? "–" : Number(v).toFixed(digits); }
function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function colour(k) { return PALETTE[k % PALETTE.length]; }
function phaseNames() {
  const names = state.phases.slice();
  for (const f of state.frames) for (const p of Object.keys(f.fractions || {})) if (!names.includes(p)) names.push(p);
  return names;
}

// ---------------------------------------------------------------- charts

// Vertical error bars for points that carry `err`.
const errorBars = {
  id: "errorBars",
  afterDatasetsDraw(chart) {
    const ctx = chart.ctx;
    chart.data.datasets.forEach((ds, i) => {
      const meta = chart.getDatasetMeta(i);
      if (meta.hidden || !ds.errorBars) return;
      ctx.save();
      ctx.strokeStyle = ds.borderColor;
      ctx.lineWidth = 1;
      meta.data.forEach((el, j) => {
        const p = ds.data[j];
        if (!p || !(p.err > 0)) return;
        const y0 = chart.scales.y.getPixelForValue(p.y - p.err), y1 = chart.scales.y.getPixelForValue(p.y + p.err);
        ctx.beginPath(); ctx.moveTo(el.x, y0); ctx.lineTo(el.x, y1);
        ctx.moveTo(el.x - 3, y0); ctx.lineTo(el.x + 3, y0); ctx.moveTo(el.x - 3, y1); ctx.lineTo(el.x + 3, y1);
        ctx.stroke();
      });
      ctx.restore();
    });
  }
};
Chart.register(errorBars);

function scatterChart(id, xLabel, yLabel, extra) {
  return new Chart($(id), {
    type: "scatter",
    data: { datasets: [] },
    options: Object.assign({
      animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
      scales: { x: { type: "linear", title: { display: true, text: xLabel } },
                y: { type: "linear", title: { display: true, text: yLabel } } },
      plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } },
                 tooltip: { callbacks: { label: c => pointLabel(c.raw) } } },
      onClick: (ev, elements, chart) => {
        if (!elements.length) return;
        const p = chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
        if (p && p.frame !== undefined) selectFrame(p.frame, true);
      },
    }, extra || {}),
  });
}
function pointLabel(p) {
  if (!p) return "";
  return (p.frame !== undefined ? "frame " + p.frame + ": " : "") + fmt(p.x, 2) + ", " + fmt(p.y, 4) +
         (p.err ? " ± " + fmt(p.err, 4) : "") + (p.label ? " " + p.label : "");
}

const charts = {};
function makeCharts() {
  charts.fractions = scatterChart("fractions", "pressure (GPa)", "phase fraction");
  charts.fractions.options.scales.y.min = -0.05;
  charts.fractions.options.scales.y.max = 1.05;
  charts.volumes = scatterChart("volumes", "pressure (GPa)", "volume (Å³)");
  charts.superlattice = scatterChart("superlattice", "pressure (GPa)", "a (nm)");
  const line = (id, xLabel, yLabel, logY) => new Chart($(id), {
    type: "line", data: { datasets: [] },
    options: { animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
               elements: { point: { radius: 0 }, line: { borderWidth: 1.2 } },
               scales: { x: { type: "linear", title: { display: true, text: xLabel } },
                         y: { type: logY ? "logarithmic" : "linear", title: { display: !!yLabel, text: yLabel } } },
               plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } }, tooltip: { enabled: false } } },
  });
  charts.waxs = line("waxs-pattern", "2θ (°)", "intensity", false);
  charts.residual = line("waxs-residual", "", "obs − model", false);
  charts.residual.options.plugins.legend.display = false;
  charts.saxs = line("saxs-pattern", "q (nm⁻¹)", "intensity", true);
  window.anvilDashboard = { charts, selectFrame, state };
}

// ---------------------------------------------------------------- scan-wide plots

function byDirection(points, name, k, unit) {
  const comp = points.filter(p => p.direction !== "decompression");
  const dec = points.filter(p => p.direction === "decompression");
  const c = colour(k);
  const out = [];
  if (comp.length) out.push({ label: name + (dec.length ? " ↑" : ""), data: comp, borderColor: c, backgroundColor: c,
                              pointRadius: 4, showLine: true, borderWidth: 1, errorBars: true });
  if (dec.length) out.push({ label: name + " ↓", data: dec, borderColor: c, backgroundColor: "rgba(255,255,255,0)",
                             pointRadius: 4, pointStyle: "circle", showLine: true, borderDash: [5, 4], borderWidth: 1,
                             errorBars: true });
  return out;
}

function drawScanPlots() {
  const phases = phaseNames();
  const sets = [];
  phases.forEach((name, k) => {
    const pts = [];
    for (const f of state.frames) {
      const v = (f.fractions || {})[name];
      if (!v || v[0] === null || f.pressure_gpa === null) continue;
      pts.push({ x: f.pressure_gpa, y: v[0], err: v[1] || 0, frame: f.frame, direction: f.direction });
    }
    sets.push(...byDirection(pts, name, k));
  });
  charts.fractions.data.datasets = sets;
  charts.fractions.update();
  document.body.dataset.fractionPoints = sets.reduce((n, s) => n + s.data.length, 0);

  const vsets = [];
  phases.forEach((name, k) => {
    const pts = [];
    for (const f of state.frames) {
      const v = (f.volumes || {})[name];
      const fr = (f.fractions || {})[name];
      if (!v || v[0] === null || f.pressure_gpa === null || !fr || !(fr[0] > 0.05)) continue;
      pts.push({ x: f.pressure_gpa, y: v[0], err: v[1] || 0, frame: f.frame, direction: f.direction });
    }
    vsets.push(...byDirection(pts, name, k));
    const e = state.eos[name];
    if (e && e.curve && e.curve.length)
      vsets.push({ label: name + " " + e.form, data: e.curve.map(p => ({ x: p[0], y: p[1] })), borderColor: colour(k),
                   pointRadius: 0, showLine: true, borderWidth: 2, borderDash: [2, 2] });
  });
  charts.volumes.data.datasets = vsets;
  charts.volumes.update();
  $("eos-info").textContent = Object.entries(state.eos).filter(([, e]) => e.form)
    .map(([n, e]) => `${n}: ${e.form} V₀ ${fmt(e.v0, 1)}(${fmt(e.v0_esd, 1)}) Å³, K₀ ${fmt(e.k0_gpa, 0)}(${fmt(e.k0_esd_gpa, 0)}) GPa`)
    .join("; ");

  const lattices = {};
  for (const f of state.frames) {
    const s = f.superlattice;
    if (!s || s.a_nm === null || f.pressure_gpa === null || s.lattice === "none") continue;
    (lattices[s.lattice] = lattices[s.lattice] || []).push({ x: f.pressure_gpa, y: s.a_nm, err: s.a_esd_nm || 0,
                                                             frame: f.frame, direction: f.direction, label: s.lattice });
  }
  charts.superlattice.data.datasets = Object.entries(lattices).map(([name, pts]) => ({
    label: name, data: pts, borderColor: LATTICE_COLOURS[name] || "#444", backgroundColor: LATTICE_COLOURS[name] || "#444",
    pointRadius: 4, errorBars: true,
    pointStyle: pts.map(p => p.direction === "decompression" ? "rectRot" : "circle") }));
  charts.superlattice.update();
}

function drawAlerts(alerts) {
  const list = $("alerts");
  list.textContent = "";
  $("alert-count").textContent = alerts.length ? alerts.length + " (newest first)" : "none";
  for (const a of alerts.slice().reverse().slice(0, 200)) {
    const li = document.createElement("li");
    li.className = a.level;
    li.textContent = a.message;
    li.onclick = () => selectFrame(a.frame, true);
    list.appendChild(li);
  }
}

// ---------------------------------------------------------------- one frame

function selectFrame(n, byUser) {
  if (byUser) { state.follow = false; $("follow").checked = false; }
  state.selected = n;
  loadFrame(n, true);
}

// One frame's results; its images too when `withImages` (a clicked frame: read again from the
// scan's files when it is not the latest preview).
function loadFrame(n, withImages) {
  if (n === null || n === undefined) return Promise.resolve();
  $("selected-frame").textContent = "frame " + n;
  document.body.dataset.selectedFrame = n;
  if (withImages) for (const det of ["waxs", "saxs"]) loadImage(det, n);
  return api("api/frame?n=" + n).then(f => {
    if (state.selected !== n) return;
    state.shownFrame = f;
    $("selected-info").textContent = `${fmt(f.pressure_gpa, 2)} GPa (${f.direction}) — ` +
      (f.ok ? "ok" : "FAILED: " + f.error) + (f.rwp !== null ? `, Rwp ${fmt(100 * f.rwp, 2)} %` : "") + " — " +
      Object.entries(f.fractions || {}).map(([p, v]) => `${p} ${fmt(100 * v[0], 1)} ± ${fmt(100 * v[1], 1)} %`).join(", ");
    drawPatterns(f);
    document.body.dataset.loadedFrame = n;
  }, e => { $("selected-info").textContent = e.message; });
}

function drawPatterns(f) {
  const w = f.waxs || {};
  const a = w.analysis || {};
  const sets = [], res = [];
  if (a.profile && a.profile.x) {
    const p = a.profile, x = p.x;
    const xy = ys => ys.map((y, i) => ({ x: x[i], y: y }));
    charts.waxs.options.scales.x.title.text = p.x_unit === "2th_deg" ? "2θ (°)" : "q (Å⁻¹)";
    sets.push({ label: "observed", data: xy(p.observed), borderColor: "#777", pointRadius: 1, showLine: false, backgroundColor: "#777" });
    sets.push({ label: "model", data: xy(p.model), borderColor: "#d62728" });
    sets.push({ label: "background", data: xy(p.background), borderColor: "#aaa", borderDash: [4, 3] });
    Object.entries(p.phases || {}).forEach(([name, curve], k) =>
      sets.push({ label: name, data: xy(curve.map((c, i) => c + (p.background[i] || 0))), borderColor: colour(k) }));
    res.push({ label: "residual", data: p.observed.map((o, i) => ({ x: x[i], y: o - p.model[i] })), borderColor: "#1f77b4" });
    $("fit-info").textContent = `frame ${f.frame}: ${a.status}, Rwp ${fmt(100 * a.rwp, 2)} %, GoF ${fmt(a.gof, 2)}`;
  } else if (w.x) {
    charts.waxs.options.scales.x.title.text = w.unit;
    sets.push({ label: "observed", data: w.x.map((x, i) => ({ x: x, y: w.I[i] })), borderColor: "#777" });
    $("fit-info").textContent = `frame ${f.frame}: ` + (w.status === "ok" ? "no fit curve" : w.status + " " + (w.error || a.reason || ""));
  } else {
    $("fit-info").textContent = w.present ? `frame ${f.frame}: ${w.status}: ${w.error}` : "no WAXS";
  }
  charts.waxs.data.datasets = sets;
  charts.waxs.update();
  charts.residual.data.datasets = res;
  charts.residual.update();

  const s = f.saxs || {};
  const ssets = [];
  if (s.x) {
    ssets.push({ label: "I(q)", data: s.x.map((x, i) => ({ x: x, y: s.I[i] })).filter(p => p.y > 0), borderColor: "#333" });
    const sa = s.analysis || {};
    const lines = (sa.reflections || []).filter(l => l.q).slice(0, 12);
    if (lines.length) {
      const ys = ssets[0].data.map(p => p.y);
      const top = Math.max(...ys), bottom = Math.max(Math.min(...ys), top * 1e-6);
      const marks = [];
      for (const l of lines) marks.push({ x: l.q, y: bottom }, { x: l.q, y: top }, { x: NaN, y: NaN });
      ssets.push({ label: (sa.lattice || "") + " reflections", data: marks, borderColor: LATTICE_COLOURS[sa.lattice] || "#d55e00",
                   borderDash: [3, 3], spanGaps: false });
    }
    $("saxs-info").textContent = `frame ${f.frame}: ${sa.lattice || "–"}` + (sa.a_nm ? `, a ${fmt(sa.a_nm, 2)} nm` : "");
  } else {
    $("saxs-info").textContent = s.present ? `frame ${f.frame}: ${s.status}: ${s.error}` : "no SAXS";
  }
  charts.saxs.data.datasets = ssets;
  charts.saxs.update();
}

// Log-scaled frame (0 = masked) on a canvas, with the fitted phases' / indexed lattice's rings
// drawn where the radial coordinate of the preview crosses them.
const RING_COLOURS = [[0, 200, 255], [255, 160, 0], [120, 255, 120], [255, 90, 200], [255, 255, 0]];
function loadImage(det, n) {
  const info = $(det + "-image-info");
  const latest = n === null || n === undefined;
  return api(`api/image?detector=${det}` + (latest ? "" : `&n=${n}`)).then(img => {
    if (!latest && state.selected !== n) return;
    if (latest && !state.follow) return;
    if (img.error) { info.textContent = `frame ${img.frame}: ${img.error}`; return; }
    state.images[det] = img;
    return loadGeometry(det).then(() => drawImage(det));
  }, e => { info.textContent = e.message; });
}

// The radial coordinate of a detector's previews: the same for every frame, fetched once.
function loadGeometry(det) {
  if (state.geometry[det]) return Promise.resolve(state.geometry[det]);
  return api(`api/geometry?detector=${det}`).then(g => {
    if (g.error) return null;
    const raw = decode(g.radial), r = new Float32Array(g.width * g.height);
    const k = (g.radial_max - g.radial_min) / 65535;
    for (let i = 0; i < r.length; ++i) r[i] = g.radial_min + k * (raw[2 * i] | (raw[2 * i + 1] << 8));
    g.values = r;
    state.geometry[det] = g;
    return g;
  }, () => null);
}

function decode(b64) {
  const s = atob(b64), a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; ++i) a[i] = s.charCodeAt(i);
  return a;
}

function drawImage(det) {
  const img = state.images[det];
  if (!img) return;
  const canvas = $(det + "-image");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(img.width, img.height);
  const px = decode(img.pixels);
  for (let i = 0; i < px.length; ++i) {
    const v = px[i], o = 4 * i;
    if (v === 0) { data.data[o] = 60; data.data[o + 1] = 0; data.data[o + 2] = 70; }  // masked: dark purple
    else {  // grey → yellow-white ramp
      const t = (v - 1) / 254;
      data.data[o] = Math.min(255, 40 + 330 * t); data.data[o + 1] = Math.min(255, 20 + 250 * t * t);
      data.data[o + 2] = Math.min(255, 30 + 120 * t * t * t);
    }
    data.data[o + 3] = 255;
  }
  const geo = state.geometry[det];
  if ($("rings").checked && img.rings && img.rings.length && geo && geo.width === img.width && geo.height === img.height) {
    const r = geo.values;
    const phases = [...new Set(img.rings.map(g => g.phase))];
    for (const ring of img.rings) {
      const c = RING_COLOURS[phases.indexOf(ring.phase) % RING_COLOURS.length];
      for (let y = 0; y < img.height - 1; ++y)
        for (let x = 0; x < img.width - 1; ++x) {
          const i = y * img.width + x, v = r[i];
          const right = r[i + 1], down = r[i + img.width];
          if ((v - ring.value) * (right - ring.value) <= 0 || (v - ring.value) * (down - ring.value) <= 0) {
            data.data[4 * i] = c[0]; data.data[4 * i + 1] = c[1]; data.data[4 * i + 2] = c[2];
          }
        }
    }
  }
  ctx.putImageData(data, 0, 0);
  $(det + "-image-info").textContent =
    `frame ${img.frame}, log scale, ${img.block}×${img.block} px blocks; invalid ${img.flagged}, diamond-spot px ${img.spots}` +
    (img.rings && img.rings.length ? `; rings: ${[...new Set(img.rings.map(g => g.phase))].join(", ")}` : "");
}

// ---------------------------------------------------------------- polling

function drawStatus(s) {
  $("scan-name").textContent = s.scan;
  const badge = $("state");
  badge.textContent = s.state;
  badge.className = "badge " + s.state.split(" ")[0];
  $("done").textContent = s.done; $("total").textContent = s.frames;
  $("succeeded").textContent = s.succeeded; $("failed").textContent = s.failed;
  $("in-flight").textContent = s.in_flight.length ? s.in_flight.join(", ") : "0";
  $("rate").textContent = s.rate_per_min ? fmt(s.rate_per_min, 1) + " frames/min" : "–";
  $("eta").textContent = duration(s.eta_s);
  $("last-error").textContent = s.last_error ? "last error" + (s.last_error_frame !== null ? " (frame " + s.last_error_frame + ")" : "") + ": " + s.last_error : "";
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.version = s.version;
}

// Whether `key`'s request may go now (at most once per THROTTLE_MS).
function due(key) {
  const now = Date.now();
  const every = THROTTLE_MS[key] || THROTTLE_MS.default;
  if (state.last[key] && now - state.last[key] < every - 50) return false;
  state.last[key] = now;
  return true;
}

function mergeFrames(reply) {
  for (const f of reply.frames) state.byFrame.set(f.frame, f);
  state.frames = [...state.byFrame.values()].sort((a, b) => a.frame - b.frame);
  state.framesVersion = reply.frames_version;
}

function poll() {
  api("api/status").then(s => {
    state.failures = 0;
    $("connection").textContent = "";
    drawStatus(s);
    state.phases = s.phases || [];
    const work = [];
    // Scan-wide plots: only the frames changed since the last look.
    if (s.frames_version !== state.framesShown && due("frames")) {
      work.push(Promise.all([api("api/frames?since=" + state.framesVersion), api("api/alerts"), api("api/eos")])
        .then(([frames, alerts, eos]) => {
          mergeFrames(frames);
          state.framesShown = frames.frames_version;
          state.eos = eos;
          drawScanPlots();
          drawAlerts(alerts.alerts);
        }));
    }
    if (state.follow && s.latest_frame !== null) {
      if ((!state.shownFrame || state.shownFrame.frame !== s.latest_frame) && due("frame")) {
        state.selected = s.latest_frame;
        work.push(loadFrame(s.latest_frame, false));
      }
      // anvil makes previews only while someone asks for them: ask for the latest until one exists.
      for (const det of ["waxs", "saxs"]) {
        const known = (s.previews || {})[det];
        if ((!state.images[det] || state.images[det].frame !== known) && due("image-" + det))
          work.push(loadImage(det, null));
      }
    }
    state.version = s.version;
    return Promise.all(work);
  }).catch(e => {
    state.failures += 1;
    $("connection").textContent = "no answer from anvil (" + e.message + ")";
    if (state.failures > 4) { $("state").textContent = "offline"; $("state").className = "badge offline"; }
  }).finally(() => setTimeout(poll, POLL_MS));
}

document.addEventListener("DOMContentLoaded", () => {
  makeCharts();
  if (token)  // the footer's links to the API carry the token too
    for (const a of document.querySelectorAll("footer a"))
      a.href = a.getAttribute("href") + "?token=" + encodeURIComponent(token);
  $("follow").onchange = e => { state.follow = e.target.checked; if (state.follow) state.shownFrame = null; };
  $("rings").onchange = () => { drawImage("waxs"); drawImage("saxs"); };
  poll();
});
