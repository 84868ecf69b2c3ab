"""The EM fit of the Poisson-Potts model, started from PCA + k-means on a binned copy of the map."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter

import phaselib.lowcount._grow as _grow

from .. import cluster, decompose, preprocess, quantify, refine
from .._stream import WeightedBlocks, check_block_rows
from .._validate import MAX_ITER, check_auto, check_image, check_int
from ..decompose import Decomposition
from ..preprocess import energy_channels
from ..quantify import PhaseSpectra
from ..refine._refine import split_populations
from ._binned import binned as _binned
from ._counts import LOW_COUNTS, mean_counts, needs_spatial_prior  # noqa: F401 (their home before)
from ._potts import check_beta, loglik, normalise, potts_mean_field, smooth, weighted_sums

#: counts per binned pixel aimed at by ``bin_factor="auto"`` for the initial clustering
INIT_COUNTS = 400.0
#: default Potts strength, nats per pair of 4-neighbours with equal labels
DEFAULT_BETA = 2.0
#: side of the neighbourhoods whose counts describe a pixel in the split test (500 counts at 20/px)
SPLIT_SIZE = 5
#: Gaussian smoothing of the phase spectra along energy in the M-step, keV
SMOOTH_KEV = 0.02
#: components computed by the initial PCA (as :func:`phaselib.pipeline.map_phases`)
MAX_COMPONENTS = 24


@dataclass(frozen=True, eq=False)
class LowCountMap:
    """A phase map from the Poisson-Potts model.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Phase of each pixel (largest posterior), phases in canonical order (most abundant first); -1 where
        the pixel holds no data (``blank``).
    posteriors : (H, W, K) float32 ndarray
        Mean-field posterior probability of each phase (zero on blank pixels).
    spectra : (K, C) float64 ndarray
        Phase spectra on the input's channels, each summing to 1 over the energy
        window (zero outside it): the spectra the posteriors were computed with.
    fractions : (K,) ndarray
        Modal (area) fraction of each phase among the pixels that hold data.
    params : dict
        What was used: ``n_phases`` (and whether found automatically), ``bin_factor``,
        ``beta``, ``n_iter``, ``n_sweeps``, ``mean_counts``, ``energy_range``.
    timings : dict
        Seconds per stage.
    decomposition : Decomposition or None
        The Poisson-weighted PCA of the binned map that started EM (its loadings have the
        binned map's shape).
    phase_sums : PhaseSpectra or None
        Summed counts of each phase's pixels (by ``labels``) on the input's channels, taken
        from the sparse blocks EM already holds; None when the counts are not integers.
    blank : (H, W) bool ndarray or None
        Pixels that hold no data (:func:`phaselib.preprocess.blank_pixels`), kept out of the start.
    """

    labels: np.ndarray
    posteriors: np.ndarray
    spectra: np.ndarray
    fractions: np.ndarray
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    decomposition: Decomposition | None = None
    phase_sums: PhaseSpectra | None = None
    blank: np.ndarray | None = None

    n_phases = property(lambda self: len(self.fractions), doc="Number of phases.")


def map_lowcount(image, *, n_phases="auto", beta=DEFAULT_BETA, bin_factor="auto", n_iter=3,
                 n_sweeps=10, energy_range=(0.1, None), random_state=0, block_rows=None,
                 refine_phases=True, progress=None) -> LowCountMap:
    """Phase map of a low-count map: Poisson mixture + Potts prior, fitted by EM.

    Parameters
    ----------
    image : SpectrumImage
    n_phases : int or "auto"
        Default: the number of Poisson-weighted PCA components above the noise of
        the binned map (:func:`phaselib.decompose.suggest_n_components`), then the
        tests of :mod:`._grow`. A number given is a most: with ``refine_phases``, pieces
        of one chemistry and rims of mixed pixels are not returned as phases.
    beta : float
        Potts strength, nats per pair of equal 4-neighbours; ``0`` turns the prior
        off (per-pixel Poisson classification).
    bin_factor : int or "auto"
        Binning of the initial clustering (``"auto"``: about ``INIT_COUNTS`` counts per
        binned pixel); ``1`` clusters the full-resolution map.
    n_iter : int
        E-steps; the phase spectra are re-estimated between consecutive ones.
    n_sweeps : int
        Mean-field sweeps per E-step.
    energy_range : (float, float or None)
        Energy window, keV.
    random_state : int
    block_rows : int, optional
    refine_phases : bool
        Test the starting phases (on the binned map, where a pixel holds ~``INIT_COUNTS``
        counts): add missed ones, merge those that are chemically one
        (:func:`phaselib.refine.refine_phases`); recorded in ``params["refinement"]``.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    LowCountMap
    """
    check_image(image)
    beta = check_beta(beta)
    n_iter, n_sweeps = check_int(n_iter, "n_iter", high=MAX_ITER), check_int(n_sweeps, "n_sweeps", high=MAX_ITER)
    block_rows = None if block_rows is None else check_block_rows(block_rows)
    k_req = None if check_auto(n_phases) else check_int(n_phases, "n_phases", allow_auto=True)
    if k_req == 1:
        raise ValueError("`n_phases` must be at least 2 (a map of one phase needs no classification), got 1.")
    b_req = None if check_auto(bin_factor) else check_int(bin_factor, "bin_factor", allow_auto=True)
    say = progress or (lambda f, m: None)
    h, w, c = image.shape
    timings, t0 = {}, time.perf_counter()
    channels = energy_channels(image, energy_range)
    # all channels are held (the window is applied to the spectra), so that the phase sums
    # on the input's channels come from these blocks at the end, without reading the map again
    wb = WeightedBlocks(image.data, slice(None), poisson=False, block_rows=block_rows,
                        progress=lambda f, m: say(0.3 * f, m))
    try:
        window_sums = wb.channel_sums[channels]
        total = float(window_sums.sum())
        blank = preprocess.blank_pixels(wb.pixel_sums.reshape(h, w))
        mean = total / max(h * w - int(np.count_nonzero(blank)), 1)
        # smallest b with b * b * mean >= INIT_COUNTS, leaving at least 8 x 8 binned pixels
        b = b_req or max(1, min(math.ceil(math.sqrt(INIT_COUNTS / max(mean, 1e-9))), min(h, w) // 8))
        if b > min(h, w):
            raise ValueError(f"bin_factor {b} is larger than the map ({h} x {w} pixels).")
        say(0.3, "initial clustering")
        start, sums, changes = _start(_binned(image, b) if b > 1 else image, k_req, energy_range, random_state,
                                      refine_phases)
        spectra = sums[:, channels]
        timings["init"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        background = window_sums / total  # fills empty phases, never zero where counts are
        sigma = SMOOTH_KEV / image.energy_scale
        q = None
        for it in range(n_iter):
            if it:  # M-step: posterior-weighted sums of the counts
                spectra = smooth(weighted_sums(wb, q.reshape(h * w, -1))[:, channels], sigma)
            spectra = normalise(spectra, background)
            say(0.4 + 0.6 * it / n_iter, f"EM iteration {it + 1}/{n_iter}")
            q = potts_mean_field(loglik(wb, spectra, channels).reshape(h, w, -1), beta, n_sweeps=n_sweeps)
        if refine_phases:
            say(0.95, "testing the phases")
            q, spectra, grown = _grow_and_merge(wb, image, q, spectra, channels, background, k_req,
                                                dict(beta=beta, n_sweeps=n_sweeps, n_iter=n_iter, sigma=sigma))
            changes = changes + grown
        timings["em"] = time.perf_counter() - t0
        if blank.any():  # the phase of the blank pixels goes; they stay unassigned
            lab0 = q.argmax(-1)
            bp = np.bincount(lab0[blank]).argmax()
            if 2 * np.count_nonzero(lab0[blank] == bp) >= np.count_nonzero(lab0 == bp):
                q[..., bp] = 0
            q[blank | (q.sum(-1) <= 0)] = 1.0  # (a data pixel that held only that phase: the first phase)
        labels, q, order = _ordered(q, spectra, blank)
        labels[blank], q[blank] = -1, 0
        phase_sums = _hard_sums(wb, labels, len(order), image) if image.data.dtype.kind in "biu" else None
    finally:
        wb.close()
    full = np.zeros((len(order), c))
    full[:, channels] = spectra[order]
    fractions = np.bincount(labels[labels >= 0], minlength=len(order)) / max(np.count_nonzero(labels >= 0), 1)
    say(1.0, "done")
    params = dict(n_phases=len(order), n_phases_auto=k_req is None, bin_factor=b, beta=beta,
                  n_iter=n_iter, n_sweeps=n_sweeps, mean_counts=round(mean, 3),
                  energy_range=start.params["energy_range"], random_state=random_state, refinement=changes)
    return LowCountMap(labels, q, full, fractions, params, timings, start, phase_sums, blank)


# ------------------------------------------------------------------------------ helpers
def _start(image, k_req, energy_range, random_state, refine_phases=True):
    """The phases EM starts from: Poisson-weighted PCA of the (binned) map, k-means on its scores, cluster sums.

    Returns
    -------
    decomposition : Decomposition
    sums : (K, C) ndarray
        Summed counts of each cluster on the image's channels.
    changes : list of dict
        What :func:`phaselib.refine.refine_phases` added or merged (not down to ``k_req``: at full resolution,
        bands of mixed pixels dropped first, or they take the place of a mineral: peridotite 0.84 -> 0.96; a
        factor 2 between major elements even under ``auto``: binned pixels of small grains mix two phases).
    """
    h, w, c = image.shape
    max_components = min(MAX_COMPONENTS, h * w - 1, c - 1, preprocess.window_channels(image, energy_range) - 1)
    if max_components < 1:
        raise ValueError(f"The map ({h} x {w} pixels" + (f", {c} channel" if c < 2 else "") + ") is too small to "
                         "decompose" + (": a spectrum needs 2 channels or more." if c < 2 else "."))
    dec = decompose.pca(image, n_components=max(max_components, k_req or 1), energy_range=energy_range,
                        random_state=random_state)
    n_comp = dec.suggested_n_components
    k = max(k_req or n_comp, 2)
    # binned pixels of no data: out of the clustering, then a phase of their own for the tests (left unassigned,
    # they changed the tests' outcome: a 20 counts/px basalt with an empty edge lost a phase), dropped after them
    blank = preprocess.blank_pixels(dec.pixel_sums)
    labels = cluster.cluster(dec.features(n_comp), k, random_state=random_state, mask=~blank.ravel()).labels
    labels = labels.reshape(h, w).astype(np.int16)
    labels[blank] = k if blank.any() else -1
    if not refine_phases:
        return dec, quantify.phase_spectra(image, labels, k + 1).sums[:int(labels.max()) + 1], []
    ref = refine.refine_phases(image, labels, dec.features(min(dec.n_components, n_comp + 8)), dec.pixel_sums,
                               random_state=random_state, bands=False, dip_size=1, ratio=2.0)
    return dec, ref.spectra.sums, ref.changes


def _without(sums, labels, blank):
    """Phase sums without the phase of the blank pixels (the one holding most of them, if they are most of it)."""
    if not blank.any():
        return sums[:int(labels.max()) + 1]
    p = np.bincount(labels[blank][labels[blank] >= 0]).argmax()
    return np.delete(sums, p, axis=0) if 2 * np.count_nonzero(labels[blank] == p) >= np.count_nonzero(labels == p) \
        else sums


def _grow_and_merge(wb, image, q, spectra, channels, background, k_req, fit):
    """Phases the start missed, then phases that are chemically one (:mod:`._grow`); EM again
    where anything changed. Returns ``q``, ``spectra`` and the list of changes."""
    h, w, k = q.shape
    c = wb.n_channels
    energy = image.energy_keV
    labels = q.argmax(-1).ravel()
    full = np.zeros((k, c))
    full[:, channels] = spectra
    bands = _grow.band_matrix(c, channels, round(_grow.BAND_KEV / image.energy_scale))
    counts = _grow.band_counts(wb, bands, headroom=SPLIT_SIZE ** 2)  # room for the 5 x 5 sums below
    key, band_sums = _grow.unexplained(wb, labels, full, bands, counts=counts)
    hard = _one_hot_sums(wb, labels, k)
    new, changes = _grow.new_phases(labels, hard, energy, key, band_sums, _grow.band_energies(energy, bands),
                                    beam_energy=image.beam_energy)
    inside = refine.inside_pixels(labels.reshape(h, w), size=SPLIT_SIZE).ravel()
    for j in range(counts.shape[-1]):  # 5 x 5 sums in place, band by band (no second copy of the map)
        pooled = uniform_filter(counts[..., j], size=SPLIT_SIZE, mode="nearest", output=np.float32)
        counts[..., j] = np.rint(pooled * SPLIT_SIZE ** 2) if counts.dtype.kind == "u" else pooled
    half = refine.halves(_Shares(counts.reshape(h * w, -1)), labels, inside)  # phases cut in two on their 5 x 5 sums
    del counts
    cut = _hard_sums(wb, np.where(inside, half, -1), 2 * k, image)
    splits, notes = refine.split_phases(cut.sums, cut.n_pixels, hard, energy, beam_energy=image.beam_energy)
    share = refine._dip.ASKED_DIP_SHARE if k_req else None  # a number asked for: a shallower dip parts two populations
    splits, notes, half = split_populations(image, half.reshape(h, w), cut, k, splits, notes, SPLIT_SIZE, share)
    half = half.ravel()
    for (p, a, b), note in zip(splits, notes):  # the first half keeps the phase, the second is new
        spectra[p] = a[channels]
        new = np.vstack([new, b[None]])
        changes.append(dict(note, n_pixels=int(np.count_nonzero(half == 2 * p + 1))))
    if len(new):
        spectra = np.vstack([spectra, new[:, channels]])
        for it in range(fit["n_iter"]):
            if it:
                spectra = smooth(weighted_sums(wb, q.reshape(h * w, -1))[:, channels], fit["sigma"])
            spectra = normalise(spectra, background)
            q = potts_mean_field(loglik(wb, spectra, channels).reshape(h, w, -1), fit["beta"],
                                 n_sweeps=fit["n_sweeps"])
        labels = q.argmax(-1).ravel()
        hard = _one_hot_sums(wb, labels, q.shape[-1])
    n_pix = np.bincount(labels, minlength=hard.shape[0])
    # pieces of one chemistry merged even with a number asked for (_grow's docstring), then to it; dip on 5 x 5 sums
    merged_lab, sums, merged = refine.merge_phases(PhaseSpectra(hard, n_pix, energy), labels, image=image,
                                                   beam_energy=image.beam_energy, ratio=2.0 if k_req else 3.0,
                                                   dip_size=SPLIT_SIZE, dip_share=share)
    gone = []
    if k_req is not None and np.count_nonzero(sums.sum(1) > 0) > k_req:
        sums, gone = _grow.drop_bands(merged_lab.reshape(h, w), sums, k_req,
                                      keep=refine.own_element_phases(sums, energy, image.beam_energy))
        merged_lab = np.where(np.isin(merged_lab, [g["phase"] for g in gone]), -1, merged_lab)
        changes += gone
    if k_req is not None and np.count_nonzero(sums.sum(1) > 0) > k_req:
        alive = np.flatnonzero(sums.sum(1) > 0)
        merged_lab, sums2, more = refine.merge_phases(
            PhaseSpectra(sums[alive], np.bincount(merged_lab[merged_lab >= 0], minlength=len(sums))[alive], energy),
            np.where(merged_lab >= 0, np.searchsorted(alive, merged_lab), -1), n_phases=k_req,
            beam_energy=image.beam_energy, image=image)
        sums = np.zeros_like(sums)
        sums[alive] = sums2
        merged += [dict(m, phase=int(alive[m["phase"]]), into=int(alive[m["into"]])) for m in more]
    if merged or gone:
        keep = np.flatnonzero(sums.sum(1) > 0)
        spectra = normalise(smooth(sums[keep][:, channels], fit["sigma"]), background)
        q = potts_mean_field(loglik(wb, spectra, channels).reshape(h, w, -1), fit["beta"], n_sweeps=fit["n_sweeps"])
        changes += [dict(action="merged", **m) for m in merged]
    for _ in range(3):  # rims and bands of mixed pixels along boundaries, specks: not phases (again once dissolved)
        labels = q.argmax(-1).ravel()
        now = _one_hot_sums(wb, labels, q.shape[-1])  # a phase holding what no mixture of the others makes stays
        gone = refine.boundary_phases(labels.reshape(h, w), now, keep=refine.own_element_phases(
            now, energy, image.beam_energy))
        gone += [] if k_req else refine.speck_phases(labels, skip=gone)
        if not gone:
            break
        spectra = np.delete(spectra, [g["phase"] for g in gone], axis=0)
        q = potts_mean_field(loglik(wb, spectra, channels).reshape(h, w, -1), fit["beta"], n_sweeps=fit["n_sweeps"])
        changes += gone
    n_found = int(np.count_nonzero(np.bincount(q.argmax(-1).ravel())))
    if k_req is not None and n_found < k_req:
        changes.append(dict(action="fewer", n_phases=n_found, reason=(
            f"{k_req} phases asked for, {n_found} found chemically distinct: more would cut a phase into "
            "pieces of one chemistry")))
    return q, spectra, changes


class _Shares:
    """Rows of pooled band counts as square-root shares (even Poisson noise per band), computed when read."""

    def __init__(self, pooled):
        self.pooled, self.shape, self.dtype = pooled, pooled.shape, np.dtype(np.float64)

    def __getitem__(self, rows):
        x = self.pooled[rows]
        return np.sqrt(x / np.maximum(x.sum(1, keepdims=True), 1e-12))


def _one_hot_sums(wb, labels, k):
    """(K, C) summed counts of the pixels of each label, on all the blocks' channels."""
    from scipy import sparse

    w = wb.shape[1]

    def one(r0, r1, csr):
        lab = labels[r0 * w:r1 * w]
        return sparse.csr_matrix((np.ones(lab.size), (lab, np.arange(lab.size))), shape=(k, lab.size)) @ csr

    return wb.sum_blocks(one)


def _ordered(q, spectra, blank=None):
    """Labels, posteriors and order with phases in canonical order (most abundant first);
    phases that lost every pixel (``blank`` ones not counted) go."""
    labels = q.argmax(-1).ravel()
    if blank is not None:
        labels = np.where(blank.ravel(), -1, labels)
    order = cluster.canonical_order(labels, spectra)[:np.count_nonzero(np.bincount(labels[labels >= 0]))]
    q = q[..., order]
    q /= q.sum(-1, keepdims=True)
    return q.argmax(-1).astype(np.int16), q, order


def _hard_sums(wb, labels, k, image):
    """PhaseSpectra of ``labels`` from the blocks' counts (exact for integer counts)."""
    from scipy import sparse

    w, flat = wb.shape[1], labels.ravel()

    def one(r0, r1, csr):
        lab = flat[r0 * w:r1 * w]
        ok = lab >= 0
        ind = sparse.csr_matrix((np.ones(ok.sum()), (lab[ok], np.flatnonzero(ok))), shape=(k, lab.size))
        return (ind @ csr).toarray()

    n_pixels = np.bincount(flat[flat >= 0], minlength=k)[:k]
    return quantify.PhaseSpectra(wb.sum_blocks(one), n_pixels, image.energy_keV, wb.channel_sums.copy())
