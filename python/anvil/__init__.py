"""anvil in Python: DAC SAXS/WAXS reduction without shelling out.

The same C++ libraries as the ``anvil`` command (frame readers, pyFAI-convention integration, phase
fits, superlattice indexing, pressure scales, whole-scan runs), with NumPy arrays in and out.
Names follow pyFAI where pyFAI has one::

    import anvil
    frames = anvil.open("scan_master.h5")             # EIGER master, file.h5:/path, scan_{:05d}.tif, CBF, EDF, TIFF
    ai = anvil.load("waxs.poni")                      # geometry + integrator
    q, I, sigma = ai.integrate1d(frames[0], 2000, unit="q_nm^-1", error_model="poisson")
    fit = anvil.fit(ai.integrate1d(frames[0], 2000, unit="2th_deg"), phases=["CdSe-WZ", "CdSe-RS"],
                    wavelength=0.4859)
    fit.fractions                                      # {'CdSe-WZ': 0.88, 'CdSe-RS': 0.12}
    result = anvil.run("scan.toml", "out")             # the whole scan, as `anvil run`
    result.tables["phase_fractions"]["CdSe-WZ"]      # NumPy columns (result.to_pandas(...) with pandas)

Units: q in nm⁻¹ unless a unit says otherwise (pyFAI's names: "q_nm^-1", "q_A^-1", "2th_deg",
"d_A", "r_mm"), wavelengths in Å for fits and phases (the .poni's in m), pressures in GPa, cell
edges in Å (WAXS phases) or nm (superlattices). docs/python.md has every function.

Errors: bad input (shapes, values, file contents) raises ValueError with anvil's message naming
the file or argument; a file that cannot be opened raises OSError (FileNotFoundError if missing).
"""

from __future__ import annotations

import csv as _csv
import math as _math
import os as _os
from collections import namedtuple as _namedtuple
from typing import Callable, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from . import _anvil

__all__ = [
    "open", "load", "read_mask", "calibrate", "phase", "fit", "index", "pressure", "run", "read_results",
    "FrameSource", "AzimuthalIntegrator", "Integrate1dResult", "Integrate2dResult", "CalibrationResult",
    "FitResult", "IndexResult", "RunResult",
]

Frame = _namedtuple("Frame", "data invalid metadata origin")
Frame.__doc__ = """One frame: data (float32 rows × columns), invalid (uint8, 1 where the detector
says the pixel is no measurement — gaps, saturation — or None), metadata (dict: wavelength_m,
distance_m, beam centre, pixel size, count time, saturation, detector), origin ("file:dataset[i]")."""


# ---------------------------------------------------------------------------------------- frames

class FrameSource:
    """Frames of a scan: ``len()``, indexing (``src[i]``, negative from the end, slices give lists)
    and iteration give float32 NumPy arrays (rows × columns, as stored); ``read(i)`` gives a
    :class:`Frame` with the detector's invalid-pixel mask and metadata; ``info`` is what
    ``anvil info`` prints (format, dtype, compression, frames, shape, metadata)."""

    def __init__(self, source: str, flip_ud: bool = False, flip_lr: bool = False):
        self._src = _anvil.FrameSource(_os.fspath(source), flip_ud, flip_lr)
        self.source = _os.fspath(source)

    def __len__(self) -> int:
        return len(self._src)

    def read(self, i: int) -> Frame:
        return Frame(*self._src.read(int(i)))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return self._src.read(int(i))[0]

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]

    @property
    def info(self) -> dict:
        return self._src.info()

    @property
    def first_number(self) -> int:
        """The number of the first frame (numbered file series start at their lowest number)."""
        return self._src.first_number

    def __repr__(self) -> str:
        i = self.info
        return f"<anvil.FrameSource {self.source!r}: {i['frames']} frames {i['shape'][0]}×{i['shape'][1]} {i['dtype']} ({i['format']})>"


def open(source: Union[str, _os.PathLike], flip_ud: bool = False, flip_lr: bool = False) -> FrameSource:  # noqa: A001
    """Opens frames: an EIGER master, ``file.h5`` or ``file.h5:/path/to/dataset``, a numbered
    series ``scan_{:05d}.tif``, a glob ``scan_*.cbf``, or one TIFF/CBF/EDF file.
    ``flip_ud``/``flip_lr`` flip every frame as Dioptas shows them."""
    return FrameSource(source, flip_ud, flip_lr)


