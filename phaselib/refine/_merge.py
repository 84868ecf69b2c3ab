"""The merge test: whether two phases' chemistries differ as two minerals do."""

from __future__ import annotations

import numpy as np

from .. import quantify
from .._validate import check_array, check_int, check_labels, check_number
from ._pieces import one_speck, zoned_test

#: elements left out of the chemistry of a phase (in nearly every mineral, strongly absorbed)
LIGHT = ("O", "C", "N", "B")
#: :func:`one_foreign`: the range of the share of each phase that other phases' mixture explains (under 0.8:
#: a fifth or more of its line counts is the mineral), and the least cosine between what is left of the two
FOREIGN_HOST, FOREIGN_COS = (0.3, 0.8), 0.95
#: ... tested while at most this many phases are left (two linear programs a pair, for every pair after every merge:
#: a 40 x 50 map asked for 999 phases ran for hours); above, the pairs are pieces of one chemistry, merged first
FOREIGN_MOST = 32
#: :func:`distinct_phases` with ``together``: two chemistries this far apart (half the summed absolute differences of
#: their line-count shares) are two minerals. Pairs one mineral can span: Fo90 / Fo75 0.07-0.14, An60 / An30
#: 0.12-0.14, augite / hornblende 0.11-0.12 (10 and 20 kV); a rhyolitic glass and its oligoclase 0.25-0.28
SPREAD_APART = 0.2
#: :func:`merge_phases` with a number of phases asked for (``most``): the factor that keeps two phases apart below it
MOST_RATIO = 2.0
#: the least number of inside pixels from which a phase's chemistry is read (:func:`inside_sums`)
INSIDE_LEAST = 20
#: how :func:`one_foreign`'s reasons start
ONE_FOREIGN = "one mineral mixed with different hosts"


def _shares(sums, energy_keV, elements, beam_energy):
    """(K, E) shares of the elements' main-line net counts, and their variances."""
    out, var = [], []
    for s in sums:
        net, v = quantify.line_intensities(s, energy_keV, elements, beam_energy=beam_energy)
        net = np.clip(net, 0, None)
        total = max(net.sum(), 1.0)
        out.append(net / total)
        var.append(v / total ** 2)
    return np.array(out), np.array(var)


def distinct_phases(shares_a, var_a, shares_b, var_b, elements, *, major=0.05, ratio=3.0, z=5.0, together=True):
    """Whether two phases' chemistries differ as two minerals do (see the module docstring).

    Parameters
    ----------
    shares_a, var_a, shares_b, var_b : (E,) ndarray
        Shares of the elements' net line counts in each phase, and their variances.
    elements : sequence of str
    major, ratio, z : float
        An element of share >= ``major`` in one phase and at most ``1 / ratio`` of it in the
        other, with a difference of more than ``z`` sigmas, makes the phases distinct; so do several
        such elements that together hold >= ``major`` of one phase (the K, Mg, Fe and Ti of a glass
        beside its plagioclase at 10 kV, where each holds 1-4 % of the glass's line counts).
    together : bool
        False: one element alone must make the difference.

    Returns
    -------
    distinct : bool
    reason : str
        The element that decides, with its shares.
    """
    shares_a, var_a, shares_b, var_b = (check_array(x, n, ndim=1, kind="biuf") for x, n in (
        (shares_a, "shares_a"), (var_a, "var_a"), (shares_b, "shares_b"), (var_b, "var_b")))
    if not shares_a.size or not shares_a.shape == var_a.shape == shares_b.shape == var_b.shape == (len(elements),):
        raise ValueError("shares_a, var_a, shares_b and var_b must have one value per element (and at least one).")
    _check_rule(major, ratio, z)
    hi, lo = np.maximum(shares_a, shares_b), np.minimum(shares_a, shares_b)
    sig = np.abs(shares_a - shares_b) / np.sqrt(np.maximum(var_a + var_b, 0) + 1e-18)
    key = (hi >= major) & (lo * ratio <= hi) & (sig > z)
    order = np.argsort(-(hi - lo))
    for i in order:
        if key[i]:
            return True, f"{elements[i]} {100 * shares_a[i]:.1f} % vs {100 * shares_b[i]:.1f} % of the line counts"
    tv = 0.5 * float(np.abs(shares_a - shares_b).sum())  # all elements together: the share of counts moved
    if together and tv >= SPREAD_APART and tv > z * 0.5 * np.sqrt(float(np.sum(var_a + var_b))):
        return True, f"{100 * tv:.0f} % of the line counts on other elements (largest {elements[order[0]]} " \
                     f"{100 * shares_a[order[0]]:.1f} % vs {100 * shares_b[order[0]]:.1f} %)"
    for x, y in ((shares_a, shares_b), (shares_b, shares_a)) if together else ():  # minors one has, one lacks
        lacks = (y * ratio <= x) & (sig > z)
        if x[lacks].sum() >= major:
            names = ", ".join(elements[i] for i in np.flatnonzero(lacks))
            ab = (x[lacks].sum(), y[lacks].sum()) if x is shares_a else (y[lacks].sum(), x[lacks].sum())
            return True, f"{names} together {100 * ab[0]:.1f} % vs {100 * ab[1]:.1f} % of the line counts"
    i = order[0] if len(order) else None
    if i is None:
        return False, "no major element differs by a factor of 3"
    if hi[i] >= major and lo[i] * ratio <= hi[i]:  # a difference that would decide, but within the noise
        return False, (f"no difference beyond the noise (largest {elements[i]} {100 * shares_a[i]:.1f} % vs "
                       f"{100 * shares_b[i]:.1f} %, {sig[i]:.1f} sigma)")
    return False, (f"same major elements (largest difference {elements[i]} {100 * shares_a[i]:.1f} % vs "
                   f"{100 * shares_b[i]:.1f} %)")


