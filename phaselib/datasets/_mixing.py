"""Pixels whose expected spectrum is a mixture (zoned grains, beam spread); the new options.

Private helpers of :mod:`phaselib.datasets`. A pixel's expected spectrum is a weighted sum of
*components*: the K phase spectra, then one rim spectrum per zoned phase. Zoning moves the
weight of a zoned phase from its core spectrum to its rim spectrum towards the grain edge;
the beam spread blurs every component's weight map with a Gaussian (the electron
interaction volume). Counts are drawn as in :func:`_minerals.fill_rows`, each count first
picking its component by the pixel's weights, with the same random stream per row, so
:func:`make_rock` and :func:`write_rock` still agree whatever the block size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label as _label

import phaselib.datasets._detector as _detector
import phaselib.datasets._minerals as _minerals

from .._validate import check_number

_ROWS = 64  # rows of weights held at a time
_TRUNCATE = 4.0  # the Gaussian of the beam spread is cut at 4 sigma

OPTIONS_DOC = """
    zoning : float
        In [0, 1]: strength of the core-to-rim zoning of the minerals that have a rim
        composition (:data:`RIMS`: plagioclase, labradorite and andesine to more sodic rims,
        olivine Fo90 to Fo75, augite to a Fe-richer rim). A pixel's spectrum is
        ``(1 - x) core + x rim`` with ``x = zoning * (1 - d / d_max)``, ``d`` its distance to
        the edge of its grain and ``d_max`` the largest in that grain (an inclusion is an
        edge of its host). The labels stay the phase; ``phase_spectra`` are the cores.
    beam_spread : float
        Standard deviation (pixels, 0 to 5) of the Gaussian electron interaction volume: a
        pixel's expected spectrum mixes its neighbours' spectra with these weights (about
        21 % of the neighbour's spectrum on either side of a straight boundary at 0.7 px).
        The labels stay each pixel's own phase.
    glass : str, optional
        The name of one of ``minerals`` (e.g. ``"basaltic glass"``) that forms the
        groundmass as a homogeneous glass, with its target fraction (``matrix_fraction`` is
        not used): the other minerals are crystals in it, the glass taking the margins of
        the major ones (films of varying thickness, pools at junctions, some crystals still
        touching); no grains inside the glass (each connected pool is one grain); the
        accessories and inclusions keep their size.
    escape_peaks : float, optional
        Share (0 to 0.1) of the counts just above the Si K edge (1.839 keV) that lose a Si Ka
        photon and are recorded 1.740 keV lower, falling as ``1.839 / E`` above it.
        Default 0, or 0.015 with ``detector_artefacts``.
    sum_peaks : float, optional
        Share (0 to 0.1) of the events that are two photons piled up into one: a line with a
        share ``f`` of the counts gets a sum peak at twice its energy with ``sum_peaks * f**2``
        of them. Default 0, or 0.005 with ``detector_artefacts``.
    detector_artefacts : bool
        Typical escape and sum peaks (the Kramers background with its absorption edges and
        the detector efficiency is always there).
    exact_fractions : bool
        Phases under 1 % get their target area within a few pixels (see
        :func:`make_texture`); off by default, which keeps the maps made before.
    texture : (labels, grain_ids), optional
        A texture to use instead of :func:`make_texture`'s (e.g. from another generator):
        two ``(H, W)`` integer arrays, phases ``0..K-1`` and grain ids >= 1."""


def check_options(comps, shape, *, zoning, beam_spread, glass, escape_peaks,
                  sum_peaks, detector_artefacts, texture):
    """The new options, validated: a dict of plain values (and the texture arrays)."""
    zoning = check_number(zoning, "zoning", low=0, high=1)
    beam_spread = check_number(beam_spread, "beam_spread", low=0, high=5)
    if not isinstance(detector_artefacts, (bool, np.bool_)):
        raise TypeError(f"`detector_artefacts` must be True or False, got {detector_artefacts!r}.")
    esc = _detector.ESCAPE_TYPICAL if detector_artefacts else 0.0
    pile = _detector.SUM_TYPICAL if detector_artefacts else 0.0
    esc = check_number(esc if escape_peaks is None else escape_peaks, "escape_peaks", low=0, high=0.1)
    pile = check_number(pile if sum_peaks is None else sum_peaks, "sum_peaks", low=0, high=0.1)
    names = list(comps)
    if glass is not None:
        if not isinstance(glass, str):
            raise TypeError(f"`glass` must be a mineral name or None, got {glass!r}.")
        if glass not in names:
            raise ValueError(f"`glass` must be one of the minerals ({', '.join(names)}), got {glass!r}.")
    if texture is not None:
        texture = _check_texture(texture, shape, len(names))
    return dict(zoning=zoning, beam_spread=beam_spread, glass=glass, escape_peaks=esc,
                sum_peaks=pile, detector_artefacts=bool(detector_artefacts), texture=texture)


def _check_texture(texture, shape, k):
    try:
        labels, ids = texture
    except (TypeError, ValueError):
        raise TypeError("`texture` must be a pair (labels, grain_ids) of arrays.") from None
    out = []
    for name, a in (("labels", labels), ("grain_ids", ids)):
        a = np.asarray(a)
        if a.dtype.kind not in "iu":
            raise TypeError(f"`texture` {name} must hold integers, got dtype {a.dtype}.")
        if a.shape != tuple(shape):
            raise ValueError(f"`texture` {name} must have the map's shape {tuple(shape)}, got {a.shape}.")
        out.append(a)
    if out[0].min() < 0 or out[0].max() >= k:
        raise ValueError(f"`texture` labels must be phases 0..{k - 1}, got {out[0].min()}..{out[0].max()}.")
    if out[1].min() < 1:
        raise ValueError(f"`texture` grain_ids must be >= 1, got {out[1].min()}.")
    return out[0].astype(np.int16), out[1].astype(np.int32)


def merge_glass(labels, grain_ids, glass_index):
    """Grain ids where each connected pool of glass is one grain (ids 1..n again)."""
    pool = _label(labels == glass_index, background=0, connectivity=1)
    key = np.where(pool > 0, pool.astype(np.int64) + int(grain_ids.max()), grain_ids)
    return _label(key, background=0, connectivity=1).astype(np.int32)


def zone_map(labels, grain_ids, zoned, strength):
    """(H, W) float32: the rim share ``x`` of every pixel (0 outside zoned phases)."""
    edge = np.zeros(labels.shape, bool)
    for axis in (0, 1):
        d = np.diff(grain_ids, axis=axis) != 0
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        edge[tuple(lo)] |= d
        edge[tuple(hi)] |= d
    if not edge.any():
        return np.zeros(labels.shape, np.float32)
    dist = ndimage.distance_transform_edt(~edge)
    dmax = ndimage.maximum(dist, grain_ids, index=np.arange(int(grain_ids.max()) + 1))
    dmax = np.asarray(dmax, float)[grain_ids]
    t = np.where(dmax > 0, 1.0 - dist / np.where(dmax > 0, dmax, 1.0), 1.0)
    return (strength * t * np.asarray(zoned, bool)[labels]).astype(np.float32)


def components(comps, spectra, rim_spectrum, zoning):
    """Component spectra (phases, then rims) and the rim component of each phase (-1: none).

    ``rim_spectrum(composition)`` gives the normalised spectrum of a rim composition.
    """
    rim_of = np.full(len(comps), -1, np.int64)
    rims = []
    if zoning > 0:
        for i, name in enumerate(comps):
            if name in _minerals.RIM_COMPOSITIONS:
                rim_of[i] = len(comps) + len(rims)
                rims.append(rim_spectrum(_minerals.RIM_COMPOSITIONS[name]))
    return (np.vstack([spectra, *rims]) if rims else spectra), rim_of


def weights(plan, r0, rows):
    """(rows, W, M) mixture weights of the components for rows ``r0 .. r0 + rows``."""
    h, w = plan["shape"]
    m = plan["components"].shape[0]
    sigma = plan["beam_spread"]
    rad = int(_TRUNCATE * sigma + 0.5) if sigma > 0 else 0
    a0, a1 = max(r0 - rad, 0), min(r0 + rows + rad, h)
    lab = plan["labels"][a0:a1].astype(np.int64)[..., None]
    x = plan["zone"][a0:a1, :, None].astype(np.float64) if plan["zone"] is not None else 0.0
    wts = np.zeros((a1 - a0, w, m))
    np.put_along_axis(wts, lab, 1.0 - x, axis=-1)
    rim = plan["rim_of"][lab[..., 0]]
    ii, jj = np.nonzero(rim >= 0)
    if ii.size:
        wts[ii, jj, rim[ii, jj]] = x[ii, jj, 0]
    if sigma > 0:
        wts = ndimage.gaussian_filter(wts, (sigma, sigma, 0.0), mode="nearest", truncate=_TRUNCATE)
    return wts[r0 - a0:r0 - a0 + rows]


def fill_rows(plan, r0, out):
    """Poisson counts of rows ``r0 .. r0 + len(out)`` into ``out`` (rows, W, C) uint16.

    As :func:`_minerals.fill_rows` (which it is, when no pixel mixes components); otherwise
    every count picks its component by the pixel's mixture weights, then its channel.
    """
    if not plan["mixed"]:
        return _minerals.fill_rows(plan, r0, out)
    c, t, w = plan["n_channels"], plan["sampler"], plan["shape"][1]
    m = plan["components"].shape[0]
    for b0 in range(0, out.shape[0], _ROWS):
        rows = min(_ROWS, out.shape[0] - b0)
        wts = weights(plan, r0 + b0, rows)
        cw = np.cumsum(wts, axis=-1)
        cw /= cw[..., -1:]
        cw += np.arange(w)[:, None]  # pixel p's cumulative weights lie in (p, p + 1]
        for i in range(rows):
            rng = np.random.default_rng([plan["seed"], 2, r0 + b0 + i])
            n = rng.poisson(plan["intensity"][r0 + b0 + i].astype(np.float64))
            p = np.repeat(np.arange(w, dtype=np.int64), n)
            j = np.searchsorted(cw[i].ravel(), p + rng.random(p.size), side="right")
            k = np.clip(j - p * m, 0, m - 1)
            bad = wts[i, p, k] <= 0  # only where p + u rounded up to p + 1
            k[bad] = np.argmax(wts[i, p[bad]], axis=-1)
            out[b0 + i] = _minerals.bin_counts(_minerals.draw_channels(t, k, rng), n, c)
    return None
