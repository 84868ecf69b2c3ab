"""Phase spectra (summed in row blocks, or corrected from the pixels that changed) and modal fractions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._image import SpectrumImage
from .._stream import NOT_FINITE, map_row_blocks
from .._validate import MAX_PHASES, check_image, check_int, check_number


@dataclass(frozen=True, eq=False)
class PhaseSpectra:
    """Summed spectra of the pixels of each phase.

    Attributes
    ----------
    sums : (K, C) ndarray of float64
    n_pixels : (K,) ndarray of int
    energy_keV : (C,) ndarray
    total : (C,) ndarray of float64
        Sum spectrum of the whole map (unassigned pixels included).
    """

    sums: np.ndarray
    n_pixels: np.ndarray
    energy_keV: np.ndarray
    total: np.ndarray | None = None

    @property
    def means(self) -> np.ndarray:
        """(K, C) mean spectrum per pixel of each phase (zeros for empty phases)."""
        n = np.maximum(self.n_pixels, 1)[:, None]
        return self.sums / n


def _check_labels(image, labels):
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2]:
        raise ValueError(
            f"`labels` (shape {labels.shape}) must have the map's shape {image.shape[:2]}."
        )
    return _phase_labels(labels)


def _phase_labels(labels):
    """``labels`` checked: integers from -1 (unassigned) to ``MAX_PHASES - 1``, at least one pixel."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        raise TypeError(f"`labels` must be integers (phase index, -1 unassigned), got {labels.dtype}.")
    if labels.size == 0:
        raise ValueError("`labels` is empty.")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < -1 or hi >= MAX_PHASES:
        raise ValueError(f"`labels` must be -1 (unassigned) or phases 0..{MAX_PHASES - 1}, got {lo} to {hi}.")
    return labels


def _n_phases(labels, n_phases):
    """The number of phases: ``n_phases``, at least one more than the largest label (default that)."""
    top = int(labels.max()) + 1
    if n_phases is None:
        return max(top, 0)
    k = check_int(n_phases, "n_phases", low=1, high=MAX_PHASES)
    if k < top:
        raise ValueError(f"`labels` holds phase {top - 1}, more than `n_phases` = {k} allows (0..{k - 1}).")
    return k


def phase_spectra(image: SpectrumImage, labels, n_phases=None, *, block_rows=None, client=None,
                  progress=None) -> PhaseSpectra:
    """Sum the spectra of each phase's pixels, one row block at a time.

    Never allocates more than a row block of the map: the seed notebook's
    ``(n_phases, H, W, C)`` array is not needed.

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
        Phase index of each pixel; negative values (unassigned) are skipped.
    n_phases : int, optional
        Default: ``labels.max() + 1``.
    block_rows : int, optional
    client : distributed.Client, optional
        Run the pass on a Dask cluster (default: the active client, else local threads).
    progress : callable, optional

    Returns
    -------
    PhaseSpectra
    """
    from functools import partial

    check_image(image)
    labels = _check_labels(image, labels)
    k = _n_phases(labels, n_phases)
    parts = map_row_blocks(image, partial(_sum_block, n_phases=k), block_rows=block_rows, client=client,
                           per_block=lambda r0, r1: {"labels": labels[r0:r1]}, progress=progress,
                           message="phase spectra")
    sums = np.sum(parts, axis=0)
    n_pixels = np.bincount(labels[labels >= 0].ravel(), minlength=k)[:k]
    if not np.isfinite(sums).all():
        sums = _finite_sums(image, labels, k, n_pixels, block_rows, client)
    return PhaseSpectra(sums[:k], n_pixels, image.energy_keV, sums[k])