def merge_cost(a, b):
    """Log-likelihood (nats) the counts lose when two phases' summed spectra ``a`` and ``b`` become one: the
    multinomial likelihood of each under its own spectrum, less that under their sum. Small for a phase of few
    counts or two alike phases; large for two big distinct ones."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ab = a + b

    def ll(x):
        t = x.sum()
        x = x[x > 0]
        return float((x * np.log(x / t)).sum()) if t > 0 else 0.0

    return ll(a) + ll(b) - ll(ab)


def _likeness(sa, sb, major=0.05):
    """How unalike two chemistries are: the largest log ratio of a major element's shares."""
    hi, lo = np.maximum(sa, sb), np.minimum(sa, sb)
    m = hi >= major
    return float(np.max(np.log((hi[m] + 0.005) / (lo[m] + 0.005)))) if m.any() else 0.0


def merge_phases(spectra, labels, *, n_phases=None, beam_energy=None, elements=None, major=0.05, ratio=3.0,
                 z=5.0, image=None, dip_size=3, dip_share=None, inside=True, core=None, block_rows=None, client=None,
                 most=False, by_cost=False):
    """Merge phases that are not chemically distinct (or, with `n_phases`, the most alike down to it).

    Parameters
    ----------
    spectra : PhaseSpectra
        Summed spectra of the phases of ``labels``.
    labels : ndarray of int
        Phase of each pixel, -1 unassigned.
    n_phases : int, optional
        Merge the most alike phases until this many are left (whether distinct or not).
    by_cost : bool
        Merging down to `n_phases`, the pair that loses the least likelihood goes first (:func:`merge_cost`), not
        the pair of the most alike chemistries.
    most : bool
        With `n_phases`, a most: below it, phases that are not distinct are merged still (as without it), a major
        element's shares :data:`MOST_RATIO` apart making two (titanomagnetite and ilmenite, 2-3 times apart in Ti,
        stay two when asked for; the low-count path merges with the same factor).
    beam_energy : float, optional
    elements : sequence of str, optional
        Elements compared (default: those named in any phase spectrum, light ones left out).
    major, ratio, z : float
        As :func:`distinct_phases`.
    image : SpectrumImage, optional
        The map of ``labels`` (in memory): two phases of one chemistry whose pixels are two populations
        (:func:`._dip.dip_ratio`, neighbourhoods of ``dip_size``) are distinct too (without ``n_phases``: the
        order of the merges down to a number asked for is the chemistry's).
    dip_share : float, optional
        The dip's threshold (default :data:`._dip.DIP_SHARE`).
    inside : bool
        With ``image``, compare the chemistries of the phases' inside pixels (:func:`inside_sums`): the mixed
        pixels along a boundary pull each phase towards its neighbour (augite beside a basaltic glass under a
        1.5 px beam: Al 2.9 times apart over its phase's pixels, 4.4 times on its crystals' inside pixels).
    core : (K, C) ndarray, optional
        Those inside sums, already made (:func:`inside_sums`).
    block_rows, client
        For the pass over ``image`` that sums the inside pixels.

    Returns
    -------
    labels : ndarray of int
        Merged phases keep the number of the larger one; numbers are not compacted.
    sums : (K, C) ndarray
        Summed spectra, rows of merged-away phases zero.
    merged : list of dict
        ``{"phase", "into", "reason"}`` in the order done.
    """
    if not isinstance(spectra, quantify.PhaseSpectra):
        raise TypeError(f"`spectra` must be a PhaseSpectra (quantify.phase_spectra), got {type(spectra).__name__}.")
    n_phases = check_int(n_phases, "n_phases", allow_none=True)
    check_int(dip_size, "dip_size", high=99)
    _check_rule(major, ratio, z)
    lab = np.array(check_labels(labels, "labels"), copy=True)
    sums, n_pix = spectra.sums.astype(np.float64).copy(), spectra.n_pixels.astype(np.int64).copy()
    e = spectra.energy_keV
    if elements is None:
        found = {f["element"] for s in sums if s.sum() > 0 for f in quantify.lines_of(
            s, e, beam_energy=beam_energy, n_lines=12)}
        elements = sorted(found - set(LIGHT))
    elements = list(elements)
    merged = []
    alive = [p for p in range(len(sums)) if n_pix[p] > 0]
    dip = _dip_test(image, lab, sums, n_pix, dip_size, dip_share)
    zoned = zoned_test(image, lab, sums, n_pix, dip_size)
    grid = lab.reshape(image.shape[:2]) if image is not None and lab.size == np.prod(image.shape[:2]) else (
        lab if lab.ndim == 2 else None)
    thin = _thin_test(grid)
    if core is not None:
        core = check_array(core, "core", ndim=2, kind="biuf").astype(np.float64)
        if core.shape != sums.shape:
            raise ValueError(f"`core` must have the shape of the phase sums {sums.shape}, got {core.shape}.")
    else:
        core = inside_sums(image, grid, sums, block_rows, client) if inside else sums.copy()
    while len(alive) > 1 and elements:
        fill = n_phases is not None and len(alive) > n_phases  # merging down to a number asked for
        if n_phases is not None and not fill and not most:
            break
        shares, var = _shares(core[alive], e, tuple(elements), beam_energy)
        hosted = _hosted(shares)
        best = None
        for i in range(len(alive)):
            for j in range(i + 1, len(alive)):
                # minor elements count together between phases with insides only: a band of mixed pixels along
                # a boundary (P45 at 22 counts/px: groundmass with 10 % of a biotite's Fe, Mg, Ca) is no mineral
                differ, why = distinct_phases(shares[i], var[i], shares[j], var[j], elements, major=major,
                                              ratio=ratio if n_phases is None or fill else min(ratio, MOST_RATIO),
                                              z=z, together=not (thin(alive[i]) or thin(alive[j])))
                if differ and n_phases is None and zoned(alive[i], alive[j], shares[i], shares[j]):
                    differ, why = False, zoned(alive[i], alive[j], shares[i], shares[j])
                two = not differ and not fill and dip(alive[i], alive[j])
                if two:
                    differ, why = True, two
                # (no pair scores under one already found one mineral: its test is skipped then)
                one = differ and len(alive) <= FOREIGN_MOST and not (best is not None and best[0] <= -1.0) \
                    and thin(alive[i]) and thin(alive[j]) \
                    and ((hosted(i) and hosted(j) and one_foreign(
                        shares[i], shares[j], shares[[m for m in range(len(alive)) if m not in (i, j)]]))
                         or one_speck(shares[i], shares[j], shares[[m for m in range(len(alive))
                                                                    if m not in (i, j) and not thin(alive[m])]]))
                if differ and not one and not fill:
                    continue
                score, why = (-1.0, one) if one else (
                    (merge_cost(sums[alive[i]], sums[alive[j]]), why) if fill and by_cost else
                    (_likeness(shares[i], shares[j], major), why))
                if best is None or score < best[0]:
                    best = (score, i, j, why)
        if best is None:
            break
        _, i, j, why = best
        a, b = (alive[i], alive[j]) if n_pix[alive[i]] < n_pix[alive[j]] else (alive[j], alive[i])
        lab[lab == a] = b
        sums[b] += sums[a]
        core[b] += core[a]
        n_pix[b] += n_pix[a]
        sums[a], n_pix[a] = 0, 0
        alive.remove(a)
        merged.append(dict(phase=int(a), into=int(b), reason=why))
    return lab, sums, merged


