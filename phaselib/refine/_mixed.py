"""The boundary test: a "phase" made of the mixed pixels along the boundaries of two others.

Where the beam straddles two grains, a pixel's spectrum is a mixture of theirs. Clustering, the
seeding of :mod:`._seed` and the excess test of the low-count path can gather such pixels into a
phase of their own: a rim round every magnetite grain of a granite, or round its zircons. It is
chemically distinct from every phase (it holds Fe, or Zr, and Si), so the merge test keeps it.
Two facts tell it from a mineral:

* its summed spectrum is close to a mixture of the other phases' (:func:`is_mixture`), and
* nearly all of its pixels (``EDGE``) touch a pixel of another phase (4-neighbours): it is a
  line along boundaries, not grains with insides.

A glass is a mixture of its minerals but has insides (measured: 46-52 % of a glass's pixels on
an edge in the rich presets); an accessory of a few pixels is all edge but not a mixture (the
apatite and Fe oxide specks of the real P45 map). The spurious rims of the rich presets at
120 counts/px have 99-100 % of their pixels on an edge. Such a phase is dissolved: its pixels
go to the phases around them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

import phaselib.refine._check as _check

from .. import quantify
from .._validate import check_labels, check_number
from ._pixels import INSIDE, is_thin
from ._split import is_mixture

#: share of a phase's pixels with a 4-neighbour of another phase, for it to be a boundary phase
EDGE = 0.95
#: ... or at most this share of its pixels more than ``INSIDE`` px from another phase (a band a few
#: pixels wide: the beam's spread is wider than a pixel; ``INSIDE`` and :func:`is_thin` in :mod:`._pixels`)
INSIDE_SHARE = 0.05
#: under ``auto``, a final phase holds at least this share of the map's pixels (half the 0.1 % a phase must have to
#: be found for sure): phenocrysts at 30-100 counts/px with a 1.5 px beam ended with phases of 1-35 pixels of
#: 120 000 (a magnetite inclusion's mixture with its host, found by the excess test)
SPECK_SHARE = 5e-4
#: the band test's mixture tolerance (:func:`phaselib.refine.is_mixture`'s ``tol``, 0.3 elsewhere): magnetite inclusions
#: whose every pixel mixes with the host (phenocrysts, 1.5 px beam) fit at 0.32; no thin real phase of the rich presets
BAND_TOL = 0.35
#: the band test: a band lies within this many px (a square) of each of the two phases its spectrum mixes. Under a
#: 2 px beam an olivine-anorthite boundary holds two nested bands (olivine-rich, then anorthite-rich), and the inner
#: one touches the outer band, not olivine: with 1 px it stayed a phase and, with K = 5 asked for, took the place of
#: the magnetite specks (bench_specks peridotite, seed 12, 500 counts/px: ARI 0.874; 0.929 with 2 px)
BAND_REACH = 2
#: :func:`own_element_phases`: the least share of a phase's line counts on one element that no mixture of the others
#: explains
OWN_LEAST = 0.05
#: ... the mixture may pass each of the phase's shares by this much (and 3 sigmas): traces and misread lines
TRACE = 0.01


def boundary_phases(labels, sums, *, edges=True, bands=True, keep=()):
    """Phases made of the mixed pixels along the boundaries of others.

    Parameters
    ----------
    labels : (H, W) int ndarray
        Phase of each pixel, -1 unassigned.
    sums : (K, C) ndarray
        Summed counts of each phase (rows of empty phases zero).
    edges : bool
        The edge test: ``EDGE`` of its pixels on an edge, its spectrum close to a mixture of the
        others' with any weights (a rim mostly of one phase).
    bands : bool
        The band test: at most ``INSIDE_SHARE`` of its pixels more than ``INSIDE`` px from another
        phase, its spectrum a mixture taking 10 % or more of two phases, each within ``BAND_REACH`` px of 20 % or
        more of its pixels (which a phase split in two by the clustering, its pixels speckled among its twin's, does
        not).
        ``False`` for the start of the low-count path (a binned map); its final phases get it
        (phenocrysts at 50 counts/px with a 1.5 px beam, ``auto``: 7-9 phases -> 5-6).
    keep : collection of int
        Phases left (e.g. those chemically one with another: they are merged; those holding an element no other
        phase holds, :func:`own_element_phases`).

    Returns
    -------
    list of dict
        ``{"action": "dissolved", "phase", "n_pixels", "reason"}`` for each.
    """
    lab = check_labels(labels, "labels", ndim=2)
    sums = _check.phase_sums(sums)
    alive = [p for p in range(sums.shape[0]) if sums[p].sum() > 0 and np.any(lab == p)]
    if len(alive) < 3:
        return []
    norm = {p: sums[p] / sums[p].sum() for p in alive}
    out = []
    for p in alive:
        own = lab == p
        edge = own & ndi.binary_dilation(~own)
        share = edge.sum() / own.sum()
        others = [norm[q] for q in alive if q != p]
        if p in keep:
            continue
        if share >= EDGE and edges:
            if not is_mixture(norm[p], others):
                continue
            why = "its spectrum a mixture of theirs"
        elif not bands or not is_thin(lab, p, INSIDE_SHARE):
            continue
        elif not _band_between(lab, p, norm[p], [q for q in alive if q != p], others):
            continue
        else:
            why = f"a band at most {INSIDE:g} px deep between the two phases its spectrum mixes"
        out.append(dict(action="dissolved", phase=int(p), n_pixels=int(own.sum()),
                        reason=f"mixed pixels along other phases' boundaries ({100 * share:.0f} % of its pixels "
                               f"on an edge, {why})"))
    return out


def own_element_phases(sums, energy_keV, beam_energy=None, *, least=OWN_LEAST, z=5.0):
    """Phases whose chemistry no mixture of the other phases makes: an element's share of their line counts is left
    over, by ``least`` or more (and more than ``z`` sigmas), by the largest non-negative mixture of the others'
    shares that stays under theirs element by element (an LP). Such a phase holds what no boundary between others
    can: a mineral, not mixed pixels, however thin (the biotite of a granite of 5 px grains, 79 % of its pixels on
    an edge, within :data:`BAND_TOL` of K-feldspar and magnetite mixed in channel space: 7 % of its line counts
    are Mg, which the mixture leaves over). Two phases whose left-overs have one chemistry (cosine >=
    ``FOREIGN_COS``) are one mineral seen through two hosts (specks with no pure pixel): neither is kept by this
    test.

    Parameters
    ----------
    sums : (K, C) ndarray
        Summed counts of each phase (rows of empty phases zero).
    energy_keV : (C,) ndarray
    beam_energy : float, optional

    Returns
    -------
    set of int
    """
    from ._merge import FOREIGN_COS, LIGHT, _excess, _shares

    sums = _check.phase_sums(sums)
    alive = [p for p in range(sums.shape[0]) if sums[p].sum() > 0]
    found = {f["element"] for p in alive for f in quantify.lines_of(sums[p], energy_keV,
                                                                          beam_energy=beam_energy, n_lines=12)}
    elements = tuple(sorted(found - set(LIGHT)))
    if len(alive) < 3 or not elements:
        return set()
    shares, var = _shares(sums[alive], energy_keV, elements, beam_energy)
    var = np.clip(var, 0, None)  # a fitted line's variance estimate can dip under zero
    # the mixture may pass each share by its noise and a trace (a parent's 0.1 % of Ti must not bar it)
    left = np.array([_excess(shares[i], np.delete(shares, i, axis=0), 3 * np.sqrt(var[i]) + TRACE)[0]
                     for i in range(len(alive))])
    own = np.any((left >= least) & (left > z * np.sqrt(var)), axis=1)
    unit = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), 1e-12)
    # what is left of two phases has one chemistry: one mineral seen through two hosts (specks with no pure pixel),
    # which the merge joins (one_foreign), not a mineral each
    twin = (unit @ unit.T >= FOREIGN_COS) & own[None, :]
    np.fill_diagonal(twin, False)
    return {p for i, p in enumerate(alive) if own[i] and not twin[i].any()}


def mixes_two(spectrum, phases, least=0.1, tol=0.3):
    """The two phases a (normalised) spectrum mixes, or None: it is a mixture of ``phases``
    (:func:`is_mixture`, with ``tol``) whose non-negative least-squares fit takes ``least`` or more of two of them."""
    from scipy.optimize import nnls

    least = check_number(least, "least", low=0, high=1)
    spectrum, phases = _check.spectra(spectrum, phases)
    if len(phases) < 2 or not is_mixture(spectrum, phases, tol=tol):
        return None
    coef, _ = nnls(phases.T, spectrum)
    top = np.argsort(coef)[::-1][:2]
    return None if coef[top[1]] < least * coef.sum() else top


def _band_between(lab, p, spectrum, ids, phases, touch=0.2, reach=BAND_REACH):
    """Whether phase ``p`` (a band a few pixels wide) lies between the two phases it mixes
    (:func:`mixes_two`), a share ``touch`` or more of its pixels within ``reach`` px of each of them. A phase
    the clustering split in two (pixels speckled among its twin's) mixes its twin and touches
    little else."""
    top = mixes_two(spectrum, phases, tol=BAND_TOL)
    if top is None:
        return False
    own = lab == p
    near = np.ones((2 * reach + 1,) * 2, bool)
    return all(np.count_nonzero(own & ndi.binary_dilation(lab == ids[i], near))
               >= touch * own.sum() for i in top)


def give_to_neighbours(labels, gone):
    """``labels`` with the pixels of the phases ``gone`` given to the most common other phase
    among their 8 neighbours, growing inwards until none is left (or none can be reached)."""
    lab = np.array(check_labels(labels, "labels", ndim=2), dtype=np.int64)
    free = np.isin(lab, list(gone))
    lab[free] = -2
    while free.any():
        best = np.full(lab.shape, -2)
        votes = np.zeros(lab.shape)
        for p in np.unique(lab[lab >= 0]):
            n = ndi.convolve((lab == p).astype(np.float32), np.ones((3, 3), np.float32), mode="constant")
            take = free & (n > votes)
            best[take], votes[take] = p, n[take]
        grow = free & (best >= 0)
        if not grow.any():
            break
        lab[grow] = best[grow]
        free &= ~grow
    lab[lab == -2] = -1
    return lab


def speck_phases(labels, skip=(), share=SPECK_SHARE):
    """Phases holding fewer than ``share`` of the map's pixels, not in ``skip`` (dicts with a ``phase``), as
    ``{"action": "dissolved", "phase", "n_pixels", "reason"}``."""
    lab = check_labels(labels, "labels")
    n_pix = np.bincount(lab[lab >= 0].ravel())
    done = {g["phase"] for g in skip}
    return [dict(action="dissolved", phase=int(p), n_pixels=int(n_pix[p]), reason=(
        f"{int(n_pix[p])} pixels, under {100 * share:.2g} % of the map: too few to tell a phase from mixtures"))
        for p in np.flatnonzero((n_pix > 0) & (n_pix < share * lab.size)) if p not in done]


def drop_empty(labels, k):
    """``(labels, k, changes)``: phases of ``0..k-1`` that hold no pixel (the boundary steps gave them all to
    their neighbours) taken out, the others numbered again from 0 in their order."""
    lab = np.asarray(labels)
    n_pix = np.bincount(lab[lab >= 0].ravel().astype(np.int64), minlength=k)[:k]
    empty = np.flatnonzero(n_pix == 0)
    if not empty.size:
        return labels, k, []
    keep = np.flatnonzero(n_pix > 0)
    new = np.full(k + 1, -1, np.int64)
    new[keep] = np.arange(keep.size)
    gone = [dict(action="emptied", phase=int(p), n_pixels=0,
                 reason="no pixel left: every one went to a neighbouring phase at the boundaries") for p in empty]
    return new[lab].astype(lab.dtype), int(keep.size), gone


def drop_specks(labels, k, share=SPECK_SHARE):
    """``(labels, k, changes)``: the phases of :func:`speck_phases` given to their neighbours
    (:func:`give_to_neighbours`), the others numbered again from 0 in their order."""
    gone = speck_phases(labels, share=share)
    if not gone:
        return labels, k, []
    lab = give_to_neighbours(labels, {g["phase"] for g in gone})
    keep = np.setdiff1d(np.arange(k), [g["phase"] for g in gone])
    new = np.full(k + 1, -1, np.int64)
    new[keep] = np.arange(keep.size)
    return new[lab].astype(np.asarray(labels).dtype), int(keep.size), gone
