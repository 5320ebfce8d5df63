"""The Python API (python/anvil) against the CLI, pyFAI's reference integrations and the sample scan.

Run by ctest (tests/CMakeLists.txt) with PYTHONPATH at build/python, ANVIL_CLI the `anvil` binary
and ANVIL_REFERENCE_DIR ../shared/reference; tests needing the references skip by name without them.
"""

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import anvil

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "cdse_dac"
CLI = os.environ.get("ANVIL_CLI", str(ROOT / "build" / "tools" / "anvil"))
REFERENCE = Path(os.environ.get("ANVIL_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))


def needs_reference(sub):
    path = REFERENCE / sub
    return pytest.mark.skipif(not path.exists(), reason=f"reference data {path} absent")


def read_dat(path):
    return np.loadtxt(path, comments="#")


# ------------------------------------------------------------------------------------------ frames

def test_open_gives_frames_as_arrays_and_the_info_anvil_info_prints():
    src = anvil.open(SAMPLE / "cdse_dac_waxs_master.h5")
    info = src.info
    assert len(src) == info["frames"] == 20
    assert info["format"].startswith("NeXus") or "EIGER" in info["format"]
    assert "bitshuffle" in info["compression"].lower()
    frame = src[0]
    assert frame.dtype == np.float32 and frame.shape == info["shape"]
    assert np.array_equal(src[-1], src[len(src) - 1], equal_nan=True)
    f = src.read(3)
    assert f.invalid is None or f.invalid.shape == frame.shape
    if f.invalid is not None:  # the detector's gaps and saturated pixels are NaN
        assert np.array_equal(np.isnan(f.data), f.invalid.astype(bool))
    assert f.metadata["wavelength_m"] == pytest.approx(0.4859e-10, rel=1e-3)
    assert len(list(src[0:2])) == 2
    with pytest.raises(IndexError):
        src[len(src)]


# ------------------------------------------------------------------------------------- integration

def test_integrate1d_equals_the_cli_output(tmp_path):
    out = tmp_path / "f0.xye"
    subprocess.run([CLI, "integrate", str(SAMPLE / "cdse_dac_waxs_master.h5"), "--poni", str(SAMPLE / "waxs.poni"),
                    "--mask", str(SAMPLE / "waxs.mask"), "--npt", "1500", "--unit", "2th_deg", "--error", "poisson",
                    "--polarization", "0.99", "--radial-range", "3", "21", "-q", "-o", str(tmp_path / "all.h5")],
                   check=True, capture_output=True)
    subprocess.run([CLI, "integrate", str(SAMPLE / "cdse_dac_waxs_master.h5"), "--poni", str(SAMPLE / "waxs.poni"),
                    "--mask", str(SAMPLE / "waxs.mask"), "--npt", "1500", "--unit", "2th_deg", "--error", "poisson",
                    "--polarization", "0.99", "--radial-range", "3", "21", "-q", "-o", str(tmp_path / "txt")],
                   check=True, capture_output=True)
    cli_files = sorted((tmp_path / "txt").iterdir())
    cli = np.loadtxt(cli_files[0], comments="#")
    ai = anvil.load(SAMPLE / "waxs.poni")
    frame = anvil.open(SAMPLE / "cdse_dac_waxs_master.h5")[0]
    r = ai.integrate1d(frame, 1500, unit="2th_deg", mask=SAMPLE / "waxs.mask", error_model="poisson",
                       polarization_factor=0.99, radial_range=(3, 21))
    tth, i, s = r
    assert r.unit == "2th_deg"
    np.testing.assert_allclose(tth, cli[:, 0], rtol=1e-7)
    np.testing.assert_allclose(i, cli[:, 1], rtol=1e-6)
    np.testing.assert_allclose(s, cli[:, 2], rtol=1e-6)


@needs_reference("pyfai")
@pytest.mark.parametrize("variant, method, tol", [("bbox_csr_mask_fixed", "bbox", 1e-3),
                                                  ("bbox_csr_nomask_auto", "bbox", 1e-3),
                                                  ("full_csr_mask_fixed", "full", 1e-3),
                                                  ("no_histogram_mask_fixed", "no", 1e-5)])
def test_integrate1d_matches_pyfai_reference_integrations(variant, method, tol):
    # The C++ tests hold pixel-centre histograms to 1e-5 by computing pixel coordinates in float32
    # as pyFAI does (tests/integrate/reference_geometry.hpp); anvil itself computes them in double,
    # which moves a pixel at a bin edge to the next bin now and then: there a bin may differ by up
    # to two pixels' share, 2/count (and 1e-5 elsewhere).
    ref_dir = REFERENCE / "pyfai"
    image = np.fromfile(ref_dir / "image_1043x981_f32le.bin", dtype="<f4").reshape(1043, 981)
    mask = np.fromfile(ref_dir / "mask_1043x981_u8.bin", dtype=np.uint8).reshape(1043, 981)
    ref = read_dat(ref_dir / f"int1d_{variant}.dat")
    ai = anvil.load(ref_dir / "geometry.poni")
    r = ai.integrate1d(image, 1000, unit="q_nm^-1", method=method, mask=mask if "_mask" in variant else None,
                       polarization_factor=0.99, error_model="poisson",
                       radial_range=(1.0, 65.0) if variant.endswith("fixed") else None)
    np.testing.assert_allclose(r.radial, ref[:, 0], rtol=1e-7)
    use = ref[:, 5] >= (20 if method != "no" else 1)
    count = ref[use, 5]
    bin_tol = np.maximum(tol, 2.0 / count) if method == "no" else tol
    rel_i = np.abs(r.intensity[use] - ref[use, 1]) / np.maximum(np.abs(r.intensity[use]), np.abs(ref[use, 1]))
    rel_s = np.abs(r.sigma[use] - ref[use, 2]) / np.maximum(np.abs(r.sigma[use]), np.abs(ref[use, 2]))
    assert np.all(rel_i <= bin_tol), np.max(rel_i / bin_tol)
    assert np.all(rel_s <= bin_tol), np.max(rel_s / bin_tol)
    if method == "no":  # all but a few bins to pyFAI's last digits
        assert np.mean(rel_i <= tol) > 0.9


def test_integrate2d_pixel_arrays_and_threads():
    ai = anvil.load(SAMPLE / "saxs.poni")
    src = anvil.open(SAMPLE / "cdse_dac_saxs_master.h5")
    frame = src[0]
    cake = ai.integrate2d(frame, 200, 36, unit="q_nm^-1")
    intensity, radial, chi = cake
    assert intensity.shape == (36, 200) and len(radial) == 200 and len(chi) == 36
    tth, chi_px, q = ai.two_theta_array(), ai.chi_array(), ai.q_array()
    assert tth.shape == frame.shape == q.shape == chi_px.shape
    assert np.all(np.abs(chi_px) <= np.pi + 1e-12)
    # q = 4π sin(θ)/λ at every pixel (λ in nm)
    np.testing.assert_allclose(q, 4 * np.pi * np.sin(tth / 2) / (ai.wavelength * 1e9), rtol=1e-9)
    # Threads integrate at once (the GIL is released) and agree with one another.
    results = [None] * 4

    def work(k):
        results[k] = ai.integrate1d(src[k], 500, mask=SAMPLE / "saxs.mask").intensity

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_array_equal(results[k], ai.integrate1d(src[k], 500, mask=SAMPLE / "saxs.mask").intensity)
    # A stack is integrated in one batched pass, each frame as it would be alone.
    stack = np.stack([src[k] for k in range(6)])
    batched = ai.integrate1d(stack, 500, mask=SAMPLE / "saxs.mask", error_model="poisson")
    assert len(batched) == 6
    for k in range(6):
        alone = ai.integrate1d(src[k], 500, mask=SAMPLE / "saxs.mask", error_model="poisson")
        np.testing.assert_array_equal(batched[k].intensity, alone.intensity)
        np.testing.assert_array_equal(batched[k].sigma, alone.sigma)


# ------------------------------------------------------------------------------------ calibration

def test_calibrate_recovers_the_sample_calibrant_geometry(tmp_path):
    image = anvil.open(SAMPLE / "ceo2_waxs.tif")[0]
    r = anvil.calibrate(image, calibrant="CeO2", wavelength=0.4859, detector="Pilatus300k",
                        mask=SAMPLE / "waxs.mask", dist_mm=200)
    assert r.ok, r.message
    truth = anvil.load(SAMPLE / "ceo2_waxs.poni")
    p = r.parameters
    assert p["dist"] == pytest.approx(truth.dist, abs=2e-4)
    assert p["poni1"] == pytest.approx(truth.poni1, abs=2e-4)
    assert p["poni2"] == pytest.approx(truth.poni2, abs=2e-4)
    assert p["rot1"] == pytest.approx(truth.rot1, abs=2e-3) and p["rot2"] == pytest.approx(truth.rot2, abs=2e-3)
    assert len(r.rings) >= 5 and r.points.shape[1] == 3 and len(r.residuals_rad) == len(r.points)
    # The answer as a .poni and as an integrator: the CeO2 111 ring where it belongs.
    r.save(tmp_path / "fit.poni")
    ai = anvil.load(tmp_path / "fit.poni")
    assert ai.dist == pytest.approx(p["dist"], rel=1e-12)
    tth, i = r.integrator().integrate1d(image, 2000, unit="2th_deg", mask=SAMPLE / "waxs.mask", radial_range=(5, 12))
    d111 = 5.411651 / np.sqrt(3)
    assert tth[np.argmax(i)] == pytest.approx(np.degrees(2 * np.arcsin(0.4859 / (2 * d111))), abs=0.02)
    with pytest.raises(ValueError, match="calibrant"):
        anvil.calibrate(image, calibrant="unobtainium", wavelength=0.4859, detector="Pilatus300k")


# ------------------------------------------------------------------------------ phases, fit, index

def test_phase_table_has_the_zinc_blende_lines():
    t = anvil.phase("CdSe-ZB", energy_kev=25.5)
    first = (t["h"][0], t["k"][0], t["l"][0])
    assert first == (1, 1, 1)
    assert t["d_spacing_a"][0] == pytest.approx(t["cell"][0] / np.sqrt(3), rel=1e-9)
    assert t["intensity"].max() == pytest.approx(100)


def test_fit_round_trip_equals_the_cli(tmp_path):
    ai = anvil.load(SAMPLE / "waxs.poni")
    frame = anvil.open(SAMPLE / "cdse_dac_waxs_master.h5")[0]
    pattern = ai.integrate1d(frame, 1500, unit="2th_deg", mask=SAMPLE / "waxs.mask", error_model="poisson",
                             polarization_factor=0.99, radial_range=(3, 21))
    fit = anvil.fit(pattern, phases=["CdSe-WZ", "CdSe-ZB", "CdSe-RS"], wavelength=ai.wavelength * 1e10,
                    two_theta_range=(4, 20))
    assert fit.converged, fit.reason
    assert sum(v for v in fit.fractions.values() if v is not None) == pytest.approx(1.0, abs=1e-9)
    assert set(fit.curves) >= {"two_theta_deg", "observed", "calculated", "background"}
    assert len(fit.curves["calculated"]) == len(fit.curves["observed"])
    # The same pattern through `anvil fit`.
    xye = tmp_path / "p.xye"
    np.savetxt(xye, np.column_stack(list(pattern)), header="2th_deg I sigma")
    out = tmp_path / "fit.json"
    subprocess.run([CLI, "fit", str(xye), "--phases", "CdSe-WZ,CdSe-ZB,CdSe-RS", "--wavelength",
                    repr(ai.wavelength * 1e10), "--range", "4,20", "-o", str(out)], check=True, capture_output=True)
    cli = json.loads(out.read_text())
    for name, value in fit.fractions.items():
        assert value == pytest.approx(cli["phases"][name]["fraction"], abs=1e-6)


def test_index_round_trip_on_a_lamellar_ladder():
    q = np.linspace(0.3, 4.5, 1200)
    d = 5.81
    intensity = 1e4 * q ** -2.5 + 50.0
    for order in (1, 2, 3):
        intensity += 4e3 / order ** 2 * np.exp(-0.5 * ((q - 2 * np.pi * order / d) / 0.012) ** 2)
    rng = np.random.default_rng(7)
    counts = rng.poisson(intensity).astype(float)
    r = anvil.index(q, counts, np.sqrt(np.maximum(counts, 1)))
    assert r.lattice == "lamellar", r.reason
    assert r.a_nm == pytest.approx(d, rel=0.005)
    # An Integrate1dResult is a pattern too; Å⁻¹ is converted.
    r2 = anvil.index(anvil.Integrate1dResult(q / 10, counts, np.sqrt(np.maximum(counts, 1)), "q_A^-1"))
    assert r2.lattice == "lamellar" and r2.a_nm == pytest.approx(r.a_nm, rel=1e-9)


def test_pressure_scales():
    assert anvil.pressure.ruby(694.24, scale="Mao1986") == pytest.approx(0.0, abs=1e-9)
    # Dewaele et al. 2008: P = A/B [(λ/λ0)^B − 1], A = 1920 GPa, B = 9.61, λ0 = 694.24 nm
    assert anvil.pressure.ruby(700.0, scale="Dewaele2008") == pytest.approx(1920 / 9.61 * ((700 / 694.24) ** 9.61 - 1),
                                                                            rel=1e-9)
    a0 = anvil.pressure.standard_details("Au", a=4.0)["a0_angstrom"]
    assert anvil.pressure.standard("Au", a=a0) == pytest.approx(0.0, abs=1e-6)
    assert anvil.pressure.standard("Au", a=a0 * 0.98) > 5


# ------------------------------------------------------------------------------------------- runs

def test_run_of_the_sample_scan_and_read_results(tmp_path):
    out = tmp_path / "out"
    calls = []
    result = anvil.run(SAMPLE / "cdse_dac.toml", out, threads=2,
                       progress=lambda done, total, frame, ok: calls.append((done, total, frame, ok)))
    assert result.summary["frames"] == 20 and result.summary["succeeded"] == 20
    assert len(calls) == 20 and calls[-1][0] == 20
    fr = result.tables["phase_fractions"]
    assert len(fr["frame"]) == 20
    # The long ("tidy") table holds the same numbers, one row per frame and phase.
    long = result.tables["phase_fractions_long"]
    assert len(long["frame"]) == 60
    for name in ("CdSe-WZ", "CdSe-ZB", "CdSe-RS"):
        rows = long["phase"] == name
        np.testing.assert_array_equal(long["fraction"][rows], fr[name])
        np.testing.assert_array_equal(long["fraction_esd"][rows], fr[name + "_esd"])
    assert "a_A" in result.tables["lattice"] and "v0_A3" in result.tables["eos"]
    again = anvil.read_results(out)
    assert sorted(again.tables) == sorted(result.tables)
    np.testing.assert_array_equal(again.tables["frames"]["pressure_gpa"], result.tables["frames"]["pressure_gpa"])
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    assert len(result.to_pandas("phase_fractions")) == 20


# ----------------------------------------------------------------------------------------- errors

def test_errors_are_python_exceptions_with_anvils_message(tmp_path):
    with pytest.raises(FileNotFoundError):
        anvil.open(tmp_path / "missing.h5")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises((ValueError, OSError)) as e:
        anvil.open(bad)
    assert "bad.tif" in str(e.value)
    ai = anvil.load(SAMPLE / "waxs.poni")
    frame = anvil.open(SAMPLE / "cdse_dac_waxs_master.h5")[0]
    with pytest.raises(ValueError, match="mask"):
        ai.integrate1d(frame, 100, mask=np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="method"):
        ai.integrate1d(frame, 100, method="splitpixel-magic")
    with pytest.raises(ValueError):
        ai.integrate1d(frame[:10], 100)  # not the detector's shape
    with pytest.raises(ValueError):
        anvil.fit((np.arange(5.0), np.ones(5)), phases=[], wavelength=0.5, unit="2th_deg")
    with pytest.raises(ValueError, match="lattice"):
        anvil.index(np.linspace(0.1, 2, 100), np.ones(100), lattices=["diamond-cubic"])
    with pytest.raises(ValueError):
        anvil.pressure.ruby(694.0, scale="no-such-scale")
    with pytest.raises(FileNotFoundError):
        anvil.read_results(tmp_path / "nothing")


# ---------------------------------------------------------------------------------------- notebook

def test_example_notebook_runs(tmp_path, monkeypatch):
    """docs/examples/python_quickstart.ipynb executed start to end (needs python3-nbconvert and
    python3-ipykernel, which the set-up installs; skipped by name without them)."""
    nbformat = pytest.importorskip("nbformat", reason="python3-nbconvert not installed")
    nbclient = pytest.importorskip("nbclient", reason="python3-nbconvert not installed")
    pytest.importorskip("ipykernel", reason="python3-ipykernel not installed")
    pytest.importorskip("matplotlib", reason="python3-matplotlib not installed")
    import sys

    from jupyter_client.manager import KernelManager

    nb = nbformat.read(ROOT / "docs" / "examples" / "python_quickstart.ipynb", as_version=4)
    km = KernelManager(kernel_name="python3")
    # This interpreter (Debian's, with anvil on PYTHONPATH), not whatever "python3" is first on PATH.
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    monkeypatch.setenv("ANVIL_SOURCE_DIR", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "20 of 20 frames" in text