def _excess(share, others, slack=0.0):
    """The part of ``share`` that no non-negative mixture of ``others`` explains (largest such mixture, an LP, which
    may pass each share by ``slack``), and the mixture's share of it."""
    from scipy.optimize import linprog

    if not len(others):
        return share, 0.0
    r = linprog(-np.ones(len(others)), A_ub=np.asarray(others).T, b_ub=share + slack, bounds=[(0, None)] * len(others),
                method="highs")
    c = r.x if r.status == 0 else np.zeros(len(others))
    return np.clip(share - np.asarray(others).T @ c, 0, None), float(c.sum())


def _hosted(shares, host=FOREIGN_HOST):
    """A test of whether phase ``i`` can pass :func:`one_foreign` with any partner: the largest mixture of all the
    other phases explains at least ``host[0]`` of its shares (without a partner among them it can only explain less,
    so a phase that fails here fails with every partner; one linear program per phase instead of one per pair)."""
    known = {}

    def test(i):
        if i not in known:
            known[i] = _excess(shares[i], np.delete(shares, i, axis=0))[1] >= host[0]
        return known[i]
    return test


def one_foreign(shares_a, shares_b, others, *, host=FOREIGN_HOST, cos=FOREIGN_COS):
    """Whether two phases are one mineral seen through different hosts (a grain with no pure pixel: its mixed
    pixels take the phase nearest their mixture, one per host): each is a mixture of the ``others`` for a share
    of its line counts within ``host`` (the largest non-negative mixture, an LP), and what no such mixture explains
    has one chemistry in both (cosine >= ``cos``). Alone this does not tell a glass (a mixture of its minerals)
    from such a mineral: :func:`merge_phases` applies it to thin phases only. Returns the reason, or ""."""
    ea, fa = _excess(shares_a, others)
    if not host[0] <= fa <= host[1] or not ea.any():
        return ""
    eb, fb = _excess(shares_b, others)
    if not host[0] <= fb <= host[1] or not eb.any():
        return ""
    c = float(ea @ eb / np.sqrt((ea @ ea) * (eb @ eb)))
    if c < cos:
        return ""
    return (f"{ONE_FOREIGN} ({100 * fa:.0f} % and {100 * fb:.0f} % of their line counts "
            f"are mixtures of other phases; the rest of each has one chemistry, cosine {c:.2f})")


