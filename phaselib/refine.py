"""Phases that mean something: merge phases a petrologist would call one, add the ones clustering missed.

Clustering with a fixed number of clusters splits big phases and merges small ones; the number
of PCA components above the noise counts directions of variation, not minerals (a zoned
plagioclase or a groundmass varying in K/Na adds components). After any clustering,
:func:`refine_phases` applies two tests, both stated here so their limits are clear:

Seed (:func:`seed_phases`)
    In the count-normalised PCA feature space (:meth:`~phaselib.decompose.Decomposition.features`)
    a pixel's scatter around its phase's centre, scaled by ``sqrt(counts)``, is the Poisson noise
    plus the phase's own variation. Each phase's scatter is estimated robustly (its covariance,
    then again without its 2 % worst pixels); a pixel whose Mahalanobis distance to every phase
    passes the ``chi2(m)`` quantile at ``p_value`` is explained by none. Unexplained pixels are
    clustered; a cluster of at least ``min_pixels`` whose centre is not a mixture of two phases
    (a mixed pixel at a grain boundary lies on the segment between the two centres) seeds a new
    phase, which takes the pixels nearer its centre than their own.
Merge (:func:`merge_phases`)
    Each phase sum spectrum gives the net counts of the main line of every element seen
    (:func:`phaselib.quantify.line_intensities`); their shares (O and C left out: they are in
    every silicate and oxide, and strongly absorbed) describe its chemistry. Two phases are
    *distinct* when some element holds >= ``major`` (5 %) of one and at most a third of that
    share in the other, and that difference is significant (> ``z`` Poisson sigmas). Zoning,
    Fe/Mg or Na/Ca exchange within a factor of 3, and pieces of one groundmass are therefore one
    phase; quartz / feldspar, albite / K-feldspar, augite / orthopyroxene, magnetite / ilmenite
    are two. Phases that are not distinct are merged, most alike first. With a number of phases
    asked for, the most alike pairs are merged until that number is reached instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import quantify
from ._validate import check_array, check_int, check_number

__all__ = ["Refinement", "distinct_phases", "merge_phases", "refine_phases", "seed_phases"]

#: elements left out of the chemistry of a phase (in nearly every mineral, strongly absorbed)
LIGHT = ("O", "C", "N", "B")


@dataclass(frozen=True, eq=False)
class Refinement:
    """Labels after :func:`refine_phases` and what changed.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Phases renumbered ``0..K-1`` in canonical order (most abundant first), -1 unassigned.
    spectra : PhaseSpectra
        Summed spectra of the new phases.
    changes : list of dict
        ``{"action": "added" | "merged", ...}`` with the phases involved (numbers of the
        clustering's phases; an added phase gets the next free number) and the reason.
    """

    labels: np.ndarray
    spectra: quantify.PhaseSpectra
    changes: list = field(default_factory=list)

    @property
    def n_phases(self) -> int:
        return self.spectra.sums.shape[0]


# ------------------------------------------------------------------------------------ seed
def _robust_scatter(x):
    """Mean and covariance of the rows of ``x``, again without the 2 % farthest (Mahalanobis)."""
    x = np.asarray(x, np.float64)
    mu, cov = x.mean(0), np.cov(x, rowvar=False) + 1e-9 * np.eye(x.shape[1])
    if x.shape[0] > 50:
        d2 = np.einsum("ij,jk,ik->i", x - mu, np.linalg.pinv(cov), x - mu)
        keep = d2 <= np.quantile(d2, 0.98)
        mu, cov = x[keep].mean(0), np.cov(x[keep], rowvar=False) + 1e-9 * np.eye(x.shape[1])
    return mu, cov


def _mahalanobis(features, scale, mu, cov, rows=1 << 18):
    """Squared Mahalanobis distance of every pixel to a phase (deviations scaled by sqrt(counts)),
    in chunks of rows (a full map's features are millions of rows)."""
    inv = np.linalg.pinv(cov).astype(np.float32)
    out = np.empty(len(features))
    for s in range(0, len(features), rows):
        r = (features[s:s + rows] - mu.astype(np.float32)) * scale[s:s + rows, None].astype(np.float32)
        out[s:s + rows] = np.einsum("ij,jk,ik->i", r, inv, r)
    return out


def _on_a_segment(c, centres, tol):
    """Whether ``c`` lies within ``tol`` of a segment between two centres (a mixture of two phases)."""
    for a in range(len(centres)):
        for b in range(a + 1, len(centres)):
            d = centres[b] - centres[a]
            t = np.clip(np.dot(c - centres[a], d) / max(np.dot(d, d), 1e-12), 0, 1)
            if np.linalg.norm(c - centres[a] - t * d) <= tol:
                return True
    return False


def _own_distance(x, lab, centres):
    """Distance of each pixel to its phase's centre (unassigned: to the nearest centre)."""
    dist = np.array([np.linalg.norm(x - c, axis=1) if c is not None else np.full(len(x), np.inf)
                     for c in centres]).T
    return np.where(lab >= 0, dist[np.arange(len(x)), np.maximum(lab, 0)], dist.min(1))


def seed_phases(features, pixel_sums, labels, *, p_value=1e-5, min_pixels=None, max_new=3, random_state=0):
    """Candidate new phases: clusters of pixels that no phase explains (see the module docstring).

    Parameters
    ----------
    features : (N, m) ndarray
        Count-normalised scores (``Decomposition.features(m)``), ``m`` a few more than used to cluster.
    pixel_sums : (N,) ndarray
        Counts of each pixel.
    labels : (N,) int ndarray
        Phase of each pixel, -1 unassigned.
    p_value : float
        Chance that a pixel of a phase is called unexplained.
    min_pixels : int, optional
        Smallest new phase; default ``max(20, 5e-4 N)`` (a phase of 0.1 % of the map is found
        when half of its pixels stand out).
    max_new : int
        Most candidates.
    random_state : int

    Returns
    -------
    list of dict
        Per candidate: ``members`` (indices of its unexplained pixels) and ``take`` (boolean
        (N,): the unusual pixels nearer its centre than their own phase's, which it would take).
        Candidates whose centre is a mixture of two phases' are left out.
    """
    from scipy.stats import chi2

    from .cluster import kmeans

    x = check_array(features, "features", ndim=2, kind="iuf").astype(np.float32, copy=False)
    lab = check_array(labels, "labels", ndim=1, kind="iu").astype(np.int64)
    g = check_array(pixel_sums, "pixel_sums", ndim=1, kind="iuf").astype(np.float64)
    n, m = x.shape
    p_value = check_number(p_value, "p_value", low=0, high=1, low_open=True, high_open=True)
    min_pixels = max(20, int(5e-4 * n)) if min_pixels is None else check_int(min_pixels, "min_pixels")
    scale = np.sqrt(np.maximum(g, 1.0))
    k = int(lab.max()) + 1
    counts = np.bincount(lab[lab >= 0], minlength=k)
    centres = [x[lab == p].mean(0, dtype=np.float64) if counts[p] else None for p in range(k)]
    covs = {p: _robust_scatter(x[lab == p] * scale[lab == p, None])[1] for p in range(k) if counts[p] > 2 * m}
    if not covs:
        return []
    pooled = np.median(np.stack(list(covs.values())), axis=0)  # for phases too small to have their own
    d2 = np.full((n, k), np.inf)
    for p, c in enumerate(centres):
        if c is not None:
            d2[:, p] = _mahalanobis(x, scale, c, covs.get(p, pooled))
    worst = d2.min(1)
    unexplained = np.flatnonzero(worst > chi2.ppf(1 - p_value, m))
    unusual = worst > chi2.ppf(0.99, m)
    if unexplained.size < min_pixels:
        return []
    n_groups = int(min(max_new, unexplained.size // min_pixels))
    groups = kmeans(x[unexplained], n_groups, random_state=random_state).labels if n_groups > 1 \
        else np.zeros(unexplained.size, int)
    known = np.array([c for c in centres if c is not None])
    own = _own_distance(x, lab, centres)
    out = []
    for grp in range(n_groups):
        members = unexplained[groups == grp]
        if members.size < min_pixels:
            continue
        c = x[members].mean(0)
        nearest = min(np.linalg.norm(c - k_) for k_ in known)
        if _on_a_segment(c, known, 0.25 * nearest):
            continue
        take = unusual & (np.linalg.norm(x - c, axis=1) < own)
        if np.count_nonzero(take) >= min_pixels:
            out.append(dict(members=members, take=take))
    return out


# ----------------------------------------------------------------------------------- merge
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


def distinct_phases(shares_a, var_a, shares_b, var_b, elements, *, major=0.05, ratio=3.0, z=5.0):
    """Whether two phases' chemistries differ as two minerals do (see the module docstring).

    Parameters
    ----------
    shares_a, var_a, shares_b, var_b : (E,) ndarray
        Shares of the elements' net line counts in each phase, and their variances.
    elements : sequence of str
    major, ratio, z : float
        An element of share >= ``major`` in one phase and at most ``1 / ratio`` of it in the
        other, with a difference of more than ``z`` sigmas, makes the phases distinct.

    Returns
    -------
    distinct : bool
    reason : str
        The element that decides, with its shares.
    """
    hi, lo = np.maximum(shares_a, shares_b), np.minimum(shares_a, shares_b)
    sig = np.abs(shares_a - shares_b) / np.sqrt(var_a + var_b + 1e-18)
    key = (hi >= major) & (lo * ratio <= hi) & (sig > z)
    order = np.argsort(-(hi - lo))
    for i in order:
        if key[i]:
            return True, f"{elements[i]} {100 * shares_a[i]:.1f} % vs {100 * shares_b[i]:.1f} % of the line counts"
    i = order[0] if len(order) else None
    return False, ("no major element differs by a factor of 3" if i is None else
                   f"same major elements (largest difference {elements[i]} {100 * shares_a[i]:.1f} % vs "
                   f"{100 * shares_b[i]:.1f} %)")


def _likeness(sa, sb, major=0.05):
    """How unalike two chemistries are: the largest log ratio of a major element's shares."""
    hi, lo = np.maximum(sa, sb), np.minimum(sa, sb)
    m = hi >= major
    return float(np.max(np.log((hi[m] + 0.005) / (lo[m] + 0.005)))) if m.any() else 0.0


def merge_phases(spectra, labels, *, n_phases=None, beam_energy=None, elements=None, major=0.05, ratio=3.0,
                 z=5.0):
    """Merge phases that are not chemically distinct (or, with `n_phases`, the most alike down to it).

    Parameters
    ----------
    spectra : PhaseSpectra
        Summed spectra of the phases of ``labels``.
    labels : ndarray of int
        Phase of each pixel, -1 unassigned.
    n_phases : int, optional
        Merge the most alike phases until this many are left (whether distinct or not).
    beam_energy : float, optional
    elements : sequence of str, optional
        Elements compared (default: those named in any phase spectrum, light ones left out).
    major, ratio, z : float
        As :func:`distinct_phases`.

    Returns
    -------
    labels : ndarray of int
        Merged phases keep the number of the larger one; numbers are not compacted.
    sums : (K, C) ndarray
        Summed spectra, rows of merged-away phases zero.
    merged : list of dict
        ``{"phase", "into", "reason"}`` in the order done.
    """
    lab = np.array(labels, copy=True)
    sums, n_pix = spectra.sums.astype(np.float64).copy(), spectra.n_pixels.astype(np.int64).copy()
    e = spectra.energy_keV
    if elements is None:
        found = {f["element"] for s in sums if s.sum() > 0 for f in quantify.identify_lines(
            s, e, beam_energy=beam_energy, n_lines=12)}
        elements = sorted(found - set(LIGHT))
    elements = list(elements)
    merged = []
    alive = [p for p in range(len(sums)) if n_pix[p] > 0]
    while len(alive) > 1 and elements:
        if n_phases is not None and len(alive) <= n_phases:
            break
        shares, var = _shares(sums[alive], e, tuple(elements), beam_energy)
        best = None
        for i in range(len(alive)):
            for j in range(i + 1, len(alive)):
                differ, why = distinct_phases(shares[i], var[i], shares[j], var[j], elements, major=major,
                                              ratio=ratio, z=z)
                if differ and n_phases is None:
                    continue
                score = _likeness(shares[i], shares[j], major)
                if best is None or score < best[0]:
                    best = (score, i, j, why)
        if best is None:
            break
        _, i, j, why = best
        a, b = (alive[i], alive[j]) if n_pix[alive[i]] < n_pix[alive[j]] else (alive[j], alive[i])
        lab[lab == a] = b
        sums[b] += sums[a]
        n_pix[b] += n_pix[a]
        sums[a], n_pix[a] = 0, 0
        alive.remove(a)
        merged.append(dict(phase=int(a), into=int(b), reason=why))
    return lab, sums, merged


# ---------------------------------------------------------------------------------- refine
def refine_phases(image, labels, features=None, pixel_sums=None, *, n_phases=None, spectra=None, seed=True,
                  merge=True, p_value=1e-5, min_pixels=None, min_counts=150.0, random_state=0, block_rows=None,
                  client=None):
    """Seed missed phases, then merge phases that are one (see the module docstring).

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
        Phases of a clustering, -1 unassigned.
    features, pixel_sums : (H*W, m), (H, W) ndarray, optional
        Count-normalised PCA features and counts per pixel, for seeding.
    n_phases : int, optional
        The number of phases asked for: phases are still seeded, then the most alike merged
        until this many are left. Default: merge every pair that is not distinct.
    spectra : PhaseSpectra, optional
        Phase sums of ``labels`` (saves a pass over the map when nothing is seeded).
    seed, merge : bool
        Run each test. Seeding needs pixels that hold enough counts to stand out one by one: it
        is skipped below ``min_counts`` counts per pixel (the low-count path seeds on its binned
        start instead).
    p_value, min_pixels, random_state
        As :func:`seed_phases`.

    Returns
    -------
    Refinement
    """
    lab = check_array(labels, "labels", ndim=2, kind="iu").astype(np.int64)
    before = lab
    h, w = lab.shape
    changes = []
    if seed and features is not None and pixel_sums is not None and np.mean(pixel_sums) >= min_counts:
        lab, spectra, added = _seed(image, lab, features, pixel_sums, spectra, p_value=p_value,
                                    min_pixels=min_pixels, random_state=random_state, block_rows=block_rows,
                                    client=client)
        changes += added
    k = int(lab.max()) + 1
    if spectra is None or spectra.sums.shape[0] != k:
        spectra = quantify.phase_spectra(image, lab, k, block_rows=block_rows, client=client)
    sums, n_pix = spectra.sums, spectra.n_pixels
    if merge:
        seeded = lab
        lab, sums, merged = merge_phases(spectra, lab, n_phases=n_phases, beam_energy=image.beam_energy)
        changes += [dict(action="merged", **m) for m in merged]
        lab, sums, changes = _undo_merged_seeds(image, before, seeded, lab, sums, changes, block_rows, client)
        n_pix = np.bincount(lab[lab >= 0].ravel(), minlength=k)[:k]
    if not [c for c in changes if c["action"] != "rejected"]:
        k0 = int(before.max()) + 1
        same = np.array_equal(lab, before) and spectra.sums.shape[0] == k0
        return Refinement(before.astype(np.int16), spectra if same else
                          quantify.phase_spectra(image, before, k0, block_rows=block_rows, client=client), changes)
    keep = np.flatnonzero(n_pix > 0)
    order = keep[np.argsort(-n_pix[keep], kind="stable")]  # canonical: most abundant first
    lut = np.full(k + 1, -1, np.int64)
    lut[order] = np.arange(order.size)
    out = lut[np.where(lab >= 0, lab, k)].astype(np.int16)
    return Refinement(out, quantify.PhaseSpectra(sums[order], n_pix[order], spectra.energy_keV, spectra.total),
                      changes)


def _is_mixture(spectrum, phases, tol=0.3):
    """Whether a (normalised) spectrum is close to a mixture of the phases' (pixels straddling
    boundaries, or the noise tails of several phases): the residual of its non-negative
    least-squares fit by them is under ``tol`` times its distance to the nearest phase."""
    from scipy.optimize import nnls

    phases = np.asarray(phases, np.float64)
    nearest = min(np.linalg.norm(spectrum - p) for p in phases)
    _, residual = nnls(phases.T, np.asarray(spectrum, np.float64))
    return residual <= tol * nearest


def _seed(image, lab, features, pixel_sums, spectra, *, block_rows, client, **options):
    """Accept the candidates of :func:`seed_phases` whose unexplained pixels' chemistry is
    distinct from every phase's; they take their pixels."""
    h, w = lab.shape
    candidates = seed_phases(features, np.ravel(pixel_sums), lab.ravel(), **options)
    if not candidates:
        return lab, spectra, []
    k = int(lab.max()) + 1
    probe = lab.ravel().copy()
    for i, cand in enumerate(candidates):
        probe[cand["members"]] = k + i
    both = quantify.phase_spectra(image, probe.reshape(h, w), k + len(candidates), block_rows=block_rows,
                                  client=client)
    found = {f["element"] for s in both.sums if s.sum() > 0
             for f in quantify.identify_lines(s, both.energy_keV, beam_energy=image.beam_energy, n_lines=12)}
    elements = tuple(sorted(found - set(LIGHT)))
    shares, var = _shares(both.sums, both.energy_keV, elements, image.beam_energy)
    flat, added = lab.ravel().copy(), []
    norm = both.sums / np.maximum(both.sums.sum(1, keepdims=True), 1.0)
    present = [p for p in range(k) if both.n_pixels[p] > 0]
    for i, cand in enumerate(candidates):
        j = k + i
        if _is_mixture(norm[j], norm[present]):
            continue
        verdicts = [distinct_phases(shares[j], var[j], shares[p], var[p], elements)
                    for p in range(k) if both.n_pixels[p] > 0]
        if not all(d for d, _ in verdicts):
            continue
        new = int(flat.max()) + 1
        flat[cand["take"] & (flat < k)] = new
        added.append(dict(action="added", phase=new, n_pixels=int(np.count_nonzero(flat == new)),
                          n_unexplained=int(cand["members"].size),
                          reason="pixels no phase explains (chi-square test of their distance to every phase), "
                                 "chemically distinct from every phase: " + "; ".join(r for _, r in verdicts[:2])))
    if not added:
        return lab, spectra, []
    return flat.reshape(h, w), None, added


def _undo_merged_seeds(image, before, seeded, lab, sums, changes, block_rows, client):
    """A phase added by seeding and then merged into another was not a phase: its pixels go back
    to the phases they had, and both records become one ``"rejected"`` note."""
    added = {c["phase"] for c in changes if c["action"] == "added"}
    undone = {c["phase"] for c in changes if c["action"] == "merged" and c["phase"] in added}
    if not undone:
        return lab, sums, changes
    back = np.isin(seeded, list(undone))
    lab = lab.copy()
    lab[back] = before[back]
    notes = [dict(action="rejected", phase=c["phase"], reason=f"seeded, then merged back ({c['reason']})")
             for c in changes if c["action"] == "merged" and c["phase"] in undone]
    changes = [c for c in changes if c.get("phase") not in undone] + notes
    sums = quantify.phase_spectra(image, lab, sums.shape[0], block_rows=block_rows, client=client).sums
    return lab, sums, changes
