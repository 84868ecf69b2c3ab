"""Preprocessing of spectrum images: crop, binning, energy window, calibration, weights.

Every function takes a :class:`~phaselib._image.SpectrumImage` and returns a new one (or plain
arrays); the input is never modified. Integer counts stay integer, and a dask map stays lazy.
"""

from __future__ import annotations

import math

import numpy as np

from ._blocks import BLOCK_BYTES, iter_row_blocks
from ._image import SpectrumImage

__all__ = [
    "EnergyCalibration", "apply_calibration", "bin_energy", "bin_spatial", "calibrate_energy",
    "crop", "energy_window", "energy_window_slice", "poisson_weights",
    "tilt_corrected_pixel_size", "with_pixel_size",
]

def _check_image(image):
    if not isinstance(image, SpectrumImage):
        raise TypeError(f"Expected a SpectrumImage, got {type(image).__name__}.")


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, complex))


def _positive(value, name) -> float:
    if not _is_number(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    return float(value)


def _positive_int(value, name) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


# ------------------------------------------------------------------------------------ crop
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
        raise ValueError(f"`{name}` bounds must be integers, got {arg!r}.")
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
    _check_image(image)
    h, w, _ = image.shape
    return image.replace(data=image.data[_as_slice(rows, h, "rows", image.shape),
                                         _as_slice(cols, w, "cols", image.shape), :])


# --------------------------------------------------------------------------------- binning
def _sum_dtype(dtype, n_summed):
    """A dtype wide enough for sums of ``n_summed`` values of ``dtype`` (uint32 at least)."""
    dtype = np.dtype(np.uint8 if np.dtype(dtype).kind == "b" else dtype)
    if dtype.kind not in "ui":
        return dtype
    top = int(np.iinfo(dtype).max) * n_summed
    wide = (np.uint32, np.uint64) if dtype.kind == "u" else (np.int32, np.int64)
    return np.dtype(wide[0] if np.iinfo(wide[0]).max >= top else wide[1])


def _block_sum(data, fy, fx, fc):
    """Sum the ``(fy, fx, fc)`` blocks of ``data`` (H, W, C), dropping the remainder."""
    h, w, c = (n // f for n, f in zip(data.shape, (fy, fx, fc)))
    dtype = _sum_dtype(data.dtype, fy * fx * fc)
    trimmed = data[: h * fy, : w * fx, : c * fc]
    if _is_dask(data):
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
    _check_image(image)
    pair = tuple(factor) if isinstance(factor, (tuple, list)) else (factor, factor)
    if len(pair) != 2:
        raise ValueError(f"`factor` must be an integer or a (fy, fx) pair, got {factor!r}.")
    fy, fx = (_positive_int(f, "factor") for f in pair)
    if fy > image.shape[0] or fx > image.shape[1]:
        raise ValueError(f"`factor` {(fy, fx)} is larger than the map of shape "
                         f"{image.shape[:2]} (H, W).")
    px, py = image.pixel_size, image.pixel_size_y
    if py is None and fy != fx:
        py = px  # square pixels become rectangular
    return image.replace(data=_block_sum(image.data, fy, fx, 1),
                         pixel_size=None if px is None else px * fx,
                         pixel_size_y=None if py is None else py * fy)


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
    _check_image(image)
    f = _positive_int(factor, "factor")
    if f > image.n_channels:
        raise ValueError(f"`factor` {f} is larger than the {image.n_channels} channels.")
    return image.replace(data=_block_sum(image.data, 1, 1, f),
                         energy_offset=image.energy_offset + image.energy_scale * (f - 1) / 2,
                         energy_scale=image.energy_scale * f)


# --------------------------------------------------------------------------- energy window
def energy_window_slice(energy_offset, energy_scale, n_channels, low=None, high=None):
    """The channels ``i`` whose energy ``offset + scale * i`` lies in ``low <= E <= high``.

    Parameters
    ----------
    energy_offset, energy_scale : float
        Energy axis, in keV.
    n_channels : int
        Number of channels ``C``.
    low, high : float or None
        Window in keV; ``None`` means the bottom / top of the axis.

    Returns
    -------
    slice
        ``slice(start, stop)`` with ``0 <= start < stop <= C``.

    Raises
    ------
    ValueError
        If the axis is invalid, ``low >= high``, or no channel lies in the window.
    """
    scale, n = _positive(energy_scale, "energy_scale"), _positive_int(n_channels, "n_channels")
    if not _is_number(energy_offset) or not np.isfinite(energy_offset):
        raise ValueError(f"`energy_offset` must be a finite number, got {energy_offset!r}.")
    top = energy_offset + scale * (n - 1)
    low, high = energy_offset if low is None else low, top if high is None else high
    if not (_is_number(low) and _is_number(high) and np.isfinite([low, high]).all()) \
            or low >= high:
        raise ValueError(f"The energy window needs numbers low < high, got {low!r}, {high!r}.")
    eps = 1e-6  # a channel within a millionth of a channel of a bound counts as inside
    start = max(0, math.ceil((low - energy_offset) / scale - eps))
    stop = min(n, math.floor((high - energy_offset) / scale + eps) + 1)
    if start >= stop:
        raise ValueError(f"No channel lies between {low:g} and {high:g} keV; the energy axis "
                         f"covers {energy_offset:.3f}..{top:.3f} keV.")
    return slice(start, stop)


def energy_window(image, low=0.1, high=None):
    """Keep the channels with ``low <= E <= high`` (keV).

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    low : float or None
        Lowest energy kept (default 0.1 keV drops the zero-energy noise peak); ``None``: none.
    high : float or None
        Highest energy kept; ``None``: the beam energy if known, else the top of the axis.

    Returns
    -------
    SpectrumImage
        Map of shape ``(H, W, C')`` (a view of numpy data) whose ``energy_offset`` is the
        energy of the first channel kept.

    Raises
    ------
    ValueError
        As :func:`energy_window_slice`.
    """
    _check_image(image)
    if high is None and image.beam_energy:
        high = float(image.beam_energy)
    sl = energy_window_slice(image.energy_offset, image.energy_scale, image.n_channels, low, high)
    return image.replace(data=image.data[:, :, sl],
                         energy_offset=image.energy_offset + image.energy_scale * sl.start)


# ------------------------------------------------------------------------ poisson weights
def _row_block_sums(image, block_rows=None, progress=None):
    """(pixel sums, channel sums, minimum count) of a map, one block of rows at a time."""
    h, w, c = image.shape
    if block_rows is not None:
        _positive_int(block_rows, "block_rows")
    pixel_sums, channel_sums, minimum = np.zeros((h, w)), np.zeros(c), 0.0
    signed = np.dtype(image.data.dtype).kind not in "ub"  # unsigned counts cannot be < 0
    for r0, r1, blk in iter_row_blocks(image.data, block_rows):  # dask: one block computed
        pixel_sums[r0:r1] = blk.sum(axis=2, dtype=np.float64)
        channel_sums += blk.sum(axis=(0, 1), dtype=np.float64)
        minimum = min(minimum, float(blk.min())) if signed else minimum
        if progress is not None:
            progress(r1, h)
    return pixel_sums, channel_sums, minimum


def poisson_weights(image, *, block_rows=None, progress=None):
    """Pixel and channel count totals for Keenan & Kotula's Poisson-noise scaling.

    HyperSpy's ``normalize_poissonian_noise`` divides the counts by
    ``sqrt(pixel_sums[:, :, None] * channel_sums)``. The totals are accumulated one block of
    rows at a time, so a numpy, memory-mapped or dask map is never loaded or cast whole.

    Parameters
    ----------
    image : SpectrumImage
        Map of shape ``(H, W, C)``.
    block_rows : int or None
        Rows read per step; default about 64 MiB of counts.
    progress : callable or None
        Called as ``progress(rows_done, H)`` after each block.

    Returns
    -------
    pixel_sums : (H, W) ndarray of float64
        Total counts of each pixel.
    channel_sums : (C,) ndarray of float64
        Total counts of each channel (the sum spectrum).

    Raises
    ------
    ValueError
        If `block_rows` is not a positive integer, or a count is NaN, negative or all are zero.
    """
    _check_image(image)
    pixel_sums, channel_sums, minimum = _row_block_sums(image, block_rows, progress)
    if not np.isfinite(channel_sums).all():
        raise ValueError("The map holds NaN or infinite counts.")
    if minimum < 0:
        raise ValueError("The map holds negative counts; Poisson weights need counts >= 0.")
    if not channel_sums.sum() > 0:
        raise ValueError("The map holds no counts (every pixel is zero).")
    return pixel_sums, channel_sums


# --------------------------------------------------------------------------- pixel size
def tilt_corrected_pixel_size(pixel_size, stage_tilt_deg, *, cross_section=True):
    """Pixel size along x and y of a map seen at a stage tilt (tilt axis along x).

    x is not foreshortened. A FIB cross-section face stands perpendicular to the sample
    surface: with the stage tilted by ``t`` the beam meets it ``90 - t`` degrees from its
    normal, so heights on it look shortened by ``cos(90 - t)`` and ``px_y = px_x / cos(90 - t)``
    (``t = 52``: x 1.269; ``t = 90``: face-on, x 1; ``t = 0``: edge-on, invalid). For the
    sample surface (``cross_section=False``) ``px_y = px_x / cos(t)`` (``t = 90`` invalid).

    Parameters
    ----------
    pixel_size : float
        Pixel size along x (any length unit; the result uses the same).
    stage_tilt_deg : float
        Stage tilt, ``0 <= t <= 90`` degrees.
    cross_section : bool
        A cross-section face (default) or the sample surface.

    Returns
    -------
    (float, float)
        ``(px_x, px_y)``, e.g. ``(17.1875, 21.811)`` for 17.1875 nm at 52 degrees.

    Raises
    ------
    ValueError
        If the pixel size is not positive, the tilt is outside 0..90 or the face is edge-on.
    """
    px = _positive(pixel_size, "pixel_size")
    if not _is_number(stage_tilt_deg) or not 0 <= stage_tilt_deg <= 90:
        raise ValueError(f"`stage_tilt_deg` must be between 0 and 90 degrees, got "
                         f"{stage_tilt_deg!r}.")
    angle = 90.0 - stage_tilt_deg if cross_section else float(stage_tilt_deg)
    if angle == 90.0:
        raise ValueError(f"At a tilt of {stage_tilt_deg:g} degrees the "
                         f"{'cross-section' if cross_section else 'surface'} is seen edge-on; "
                         "its y size cannot be corrected.")
    return px, px / (1.0 if angle == 0.0 else math.cos(math.radians(angle)))


def with_pixel_size(image, pixel_size, pixel_size_y=None):
    """A new SpectrumImage with pixel size ``pixel_size`` (x) and ``pixel_size_y`` (y; default:
    square pixels), in micrometres. ``with_pixel_size(img, *tilt_corrected_pixel_size(...))``.

    Raises
    ------
    ValueError
        If a size is not a positive number.
    """
    _check_image(image)
    py = None if pixel_size_y is None else _positive(pixel_size_y, "pixel_size_y")
    return image.replace(pixel_size=_positive(pixel_size, "pixel_size"), pixel_size_y=py)


from ._calibration import EnergyCalibration, apply_calibration, calibrate_energy  # noqa: E402
