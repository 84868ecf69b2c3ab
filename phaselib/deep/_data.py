"""Images and label maps on disk: patterns, pairs, classes, normalised stacks (no torch)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def default_threads():
    """2 threads, or 1 when the load average leaves less than a core free."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] > cores - 1
    except OSError:
        busy = False
    return 1 if busy or cores < 2 else 2


def read_image(path):
    """(H, W, C) uint8 of an image file: RGB (alpha dropped) or one grey channel."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB") if img.mode not in ("L", "I;16", "I", "F") else img.convert("L")
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot read the image {Path(path).name}: {type(err).__name__}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def read_labels(path):
    """(H, W) int16 label map of a ``.npy`` or ``.png`` file (``-1`` unlabelled)."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            lab = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read the label map {path.name}: {type(err).__name__}") from None
    else:
        lab = read_image(path)[..., 0].astype(np.int16)
    if lab.ndim != 2 or lab.dtype.kind not in "iu":
        raise ValueError(f"the label map {path.name} must be a 2-D integer array, got {lab.dtype} {lab.shape}.")
    return lab.astype(np.int16)


def read_classes(folder, n_min=0):
    """``(names, colours)`` from ``classes.csv`` (``Name,Index,Color``) or ``class_0...``."""
    from ..render import PHASE_COLOURS

    path = Path(folder) / "classes.csv"
    names, colours = {}, {}
    if path.exists():
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    i = int(row["Index"])
                    names[i], colours[i] = row["Name"].strip(), row.get("Color", "").strip()
                except (KeyError, TypeError, ValueError):
                    raise ValueError("classes.csv must have Name,Index,Color rows.") from None
    n = max([n_min] + [i + 1 for i in names])
    out_n = [names.get(i, f"class_{i}") for i in range(n)]
    out_c = [colours.get(i) or PHASE_COLOURS[i % len(PHASE_COLOURS)] for i in range(n)]
    return out_n, out_c


def split_name(path, patterns):
    """``(role, stem without the pattern)`` of an image file, or ``(None, None)``.

    ``patterns`` maps a role (``"pp"``, ``"xp"``, ``"bse"``) to the affix that marks it in a
    file name (its last occurrence in the stem; ``ABC_3200.5_pp.jpg`` -> ``("pp", "ABC_3200.5")``).
    """
    stem = Path(path).stem
    best = (None, None, -1)
    for role, pat in patterns.items():
        if pat:
            i = stem.rfind(pat)
            if i >= 0 and i > best[2]:
                key = (stem[:i] + "\0" + stem[i + len(pat):])
                best = (role, key, i)
    return best[0], best[1]


def counterpart(path, role, patterns, key):
    """The file of ``role`` that goes with ``path`` (same stem, the other affix), or None."""
    path = Path(path)
    name = key.replace("\0", patterns[role])
    for suffix in (path.suffix,) + tuple(s for s in IMAGE_SUFFIXES if s != path.suffix):
        for cand in (path.with_name(name + suffix), path.with_name(name + suffix.upper())):
            if cand.exists():
                return cand
    return None


def output_stem(key):
    """``NAME`` of an image set: the stem without its affix and the separator before it."""
    a, b = key.split("\0")
    return (a.rstrip("_-. ") + b).strip("_-. ") or "image"


def find_sets(folder, patterns):
    """Image sets of a folder: ``{stem: {role: path}}`` (every role of ``patterns`` found)."""
    sets: dict = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        role, key = split_name(path, patterns)
        if role is not None:
            sets.setdefault(key, {})[role] = path
    return {output_stem(k): v for k, v in sets.items()}


def find_labels(folder, stem):
    for suffix in ("_labels.npy", "_labels.png"):
        p = Path(folder) / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def stack(images, roles):
    """(H, W, C) float32 in [0, 1] of the images of ``roles``, checked to share one shape."""
    arrays = [images[r] for r in roles]
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"the images of one set must share their size, got {sorted(shapes)}.")
    return np.concatenate([a.astype(np.float32) / 255.0 for a in arrays], axis=-1)


def normalise(x, meta):
    """Standardise a (H, W, C) stack with the model's channel means and deviations."""
    mean = np.asarray(meta["mean"], np.float32)
    std = np.asarray(meta["std"], np.float32)
    if x.shape[-1] != mean.size:
        raise ValueError(f"the model takes {mean.size} channels ({', '.join(meta['inputs'])}), "
                         f"the images give {x.shape[-1]}.")
    return (x - mean) / std
