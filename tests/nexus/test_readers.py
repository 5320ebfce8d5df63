"""Files other programs read (issue 17), with the readers users have: every CSV of a scan by pandas
(typed columns, units in the names, hkl as three integers), and every .poni anvil writes by pyFAI
(the geometry read back equal, and pyFAI integrating the calibrant image as anvil does).

Run by ctest as python.nexus with the other reader tests. Each test skips by name when its reader
(python3-pandas, python3-pyfai) is not installed.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "cdse_dac"
CLI = os.environ.get("ANVIL_CLI", str(ROOT / "build" / "tools" / "anvil"))


def run(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"anvil {' '.join(map(str, args))}: {r.stderr}"
    return r


@pytest.fixture(scope="module")
def scan_tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    text = (SAMPLE / "cdse_dac.toml").read_text()
    text = re.sub(r'^(frames|poni|mask|dark|flat|file) = "([^"]+)"',
                  lambda m: f'{m.group(1)} = "{(SAMPLE / m.group(2)).resolve()}"', text, flags=re.M)
    (d / "scan.toml").write_text(text)
    run("run", d / "scan.toml", "-o", d / "out")
    return sorted((d / "out").glob("*.csv"))


# Columns that hold text by design; every other column must parse as numbers.
TEXT_COLUMNS = re.compile(r"^(direction|phase|form|status|.*_status|.*_reason|.*_error|error|lattice|change|runner_up|"
                          r"quantity|from_phase|to_phase|unit|note|.*_hkl)$")


def test_every_csv_reads_with_pandas_into_typed_columns(scan_tables):
    pd = pytest.importorskip("pandas", reason="python3-pandas is not installed")
    assert len(scan_tables) >= 6, [p.name for p in scan_tables]
    for path in scan_tables:
        df = pd.read_csv(path)
        assert len(df.columns) > 1, path.name
        assert not any(c.startswith("Unnamed") for c in df.columns), (path.name, list(df.columns))
        assert len(set(df.columns)) == len(df.columns), (path.name, "duplicate column names")
        for c in df.columns:
            if TEXT_COLUMNS.match(c):
                continue
            if df[c].isna().all():
                continue
            assert pd.api.types.is_numeric_dtype(df[c]), f"{path.name}: column {c} is {df[c].dtype}"
        if "frame" in df.columns:
            assert pd.api.types.is_integer_dtype(df["frame"]), f"{path.name}: frame is {df['frame'].dtype}"
        # hkl as three integers separated by spaces ("0 0 2", "1 0 10"), never a number.
        for c in (c for c in df.columns if c == "hkl" or c.endswith("_hkl")):
            values = df[c].dropna()
            assert values.map(lambda v: isinstance(v, str)).all(), f"{path.name}: {c} read as numbers"
            assert values.str.fullmatch(r"-?\d+ -?\d+ -?\d+").all(), f"{path.name}: {c} = {list(values[:3])}"
        # A quantity with a unit names it: a cell edge in Å, a volume in Å³, a pressure in GPa.
        for c in df.columns:
            assert c not in ("a", "c", "volume", "pressure", "d", "v0", "k0"), f"{path.name}: {c} without unit"


def test_every_poni_anvil_writes_is_read_by_pyfai_and_integrates_the_same(tmp_path):
    pyFAI = pytest.importorskip("pyFAI", reason="python3-pyfai is not installed")
    fabio = pytest.importorskip("fabio", reason="python3-fabio is not installed")
    np = pytest.importorskip("numpy", reason="python3-numpy is not installed")
    # A .poni from anvil calibrate (the sample's CeO2 image), and the ones anvil simulate wrote.
    run("calibrate", SAMPLE / "ceo2_waxs.tif", "--calibrant", "CeO2", "--wavelength", "0.4859",
        "--detector", "Pilatus300k", "--mask", SAMPLE / "waxs.mask", "--dist", "200", "-o", tmp_path / "fit.poni")
    ponis = [tmp_path / "fit.poni"] + sorted(SAMPLE.glob("*.poni"))
    for poni in ponis:
        ai = pyFAI.load(str(poni))
        text = poni.read_text()
        for key, attr in (("Distance", "dist"), ("Poni1", "poni1"), ("Poni2", "poni2"), ("Rot1", "rot1"),
                          ("Rot2", "rot2"), ("Rot3", "rot3"), ("Wavelength", "wavelength")):
            m = re.search(rf"^{key}:\s*(\S+)", text, flags=re.M)
            assert m, f"{poni.name}: no {key}"
            assert getattr(ai, attr) == pytest.approx(float(m.group(1)), rel=1e-12, abs=1e-15), (poni.name, key)
        assert ai.detector.pixel1 > 0 and ai.detector.pixel2 > 0, poni.name
    # pyFAI integrates the CeO2 image with anvil's fitted .poni as anvil integrate does (no mask: the
    # detector's gaps, −1 in the image, are anvil's invalid pixels and pyFAI's dummy value).
    out = tmp_path / "ceo2.xye"
    run("integrate", SAMPLE / "ceo2_waxs.tif", "--poni", tmp_path / "fit.poni", "--unit", "2th_deg",
        "--npt", "1000", "--range", "4", "20", "--split", "bbox", "--error-model", "none", "-q", "-o", out)
    tth, i_anvil = np.loadtxt(out, comments="#", usecols=(0, 1), unpack=True)
    image = fabio.open(str(SAMPLE / "ceo2_waxs.tif")).data.astype(np.float64)
    res = pyFAI.load(str(tmp_path / "fit.poni")).integrate1d(
        image, 1000, unit="2th_deg", radial_range=(4, 20), method="bbox", correctSolidAngle=True, dummy=-1,
        delta_dummy=0.5)
    assert np.allclose(res.radial, tth, rtol=0, atol=1e-6)
    good = (res.intensity > 0) & (i_anvil > 0)
    assert good.sum() > 900
    rel = np.abs(i_anvil[good] / res.intensity[good] - 1)
    # Measured: median 1.8e-7, 99th percentile 2.2e-5 (bins where one pixel's share differs).
    assert np.median(rel) < 1e-4 and np.percentile(rel, 99) < 1e-3, (np.median(rel), rel.max())