def inside_sums(image, grid, sums, block_rows=None, client=None, least=INSIDE_LEAST):
    """Each phase's spectrum summed over its inside pixels (3 x 3 all of the phase: a beam that spreads over
    a pixel's neighbours mixes nothing else in), where it has ``least`` of them; its whole sum otherwise (no
    image, or a phase of boundaries only)."""
    from ._pixels import inside_pixels

    if image is None or grid is None:
        return sums.copy()
    ins = inside_pixels(grid)
    k = sums.shape[0]
    n_in = np.bincount(grid[ins & (grid >= 0)].ravel(), minlength=k)[:k]
    use = n_in >= least
    out = sums.copy()
    if use.any():
        got = quantify.phase_spectra(image, np.where(ins & (grid < k), grid, -1), k, block_rows=block_rows,
                                     client=client).sums
        out[use] = got[use]
    return out


def _thin_test(lab):
    """``test(p)``: whether phase ``p`` of a 2-D label map is thin (:func:`._pixels.is_thin`: no insides, the mixed
    pixels of a grain too small for a pure one); False on flat labels. Cached for the map as it was."""
    from ._pixels import is_thin

    if lab is None:
        return lambda p: False
    seen, now = {}, lab.copy()

    def test(p):
        if p not in seen:  # (setdefault would run the test on every call)
            seen[p] = is_thin(now, p)
        return seen[p]
    return test


def _dip_test(image, lab, sums, n_pix, size, share=None):
    """``test(a, b)``: the reason two phases of one chemistry are two populations, or "" (no image, a lazy one,
    or one population); cached for phases unchanged since."""
    from ._dip import DIP_SHARE, dip_ratio

    if image is None or image.is_lazy:
        return lambda a, b: ""
    seen = {}

    def test(a, b):
        key = (a, b, int(n_pix[a]), int(n_pix[b]))
        if key not in seen:
            r = dip_ratio(image.data, lab.reshape(image.shape[:2]), a, b, sums[a], sums[b], size=size)
            seen[key] = "" if r is None or r >= (DIP_SHARE if share is None else share) else (
                f"two populations: the density of their pixels between them is {r:.2f} of the lower one's")
        return seen[key]
    return test


def _check_rule(major, ratio, z):
    """The merge rule's numbers, finite and in range (NaN made every pair 'not distinct', so merged)."""
    check_number(major, "major", low=0, high=1, low_open=True)
    check_number(ratio, "ratio", low=1, low_open=True, high=1000)
    check_number(z, "z", low=0, high=1000)
