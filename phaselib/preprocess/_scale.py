"""Counts from a map whose values are counts times a factor (normalised by a live time, scaled, converted).

Every count-based step of phaselib (the Poisson-weighted PCA's noise line, the merge and split tests, the
spatial prior, the mixed-pixel test) assumes that a value of 1 is one X-ray. A map saved as counts divided
by a live time, or multiplied by a gain, breaks that silently: on a synthetic rock at 200 counts/px, the
values times 37.3 gave 7 phases for 8 (ARI 0.96 -> 0.55). :func:`count_scale` finds the factor and
:func:`as_counts` divides it out:

- ``"counts"``: the values are whole numbers (or hold no positive value): counts as they are, factor 1;
- ``"quantum"``: every positive value is a whole multiple of one quantum (the smallest positive value, or a
  whole fraction of it): counts times that quantum, recovered exactly;
- ``"pixel quantum"``: each pixel's values are whole multiples of its own smallest one (counts times a gain or a
  live time of each pixel): each pixel divided by it, counts recovered exactly (a pixel's own smallest count is
  taken as 1, or as 2 .. MAX_DIVISOR where that makes its values whole; ``factor`` is the sampled pixels' median
  quantum, for the record);
- ``"dispersion"``: fractional values with no common quantum (a live time per pixel, a smoothed or
  resampled map): the factor that makes neighbouring pixels differ as Poisson counts do, the median over
  pairs of horizontally adjacent pixels of ``sum((a - b)**2) / sum(a + b)`` (for counts ``x = f N``
  of one phase its expectation is ``f``; pairs across a boundary differ more, and are under half the pairs).
  An estimate: the data are then mapped as approximate counts (``x / f``, floats).

Maps with negative or missing values are left as they are (``"not counts"``). Intensity cubes
(transmission...) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: rows and columns (per row) of the map sampled to find the factor; row chunks of a dask map read for them
SAMPLE_ROWS, SAMPLE_COLS, SAMPLE_CHUNKS = 16, 128, 4
#: a quantum is tried as the smallest positive value divided by 1 .. MAX_DIVISOR (at high counts no value
#: may be a single count)
MAX_DIVISOR = 8
#: fewer positive values than this in the sample: too few to tell a quantum from chance
MIN_VALUES = 200
#: a quantum is refused when a value would be more than this many counts in one channel of one pixel
MAX_COUNT = 100_000
#: a quantum per pixel (a gain or a live time of each pixel) when this share of the sampled pixels holding at
#: least MIN_PIXEL_VALUES positive values are whole multiples of their own smallest one
PIXEL_SHARE, MIN_PIXEL_VALUES = 0.95, 3


@dataclass(frozen=True)
class CountScale:
    """How a map's values relate to counts: ``values = factor * counts``.

    Attributes
    ----------
    factor : float
        What one count is in the map's units (1: the values are counts).
    how : {"counts", "quantum", "pixel quantum", "dispersion", "not counts"}
        How the factor was found (see the module's text).
    """

    factor: float
    how: str

    @property
    def scaled(self) -> bool:
        """True when the values are divided before mapping (by :attr:`factor`, or each pixel by its own quantum)."""
        return self.how in ("quantum", "dispersion", "pixel quantum")

    def describe(self) -> str:
        """One sentence for summary.json, the CLI and the dashboard ("" when the values are counts)."""
        if self.how == "quantum":
            return (f"every value is a whole multiple of {self.factor:.6g} (counts scaled, e.g. by a live time "
                    f"or a gain): mapped as counts = values / {self.factor:.6g}")
        if self.how == "pixel quantum":
            return (f"each pixel's values are whole multiples of its own quantum (counts times a gain or a live time "
                    f"of each pixel, median {self.factor:.4g}): mapped as counts = each pixel / its quantum")
        if self.how == "dispersion":
            return (f"the values are not whole numbers and share no quantum; neighbouring pixels differ as counts "
                    f"times {self.factor:.4g} would: mapped as approximate counts = values / {self.factor:.4g}")
        if self.how == "not counts":
            return "the map holds negative or missing values: not counts, mapped as they are"
        return ""

    def as_dict(self) -> dict:
        return dict(factor=float(self.factor), how=self.how, note=self.describe())


def _sample_rows(data, dtype=np.float64):
    """(rows, columns, C): up to SAMPLE_ROWS rows spread over the map, each at most SAMPLE_COLS columns spread
    over it, in adjacent pairs (:func:`_dispersion`'s neighbours). A dask map gives rows of at most
    SAMPLE_CHUNKS of its row chunks, read in one pass (a chunk of a big ``.zspy`` is ~100 MB)."""
    h, w = int(data.shape[0]), int(data.shape[1])
    rows = np.unique(np.linspace(0, h - 1, min(h, SAMPLE_ROWS)).astype(int))
    starts = np.unique(np.linspace(0, max(w - 2, 0), min(max(w - 1, 1), SAMPLE_COLS // 2)).astype(int))
    cols = np.unique(np.concatenate([starts, np.minimum(starts + 1, w - 1)]))
    chunks = getattr(data, "chunks", None)
    if chunks is None or not isinstance(chunks[0], tuple):  # an array (or memory map): rows as they are
        return np.stack([np.asarray(data[r][cols], dtype=dtype) for r in rows]), cols
    import dask

    edges = np.cumsum((0,) + chunks[0])
    picked = np.unique(np.linspace(0, len(chunks[0]) - 1, min(len(chunks[0]), SAMPLE_CHUNKS)).astype(int))
    per = max(1, SAMPLE_ROWS // len(picked))
    rows = np.concatenate([np.unique(np.linspace(edges[i], edges[i + 1] - 1, min(per, edges[i + 1] - edges[i]))
                                     .astype(int)) for i in picked])
    return np.stack(dask.compute(*[data[int(r)][cols] for r in rows])).astype(dtype, copy=False), cols


def _quantum(values):
    """The largest ``q`` (the smallest value over 1 .. MAX_DIVISOR) of which every value is a whole
    multiple, or None."""
    low, high = float(values.min()), float(values.max())
    if high == low:  # one value everywhere: no counts to tell a quantum by
        return None
    for k in range(1, MAX_DIVISOR + 1):
        q = low / k
        if high / q > MAX_COUNT:  # a tiny smallest value (noise, not a quantum): every value would pass
            return None
        r = values / q
        if np.all(np.abs(r - np.round(r)) <= 1e-3 + 1e-6 * r):  # float32 keeps ~7 digits
            return q
    return None


def _dispersion(sample, cols):
    """Median over pairs of adjacent pixels of ``sum((a - b)**2) / sum(a + b)`` (NaN without pairs)."""
    pair = np.flatnonzero(np.diff(cols) == 1)
    a, b = sample[:, pair], sample[:, pair + 1]
    total = (a + b).sum(-1)
    ok = total > 0
    if not ok.any():
        return float("nan")
    return float(np.median(((a - b) ** 2).sum(-1)[ok] / total[ok]))


def _quanta(b):
    """Each pixel's quantum, (h, w, 1): its smallest positive value divided by the smallest k in 1 ..
    MAX_DIVISOR that makes every value a whole multiple (a pixel whose smallest count is 2 or 3 is not halved);
    k = 1 where none does; inf for a pixel that holds nothing."""
    low = np.where(b > 0, b, np.inf).min(-1, keepdims=True)
    q = low.copy()
    todo = np.isfinite(low[..., 0])
    for k in range(1, MAX_DIVISOR + 1):
        if not todo.any():
            break
        r = b[todo] * (k / low[todo])
        ok = np.all(np.abs(r - np.round(r)) <= 1e-3 + 1e-6 * r, -1)
        where = np.flatnonzero(todo.ravel())[ok]
        q.reshape(-1)[where] = low.reshape(-1)[where] / k
        todo.reshape(-1)[where] = False
    return q


def _per_pixel(block):
    """Each pixel of an (h, w, C) block divided by its own quantum (:func:`_quanta`; a pixel that holds nothing
    stays 0); float32."""
    b = np.asarray(block, np.float32)
    q = _quanta(b)
    return np.where(np.isfinite(q), b / np.where(np.isfinite(q), q, 1), 0).astype(np.float32)


def _pixel_quanta(sample) -> bool:
    """Whether the sampled pixels' values are each pixel's own quantum times whole numbers (counts times a gain
    or a live time of each pixel): true for at least PIXEL_SHARE of the pixels with MIN_PIXEL_VALUES positive
    values or more."""
    px = sample.reshape(-1, sample.shape[-1])
    px = px[(px > 0).sum(1) >= MIN_PIXEL_VALUES]
    if len(px) < 20:
        return False
    r = _per_pixel(px[:, None, :])[:, 0]
    ok = np.abs(r - np.round(r)) <= 1e-3 + 1e-6 * r
    return bool(np.mean(ok.all(1) & (r.max(1) <= MAX_COUNT)) >= PIXEL_SHARE)


def count_scale(data) -> CountScale:
    """How the values of an ``(H, W, C)`` map (array or dask array) relate to counts (see the module's text).

    Reads :data:`SAMPLE_ROWS` rows of :data:`SAMPLE_COLS` columns.
    """
    if data.dtype.kind in "iub":
        return CountScale(1.0, "counts")  # an integer map: counts, unless every value is a multiple
    sample, cols = _sample_rows(data)
    if not np.isfinite(sample).all() or (sample < 0).any():
        return CountScale(1.0, "not counts")
    values = sample[sample > 0]
    whole = bool(np.all(values == np.round(values)))
    if values.size < MIN_VALUES:
        return CountScale(1.0, "counts" if whole else "not counts")
    q = _quantum(values)
    if q is not None and (not whole or q != 1.0):
        return CountScale(q, "quantum") if abs(q - 1.0) > 1e-9 else CountScale(1.0, "counts")
    if whole:
        return CountScale(1.0, "counts")
    if _pixel_quanta(sample):  # factor: the sampled pixels' median quantum, for the record
        q = _quanta(sample.astype(np.float32))
        return CountScale(float(np.median(q[np.isfinite(q)])), "pixel quantum")
    f = _dispersion(sample, cols)
    if not np.isfinite(f) or f <= 0:
        return CountScale(1.0, "not counts")
    return CountScale(f, "dispersion")


def integer_scale(data) -> CountScale:
    """:func:`count_scale` for integer maps too: whole numbers all multiples of one integer over 1 (a map
    multiplied by a gain) are found as well."""
    sample, _ = _sample_rows(data, data.dtype)  # whole numbers as they are (a float64 would round 2**63 + 1)
    values = sample[sample > 0]
    if values.size < MIN_VALUES or values.max() == values.min():
        return CountScale(1.0, "counts")
    q = float(np.gcd.reduce(values))
    return CountScale(q, "quantum") if q > 1 else CountScale(1.0, "counts")


def as_counts(image):
    """``(image, CountScale)``: the map with its values divided by the factor of :func:`count_scale`
    (a new :class:`~phaselib.SpectrumImage`; the input is not modified; a dask map stays lazy).

    A quantum gives whole counts (``uint16``, or ``uint32`` where a value needs it); a dispersion estimate
    float32 counts. Intensity cubes and maps already in counts come back as they are.
    """
    if not image.is_counts:
        return image, CountScale(1.0, "not counts")
    data = image.data
    kind = data.dtype.kind
    scale = integer_scale(data) if kind in "iu" else count_scale(data) if kind == "f" else CountScale(1.0, "counts")
    if not scale.scaled:
        return image, scale
    if kind in "iu":  # whole multiples of an integer: the dtype is kept
        return image.replace(data=data // data.dtype.type(scale.factor)), scale
    if scale.how == "pixel quantum":  # each pixel by its own quantum, block by block (a dask map stays lazy)
        out = data.map_blocks(_per_pixel, dtype=np.float32) if image.is_lazy else _per_pixel(data)
        return image.replace(data=np.rint(out) if not image.is_lazy else out.round()), scale
    out = data / np.float32(scale.factor)  # float32 stays float32 (one copy of the map)
    if scale.how == "quantum":  # values >= 0: + 0.5 rounds; a lazy map is not read twice for its maximum
        top = np.inf if image.is_lazy else float(out.max())
        out = (out + 0.5).astype(np.uint16 if top < 65535 else np.uint32)
    else:
        out = out.astype(np.float32, copy=False)
    return image.replace(data=out), scale
