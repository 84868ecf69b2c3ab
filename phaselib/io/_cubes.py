"""Spectral cubes that are not EDS files: FITS (a cube, or one frame per bin), TIFF stacks, HyperSpy signals.

A FITS or TIFF cube stores one image per bin of the signal axis, so its array is ``(C, H, W)``;
it becomes an ``(H, W, C)`` view (no copy for a single memory-mapped FITS cube). The axis comes
from the FITS header (``CRVAL3``, ``CDELT3``, ``CRPIX3``, ``CUNIT3``, ``CTYPE3``) when there is
one, else from the caller (``energy_offset``/``energy_scale``, the CLI's ``--axis-*``), else it
is the channel index. Its ``signal`` is ``counts`` when its values are whole numbers, none negative or
missing, else ``intensity`` (:func:`guess_signal`; the CLI's ``--signal`` says otherwise).
"""

from __future__ import annotations

import glob
import math
import os
import re
from pathlib import Path

import numpy as np

from .._hyperspy import from_hyperspy, is_signal
from .._image import SpectrumImage
from ._checks import DamagedFileError

FITS_EXTENSIONS = (".fits", ".fit", ".fts")
TIFF_EXTENSIONS = (".tif", ".tiff")


def _is_glob(text):
    """A pattern of FITS / TIFF frames: ``*?[`` in a path that names no file (``run[2024]/map.bcf`` is itself)."""
    return any(ch in text for ch in "*?[") and not os.path.lexists(text)


def _files(path):
    """The FITS frames or the one cube file a path names (a file, a folder of FITS files, or a glob of FITS / TIFF
    files: other files a pattern matches are not frames)."""
    text = str(path)
    if _is_glob(text):
        return sorted((Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS),
                      key=_natural)
    p = Path(text)
    if p.is_dir():
        return sorted((q for q in p.iterdir() if q.suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS), key=_natural)
    return [p]


def _natural(path):
    """Sort key of a frame's name with its numbers compared as numbers: ``f_2`` before ``f_10`` (names without
    zero padding were read f_0, f_1, f_10...: channels out of order)."""
    parts = re.split(r"(\d+)", path.name)
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in parts if t], path.name


def _sample(data):
    """Values of 16 rows spread over a map, float64."""
    rows = np.unique(np.linspace(0, data.shape[0] - 1, min(data.shape[0], 16)).astype(int))
    return np.concatenate([np.asarray(data[r], dtype=np.float64).ravel() for r in rows])


def has_fractions(data) -> bool:
    """True when some finite values (sampled on 16 rows) are not whole numbers: not counts of anything."""
    values = _sample(data)
    values = values[np.isfinite(values)]
    return bool((values != np.round(values)).any())


def guess_signal(data) -> str:
    """``"counts"`` when the values (sampled on 16 rows) are whole numbers, none negative or missing, else
    ``"intensity"``: X-ray or neutron counts are whole numbers; a transmission, an absorbance or a normalised
    image are not."""
    values = _sample(data)
    if not np.isfinite(values).all() or (values < 0).any() or (values != np.round(values)).any():
        return "intensity"
    return "counts"


def is_cube(path) -> bool:
    """True for what :func:`open_cube` reads: a HyperSpy signal, a FITS or TIFF file, a folder or glob of them."""
    if is_signal(path):
        return True
    if not isinstance(path, (str, Path)):
        return False
    text = str(path)
    if _is_glob(text):
        return Path(text).suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS or any(
            Path(p).suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS for p in glob.glob(text))
    p = Path(text)
    if p.is_dir():
        return p.suffix.lower() != ".zspy" and any(q.suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS
                                                   for q in p.iterdir())
    return p.suffix.lower() in FITS_EXTENSIONS + TIFF_EXTENSIONS