def phase_spectra_many(image: SpectrumImage, label_maps, n_phases, *, block_rows=None, client=None):
    """:func:`phase_spectra` of several label maps of one image, on one pass over it (a full map's pass costs
    ~8 s of decompression alone).

    Parameters
    ----------
    image : SpectrumImage
    label_maps : sequence of (H, W) int ndarray
    n_phases : sequence of int or None
        One per label map (None: its ``max() + 1``).
    block_rows : int, optional
    client : distributed.Client, optional

    Returns
    -------
    list of PhaseSpectra
    """
    from functools import partial

    check_image(image)
    maps = [_check_labels(image, labels) for labels in label_maps]
    ks = [_n_phases(labels, k) for labels, k in zip(maps, n_phases)]
    parts = map_row_blocks(image, partial(_sum_blocks, n_phases=ks), block_rows=block_rows, client=client,
                           per_block=lambda r0, r1: {"labels": [m[r0:r1] for m in maps]}, message="phase spectra")
    out = []
    for i, (labels, k) in enumerate(zip(maps, ks)):
        sums = np.sum([p[i] for p in parts], axis=0)
        n_pixels = np.bincount(labels[labels >= 0].ravel(), minlength=k)[:k]
        if not np.isfinite(sums).all():
            sums = _finite_sums(image, labels, k, n_pixels, block_rows, client)
        out.append(PhaseSpectra(sums[:k], n_pixels, image.energy_keV, sums[k]))
    return out


def _sum_blocks(r0, r1, block, *, labels, n_phases):
    """:func:`_sum_block` for each of several label maps of one row block."""
    return [_sum_block(r0, r1, block, labels=lab, n_phases=k) for lab, k in zip(labels, n_phases)]


def _finite_sums(image, labels, k, n_pixels, block_rows, client):
    """(K + 1, C) sums of an intensity map holding NaN or infinity: each channel's mean over its finite values,
    times the pixels of the phase (so :attr:`PhaseSpectra.means` are means of what was measured; 0 where a
    phase has none). Counts cannot be missing: :class:`ValueError` for them."""
    from functools import partial

    if image.is_counts:
        raise ValueError(NOT_FINITE)
    parts = map_row_blocks(image, partial(_finite_block, n_phases=k), block_rows=block_rows, client=client,
                           per_block=lambda r0, r1: {"labels": labels[r0:r1]}, message="phase spectra")
    sums, seen = np.sum(parts, axis=0)
    pixels = np.append(n_pixels, labels.size)[:, None]
    return np.where(seen > 0, sums * pixels / np.maximum(seen, 1), 0.0)


def _finite_block(r0, r1, block, *, labels, n_phases):
    """(2, K + 1, C): sums of the finite values of each phase's pixels (then of all pixels), and their number."""
    flat = np.asarray(block, dtype=np.float64).reshape(-1, block.shape[-1])
    ok = np.isfinite(flat)
    lab = np.where((labels >= 0) & (labels < n_phases), labels, n_phases).reshape(-1)
    out = np.zeros((2, n_phases + 1, flat.shape[1]))
    for p in np.unique(lab):
        at = lab == p
        out[0, p], out[1, p] = np.where(ok[at], flat[at], 0.0).sum(0), ok[at].sum(0)
    out[:, n_phases] += out[:, :n_phases].sum(1)
    return out


#: pixels are summed this many bytes at a time (a phase's pixels are copied before summing: a whole
#: full-map block's would be tens of MB per worker)
SUM_PIECE_BYTES = 8 << 20


