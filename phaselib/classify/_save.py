"""Writing a Classification to a folder (as ``map`` does) and reading painted labels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .. import quantify, render
from .._atomic import atomic_folder, is_result_folder, refuse_inputs
from .._serialize import dumps
from .._validate import MAX_CLASSES, check_array, check_path

#: the files :func:`save_classification` writes
RESULT_FILES = ("labels.npy", "probabilities.npy", "confusion.csv", "phases.csv", "phase_spectra.npy",
                "summary.json", "phase_map.png")
#: colours of a painted PNG that mean "unlabelled"
_BLANK = {(255, 255, 255), (0, 0, 0)}


def save_classification(result, image, folder, *, inputs=(), summary_extra=None) -> Path:
    """Write a :class:`Classification` of ``image`` to ``folder`` (replaced atomically).

    Files: ``labels.npy`` (every pixel a class; -1 where it holds no counts), ``probabilities.npy`` (H, W, K float32),
    ``confusion.csv`` (cross-validated, rows the labels), ``phases.csv`` (the modal table, with
    the class names as minerals), ``phase_spectra.npy`` (mean spectrum of each class's pixels),
    ``summary.json`` and ``phase_map.png``.

    Parameters
    ----------
    result : Classification
    image : SpectrumImage
        The map classified.
    folder : str or Path
        Created; an existing folder is replaced only if it holds nothing but these files.
    inputs : sequence of paths
        Files read (never written over).
    summary_extra : dict, optional
        More entries of ``summary.json``.

    Returns
    -------
    pathlib.Path
    """
    from ._core import Classification

    if not isinstance(result, Classification):
        raise TypeError(f"`result` must be a Classification (from classify), got {type(result).__name__}.")
    check_path(folder, "folder")
    folder = Path(folder)
    refuse_inputs(folder, inputs, folder=True)
    k = result.n_classes
    spectra = quantify.phase_spectra(image, result.labels, k)
    counts_eds = getattr(image, "is_eds", True)
    lines = [quantify.lines_of(s, image.energy_keV, beam_energy=image.beam_energy) if counts_eds and s.any()
             else [] for s in spectra.sums]
    data = result.labels >= 0  # pixels that hold no counts (-1) are not the specimen's
    fractions = np.bincount(result.labels[data], minlength=k) / max(np.count_nonzero(data), 1)
    table = quantify.phase_table(fractions, spectra.n_pixels, lines, unassigned_fraction=0.0, n_unassigned=0,
                                 minerals=list(result.classes))
    summary = dict(classifier=result.classifier, n_classes=k, classes=list(result.classes), params=result.params,
                   timings_s={key: round(v, 4) for key, v in result.timings.items()},
                   cv_balanced_accuracy=result.balanced_accuracy, scores=result.scores(),
                   confusion=None if result.confusion is None else result.confusion.tolist(),
                   phases=table[:-1], **(summary_extra or {}))
    with atomic_folder(folder, replace=is_result_folder(RESULT_FILES)) as tmp:
        tmp = Path(tmp)
        np.save(tmp / "labels.npy", result.labels)
        np.save(tmp / "probabilities.npy", result.probabilities)
        np.save(tmp / "phase_spectra.npy", spectra.means.astype(np.float32))
        write_confusion(result.confusion, result.classes, tmp / "confusion.csv")
        quantify.write_phase_table(table, tmp / "phases.csv")
        (tmp / "summary.json").write_text(dumps(summary, indent=2))
        render.save_phase_map_png(result.labels, tmp / "phase_map.png", n_phases=k,
                                  names=[f"{i}: {n}" for i, n in enumerate(result.classes)])
    return folder


def write_confusion(confusion, names, path):
    """A confusion matrix as CSV: header ``label \\ predicted`` then the names; one row per label."""
    import csv

    check_path(path, "path")
    if confusion is not None:  # checked before the file is opened: never a half-written table
        confusion = check_array(confusion, "confusion", ndim=2, kind="biuf")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["label \\ predicted", *names])
        if confusion is not None:
            for name, row in zip(names, confusion):
                out.writerow([name, *(int(v) for v in row)])
    return Path(path)


def read_labels(path, shape=None):
    """Labels from an ``(H, W)`` int ``.npy`` (-1 unlabelled) or a PNG painted in colours.

    In a PNG, every distinct colour but white, black and transparent pixels is a class (in
    the order of the colours' hex codes); a sidecar ``NAME.json`` ``{"#rrggbb": "name"}`` names
    them (and fixes their order), else the hex codes are the names. Pixels more transparent than
    opaque, and those of colours a smoothed brush mixes at the edges of strokes (:func:`_stroke_edges`),
    are unlabelled (said in a warning).

    Parameters
    ----------
    path : str or Path
    shape : (int, int), optional
        The map's ``(H, W)``; a mismatch is a ValueError.

    Returns
    -------
    labels : (H, W) int16 ndarray
    names : tuple of str or None
        Class names (None for a ``.npy``).
    """
    path = Path(check_path(path, "path"))
    if shape is not None and (not isinstance(shape, (tuple, list)) or len(shape) != 2):
        raise TypeError(f"`shape` must be the map's (H, W), got {shape!r:.60}.")
    if not path.is_file():
        if path.exists():  # a FIFO, a device or a folder: never opened
            raise ValueError(f"The labels '{path.name}' are not a regular file.")
        raise FileNotFoundError(f"No labels file '{path.name}'.")
    if path.suffix.lower() == ".npy":
        from ..io._images import read_npy

        labels = read_npy(path)
        if labels.dtype.kind not in "iu":
            raise ValueError(f"'{path.name}' must hold integers (-1 unlabelled, 0..K-1), got {labels.dtype}.")
        names = None
    elif path.suffix.lower() == ".png":
        labels, names = _labels_from_png(path)
    else:
        raise ValueError(f"Labels must be a .npy or a painted .png, got '{path.name}'.")
    if labels.ndim != 2 or labels.size == 0 or (shape is not None and labels.shape != tuple(shape)):
        want = f"the map's shape {tuple(shape)}" if shape is not None else "a non-empty 2-D array"
        raise ValueError(f"Labels '{path.name}' must be {want}, got shape {labels.shape}.")
    if labels.dtype == np.uint8 and labels.size and int(labels.max()) == 255:
        raise ValueError(f"'{path.name}' is a uint8 map holding 255: unlabelled pixels must be -1 (save it as a "
                         "signed integer array), classes 0..K-1.")
    if labels.size and (int(labels.min()) < -1 or int(labels.max()) >= MAX_CLASSES):  # before the cast to int16
        raise ValueError(f"'{path.name}' must hold -1 (unlabelled) or classes 0 to {MAX_CLASSES - 1}, got "
                         f"{int(labels.min())} to {int(labels.max())}.")
    return labels.astype(np.int16), names




def _check_legend(given, name):
    """A legend's keys are colours and its names are words: not empty, no control characters, not starting as a
    spreadsheet formula (=, +, -, @: phases.csv and confusion.csv hold them)."""
    import re

    for key, value in given.items():
        if not re.fullmatch(r"#[0-9a-f]{6}", key):
            raise ValueError(f"'{name}': its keys must be colours \"#rrggbb\" (the names are the values), got a key "
                             f"of {len(key)} characters.")
        if not value.strip() or not value.isprintable() or value.lstrip()[0] in "=+-@":
            raise ValueError(f"'{name}': the class name of {key} must be a printable word, not empty nor starting "
                             "with =, +, - or @ (a spreadsheet would run it).")


#: a colour within this many levels of a painted colour, of the line between two or of their triangle mixes them
MIX_LEVELS = 12.0
#: most painted colours whose mixes are sought (a label map has a few; a photograph thousands)
MAX_PAINTED = 24


def _stroke_edges(code, blank):
    """(H, W) bool: the pixels of colours that a smoothed brush makes at the edges of strokes.

    A colour is painted when it fills some pixel's whole 3 x 3 neighbourhood (a stroke's inside; white and black
    among them); a colour that fills none and lies within :data:`MIX_LEVELS` of a painted colour, of the line
    between two or of the triangle of three (a mix of a stroke's colour with the background or another stroke's)
    is a stroke's edge. Colours painted pixel by pixel with a hard brush lie between no painted colours: kept."""
    values, inverse = np.unique(code, return_inverse=True)
    inverse = inverse.reshape(code.shape)
    pad = np.pad(inverse, 1, mode="edge")
    h, w = inverse.shape
    inside = np.ones(inverse.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            inside &= pad[dy:dy + h, dx:dx + w] == inverse
    painted = np.zeros(values.size, bool)
    painted[np.unique(inverse[inside])] = True
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], -1).astype(np.float64)
    if not painted.any() or painted.all() or painted.sum() > MAX_PAINTED:
        return np.zeros(code.shape, bool)
    mixed = np.zeros(values.size, bool)
    rest = np.flatnonzero(~painted)
    for k in range(0, rest.size, 256):
        mixed[rest[k:k + 256]] = _mixes(rgb[rest[k:k + 256]], rgb[painted])
    return mixed[inverse] & ~blank