# ---------------------------------------------------------------------------------- integration

class Integrate1dResult:
    """A 1-D pattern: ``radial`` (bin centres in ``unit``), ``intensity``, ``sigma`` (None without
    an error model). Unpacks as ``radial, intensity`` or, with σ, ``radial, intensity, sigma``."""

    def __init__(self, radial, intensity, sigma, unit):
        self.radial, self.intensity, self.sigma, self.unit = radial, intensity, sigma, unit

    def __iter__(self):
        yield self.radial
        yield self.intensity
        if self.sigma is not None:
            yield self.sigma

    def __len__(self) -> int:
        return 2 if self.sigma is None else 3

    def __repr__(self) -> str:
        return f"<anvil.Integrate1dResult {len(self.radial)} bins in {self.unit}>"


class Integrate2dResult:
    """A cake: ``intensity[χ][radial]``, ``radial`` (in ``unit``), ``azimuthal`` (χ, degrees),
    ``sigma``. Unpacks as pyFAI's: ``intensity, radial, azimuthal``."""

    def __init__(self, radial, chi, intensity, sigma, unit):
        self.radial, self.azimuthal, self.intensity, self.sigma, self.unit = radial, chi, intensity, sigma, unit

    def __iter__(self):
        yield self.intensity
        yield self.radial
        yield self.azimuthal

    def __repr__(self) -> str:
        return f"<anvil.Integrate2dResult {self.intensity.shape[0]} χ × {self.intensity.shape[1]} radial bins in {self.unit}>"


def _pair(x):
    return None if x is None else (float(x[0]), float(x[1]))


