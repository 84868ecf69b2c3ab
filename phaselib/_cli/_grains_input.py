"""The input of `grains`: a phase map (a `map` folder, a labels.npy, a boolean mask, or `segment`'s netCDF), its
pixel size and where that came from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .._validate import MAX_PHASES

#: pixel sizes taken, micrometres (below, areas in um^2 underflow to 0; above, morphology's MAX_PIXEL_UM)
PIXEL_UM = (1e-6, 1e6)
_SUMMARY_MAX = 16 * 2**20  # bytes: a results folder's summary.json is a few kB


#: the picture files taken as a mask or a class map (ImageJ's binary masks, a QEMSCAN-like class map, a label image)
PICTURES = (".png", ".tif", ".tiff", ".bmp")


def read_labels(path, pixel_size=None, background=None, grain_ids=False):
    """The phase labels of INPUT, the pixel size and where it came from. ``background``: a level of the input
    that is no phase (unassigned; default 0 for a picture or with ``grain_ids``, a label image of grains)."""
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
        if path.suffix != ".npy" and path.suffix.lower() not in PICTURES:
            raise ValueError(f"'{path.name}' is not a .npy file: give a labels.npy, a mask or class map picture "
                             f"({', '.join(PICTURES)}), a folder written by `phaselib map` or a netCDF written by "
                             "`phaselib segment`.")
        folder, file = path.parent, path
    picture = file.suffix.lower() in PICTURES
    labels = _picture(file) if picture else read_npy(file)  # a .npy: exactly what its header declares, no pickles
    if labels.ndim != 2 or min(labels.shape, default=0) < 1:
        raise ValueError(f"'{file.name}' must hold an (H, W) phase map, got shape {labels.shape}.")
    if labels.dtype.kind == "b":
        if not labels.any():
            raise ValueError(f"'{file.name}' is a mask with no True pixel: no grains to measure.")
        labels = np.where(labels, 0, -1)  # a boolean mask is one phase
        print(f"phaselib: note: '{file.name}' is a mask: its True pixels are phase 0", file=sys.stderr)
    elif labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"'{file.name}' must hold integer phase indices (-1 unassigned); it has fractions "
                             "or NaN.")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"'{file.name}' must hold integer phase indices, got dtype {labels.dtype}.")
    given = background is not None
    if background is None and (picture or grain_ids):  # a picture's or a label image's background: level 0
        background = 0
    if picture or background is not None:
        labels = _levels(labels, file.name, background, picture, grain_ids, given)
    if labels.dtype.kind == "u" and labels.size and labels.max() == np.iinfo(labels.dtype).max:
        raise ValueError(f"'{file.name}' holds {labels.max()}, the largest {labels.dtype} (another tool's "
                         "'unassigned'?): phaselib marks unassigned pixels -1; save the map as signed integers "
                         "or give --background LEVEL.")
    top = labels.size if grain_ids else MAX_PHASES
    if labels.size and (labels.min() < -1 or labels.max() >= top):
        raise ValueError(f"'{file.name}' must hold {'grain ids' if grain_ids else 'phase indices'} from -1 "
                         f"(unassigned) to {'its number of pixels' if grain_ids else 'a few hundred'}, got "
                         f"{labels.min()} to {labels.max()}" + ("" if grain_ids else
                                                                " (a label image of grains? --grain-ids)") + ".")
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


def _picture(path):
    """(H, W) levels of a mask or class map picture as they are (never scaled): grey 8 or 16 bits, a palette's
    indices, a grey RGB; a colour picture is refused."""
    from ..io._images import read_picture, read_tiff

    if path.suffix.lower() in (".tif", ".tiff"):
        arr = read_tiff(path)  # the stored levels (ImageJ's inverted-LUT masks too: 255 the objects)
    else:
        arr = read_picture(path, lambda im: im.convert("L") if im.mode == "1" else im)
    if arr.ndim == 3 and arr.shape[-1] in (2, 3, 4) and arr.shape[0] > 4:  # grey + alpha, RGB, RGBA
        rgb = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
        if not (rgb == rgb[..., :1]).all():
            raise ValueError(f"'{path.name}' is a colour picture: save the mask or class map as a greyscale (8- or "
                             "16-bit) picture, one level per phase.")
        arr = rgb[..., 0]
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)
    return arr


def _levels(labels, name, background, picture, grain_ids=False, given=True):
    """Labels with the ``background`` level unassigned (-1); a picture of one level besides it is a mask: phase 0
    (grain ids are kept)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"'{name}' must hold whole levels (phase indices), got {labels.dtype}.")
    levels, counts = np.unique(labels, return_counts=True)
    if background is not None and background not in levels:
        if given:  # --background LEVEL that no pixel holds: a slip, said (the default 0 may be absent)
            raise ValueError(f"--background {background}: no pixel of '{name}' holds it (its levels are "
                             f"{', '.join(map(str, levels[:8]))}{' ...' if levels.size > 8 else ''}).")
        background = None
    out = labels.astype(np.int64)
    if background is not None:
        out[labels == background] = -1
    kept = levels[levels != background] if background is not None else levels
    if not kept.size:
        raise ValueError(f"'{name}' holds the background level {background} only: no grains to measure.")
    if grain_ids:
        return out
    if picture and kept.size == 1:  # a mask (ImageJ's 0 / 255): one phase
        n = int(counts[levels == kept[0]][0])
        print(f"phaselib: note: '{name}' is a mask: its {n} pixels at level {kept[0]} ({100 * n / labels.size:.1f} %"
              f" of the map) are phase 0" + (f", level {background} the background (--background LEVEL to choose)"
                                            if background is not None else ""), file=sys.stderr)
        out[out >= 0] = 0
    elif background is not None and kept.size >= 5 and _one_piece_each(out, kept.size):
        print(f"phaselib: note: each of the {kept.size} levels of '{name}' is one connected piece: a label image of "
              "grains? (--grain-ids measures them as they are)", file=sys.stderr)
    elif background is not None:
        share = 100 * int(counts[levels == background][0]) / labels.size
        print(f"phaselib: note: '{name}': level {background} is the background ({share:.1f} % of the map); its "
              f"{kept.size} other levels are phases", file=sys.stderr)
    return out


def given_grains(ids, pixel_size, min_area=0, exclude_border=False, outside=None):
    """The grains of a label image of grains already separated (``--grain-ids``; -1 / 0 background), measured as
    they are: one phase (0); those under ``min_area`` pixels, and with ``exclude_border`` those on the map's border
    or beside ``outside``, left out."""
    from skimage.segmentation import relabel_sequential

    from ..morphology import GrainMap
    from ..morphology._table import touching

    g = np.where(ids > 0, ids, 0)
    if min_area > 1:
        g[np.bincount(g.ravel())[g] < min_area] = 0
    if exclude_border:
        edge = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        gone = np.union1d(edge, touching(g, outside) if outside is not None else [])
        g[np.isin(g, gone[gone > 0])] = 0
    g = relabel_sequential(g)[0].astype(np.int32)
    params = dict(grain_ids=True, min_area=int(min_area), exclude_border=bool(exclude_border), phases=[0],
                  in_matrix=[], groundmass=[])
    return GrainMap(g, np.zeros(int(g.max()), np.int64), float(pixel_size), params, (), outside)


def _one_piece_each(labels, n_levels):
    """Whether each of the ``n_levels`` levels (>= 0) of ``labels`` is one 8-connected piece."""
    from skimage.measure import label

    return int(label(labels, background=-1, connectivity=2).max()) == n_levels
