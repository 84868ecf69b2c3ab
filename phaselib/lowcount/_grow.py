"""After EM: phases the binned start missed, and phases that are chemically one.

The start of :func:`~phaselib.lowcount.map_lowcount` clusters a binned copy of the map, where a
grain of a few tens of pixels (an apatite, an oxide) is mixed into its neighbours' blocks and
lost; EM at full resolution then has no phase for it, and with a number of phases asked for, a
large phase is split instead. Two tests on the full-resolution fit mend that:

Unexplained pixels (:func:`unexplained`)
    The window's channels are grouped into bands of ``BAND_KEV`` (about a detector resolution).
    For a pixel of ``n`` counts and phase ``p``, the counts of band ``b`` are Poisson with mean
    ``n * s_pb`` (``s_p`` the phase spectrum, normalised over the bands). Counts and expectations
    are summed over the pixel's 3 x 3 neighbourhood (at 20 counts/px one pixel of apatite holds
    two or three P counts, nine hold twenty). A neighbourhood holding at least ``EXCESS`` times
    the expected counts of a band, with an upper tail ``P(X >= x) * bands < P_PIXEL``, marks a
    pixel its phase does not explain: an element line that the phase lacks. Only excesses count
    (zoning and mixing dilute or shift lines), only pixels inside a phase's region (``INSIDE`` of their 3 x 3
    neighbourhood in their phase) are tested (a
    missed phase hides inside the phase that took its pixels; mixed boundary pixels sit where the
    labels change), and the effect size keeps the test from growing with the counts.
Candidates
    Unexplained pixels are grouped by the band of their strongest excess, groups that are
    chemically one joined (a P and a Ca excess of apatite); a group of at least ``MIN_PIXELS``
    pixels and ``MIN_COUNTS`` counts is a candidate phase, its spectrum the sum of its pixels.
    Candidates go through :func:`phaselib.refine.merge_phases` together with the fitted phases:
    a candidate that is not chemically distinct from a phase (or is a mixture of two:
    :func:`phaselib.refine.is_mixture`) is dropped, and the survivors start EM again with the
    fitted phases (with the halves of the phases that :mod:`._split` splits).
Merge
    Finally phases that are not chemically distinct are merged
    (:func:`phaselib.refine.merge_phases`), even with a number of phases asked for: at low counts
    EM splits a dominant phase along its noise sooner than it finds a small phase, and pieces of
    one chemistry are not phases (with ``n_phases`` given, "one chemistry" means every major
    element's share within a factor 2, not 3: the user asked for phases that may differ as little
    as titanomagnetite and ilmenite do, and noise pieces differ far less). Then, with
    ``n_phases`` given, bands of mixed pixels between two phases
    (:func:`phaselib.refine.boundary_phases`' band test), then small phases whose spectrum mixes
    two others (:func:`drop_bands`), are dropped first (a mixture holds the
    elements of both and so looks unlike every mineral to the merge test: on phenocrysts at 50
    counts/px with a 1.5 px beam, augite was merged into anorthite instead), and the most alike
    are merged down to it; fewer phases than asked for are returned when no more are chemically
    distinct (recorded in ``params["refinement"]``).
    ``P_PIXEL`` (a chance of 1e-3 per pixel: a map of a million pixels holds about a thousand
    such pixels, spread over the bands and with their phase's chemistry, so they make no
    distinct candidate) and ``EXCESS`` were set on the real P45 map thinned to 22 counts/px
    (its 19-px Fe oxide grain passes at 3-5 times the expected Fe counts).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import pdtrc

from .. import refine
from ..quantify import PhaseSpectra

#: width of the energy bands of the excess test, keV (about a detector resolution)
BAND_KEV = 0.15
#: chance of a pixel of a phase failing the excess test (all bands together) ...
P_PIXEL = 1e-3
#: ... and its neighbourhood holds at least this many times the expected counts of the band (an
#: effect size: zoning and mixed pixels shift lines by less; a line the phase lacks by more)
EXCESS = 3.0
#: pixels tested: at least this many of their 3 x 3 neighbourhood share their phase
INSIDE = 9
#: a candidate phase holds at least this many unexplained pixels ...
MIN_PIXELS = 5
#: ... and this many counts
MIN_COUNTS = 150.0


#: rows of the map tested at a time hold about this many bytes of float32 band counts
SLAB_BYTES = 32 << 20


def band_matrix(n_channels, channels, width):
    """(C, B) 0/1 sparse matrix summing the channels of the window ``channels`` into bands of
    ``width`` channels (channels outside the window belong to no band)."""
    idx = np.arange(n_channels)[channels]
    band = (idx - idx[0]) // max(int(width), 1)
    return sparse.csr_matrix((np.ones(idx.size), (idx, band)), shape=(n_channels, int(band.max()) + 1))


def band_counts(wb, bands, *, headroom=1):
    """(H, W, B) counts of each pixel in the bands of :func:`band_matrix`.

    uint16 (exact, half the memory of float32: 0.6 GB for a full 2.4 M-pixel map) when the map
    holds integer counts and ``headroom`` times the largest pixel total fits in it (a caller
    that later stores sums of ``headroom`` pixels in place asks for that room); else float32.
    """
    h, w = wb.shape[:2]
    small = (np.dtype(wb.data.dtype).kind in "biu"
             and headroom * float(np.max(wb.pixel_sums, initial=0)) < np.iinfo(np.uint16).max)
    counts = np.zeros((h * w, bands.shape[1]), np.uint16 if small else np.float32)

    def read(r0, r1, csr):
        counts[r0 * w:r1 * w] = (csr @ bands).toarray()

    wb.map_blocks(read)
    return counts.reshape(h, w, -1)


def unexplained(wb, labels, spectra, bands, *, p_pixel=P_PIXEL, rows=None, counts=None):
    """Pixels whose neighbourhood holds far more counts in some band than its phases predict.

    The counts and the expected counts (``n * s_p`` of each pixel's phase) of every band are
    summed over the pixel's 3 x 3 neighbourhood (at 20 counts/px one pixel of a missed phase holds
    too few counts to stand out; nine do), and a pixel is unexplained when the upper tail of its
    neighbourhood's counts in a band is under ``p_pixel / bands`` and its own counts in that band
    exceed its own expectation. Only pixels inside a phase's region (their 3 x 3 neighbourhood of
    one phase) are tested: a missed phase hides inside the phase that took its pixels, while the
    mixed pixels of a grain boundary sit where the labels change. Only excesses of at least
    ``EXCESS`` times the expected counts count: significance alone grows with the counts, and at a
    few hundred counts per pixel the zoning of a crystal would pass.

    Parameters
    ----------
    wb : WeightedBlocks
        The map's CSR row blocks (all channels).
    labels : (H*W,) int ndarray
        Phase of each pixel.
    spectra : (K, C) ndarray
        Phase spectra on the blocks' channels.
    bands : (C, B) sparse matrix
        From :func:`band_matrix`.
    counts : (H, W, B) ndarray, optional
        :func:`band_counts` of the map, when already computed.
    rows : int, optional
        Rows tested at a time; default: slabs of about ``SLAB_BYTES`` of float32 band counts (their
        pooled counts, expectations and tails are several times that: a full map's 256 rows held
        over 1 GB at once).

    Returns
    -------
    key : (H*W,) int ndarray
        Band of the strongest excess of an unexplained pixel, -1 for the others.
    sums : (B, C) ndarray
        Summed counts of the unexplained pixels of each key band.
    """
    from scipy.ndimage import uniform_filter

    h, w = wb.shape[:2]
    sb = np.asarray(spectra, np.float64) @ bands
    sb = np.maximum(sb / np.maximum(sb.sum(1, keepdims=True), 1e-300), 1e-12).astype(np.float32)
    n_bands, k = sb.shape[1], sb.shape[0]
    counts = band_counts(wb, bands) if counts is None else counts
    rows = rows or max(1, SLAB_BYTES // (w * n_bands * 4))
    n = counts.sum(-1)
    by_phase = np.zeros((h, w, k), np.float32)  # counts of each pixel under its phase, then pooled
    by_phase.reshape(-1, k)[np.arange(h * w), labels] = n.ravel()
    lab2 = labels.reshape(h, w)
    inside = np.zeros((h, w), bool)  # at least INSIDE of the 3 x 3 neighbourhood share the pixel's phase
    for p in range(k):
        own = lab2 == p
        inside |= own & (uniform_filter(own.astype(np.float32), size=3, mode="nearest") * 9 >= INSIDE - 0.5)
    key = np.full((h, w), -1, np.int64)
    for r0 in range(0, h, rows):
        a, b = max(r0 - 1, 0), min(r0 + rows + 1, h)
        x = uniform_filter(counts[a:b], size=(3, 3, 1), mode="constant",
                           output=np.float32)[r0 - a:r0 - a + min(rows, h - r0)] * 9
        e = (uniform_filter(by_phase[a:b], size=(3, 3, 1), mode="constant") * 9)[r0 - a:r0 - a + x.shape[0]] @ sb
        p = np.ones(x.shape, np.float64)
        test = (x >= 1) & (x >= EXCESS * e)  # the Poisson tail only where it can matter (a few % of the bands)
        p[test] = pdtrc(np.maximum(np.rint(x[test]) - 1, 0), e[test])
        worst = p.argmin(-1)
        own = np.take_along_axis(counts[r0:r0 + x.shape[0]], worst[..., None], -1)[..., 0]
        own_e = n[r0:r0 + x.shape[0]] * sb[labels.reshape(h, w)[r0:r0 + x.shape[0]], worst]
        bad = (np.take_along_axis(p, worst[..., None], -1)[..., 0] * n_bands < p_pixel) & (own > own_e)
        bad &= inside[r0:r0 + x.shape[0]]
        key[r0:r0 + x.shape[0]] = np.where(bad, worst, -1)
    key = key.ravel()
    if not (key >= 0).any():
        return key, np.zeros((n_bands, wb.n_channels))

    def gather(r0, r1, csr):
        kk = key[r0 * w:r1 * w]
        at = np.flatnonzero(kk >= 0)
        onehot = sparse.csr_matrix((np.ones(at.size), (kk[at], at)), shape=(n_bands, csr.shape[0]))
        return onehot @ csr

    return key, wb.sum_blocks(gather)


def band_energies(energy_keV, bands):
    """(B,) mean energy of each band of :func:`band_matrix`."""
    return (np.asarray(energy_keV, np.float64) @ bands) / np.maximum(np.asarray(bands.sum(0)).ravel(), 1)


def candidates(key, sums, energy_keV, *, beam_energy=None, min_pixels=MIN_PIXELS, min_counts=MIN_COUNTS):
    """Candidate phases: the unexplained pixels of each key band, bands whose pixels are chemically
    one joined (:func:`phaselib.refine.merge_phases`; a phase of P and Ca excesses is one).

    Returns
    -------
    groups : (H*W,) int ndarray
        Candidate of each unexplained pixel, -1 for the others.
    sums : (G, C) ndarray
        Summed counts of each candidate (zero rows for joined-away ones).
    bands : (G,) int ndarray
        Key band each candidate is numbered after.
    kept : list of (int, int)
        ``(candidate, n_pixels)`` of those with at least ``min_pixels`` pixels and ``min_counts`` counts.
    """
    n = np.bincount(key[key >= 0], minlength=sums.shape[0])
    present = np.flatnonzero(n)
    lut = np.full(sums.shape[0] + 1, -1, np.int64)
    lut[present] = np.arange(present.size)
    groups, sums = lut[np.where(key >= 0, key, -1)], sums[present]
    if present.size > 1:
        groups, sums, _ = refine.merge_phases(PhaseSpectra(sums, n[present], energy_keV), groups,
                                              beam_energy=beam_energy)
    n = np.bincount(groups[groups >= 0], minlength=present.size)
    kept = [(g, int(n[g])) for g in range(present.size) if n[g] >= min_pixels and sums[g].sum() >= min_counts]
    return groups, sums, present, kept


def new_phases(labels, phase_sums, energy_keV, key, band_sums, band_keV, *, beam_energy=None):
    """Spectra of the candidates that are phases of their own (see the module docstring).

    Parameters
    ----------
    labels : (H*W,) int ndarray
    phase_sums : (K, C) ndarray
        Summed counts of the fitted phases.
    energy_keV : (C,) ndarray
    key, band_sums
        From :func:`unexplained`.
    band_keV : (B,) ndarray
        Mean energy of each band (for the notes).

    Returns
    -------
    spectra : (M, C) ndarray
        Summed counts of each new phase (M may be 0).
    notes : list of dict
        ``{"action": "added", "n_pixels", "reason"}`` for each.
    """
    key, band_sums, band_of, cands = candidates(key, band_sums, energy_keV, beam_energy=beam_energy)
    k = phase_sums.shape[0]
    n_fit = np.bincount(labels, minlength=k)[:k]
    if not cands:
        return np.zeros((0, phase_sums.shape[1])), []
    norm = lambda s: s / max(s.sum(), 1.0)  # noqa: E731
    present = [norm(s) for s, n in zip(phase_sums, n_fit) if n > 0]
    cands = [(b, n) for b, n in cands if not refine.is_mixture(norm(band_sums[b]), present)]
    if not cands:
        return np.zeros((0, phase_sums.shape[1])), []
    lab = labels.copy()
    for j, (b, _) in enumerate(cands):
        lab[key == b] = k + j
    sums = np.vstack([phase_sums] + [band_sums[b] for b, _ in cands])
    n_pix = np.concatenate([n_fit, [n for _, n in cands]])
    merged_lab, merged, _ = refine.merge_phases(PhaseSpectra(sums, n_pix, energy_keV), lab,
                                                beam_energy=beam_energy)
    kept = [j for j in range(len(cands)) if merged[k + j].sum() > 0 and np.any(merged_lab == k + j)]
    out = np.array([merged[k + j] for j in kept]) if kept else np.zeros((0, phase_sums.shape[1]))
    notes = [dict(action="added", n_pixels=int(np.count_nonzero(merged_lab == k + j)),
                  reason="pixels with counts that no phase explains (Poisson excess test, band at "
                         f"{band_keV[band_of[cands[j][0]]]:.2f} keV), "
                         "chemically distinct from every phase")
             for j in kept]
    return out, notes


def drop_bands(labels, sums, k_req, keep=()):
    """With more phases than asked for, first those that are bands of mixed pixels between two
    others (:func:`phaselib.refine.boundary_phases`' band test), smallest first, down to ``k_req``:
    a mixture phase is unlike every mineral by the merge test's measure (it holds the elements of
    both), so the merge down to ``k_req`` would join two distinct minerals instead; then, still
    smallest first, thin phases (:func:`phaselib.refine.is_thin`) whose spectrum mixes two others
    (:func:`phaselib.refine.mixes_two`).
    ``keep``: phases neither test takes (:func:`phaselib.refine.own_element_phases`).
    Returns the sums without them (their pixels go where EM puts them) and the changes."""
    extra = np.count_nonzero(sums.sum(1) > 0) - k_req
    bands = sorted(refine.boundary_phases(labels, sums, edges=False, keep=keep),
                   key=lambda g: g["n_pixels"])[:extra]
    sums = sums.copy()
    for g in bands:
        sums[g["phase"]] = 0
    # then the smallest phases whose spectrum is a mixture taking 10 % or more of two others, and which are thin
    # (a glass between its minerals is a mixture too, but has insides: 25 % of its pixels deeper than 2 px)
    n_pix = np.bincount(labels[labels >= 0].ravel(), minlength=len(sums))[:len(sums)]
    for p in sorted(np.flatnonzero(sums.sum(1) > 0), key=lambda q: n_pix[q]):
        if len(bands) >= extra:
            break
        if p in keep or not refine.is_thin(labels, p):
            continue
        alive = [q for q in np.flatnonzero(sums.sum(1) > 0) if q != p]
        norm = sums[[p] + alive] / sums[[p] + alive].sum(1, keepdims=True)
        if refine.mixes_two(norm[0], norm[1:]) is not None:
            sums[p] = 0
            bands.append(dict(action="dissolved", phase=int(p), n_pixels=int(n_pix[p]), reason=(
                "mixed pixels: its spectrum a mixture of two other phases', dropped to reach the number "
                "of phases asked for")))
    return sums, bands