class AzimuthalIntegrator:
    """A .poni's geometry and its integrators (one per shape, settings, mask, dark and flat, built
    on first use and kept: the pixel-to-bin table is the costly part). Geometry in pyFAI's
    attributes: ``dist``, ``poni1``, ``poni2`` (m), ``rot1..3`` (rad), ``wavelength`` (m)."""

    def __init__(self, poni: str, detector: Optional[str] = None, flip_ud: bool = False, flip_lr: bool = False):
        self._set(_anvil.Geometry(_os.fspath(poni), detector or "", flip_ud, flip_lr))

    @classmethod
    def _from_geometry(cls, g) -> "AzimuthalIntegrator":
        self = cls.__new__(cls)
        self._set(g)
        return self

    def _set(self, g):
        self._g = g
        d = self._g.describe()
        self.poni_file = d["poni"]
        self.dist, self.poni1, self.poni2 = d["dist_m"], d["poni1_m"], d["poni2_m"]
        self.rot1, self.rot2, self.rot3 = d["rot1"], d["rot2"], d["rot3"]
        self.wavelength = d["wavelength_m"]
        self.detector = d["detector"]
        self.pixel1, self.pixel2 = d["pixel1_m"], d["pixel2_m"]
        self.shape = d["shape"] if d["shape"][0] else None
        self.note = d["note"]

    def _args(self, npt, npt_azim, unit, method, polarization_factor, correct_solid_angle, error_model,
              sigma_clip, sigma_clip_iterations, radial_range, azimuth_range, quantiles):
        a = _anvil.IntegrateArgs()
        a.npt, a.npt_azim, a.unit, a.method = int(npt), int(npt_azim), unit, method
        a.polarization_factor = polarization_factor
        a.correct_solid_angle = bool(correct_solid_angle)
        a.error_model = error_model or "none"
        a.sigma_clip = sigma_clip
        a.sigma_clip_iterations = int(sigma_clip_iterations)
        a.radial_range, a.azimuth_range, a.quantiles = _pair(radial_range), _pair(azimuth_range), _pair(quantiles)
        return a

    def _from_file(self, kind, path, shape):
        """A mask, dark or flat file read once and kept while the file is unchanged (size, mtime):
        integrating frame after frame does not read it again."""
        path = _os.fspath(path)
        st = _os.stat(path)
        key = (kind, path, st.st_size, st.st_mtime_ns, tuple(shape))
        cache = self.__dict__.setdefault("_files", {})
        if key not in cache:
            if len(cache) >= 8:
                cache.clear()
            cache[key] = read_mask(path, shape) if kind == "mask" else _mean_frame(path)
        return cache[key]

    def _image_args(self, data, mask, dark, flat):
        data = np.asarray(data)
        shape = data.shape[-2:]
        if isinstance(mask, (str, _os.PathLike)):
            mask = self._from_file("mask", mask, shape)
        if isinstance(dark, (str, _os.PathLike)):
            dark = self._from_file("dark", dark, shape)
        if isinstance(flat, (str, _os.PathLike)):
            flat = self._from_file("flat", flat, shape)
        return data, mask, dark, flat

    def integrate1d(self, data, npt: int, unit: str = "q_nm^-1", method: str = "bbox", mask=None, dark=None,
                    flat=None, polarization_factor: Optional[float] = None, correct_solid_angle: bool = True,
                    error_model: Optional[str] = None, sigma_clip: Optional[float] = None,
                    sigma_clip_iterations: int = 5, radial_range=None, azimuth_range=None,
                    quantiles=None) -> Integrate1dResult:
        """Azimuthal integration to ``npt`` bins of ``unit`` of one image (rows × columns) or of a
        stack (frames × rows × columns: a list of results, several times faster per frame, each the
        same as integrating that frame alone): ``method`` "no" (pixel centres),
        "bbox" or "full" (pixel splitting); ``mask`` 1 = excluded (the detector's gaps are added);
        ``dark``/``flat`` subtracted/divided (arrays, or files: a mask in any format anvil reads,
        a Dioptas .mask laid over the frames; dark/flat frames averaged); ``polarization_factor`` (−1..1, 0.99 for a horizontal
        synchrotron beam; None: no correction); ``error_model`` None, "poisson" or "azimuthal";
        ``sigma_clip`` rejects pixels further than that many σ from their bin's mean (diamond
        spots); ``quantiles=(0.2, 0.8)`` a trimmed mean per bin; ranges in ``unit`` and degrees χ."""
        a = self._args(npt, 0, unit, method, polarization_factor, correct_solid_angle, error_model, sigma_clip,
                       sigma_clip_iterations, radial_range, azimuth_range, quantiles)
        data, mask, dark, flat = self._image_args(data, mask, dark, flat)
        out = self._g.integrate(data, a, mask, dark, flat)
        if isinstance(out, list):  # a stack of frames, integrated together
            return [Integrate1dResult(*r) for r in out]
        return Integrate1dResult(*out)

    def integrate2d(self, data, npt_rad: int, npt_azim: int = 360, unit: str = "q_nm^-1", method: str = "bbox",
                    mask=None, dark=None, flat=None, polarization_factor: Optional[float] = None,
                    correct_solid_angle: bool = True, error_model: Optional[str] = None,
                    radial_range=None, azimuth_range=None) -> Integrate2dResult:
        """A 2-D cake (``npt_azim`` χ bins × ``npt_rad`` radial bins); arguments as integrate1d."""
        a = self._args(npt_rad, npt_azim, unit, method, polarization_factor, correct_solid_angle, error_model,
                       None, 5, radial_range, azimuth_range, None)
        data, mask, dark, flat = self._image_args(data, mask, dark, flat)
        r, chi, i, s, u = self._g.integrate(data, a, mask, dark, flat)
        return Integrate2dResult(r, chi, i, s, u)

    def two_theta_array(self, shape=None) -> np.ndarray:
        """2θ (rad) at every pixel centre; ``shape`` (rows, columns) when the .poni has none."""
        return self._g.pixel_array("2theta", shape)

    def chi_array(self, shape=None) -> np.ndarray:
        """χ (rad, −π..π, pyFAI's convention) at every pixel centre."""
        return self._g.pixel_array("chi", shape)

    def q_array(self, shape=None) -> np.ndarray:
        """q (nm⁻¹) at every pixel centre."""
        return self._g.pixel_array("q", shape)

    def __repr__(self) -> str:
        return (f"<anvil.AzimuthalIntegrator {self.poni_file!r}: dist {self.dist:.5g} m, "
                f"λ {self.wavelength * 1e10:.5g} Å, {self.detector}>")


