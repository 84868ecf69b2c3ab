"""Crop and bin a spectrum image (spatially or along energy); integer counts stay integer, dask stays lazy."""

from __future__ import annotations

import numpy as np

from .._stream import BLOCK_BYTES
from .._validate import check_image, check_int


def _as_slice(arg, n, name, shape):
    if arg is None:
        return slice(0, n)
    if isinstance(arg, slice) and arg.step not in (None, 1):
        raise ValueError(f"`{name}` must have step 1 (use bin_spatial to reduce the map).")
    if not (isinstance(arg, slice) or isinstance(arg, (tuple, list)) and len(arg) == 2):
        raise ValueError(f"`{name}` must be a slice or a (start, stop) pair, got {arg!r}.")
    start, stop = (arg.start, arg.stop) if isinstance(arg, slice) else arg
    start, stop = 0 if start is None else start, n if stop is None else stop
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, stop)):
        raise TypeError(f"`{name}` bounds must be integers, got {arg!r}.")
    start, stop = (int(v) + n if v < 0 else int(v) for v in (start, stop))
    if not 0 <= start < stop <= n:
        raise ValueError(f"`{name}` {arg!r} is empty or outside the map of shape {shape[:2]} "
                         f"(H, W): {name} run from 0 to {n}.")
    return slice(start, stop)


def crop(image, rows=None, cols=None):
    """Keep a rectangle of the map: ``crop(img, rows=(0, 200), cols=(500, 800))`` is
    ``data[0:200, 500:800, :]``.

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    rows, cols : slice or (start, stop) or None
        Rows (y) and columns (x) to keep; ``None`` keeps all; negative bounds count from the end.

    Returns
    -------
    SpectrumImage
        Map of shape ``(n_rows, n_cols, C)``, same calibration; numpy data are a view.

    Raises
    ------
    ValueError
        If a crop is empty, out of range, has a step, or is not a slice or integer pair.
    """
    check_image(image)
    h, w, _ = image.shape
    rs, cs = _as_slice(rows, h, "rows", image.shape), _as_slice(cols, w, "cols", image.shape)
    out = image.replace(data=image.data[rs, cs, :])
    return _navigation(out, image, lambda ax, i: dict(ax, offset=ax["offset"] + (cs, rs)[i].start * ax["scale"]))


def _navigation(new, old, change):
    """``new`` with the HyperSpy navigation axes kept from ``old`` (x first, then y) moved by ``change(axis,
    index)`` and sized to ``new``: a crop's offset, a binning's step (they were lost: offsets read 0)."""
    md = dict(old.metadata or {})
    kept = md.get("hyperspy_axes")
    h, w = old.shape[:2]
    if not kept or [a["size"] for a in kept] != ([w, h] if len(kept) == 2 else [w]):
        return new
    sizes = (new.shape[1], new.shape[0])
    md["hyperspy_axes"] = [dict(change(dict(a), i), size=sizes[i]) for i, a in enumerate(kept)]
    return new.replace(metadata=md)


# --------------------------------------------------------------------------------- binning
def _sum_dtype(dtype, n_summed):
    """A dtype wide enough for sums of ``n_summed`` values of ``dtype`` (uint32 at least)."""
    dtype = np.dtype(np.uint8 if np.dtype(dtype).kind == "b" else dtype).newbyteorder("=")  # a ufunc's dtype is
    if dtype.kind not in "ui":  # native: the big-endian float32 of a FITS cube was refused by np.sum
        return dtype
    top = int(np.iinfo(dtype).max) * n_summed
    wide = (np.uint32, np.uint64) if dtype.kind == "u" else (np.int32, np.int64)
    return np.dtype(wide[0] if np.iinfo(wide[0]).max >= top else wide[1])


def _block_sum(data, fy, fx, fc):
    """Sum the ``(fy, fx, fc)`` blocks of ``data`` (H, W, C), dropping the remainder."""
    h, w, c = (n // f for n, f in zip(data.shape, (fy, fx, fc)))
    dtype = _sum_dtype(data.dtype, fy * fx * fc)
    trimmed = data[: h * fy, : w * fx, : c * fc]
    if type(data).__module__.startswith("dask"):
        import dask.array as da

        return da.coarsen(np.sum, trimmed, {0: fy, 1: fx, 2: fc}, dtype=dtype)
    out = np.empty((h, w, c), dtype=dtype)
    step = max(1, BLOCK_BYTES // (fy * w * fx * c * fc * data.dtype.itemsize))  # output rows
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        blk = np.asarray(trimmed[r0 * fy: r1 * fy])
        if fc == 1:
            out[r0:r1] = blk.reshape(r1 - r0, fy, w, fx, c).sum(axis=(1, 3), dtype=dtype)
            continue
        blk = blk.reshape(r1 - r0, fy, w, fx, c * fc).sum(axis=(1, 3), dtype=dtype) \
            if fy * fx > 1 else blk
        out[r0:r1] = blk[..., 0::fc]  # strided adds beat a sum over a short last axis
        for k in range(1, fc):
            out[r0:r1] += blk[..., k::fc]
    return out


def bin_spatial(image, factor):
    """Sum the spectra of ``factor x factor`` pixel blocks.

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    factor : int or (int, int)
        Block size, the same along y and x, or ``(fy, fx)``.

    Returns
    -------
    SpectrumImage
        Map of shape ``(H // fy, W // fx, C)`` (left-over rows and columns are dropped), pixel
        size multiplied by the factor. Integer counts are summed in an integer dtype that
        cannot overflow (``uint32`` for ``uint8``/``uint16`` counts).

    Raises
    ------
    ValueError
        If a factor is not a positive integer or is larger than the map.
    """
    check_image(image)
    pair = tuple(factor) if isinstance(factor, (tuple, list)) else (factor, factor)
    if len(pair) != 2:
        raise ValueError(f"`factor` must be an integer or a (fy, fx) pair, got {factor!r}.")
    fy, fx = (check_int(f, "factor") for f in pair)
    if fy > image.shape[0] or fx > image.shape[1]:
        raise ValueError(f"`factor` {(fy, fx)} is larger than the map of shape "
                         f"{image.shape[:2]} (H, W).")
    px, py = image.pixel_size, image.pixel_size_y
    if py is None and fy != fx:
        py = px  # square pixels become rectangular
    out = image.replace(data=_block_sum(image.data, fy, fx, 1), pixel_size=None if px is None else px * fx,
                        pixel_size_y=None if py is None else py * fy)
    return _navigation(out, image, lambda ax, i: dict(ax, scale=ax["scale"] * (fx, fy)[i]))


def bin_energy(image, factor):
    """Sum groups of ``factor`` neighbouring channels.

    Channel ``i`` of the result holds old channels ``i*factor .. i*factor + factor - 1`` and
    sits at the mean of their energies: ``scale' = scale * factor``,
    ``offset' = offset + scale * (factor - 1) / 2``. Left-over top channels are dropped.

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    factor : int
        Channels summed, ``1 <= factor <= C``.

    Returns
    -------
    SpectrumImage
        Map of shape ``(H, W, C // factor)``; integer counts in a dtype that cannot overflow.

    Raises
    ------
    ValueError
        If `factor` is not a positive integer or is larger than ``C``.
    """
    check_image(image)
    f = check_int(factor, "factor")
    if f > image.n_channels:
        raise ValueError(f"`factor` {f} is larger than the {image.n_channels} channels.")
    return image.replace(data=_block_sum(image.data, 1, 1, f),
                         energy_offset=image.energy_offset + image.energy_scale * (f - 1) / 2,
                         energy_scale=image.energy_scale * f)
