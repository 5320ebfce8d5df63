#!/usr/bin/python3
"""pyFAI's own calibration of the real CeO2 Pilatus 1M image, as a reference for anvil calibrate.

Reference script, not part of anvil or its CI. Run with Debian's python3-pyfai (0.21.3):

    /usr/bin/python3 tools/bench/pyfai_calibrate_reference.py [--start dioptas|rough]

The image (../shared/reference/real/CeO2_Pilatus1M.tif) is flipped up-down, as Dioptas loads it
and as its .poni expects. pyFAI picks its own control points (SingleGeometry.extract_cp: Massif
peak search, 1 point per degree of χ, up to 20 rings) around a start geometry and refines dist,
poni1, poni2, rot1, rot2 (GeometryRefinement.refine2, repeated until its residual stops falling;
rot3 and the wavelength fixed); with
--start rough the points are picked again around each refined geometry, three times.
Starts: "dioptas" = the published .poni; "rough" = distance 10 % long, beam centre 20 px off
(+20 rows, −20 columns), no tilt — the start anvil's real-data test uses.

pyFAI's peak search shuffles its seed points (numpy.random), so its control points, and the
geometry, change from run to run: one calibration per seed (--seeds, default 10), each printed,
then the mean and standard deviation of the parameters, their difference from the published
.poni, and the RMS residual in pixel-equivalents (radial pixel size in 2θ at each point, as
anvil reports it) with the published geometry's RMS on the same points.
"""
import argparse
import os
import warnings

import fabio
import numpy
import pyFAI
import pyFAI.detectors
from pyFAI.calibrant import get_calibrant
from pyFAI.geometry import Geometry
from pyFAI.goniometer import SingleGeometry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(ROOT, "..", "shared", "reference", "real")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", choices=["dioptas", "rough"], default="dioptas")
    ap.add_argument("--seeds", type=int, default=10,
                    help="pyFAI's peak search shuffles its seeds (numpy.random): one calibration per seed")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    ref = pyFAI.load(os.path.join(REAL, "CeO2_Pilatus1M.poni"))
    det = pyFAI.detectors.detector_factory("Pilatus1M")
    ref.detector = det
    img = numpy.flipud(fabio.open(os.path.join(REAL, "CeO2_Pilatus1M.tif")).data).astype(numpy.float32)
    cal = get_calibrant("CeO2")
    cal.wavelength = ref.wavelength

    def geometry(dist, poni1, poni2, rot1, rot2):
        return Geometry(dist=dist, poni1=poni1, poni2=poni2, rot1=rot1, rot2=rot2, rot3=0.0,
                        detector=det, wavelength=ref.wavelength)

    rows = []
    for seed in range(args.seeds):
        numpy.random.seed(seed)
        if args.start == "dioptas":
            g = geometry(ref.dist, ref.poni1, ref.poni2, ref.rot1, ref.rot2)
            rounds = 1
        else:
            f = ref.getFit2D()
            g = Geometry(detector=det, wavelength=ref.wavelength)
            g.setFit2D(f["directDist"] * 1.10, f["centerX"] - 20, f["centerY"] + 20, 0, 0)
            rounds = 3
        for _ in range(rounds):
            sg = SingleGeometry("ceo2", img, calibrant=cal, detector=det, geometry=g)
            sg.extract_cp(max_rings=20, pts_per_deg=1.0)
            gr = sg.geometry_refinement
            # refine2 (SLSQP) stops early; repeat until the residual stops falling.
            last = numpy.inf
            while True:
                value = gr.refine2(1000000, fix=["rot3", "wavelength"])
                if value >= last * (1 - 1e-9):
                    break
                last = value
            g = geometry(gr.dist, gr.poni1, gr.poni2, gr.rot1, gr.rot2)
        d = gr.data
        expected = gr.calc_2th(d[:, 2], gr.wavelength)
        pixel = det.pixel1 * numpy.cos(expected) ** 2 / gr.dist
        res = gr.tth(d[:, 0], d[:, 1], gr.param) - expected
        res_pub = gr.tth(d[:, 0], d[:, 1], [ref.dist, ref.poni1, ref.poni2, ref.rot1, ref.rot2, 0.0]) - expected
        row = [gr.dist * 1e3, gr.poni1 * 1e3, gr.poni2 * 1e3, numpy.degrees(gr.rot1), numpy.degrees(gr.rot2),
               len(d), len(set(d[:, 2])), numpy.sqrt(numpy.mean((res / pixel) ** 2)),
               numpy.sqrt(numpy.mean((res_pub / pixel) ** 2))]
        rows.append(row)
        print(f"seed {seed}: dist {row[0]:.4f} mm, poni1 {row[1]:.4f} mm, poni2 {row[2]:.4f} mm, rot1 {row[3]:.5f}°, "
              f"rot2 {row[4]:.5f}°; {row[5]} points on {row[6]} rings, RMS {row[7]:.3f} px-equivalent "
              f"(published geometry on them: {row[8]:.3f})", flush=True)
    rows = numpy.array(rows)
    mean, std = rows.mean(axis=0), rows.std(axis=0, ddof=1) if len(rows) > 1 else numpy.zeros(rows.shape[1])
    pub = [ref.dist * 1e3, ref.poni1 * 1e3, ref.poni2 * 1e3, numpy.degrees(ref.rot1), numpy.degrees(ref.rot2)]
    print(f"pyFAI {pyFAI.version}, start: {args.start}, {len(rows)} seeds: mean ± standard deviation")
    for k, (name, unit) in enumerate([("dist", "mm"), ("poni1", "mm"), ("poni2", "mm"), ("rot1", "°"), ("rot2", "°")]):
        print(f"  {name:6} {mean[k]:10.5f} ± {std[k]:.5f} {unit}   published {pub[k]:10.5f}   difference {mean[k] - pub[k]:+.5f}")
    print(f"  points {mean[5]:.0f}, RMS {mean[7]:.3f} ± {std[7]:.3f} px-equivalent "
          f"(published geometry on the same points {mean[8]:.3f})")


if __name__ == "__main__":
    main()