def read_mask(path: Union[str, _os.PathLike], shape: Optional[Tuple[int, int]] = None, orientation: str = "auto",
              flip_ud: bool = False, flip_lr: bool = False) -> np.ndarray:
    """A mask file (TIFF, Dioptas .mask, EDF, CBF, ``file.h5:/path``) as uint8 (1 = masked), laid
    over frames read with ``flip_ud``/``flip_lr``; ``orientation`` "auto" (Dioptas for a .mask file,
    which Dioptas stores up-down flipped), "raw" or "dioptas"; ``shape`` checked when given."""
    return _anvil.read_mask(_os.fspath(path), None if shape is None else tuple(int(x) for x in shape), orientation,
                            flip_ud, flip_lr)


def _mean_frame(path) -> np.ndarray:
    src = FrameSource(path)
    return np.mean(np.stack([src[k] for k in range(len(src))]), axis=0, dtype=np.float64).astype(np.float32)


def load(poni: Union[str, _os.PathLike], detector: Optional[str] = None, flip_ud: bool = False,
         flip_lr: bool = False) -> AzimuthalIntegrator:
    """A pyFAI .poni (any version) as an integrator; ``detector`` a preset replacing the .poni's
    (e.g. "Pilatus1M"); ``flip_ud``/``flip_lr`` for frames flipped as Dioptas shows them."""
    return AzimuthalIntegrator(poni, detector, flip_ud, flip_lr)


# ------------------------------------------------------------------------------------ calibration

class CalibrationResult:
    """A calibration: ``ok`` and ``status`` ("converged", "no rings", "poor fit", "not
    converged"), ``message`` (what was found, or why it failed), ``poni`` (the .poni text),
    ``parameters`` and ``sigma`` (dist, poni1, poni2 in m; rot1..3 in rad; wavelength in m),
    ``rms_px``, ``rings`` (per calibrant line: hkl, d, 2θ expected and observed, points, residuals),
    ``points`` (row, column, line index of each control point), ``residuals_rad``, ``log``;
    ``save(path)`` writes the .poni, ``integrator()`` gives its :class:`AzimuthalIntegrator`."""

    def __init__(self, raw: dict):
        self.raw = raw
        for key in ("status", "ok", "message", "calibrant", "poni", "parameters", "sigma", "rms_px", "rms_rad",
                    "rings", "points", "residuals_rad", "log"):
            setattr(self, key, raw[key])

    def save(self, path: Union[str, _os.PathLike]) -> None:
        if not self.ok:
            raise ValueError(f"calibration {self.status}: {self.message}")
        with _os.fdopen(_os.open(_os.fspath(path), _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC, 0o644), "w") as f:
            f.write(self.poni)

    def integrator(self) -> "AzimuthalIntegrator":
        return AzimuthalIntegrator._from_geometry(_anvil.Geometry.from_text(self.poni, "calibration"))

    def __repr__(self) -> str:
        p = self.parameters
        return (f"<anvil.CalibrationResult {self.status}: dist {p['dist'] * 1e3:.3f} mm, {len(self.rings)} rings, "
                f"rms {self.rms_px:.3f} px>")