def _sum_block(r0, r1, block, *, labels, n_phases):
    """(K + 1, C) float64 sums of each phase's pixels in one row block, then of all its pixels.

    Integer counts are summed exactly: unsigned ones in uint32 where no sum can overflow it (pieces
    of up to 65 537 pixels of 16-bit counts; ~30 % faster than uint64), else in uint64; signed
    ones in int64. The block's total
    is the phases' sums plus the other pixels' (one pass over the block, not two).
    """
    c = block.shape[-1]
    sums = np.zeros((n_phases + 1, c), np.float64)
    lab = labels.reshape(-1)
    flat = block.reshape(-1, c)
    inside = (lab >= 0) & (lab < n_phases)

    def total(rows):
        if flat.dtype.kind == "u":
            small = len(rows) * float(np.iinfo(flat.dtype).max) < 2.0 ** 32
            return rows.sum(axis=0, dtype=np.uint32 if small else np.uint64)
        return rows.sum(axis=0, dtype=np.int64 if flat.dtype.kind in "ib" else np.float64)

    step = max(1, SUM_PIECE_BYTES // max(flat.strides[0], 1))
    for s in range(0, len(lab), step):
        part, at = lab[s:s + step], inside[s:s + step]
        for p in np.unique(part[at]):
            sums[p] += total(flat[s:s + step][part == p])
        if not at.all():
            sums[n_phases] += total(flat[s:s + step][~at])
    sums[n_phases] += sums[:n_phases].sum(axis=0)
    return sums


def update_phase_spectra(image: SpectrumImage, spectra: PhaseSpectra, old_labels, labels, *,
                         max_changed=0.25) -> PhaseSpectra | None:
    """Phase sums of ``labels`` from those of ``old_labels``, reading only the pixels that changed.

    A threshold or minimum-size change moves a few pixels between phases: correcting the
    previous sums for them gives the same sums as :func:`phase_spectra` (exactly, for integer
    counts) at a fraction of a full pass.

    Parameters
    ----------
    image : SpectrumImage
        The map both label maps belong to (in memory).
    spectra : PhaseSpectra
        ``phase_spectra(image, old_labels, K)``.
    old_labels, labels : (H, W) int ndarray
        Phase index of each pixel before and after (-1 unassigned), with phases ``0..K-1``.
    max_changed : float
        Above this share of changed pixels, None is returned (a full pass is then cheaper).

    Returns
    -------
    PhaseSpectra or None
        None when the shapes or the number of phases differ, too many pixels changed, or the changed
        pixels hold NaN (a full :func:`phase_spectra` pass then takes means of the finite values).
    """
    check_image(image)
    if not isinstance(spectra, PhaseSpectra):
        raise TypeError(f"`spectra` must be the PhaseSpectra of old_labels, got {type(spectra).__name__}.")
    max_changed = check_number(max_changed, "max_changed", low=0, high=1)
    old, new = (_check_labels(image, x) for x in (old_labels, labels))
    k = spectra.sums.shape[0]
    if new.size and max(int(old.max()), int(new.max())) >= k:
        return None
    changed = old != new
    if changed.mean() > max_changed:
        return None
    sums, n = spectra.sums.copy(), spectra.n_pixels.copy()
    if changed.any():
        data = np.asarray(image.data)[changed].astype(np.float64)  # (m, C) changed pixels
        for lab, sign in ((old[changed], -1.0), (new[changed], 1.0)):
            onehot = np.zeros((k, lab.size))
            ok = lab >= 0
            onehot[lab[ok], np.flatnonzero(ok)] = sign
            sums += onehot @ data
            n = n + np.rint(onehot.sum(1)).astype(np.int64)
    if not np.isfinite(sums).all():
        return None  # missing values in the changed pixels: a full pass takes means of what was measured
    return PhaseSpectra(sums, n, spectra.energy_keV, spectra.total)


def modal_fractions(labels, n_phases=None, *, blank=None):
    """Area fraction of each phase, and of unassigned pixels.

    Parameters
    ----------
    labels : (H, W) int array_like
        Phase of each pixel, -1 unassigned.
    n_phases : int, optional
    blank : (H, W) bool array_like, optional
        Pixels that hold no data (:func:`phaselib.preprocess.blank_pixels`): not part of the specimen's area.

    Returns
    -------
    fractions : (K,) ndarray
        Share of the pixels that hold data (all pixels without ``blank``; ``fractions.sum() + unassigned == 1``).
    unassigned : float
    """
    labels = _phase_labels(labels)
    k = _n_phases(labels, n_phases)
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=k)[:k]
    n_blank = 0 if blank is None else int(np.count_nonzero(np.asarray(blank) & (labels < 0)))
    n_data = max(labels.size - n_blank, 1)
    return counts / n_data, float((np.count_nonzero(labels < 0) - n_blank) / n_data)
