"""Label maps and classes of a training folder: label pictures read as class ids, ``classes.csv`` checked."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .._validate import MAX_CLASSES

#: the picture modes whose levels are class ids as they are, and the level that marks pixels unlabelled in each (the
#: usual "ignore" value: 255 in 8 bits, 65535 in 16; :func:`read_labels`)
_ID_MODES = {"L": 255, "LA": 255, "P": 255, "PA": 255, "RGB": 255, "RGBA": 255, "1": None,
             "I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I": None, "F": None}


def read_labels(path):
    """(H, W) int16 label map of a ``.npy`` file (``-1`` unlabelled) or of a picture (PNG, TIFF...).

    A picture's levels are the class ids as they are: grey levels of 8 or 16 bits (never scaled, as an image to
    segment is), or a palette picture's indices (annotation tools colour their ids so). Its highest level, 255 in
    8 bits and 65535 in 16 (the usual "ignore" value), marks unlabelled pixels; so do transparent ones.
    """
    path = Path(path)
    if path.suffix == ".npy":
        from ..io._images import read_npy

        lab = read_npy(path)
    else:
        lab = _picture_ids(path)
    if lab.ndim != 2 or lab.dtype.kind not in "iu":
        raise ValueError(f"the label map {path.name} must be a 2-D integer array, got {lab.dtype} {lab.shape}.")
    if lab.size and (int(lab.min()) < -1 or int(lab.max()) >= MAX_CLASSES):  # checked before the cast to int16
        raise ValueError(f"the label map {path.name} must hold -1 (unlabelled) or class indices 0 to "
                         f"{MAX_CLASSES - 1}, got {int(lab.min())} to {int(lab.max())}.")
    return lab.astype(np.int16)


def _picture_ids(path):
    """Class ids of a label picture (see :func:`read_labels`)."""
    from ..io._images import read_picture

    seen = []
    arr = read_picture(path, lambda im: seen.append((im.mode, im.format, im.info.get("transparency"))) or im)
    mode, fmt, clear = seen[0]
    if mode not in _ID_MODES:
        raise ValueError(f"the label map {path.name} is a {mode} picture: save the class indices (0, 1, 2 ...) as a "
                         "greyscale PNG or a .npy.")
    alpha = arr[..., -1] < 128 if mode in ("LA", "PA", "RGBA") else None
    if mode in ("RGB", "RGBA"):
        rgb = arr[..., :3]
        if not (rgb == rgb[..., :1]).all():  # painted colours, not ids
            raise ValueError(f"the label map {path.name} is a colour image: save the class indices (0, 1, 2 ...) as "
                             "a greyscale PNG or a .npy.")
    ids = np.asarray(arr[..., 0] if arr.ndim == 3 else arr)
    if ids.dtype.kind == "f":
        if not (np.isfinite(ids).all() and (ids == np.round(ids)).all()):
            raise ValueError(f"the label map {path.name} holds levels that are not whole numbers: save the class "
                             "indices (0, 1, 2 ...) as a greyscale PNG or a .npy.")
    ids = ids.astype(np.int64)
    top = unlabelled_level(mode, fmt)
    if top is not None:
        ids[ids == top] = -1
    if alpha is not None:
        ids[alpha] = -1
    hidden = _transparent(ids if mode != "RGB" else arr[..., :3], mode, clear)
    if hidden is not None:  # a palette's transparent entries (tRNS), or a grey level marked transparent
        ids[hidden] = -1
    return ids


def unlabelled_level(mode, fmt=None):
    """The level that marks a label picture's pixels unlabelled: 255 in 8 bits, 65535 in 16, none in 32 bits or
    float. Pillow before 11 read a 16-bit grey PNG in mode ``"I"`` (now ``"I;16"``): a PNG holds no 32-bit grey, so
    an ``"I"`` PNG is a 16-bit one (its 65535 was read as class 65535 and the map refused)."""
    if mode == "I" and fmt == "PNG":
        return 65535
    return _ID_MODES.get(mode)


def _transparent(values, mode, clear):
    """Mask of the pixels a picture's ``transparency`` (Pillow's ``info``, from a PNG's tRNS chunk) makes
    transparent, or None: a palette's entries whose alpha is under 128, or the one grey level or colour marked so.
    (They were read as the class of their index: a palette PNG's transparent background became class 0.)"""
    if clear is None:
        return None
    if mode in ("P", "PA"):
        if isinstance(clear, (bytes, bytearray)):
            entries = np.flatnonzero(np.frombuffer(bytes(clear), np.uint8) < 128)
        else:
            entries = np.array([int(clear)])
        return np.isin(values, entries)
    if mode == "RGB" and isinstance(clear, tuple) and len(clear) == 3:
        return (values == np.asarray(clear)).all(axis=-1)
    if isinstance(clear, int) and mode in ("L", "I;16", "I;16B", "I;16L", "I"):
        return values == clear
    return None


def read_classes(folder, n_min=0):
    """``(names, colours)`` from ``classes.csv`` (``Name,Index,Color``) or ``class_0...``."""
    from ..render import PHASE_COLOURS

    names, colours = listed_classes(folder)
    n = max([n_min] + [i + 1 for i in names])
    out_n = [names.get(i, f"class_{i}") for i in range(n)]
    out_c = [colours.get(i) or PHASE_COLOURS[i % len(PHASE_COLOURS)] for i in range(n)]
    return out_n, out_c


def listed_classes(folder):
    """``({id: name}, {id: colour})`` of the rows of a folder's ``classes.csv`` (empty without one), checked."""
    path = Path(folder) / "classes.csv"
    names, colours = {}, {}
    if path.exists():
        from ..io._checks import check_input_path

        check_input_path(path, what="a CSV file")  # a FIFO would block the reader
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    i = int(row["Index"])
                    if not 0 <= i < MAX_CLASSES:
                        raise ValueError
                    names[i], colours[i] = str(row["Name"]).strip(), str(row.get("Color") or "").strip()
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, csv.Error):
            raise ValueError(f"classes.csv must have Name,Index,Color rows, Index 0 to {MAX_CLASSES - 1}.") from None
        _check_classes(names, colours)  # before minutes of training (the model's check came after them)
    return names, colours


def _check_classes(names, colours):
    """classes.csv's names: none empty or given twice; its colours ``#RRGGBB`` (``#RGB`` spelt out)."""
    import re

    seen = {}
    for i, name in sorted(names.items()):
        if not name:
            raise ValueError(f"classes.csv gives class {i} no name.")
        if name.casefold() in seen:
            raise ValueError(f"classes.csv names '{name[:40]}' twice (Index {seen[name.casefold()]} and {i}).")
        seen[name.casefold()] = i
    for i, c in colours.items():
        if re.fullmatch(r"#[0-9A-Fa-f]{3}", c):
            colours[i] = "#" + "".join(ch * 2 for ch in c[1:])
        elif c and not re.fullmatch(r"#[0-9A-Fa-f]{6}", c):
            raise ValueError(f"classes.csv: the colour of class {i} must be #RRGGBB, got '{c[:20]}'.")