def calibrate(image, calibrant: str = "CeO2", wavelength: Optional[float] = None, energy_kev: Optional[float] = None,
              detector: Optional[str] = None, pixel_um: Optional[float] = None, mask=None,
              dist_mm: Optional[float] = None, center: Optional[Tuple[float, float]] = None,
              guess: Optional[Union[str, _os.PathLike]] = None, fix: Sequence[str] = (),
              refine_wavelength: bool = False, refine_distortion: bool = False,
              max_rms_px: Optional[float] = None) -> CalibrationResult:
    """Detector geometry from a calibrant image (rows × columns, as stored), as ``anvil calibrate``:
    ``calibrant`` a library name (CeO2, LaB6, Si, alpha_Al2O3, AgBh, Au, Pt), a .toml/.cif file or a
    cell ("Fm-3m:5.4116"); the beam by ``wavelength`` (Å) or ``energy_kev``; the pixels by
    ``detector`` (a preset, e.g. "Pilatus1M"), ``pixel_um`` or the ``guess`` .poni; a rough
    ``dist_mm`` and beam ``center`` (column, row in pixels), or a full ``guess``, or nothing;
    ``fix`` parameters held ("dist", "poni1", …); ``mask`` (array or file, 1 = excluded)."""
    if (wavelength is None) == (energy_kev is None):
        raise ValueError("calibrate: give wavelength= (Å) or energy_kev=, one of them")
    lam = wavelength if wavelength is not None else 12.398419843320026 / energy_kev
    data = np.asarray(image)
    if isinstance(mask, (str, _os.PathLike)):
        mask = read_mask(mask, data.shape)
    raw = _anvil.calibrate(data, calibrant, float(lam), detector or "", pixel_um, mask, dist_mm, _pair(center),
                           _os.fspath(guess) if guess else "", list(fix), bool(refine_wavelength),
                           bool(refine_distortion), max_rms_px)
    return CalibrationResult(raw)


# ----------------------------------------------------------------------------------------- phases

def phase(name: str, energy_kev: Optional[float] = None, wavelength: Optional[float] = None,
          two_theta_range: Tuple[float, float] = (2.0, 60.0), phase_dir: Optional[str] = None) -> dict:
    """The reflection list of a phase ("CdSe-WZ", "Au", ... or a CIF file) at a beam energy (keV)
    or wavelength (Å): a dict of NumPy columns h, k, l, d_spacing_a, two_theta_deg, q_inv_a,
    multiplicity, f_squared, intensity (100 = strongest, polarisation-corrected Lorentz factor),
    and name, formula, space_group, cell (a, b, c, α, β, γ) and wavelength_a."""
    return _anvil.phase_table(name, energy_kev, wavelength, float(two_theta_range[0]), float(two_theta_range[1]),
                              phase_dir or "")


# ------------------------------------------------------------------------------------------- fits

class FitResult:
    """A WAXS fit: ``status`` ("converged", ...), ``converged``, ``fractions`` and
    ``fraction_sigma`` (dict by phase; sample phases sum to 1), ``cells`` (dict by phase: a, c
    (Å) and their σ, and more), ``rwp``, ``gof``, ``curves`` (NumPy arrays: the fitted x —
    ``two_theta_deg`` (Bragg) or ``q_inv_a`` (Debye) —, observed, calculated, background and, for
    Debye fits, each phase's curve), ``others`` (gasket, markers: cell and a marker's pressure),
    ``raw`` (everything, as ``anvil fit -o`` writes it)."""

    def __init__(self, raw: dict, curves: dict):
        self.raw, self.curves = raw, curves
        self.status = raw.get("status", "")
        self.converged = self.status == "converged"
        phases = raw.get("phases", {}) or {}
        self.fractions = {k: v.get("fraction") for k, v in phases.items()}
        self.fraction_sigma = {k: v.get("fraction_esd") for k, v in phases.items()}
        self.cells = {k: {key: v.get(key) for key in ("a", "a_esd", "c", "c_esd", "volume", "size_nm", "alpha",
                                                      "alpha_esd") if key in v}
                      for k, v in phases.items()}
        self.rwp, self.gof = raw.get("rwp"), raw.get("gof")
        self.others = raw.get("others", {})
        self.reason = raw.get("reason", "")

    def __repr__(self) -> str:
        f = ", ".join(f"{k} {v:.4f}" for k, v in self.fractions.items() if v is not None)
        return f"<anvil.FitResult {self.status}: {f}; Rwp {self.rwp}>"


def _xy(pattern, unit):
    if isinstance(pattern, Integrate1dResult):
        return pattern.radial, pattern.intensity, pattern.sigma, unit or pattern.unit
    p = tuple(pattern)
    if len(p) not in (2, 3):
        raise ValueError("pattern: give (x, y), (x, y, sigma) or an Integrate1dResult")
    if unit is None:
        raise ValueError("pattern: name the x unit (unit='2th_deg', 'q_nm^-1' or 'q_A^-1')")
    return p[0], p[1], (p[2] if len(p) == 3 else None), unit