def open_cube(path, *, energy_offset=None, energy_scale=None, beam_energy=None, pixel_size=None) -> SpectrumImage:
    """Read a FITS cube, FITS frames, a TIFF stack or a HyperSpy signal (see :func:`phaselib.io.load`)."""
    if is_signal(path):  # an uncalibrated X-ray axis is refused unless the calibration is given here
        image = from_hyperspy(path, check_axis=energy_offset is None or energy_scale is None)
        axis = {}
    else:
        files = _files(path)
        if not files:
            raise FileNotFoundError(f"No FITS or TIFF file matches '{Path(str(path)).name}'.")
        missing = [f for f in files if not f.exists()]
        if missing:
            raise FileNotFoundError(f"No such file: '{missing[0].name}'.")
        kinds = {f.suffix.lower() in FITS_EXTENSIONS for f in files}
        if len(kinds) > 1:  # read as the first one's kind, the others failed with a misleading message
            raise ValueError(f"'{Path(str(path)).name}' holds both FITS and TIFF frames: keep the frames of one cube, "
                             "of one kind, together.")
        if files[0].suffix.lower() in FITS_EXTENSIONS:
            data, axis = _read_fits(files)
        else:
            data, axis = _read_tiff(files)
        if data.ndim != 3 or min(data.shape) < 1:
            raise ValueError(f"'{files[0].name}' holds an array of shape {tuple(data.shape)}; a cube must be "
                             "(bins, rows, columns), or one 2-D frame per bin.")
        if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
            raise ValueError(f"'{files[0].name}' holds {data.dtype} data; a cube must hold numbers.")
        data = np.moveaxis(data, 0, -1)  # (C, H, W) -> (H, W, C), a view
        if axis.get("scale", 1.0) < 0:  # a decreasing axis (CDELT3 < 0): its bins read in increasing order, a view
            top = axis["offset"] + axis["scale"] * (data.shape[-1] - 1)
            data, axis["offset"], axis["scale"] = data[..., ::-1], top, -axis["scale"]
        axis.setdefault("signal", guess_signal(data))
        image = SpectrumImage(data, source=str(files[0] if len(files) == 1 else Path(str(path))),
                              energy_offset=axis.pop("offset", 0.0), energy_scale=axis.pop("scale", 1.0),
                              **axis)
    changes = {k: v for k, v in dict(energy_offset=energy_offset, energy_scale=energy_scale,
                                     beam_energy=beam_energy, pixel_size=pixel_size).items() if v is not None}
    if pixel_size is not None:
        changes["pixel_size_y"] = pixel_size
    if (energy_offset is not None or energy_scale is not None) and image.axis_name == "Channel":
        changes.update(axis_name=None, axis_units=None)  # a calibration given: keV, unless --axis-units says
    return image.replace(**changes) if changes else image


def _read_fits(files):
    from ._images import read_fits

    frames, header = [], None
    for f in files:
        data, head = read_fits(f, memmap=len(files) == 1)
        header = header if header is not None else head
        frames.append(data)
    if len(files) > 1:
        shapes = {fr.shape for fr in frames}
        if len(shapes) != 1 or frames[0].ndim != 2:
            raise ValueError(f"The {len(files)} FITS frames must be 2-D images of one shape, got {sorted(shapes)}.")
        return np.stack(frames), _fits_axis(header, 3, files[0].name)
    return frames[0], _fits_axis(header, 3, files[0].name)


def _fits_axis(header, n, name):
    """Offset, scale, name and units of FITS axis ``n`` (the bins) from its WCS keywords."""
    if header is None or f"CDELT{n}" not in header:
        return dict(offset=0.0, scale=1.0, axis_name="Channel", axis_units="")
    try:
        pix = float(header.get(f"CRPIX{n}", 1.0))
        scale = float(header[f"CDELT{n}"])
        offset = float(header.get(f"CRVAL{n}", 0.0)) - (pix - 1) * scale
    except Exception:  # noqa: BLE001 - a text, or a value astropy cannot parse (its message may quote it)
        scale = offset = math.nan
    if not (math.isfinite(scale) and math.isfinite(offset) and scale != 0):
        raise DamagedFileError(f"'{name}': its axis keywords (CRVAL{n}, CDELT{n}, CRPIX{n}) are not finite numbers "
                               "with a non-zero step (damaged header); refusing to read it.")
    units = str(header.get(f"CUNIT{n}", "")).strip()
    units = {"Angstrom": "Å", "angstrom": "Å"}.get(units, units)
    name = str(header.get(f"CTYPE{n}", "")).strip()
    if units in ("eV", "keV") and name.lower() in ("", "energy", "e"):  # an X-ray energy: keV, as EDS maps are
        to_kev = 1e-3 if units == "eV" else 1.0
        return dict(offset=offset * to_kev, scale=scale * to_kev, axis_name=None, axis_units=None)
    return dict(offset=offset, scale=scale, axis_name=name or "Channel", axis_units=units)


def _read_tiff(files):
    from ._images import read_tiff

    data = read_tiff(files[0]) if len(files) == 1 else np.stack([read_tiff(f) for f in files])
    return data, dict(offset=0.0, scale=1.0, axis_name="Channel", axis_units="")