def _mixes(c, anchors):
    """(M,) bool: whether each colour of ``c`` (M, 3) lies within :data:`MIX_LEVELS` of one of ``anchors`` (K, 3), of
    a segment between two or of a triangle of three (a little past their ends: a resampled picture overshoots)."""
    from itertools import combinations

    near = np.linalg.norm(c[:, None] - anchors[None], axis=-1).min(1) <= MIX_LEVELS
    k = anchors.shape[0]
    for n in (2, 3):
        idx = np.array(list(combinations(range(k), n)), np.int64).reshape(-1, n)
        if not idx.size:
            continue
        base, d = anchors[idx[:, 0]], anchors[idx[:, 1:]] - anchors[idx[:, :1]]  # (T, 3), (T, n-1, 3)
        gram = np.einsum("tic,tjc->tij", d, d)
        x = c[:, None] - base[None]  # (M, T, 3)
        t = np.einsum("tij,mtj->mti", np.linalg.pinv(gram), np.einsum("tic,mtc->mti", d, x))
        inside = (t >= -0.1).all(-1) & (t.sum(-1) <= 1.1)
        resid = np.linalg.norm(np.einsum("mti,tic->mtc", np.clip(t, 0, 1), d) - x, axis=-1)
        near |= (inside & (resid <= MIX_LEVELS)).any(1)
    return near