def fit(pattern, phases: Sequence[str], wavelength: float, unit: Optional[str] = None, model: str = "bragg",
        others: Sequence[str] = (), sizes_nm: Optional[Tuple[float, float]] = None,
        two_theta_range: Optional[Tuple[float, float]] = None, pressure: Optional[float] = None,
        le_bail: bool = False, faulted: bool = False, phase_dir: Optional[str] = None) -> FitResult:
    """Fits one WAXS pattern — an :class:`Integrate1dResult` or ``(x, y[, sigma])`` with ``unit``
    — with ``phases`` at ``wavelength`` (Å): ``model`` "bragg" (Rietveld-style, crystallites above
    ~8 nm) or "debye" (Debye-function clusters: nanocrystals; ``sizes_nm`` the cluster diameter
    range, ``others`` gasket/marker phases fitted apart, ``le_bail`` profile matching,
    ``faulted`` WZ/ZB stacking faults). ``pressure`` (GPa) starts the cells at their EOS there.
    ``two_theta_range`` (degrees) limits the fit. As ``anvil fit``."""
    x, y, s, u = _xy(pattern, unit)
    raw, curves = _anvil.fit_pattern(np.asarray(x, float), np.asarray(y, float),
                                     None if s is None else np.asarray(s, float), u, float(wavelength),
                                     list(phases), model, list(others), _pair(sizes_nm), _pair(two_theta_range),
                                     pressure, phase_dir or "", bool(le_bail), bool(faulted))
    return FitResult(raw, curves)


# --------------------------------------------------------------------------------------- indexing

class IndexResult:
    """A SAXS superlattice answer: ``lattice`` ("fcc", ..., "none"), ``a_nm``, ``c_nm``,
    ``d_nn_nm``, ``confidence``, ``ambiguous`` (and ``ambiguity``), ``reason`` (for none),
    ``peaks`` (list of dicts: q, d_nm, hkl, ...), ``phases`` (one or two), ``runner_up``,
    ``flattened`` (q, I/B − 1 the peaks were found on), ``raw`` (as ``anvil index -o``)."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.lattice = raw.get("lattice", "none")
        self.a_nm, self.c_nm = raw.get("a_nm"), raw.get("c_nm")
        self.a_esd_nm = raw.get("a_esd_nm")
        self.d_nn_nm = raw.get("d_nn_nm")
        self.confidence = raw.get("confidence", "")
        self.ambiguous = bool(raw.get("ambiguous", False))
        self.ambiguity = raw.get("ambiguity", "")
        self.reason = raw.get("reason", "")
        self.peaks = raw.get("peaks", [])
        self.phases = raw.get("phases", [])
        self.runner_up = raw.get("runner_up")
        self.flattened = raw.get("flattened")

    def __repr__(self) -> str:
        if self.lattice == "none":
            return f"<anvil.IndexResult none: {self.reason}>"
        c = f", c = {self.c_nm:.4f} nm" if self.c_nm else ""
        return f"<anvil.IndexResult {self.lattice} a = {self.a_nm:.4f} nm{c} ({self.confidence})>"


def index(q, intensity=None, sigma=None, q_unit: Optional[str] = None, lattices: Optional[Iterable[str]] = None,
          q_range: Optional[Tuple[float, float]] = None) -> IndexResult:
    """Finds and indexes superlattice peaks in a SAXS pattern: ``index(q, I[, sigma])`` or
    ``index(ai.integrate1d(...))``; ``q_unit`` "q_nm^-1" (default) or "q_A^-1"; ``lattices`` a
    subset of fcc, bcc, sc, hcp, hex2d, hex3d, lamellar; ``q_range`` in the pattern's unit."""
    if intensity is None:
        x, y, s, u = _xy(q, q_unit if q_unit or isinstance(q, Integrate1dResult) else "q_nm^-1")
    else:
        x, y, s, u = q, intensity, sigma, q_unit or "q_nm^-1"
    raw = _anvil.index_pattern(np.asarray(x, float), np.asarray(y, float),
                               None if s is None else np.asarray(s, float), u, list(lattices or []),
                               _pair(q_range))
    return IndexResult(raw)


# --------------------------------------------------------------------------------------- pressure

