"""Cutting an image into overlapping tiles (e.g. for a CNN) and putting it back together exactly.

The seed lecture's ``splitTiles`` takes ``dims[0] // size`` tiles along *both* axes, so a
non-square image loses columns (or repeats none of its last ones), and the remainder rows and
columns that do not fill a tile are dropped. Here the tiles cover every pixel of any shape: they
start every ``size - overlap`` pixels and the last one along each axis is moved back to end on
the image's edge (an image smaller than a tile is padded by repeating its edge). :func:`untile`
gives each pixel the value of the tile whose centre is nearest along each axis, so
``untile(tiles(a, s, o), a.shape, o)`` is ``a`` exactly, any dtype, 2-D or with trailing axes
(``(H, W, C)`` cubes); ``blend="mean"`` averages the tiles that overlap instead (for predictions).

Examples
--------
>>> import numpy as np
>>> a = np.arange(7 * 10).reshape(7, 10)
>>> t = tiles(a, 4, overlap=1)
>>> t.shape
(6, 4, 4)
>>> bool(np.array_equal(untile(t, a.shape, overlap=1), a))
True
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice, check_int

__all__ = ["tile_positions", "tiles", "untile"]


def _pair(size, name):
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"`{name}` must be an integer or a pair (rows, cols), got {size!r}.")
        return check_int(size[0], name), check_int(size[1], name)
    s = check_int(size, name)
    return s, s


def _starts(n, size, overlap):
    if n <= size:
        return [0]
    step = size - overlap
    starts = list(range(0, n - size + 1, step))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts


def tile_positions(shape, size, overlap=0):
    """Top-left corners of the tiles of an image of ``shape`` (row-major order).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W, ...)``.
    size : int or (int, int)
        Tile height and width.
    overlap : int
        Pixels shared by neighbouring tiles, ``0 <= overlap < size``.

    Returns
    -------
    list of (int, int)
    """
    th, tw = _pair(size, "size")
    overlap = check_int(overlap, "overlap", low=0, high=min(th, tw) - 1)
    h, w = _height_width(shape)
    _check_count(h, w, th, tw, overlap)
    return [(r, c) for r in _starts(h, th, overlap) for c in _starts(w, tw, overlap)]


#: more tiles than this is a typing slip (a list of them alone would fill the memory)
MAX_TILES = 10**7


def _height_width(shape):
    if not isinstance(shape, (tuple, list)) or len(shape) < 2:
        raise ValueError(f"`shape` must be (H, W, ...), got {shape!r:.60}.")
    return check_int(shape[0], "shape[0]"), check_int(shape[1], "shape[1]")


def _check_count(h, w, th, tw, overlap):
    n = (-(-max(h - overlap, 1) // (th - overlap))) * (-(-max(w - overlap, 1) // (tw - overlap)))
    if n > MAX_TILES:
        raise ValueError(f"A {h} x {w} image in {th} x {tw} tiles (overlap {overlap}) makes {n} tiles, more than "
                         f"{MAX_TILES}: check the shape and the tile size.")


def tiles(image, size, overlap=0):
    """Cut ``image`` into ``size``-pixel tiles that cover every pixel.

    Parameters
    ----------
    image : (H, W, ...) array_like
    size : int or (int, int)
    overlap : int
        Pixels shared by neighbouring tiles.

    Returns
    -------
    (N, th, tw, ...) ndarray
        Tiles in the order of :func:`tile_positions`; along an axis shorter than the tile,
        the image is padded by repeating its last row / column.
    """
    a = np.asarray(image)
    if a.ndim < 2 or min(a.shape[:2]) < 1:
        raise ValueError(f"`image` must have at least 2 dimensions (H, W, ...), none empty, got shape {a.shape}.")
    th, tw = _pair(size, "size")
    if th * tw > 64 * a.shape[0] * a.shape[1] + 2**20:  # such a tile is padding, not image (and memory)
        raise ValueError(f"`size` {(th, tw)} is far larger than the image {a.shape[:2]}.")
    pos = tile_positions(a.shape, (th, tw), overlap)
    pad = [(0, max(0, th - a.shape[0])), (0, max(0, tw - a.shape[1]))] + [(0, 0)] * (a.ndim - 2)
    if any(p[1] for p in pad):
        a = np.pad(a, pad, mode="edge")
    return np.stack([a[r:r + th, c:c + tw] for r, c in pos])


def _owners(n, size, overlap):
    """Start index of each tile along an axis, and the range [lo, hi) of pixels it gives."""
    starts = _starts(n, size, overlap)
    bounds = [0] + [(starts[i - 1] + size + starts[i]) // 2 for i in range(1, len(starts))] + [n]
    return [(s, bounds[i], bounds[i + 1]) for i, s in enumerate(starts)]


def untile(tiles_, shape, overlap=0, *, blend="centre"):
    """Rebuild an image of ``shape`` from :func:`tiles`.

    Parameters
    ----------
    tiles_ : (N, th, tw, ...) array_like
        The tiles (or per-tile predictions of the same size), in :func:`tile_positions` order.
    shape : tuple of int
        ``(H, W)`` (or the full shape) of the image.
    overlap : int
        As given to :func:`tiles`.
    blend : {"centre", "mean"}
        ``"centre"``: each pixel from the tile whose centre is nearest (exact); ``"mean"``: the
        mean of every tile covering it (float).

    Returns
    -------
    (H, W, ...) ndarray
    """
    t = np.asarray(tiles_)
    check_choice(blend, "blend", ("centre", "mean"))
    if t.ndim < 3:
        raise ValueError(f"`tiles_` must be (N, th, tw, ...), got shape {t.shape}.")
    th, tw = t.shape[1:3]
    h, w = _height_width(shape)
    overlap = check_int(overlap, "overlap", low=0, high=min(th, tw) - 1)
    _check_count(h, w, th, tw, overlap)
    rows, cols = _owners(h, th, overlap), _owners(w, tw, overlap)
    if len(rows) * len(cols) != t.shape[0]:
        raise ValueError(f"{t.shape[0]} tiles of {th} x {tw} do not make a {h} x {w} image with overlap {overlap} "
                         f"({len(rows) * len(cols)} expected).")
    rest = t.shape[3:]
    if len(shape) > 2 and tuple(int(n) for n in shape[2:]) != rest:
        raise ValueError(f"`shape` {tuple(int(n) for n in shape)} does not end as the tiles do, {rest}.")
    if blend == "mean" and t.dtype.kind not in "biuf":
        raise ValueError(f"blend='mean' averages numbers; the tiles hold {t.dtype}: use blend='centre'.")
    if blend == "centre":
        out = np.empty((h, w, *rest), t.dtype)
        for i, (r, r_lo, r_hi) in enumerate(rows):
            for j, (c, c_lo, c_hi) in enumerate(cols):
                tile = t[i * len(cols) + j]
                out[r_lo:r_hi, c_lo:c_hi] = tile[r_lo - r:r_hi - r, c_lo - c:c_hi - c]
        return out
    total = np.zeros((h, w, *rest), np.float64)
    count = np.zeros((h, w) + (1,) * len(rest), np.float64)
    for i, (r, _, _) in enumerate(rows):
        for j, (c, _, _) in enumerate(cols):
            hh, ww = min(th, h - r), min(tw, w - c)
            total[r:r + hh, c:c + ww] += t[i * len(cols) + j, :hh, :ww]
            count[r:r + hh, c:c + ww] += 1
    return total / count
