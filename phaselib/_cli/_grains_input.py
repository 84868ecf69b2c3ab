"""The input of `grains`: a phase map (a `map` folder, a labels.npy, a boolean mask, or `segment`'s netCDF), its
pixel size and where that came from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._validate import MAX_PHASES

#: pixel sizes taken, micrometres (below, areas in um^2 underflow to 0; above, morphology's MAX_PIXEL_UM)
PIXEL_UM = (1e-6, 1e6)
_SUMMARY_MAX = 16 * 2**20  # bytes: a results folder's summary.json is a few kB


def read_labels(path, pixel_size=None):
    """The phase labels of INPUT, the pixel size and where it came from."""
    from ..io._images import read_npy

    path = Path(path)
    if path.is_dir():
        folder, file = path, path / "labels.npy"
        if not file.exists():
            raise FileNotFoundError(f"'{path.name}' has no labels.npy: give a labels.npy or a folder written by "
                                    "`phaselib map`.")
    else:
        if not path.exists():
            raise FileNotFoundError(f"'{path.name}' does not exist.")
        if path.suffix.lower() == ".nc":
            return _segmentation(path, pixel_size)
        if path.suffix != ".npy":
            raise ValueError(f"'{path.name}' is not a .npy file: give a labels.npy, a folder written by "
                             "`phaselib map` or a netCDF written by `phaselib segment`.")
        folder, file = path.parent, path
    labels = read_npy(file)  # a regular file holding exactly what its header declares, no pickles
    if labels.ndim != 2 or min(labels.shape, default=0) < 1:
        raise ValueError(f"'{file.name}' must hold an (H, W) phase map, got shape {labels.shape}.")
    if labels.dtype.kind == "b":
        labels = np.where(labels, 0, -1)  # a boolean mask is one phase
    elif labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"'{file.name}' must hold integer phase indices (-1 unassigned); it has fractions "
                             "or NaN.")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"'{file.name}' must hold integer phase indices, got dtype {labels.dtype}.")
    if labels.dtype.kind == "u" and labels.size and labels.max() == np.iinfo(labels.dtype).max:
        raise ValueError(f"'{file.name}' holds {labels.max()}, the largest {labels.dtype} (another tool's "
                         "'unassigned'?): phaselib marks unassigned pixels -1; save the map as signed integers.")
    if labels.size and (labels.min() < -1 or labels.max() >= MAX_PHASES):
        raise ValueError(f"'{file.name}' must hold phase indices from -1 (unassigned) to a few hundred, got "
                         f"{labels.min()} to {labels.max()}.")
    source = "--pixel-size"
    meta, unread = _summary(folder / "summary.json") if file.name == "labels.npy" else ({}, None)
    shape = meta.get("image", {}).get("shape") if isinstance(meta.get("image"), dict) else None
    if isinstance(shape, list) and len(shape) >= 2 and all(isinstance(n, int) for n in shape[:2]) \
            and tuple(shape[:2]) != labels.shape:
        raise ValueError(f"'{folder.name}' does not hold one result: its labels.npy is {labels.shape[0]} x "
                         f"{labels.shape[1]} pixels, its summary.json a map of {shape[0]} x {shape[1]}.")
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    spread = params.get("beam_spread").get("sigma") if isinstance(params.get("beam_spread"), dict) else None
    low, high = PIXEL_UM
    if pixel_size is None:
        pixel_size, source = 1.0, "default (unknown: 1 um per pixel)"
        if unread:  # said, not passed over: the sizes would silently be in pixels
            source = f"default (summary.json is not readable: {unread})"
        px = meta.get("image", {}).get("pixel_size") if isinstance(meta.get("image"), dict) else None
        if isinstance(px, (int, float)) and not isinstance(px, bool) and np.isfinite(px) and px > 0:
            if not low <= px <= high:  # a damaged summary: areas would underflow to 0 or overflow
                raise ValueError(f"the summary.json of '{folder.name}' gives a pixel size of {px:.3g} um, outside "
                                 f"{low:g} to {high:g} um: give the right one with --pixel-size UM.")
            pixel_size, source = float(px), "summary.json"
    elif not (np.isfinite(pixel_size) and low <= pixel_size <= high):
        raise ValueError(f"--pixel-size must be a number of micrometres from {low:g} to {high:g}, got {pixel_size!r}.")
    spread = float(spread) if isinstance(spread, (int, float)) and np.isfinite(spread) else None
    return labels, float(pixel_size), source, spread


def _summary(path):
    """A map folder's summary.json as a dict, and why it could not be read (None: read, or missing)
    ({} when missing, odd or too big: a regular file of a sane size only, as a FIFO would hang)."""
    from ..io._checks import check_input_path

    if not path.exists():
        return {}, None
    try:
        check_input_path(path, what="a summary.json")
        if path.stat().st_size > _SUMMARY_MAX:
            return {}, None
        text = path.read_text()
    except PermissionError:
        return {}, "permission denied"
    except (ValueError, OSError):  # a FIFO, a device, a folder: left out, never opened
        return {}, None
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        return {}, "damaged"
    return (meta, None) if isinstance(meta, dict) else ({}, "damaged")


def _segmentation(path, pixel_size):
    """The labels of a netCDF of `segment` and its pixel size (its ``mm_per_pixel``, unless --pixel-size): the deep
    segmentation's grains without extracting its map by hand ("not a .npy file" before)."""
    from ..deep._netcdf import read_segmentation

    labels, mm, name, _ = read_segmentation(path)
    if labels.size and (labels.min() < -1 or labels.max() >= MAX_PHASES):
        raise ValueError(f"the segmentation '{name}' of '{path.name}' must hold class indices from -1 to a few "
                         f"hundred, got {labels.min()} to {labels.max()}.")
    low, high = PIXEL_UM
    if pixel_size is not None:
        if not (np.isfinite(pixel_size) and low <= pixel_size <= high):
            raise ValueError(f"--pixel-size must be a number of micrometres from {low:g} to {high:g}, got "
                             f"{pixel_size!r}.")
        return labels, float(pixel_size), "--pixel-size", None
    if mm is not None and low <= 1000 * mm <= high:
        return labels, 1000 * mm, f"the netCDF's mm_per_pixel ({name})", None
    return labels, 1.0, "default (unknown: 1 um per pixel)", None