class _Pressure:
    """Pressure scales: ``ruby(wavelength_nm, scale=...)`` (R1 line; scales: ``ruby_scales()``),
    ``standard(material, a=Å | volume=Å³ | d=Å with hkl=...)`` (EOS of Au, Pt, NaCl-B1/B2, Ne;
    names: ``standard_names()``). Both in GPa."""

    @staticmethod
    def ruby(wavelength_nm: float, scale: str = "Shen2020", lambda0_nm: Optional[float] = None,
             temperature_k: Optional[float] = None) -> float:
        return _anvil.ruby(float(wavelength_nm), scale, lambda0_nm, temperature_k)

    @staticmethod
    def ruby_scales() -> list:
        return _anvil.ruby_scales()

    @staticmethod
    def standard(material: str, a: Optional[float] = None, volume: Optional[float] = None,
                 d: Optional[float] = None, hkl: Optional[str] = None) -> float:
        return _anvil.standard(material, a, volume, d, hkl or "")["pressure_gpa"]

    @staticmethod
    def standard_details(material: str, a: Optional[float] = None, volume: Optional[float] = None,
                         d: Optional[float] = None, hkl: Optional[str] = None) -> dict:
        """As standard(), with the standard's full name, citation and a0 (Å)."""
        return _anvil.standard(material, a, volume, d, hkl or "")

    @staticmethod
    def standard_names() -> list:
        return _anvil.standard_names()


pressure = _Pressure()


# ------------------------------------------------------------------------------------------- runs

def _column(values):
    try:
        return np.array([float(v) if v not in ("", "nan", "NaN") else _math.nan for v in values], dtype=float)
    except ValueError:
        return np.array(values, dtype=object)


def _read_csv(path: str) -> dict:
    with _os.fdopen(_os.open(path, _os.O_RDONLY), newline="", encoding="utf-8") as f:
        rows = [r for r in _csv.reader(line for line in f if not line.startswith("#"))]
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    return {name: _column([r[k] if k < len(r) else "" for r in body]) for k, name in enumerate(header)}


class RunResult:
    """A finished run: ``output_dir``, ``summary`` (frames, succeeded, failed, failure reasons,
    SAXS transitions, time per stage — from :func:`run` only), ``tables`` (each CSV of the folder
    by name, e.g. "frames", "phase_fractions", "lattice", "superlattice", "transitions": a dict of
    NumPy columns, numbers as float, text as object arrays), ``files``; ``to_pandas(name)`` gives
    a table as a DataFrame when pandas is installed."""

    def __init__(self, output_dir: str, summary: Optional[dict] = None):
        self.output_dir = _os.fspath(output_dir)
        if not _os.path.isdir(self.output_dir):
            raise FileNotFoundError(f"{self.output_dir}: no such results folder")
        self.summary = summary or {}
        self.files = sorted(_os.listdir(self.output_dir))
        self.tables = {f[:-4]: _read_csv(_os.path.join(self.output_dir, f)) for f in self.files if f.endswith(".csv")}

    def to_pandas(self, name: str):
        import pandas as pd  # optional
        return pd.DataFrame(self.tables[name])

    def __repr__(self) -> str:
        return f"<anvil.RunResult {self.output_dir!r}: tables {', '.join(sorted(self.tables))}>"


def run(scan_toml: Union[str, _os.PathLike], out_dir: Optional[Union[str, _os.PathLike]] = None, threads: int = 0,
        progress: Optional[Callable[[int, int, int, bool], None]] = None, force: bool = False) -> RunResult:
    """Reduces a whole scan as ``anvil run`` does (resuming from checkpoints in ``out_dir``;
    ``force`` redoes every frame): ``threads`` 0 = all cores; ``progress(done, total, frame, ok)``
    is called after each frame. Returns the folder's tables (:class:`RunResult`)."""
    s = _anvil.run(_os.fspath(scan_toml), _os.fspath(out_dir) if out_dir else "", int(threads), progress, bool(force))
    return RunResult(s["output_dir"], s)


def read_results(out_dir: Union[str, _os.PathLike]) -> RunResult:
    """The tables of a finished (or running) ``anvil run`` output folder."""
    return RunResult(out_dir)