#: bytes a PNG's legend (class names by colour) may hold
LEGEND_MAX = 1 << 20


def _labels_from_png(path):
    from ..io._images import read_picture

    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89PNG\r\n\x1a\n":  # a JPEG named .png: its blurred colours are no classes
            raise ValueError(f"'{path.name}' is not a PNG file: paint the label map in a PNG (lossless).")
    mode = []
    rgba = read_picture(path, lambda im: mode.append(im.mode) or im.convert("RGBA"))
    if mode and mode[0].startswith("I"):  # 16- or 32-bit grey: converting to colours would clip values over 255
        bits = "16-bit" if "16" in mode[0] else "32-bit"
        raise ValueError(f"'{path.name}' is a {bits} grey image: save integer labels as .npy, or paint the "
                         "classes in colours (an 8-bit RGB or palette PNG).")
    rgb = rgba[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    blank = rgba[..., 3] < 128  # transparent, or mostly: a soft brush's halo
    for r, g, b in _BLANK:
        blank |= code == (r << 16 | g << 8 | b)
    edges = _stroke_edges(code, blank)
    if edges.any():
        warnings.warn(f"'{path.name}': {int(edges.sum())} pixels of {len(np.unique(code[edges]))} colours that mix "
                      "two others at the edges of strokes (a smoothed brush) are left unlabelled; paint with a "
                      "hard-edged brush to label them.", stacklevel=4)
        blank |= edges
    colours, n_px = np.unique(code[~blank], return_counts=True)
    colours = [f"#{c:06x}" for c in colours]
    if len(colours) >= MAX_CLASSES:
        raise ValueError(f"'{path.name}' holds {len(colours)} colours: a painted label map has one colour per "
                         f"class (at most {MAX_CLASSES - 1}); a photograph or a smoothed image is not one.")
    if len(colours) > 16 and np.mean(n_px <= 2) > 0.5:
        warnings.warn(f"'{path.name}' holds {len(colours)} colours, {int(np.sum(n_px <= 2))} of them on 1 or 2 "
                      "pixels: a smoothed or resized picture? Paint each class in one colour with a hard-edged brush, "
                      "at the map's size.", stacklevel=4)
    sidecar = path.with_suffix(".json")
    if sidecar.exists() and not sidecar.is_file():  # a FIFO would block, /dev/zero never end: refused, not skipped
        raise ValueError(f"The legend '{sidecar.name}' is not a regular file.")
    if sidecar.is_file():
        if sidecar.stat().st_size > LEGEND_MAX:
            raise ValueError(f"The legend '{sidecar.name}' is too big for a list of class names.")
        try:  # utf-8-sig: a legend saved by Windows' Notepad starts with a byte-order mark
            given = {str(key).lower(): str(v) for key, v in json.loads(sidecar.read_text("utf-8-sig")).items()}
        except (ValueError, AttributeError, RecursionError, UnicodeDecodeError):
            raise ValueError(f"'{sidecar.name}' must be a JSON object {{\"#rrggbb\": \"name\"}}.") from None
        _check_legend(given, sidecar.name)
        unknown = [c for c in colours if c not in given]
        if unknown:
            raise ValueError(f"'{sidecar.name}' names no class for the colour(s) {', '.join(unknown[:5])}"
                             + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                             + ": paint each class in its legend's colour, with a hard-edged brush.")
        colours = [c for c in given if c in colours]
        names = tuple(dict.fromkeys(given[c] for c in colours))  # two colours of one name: one class
    else:
        names = tuple(colours)
    labels = np.full(code.shape, -1, np.int16)
    for c in colours:
        labels[(code == int(c[1:], 16)) & ~blank] = names.index(given[c] if sidecar.is_file() else c)
    return labels, names
