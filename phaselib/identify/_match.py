"""Name a composition after the closest minerals of the table (:func:`match_minerals`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import phaselib.identify._mixture as _mixture

from .._validate import check_int, check_number
from ._calibrate import FULL_SHARE, MIN_SHARE, map_sensitivities
from ._composition import Composition
from ._table import Mineral, default_table, read_table

#: tolerance on each cation fraction beyond counting errors: relative part, absolute part
REL_TOL, ABS_TOL = 0.10, 0.01
#: tolerance on the relative difference of oxygen per cation (measured O K line)
O_TOL = 0.6
#: mixtures with other phases are tried below this best single score
MIX_BELOW = 0.85
#: two minerals whose scores are closer than this are a tie, named after the one listed first in the table (P45's
#: Fe oxide read magnetite 0.963 / hematite 0.961 on the map, hematite 0.965 / magnetite 0.965 on it with a corner
#: emptied, after a change of the fit's third decimal: a name that flips on that is no reading of the data)
TIE = 0.005
#: a series index this close to the boundary between two names makes the name ambiguous
SERIES_NEAR = 3.0
#: a mineral's score with some of another phase of the map replaces its own if higher by this
NEIGHBOUR_GAIN = 0.05


@dataclass(frozen=True)
class Candidate:
    """A mineral of the table and how well it fits a composition.

    Attributes
    ----------
    name : str
        Common name.
    group : str
    detail : str
        Solid-solution index of the best fit within the row's range (``"An62"``); for a
        mixture, its shares (``"quartz 55 %, K-feldspar 45 %"``, ``"with 35 % of phase 0"``).
    score : float
        In [0, 1]: 1 minus the summed cation-fraction differences, each softened within its
        tolerance (see :func:`match_minerals`).
    distance : float
        Plain L1 distance between measured and table cation fractions (0..2).
    """

    name: str
    group: str
    detail: str
    score: float
    distance: float

    def label(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


@dataclass(frozen=True, eq=False)
class PhaseName:
    """The name of a phase, with the evidence.

    Attributes
    ----------
    best : str
        Common name of the best candidate, or ``"unknown"``.
    score : float
        The best candidate's score (0 when there is no composition).
    ambiguous : bool
        Another mineral (not a neighbour in the same solid-solution series) scores within
        the margin of the best, or the best's series index is within 3 of a naming boundary
        (An29: oligoclase or andesine), or the phase is named after a grain that is less than
        half of it (see :func:`match_minerals`).
    text : str
        Short summary, e.g. ``"olivine (Fo80) 0.95, enstatite (En79) 0.72"``.
    candidates : tuple of Candidate
        Single minerals, best first.
    composition : Composition or None
    reason : str
        Why the phase is unknown (empty otherwise).
    group : str
        Mineral group of ``best`` (``"plagioclase"``, ``"olivine"``, ``"spinel group"``...),
        ``""`` when unknown.
    """

    best: str
    score: float
    ambiguous: bool
    text: str
    candidates: tuple
    composition: Composition | None
    reason: str = ""
    group: str = ""

    def __repr__(self) -> str:
        flag = ", ambiguous" if self.ambiguous else ""
        return f"<PhaseName {self.text or self.best}{flag}>"

    def summary(self) -> dict:
        """What a result's ``summary.json`` says of the name: best, score, ambiguity, runners-up, composition."""
        comp = self.composition
        return dict(best=self.best, group=self.group, score=round(float(self.score), 3),
                    ambiguous=bool(self.ambiguous), text=self.text, reason=self.reason,
                    candidates=[[c.name, c.detail, round(float(c.score), 3)] for c in self.candidates[:5]],
                    atomic_percent=None if comp is None else {k: round(v, 2) for k, v in comp.as_dict().items()},
                    sensitivity={} if comp is None else dict(comp.sensitivity))


def _huber(d, t):
    return np.where(d <= t, d * d / (2 * t), d - t / 2)


def _signature(rows, elements):
    """(n, E) cation fractions and (n,) oxygen per cation of minerals."""
    m = np.zeros((len(rows), len(elements)))
    for i, r in enumerate(rows):
        for el, f in r.cations().items():
            m[i, elements.index(el)] = f
    return m, np.array([r.oxygen_per_cation for r in rows])


@lru_cache(maxsize=8)
def _series_points(table):
    """Candidate points of a table: (elements, rows, x index or nan, (n, E) cation fractions, (n,) O per
    cation); a series row gives one point per unit of its index within its range."""
    elements = sorted({el for r in table for el in r.cations()})
    owner, xs, sig, oxy = [], [], [], []
    series = {}
    for i, r in enumerate(table):
        if r.series:
            series.setdefault((r.group, r.series), []).append(i)
        else:
            s, o = _signature([r], elements)
            owner.append(i)
            xs.append(np.nan)
            sig.append(s)
            oxy.append(o)
    for idx in series.values():
        idx = sorted(idx, key=lambda i: table[i].x)
        s, o = _signature([table[i] for i in idx], elements)
        anchors = np.array([table[i].x for i in idx])
        for i in idx:
            r = table[i]
            grid = np.arange(max(r.lo, anchors[0]), min(r.hi, anchors[-1]) + 0.5, 1.0)
            if grid.size == 0:
                grid = np.array([r.x])
            sig.append(np.array([np.interp(grid, anchors, s[:, k]) for k in range(len(elements))]).T)
            oxy.append(np.interp(grid, anchors, o))
            owner += [i] * grid.size
            xs += list(grid)
    return tuple(elements), np.array(owner), np.array(xs), np.vstack(sig), np.concatenate(oxy)


def _scores(x, err, o_meas, sig, oxy):
    """Scores and plain L1 distances of measured cation fractions against signatures."""
    diff = np.abs(sig - x)
    tol = 2 * err + REL_TOL * np.maximum(sig, x) + ABS_TOL
    cost = _huber(diff, tol).sum(axis=-1)
    if o_meas is not None:
        rel = np.abs(oxy - o_meas) / np.maximum(np.maximum(oxy, o_meas), 0.05)
        cost = cost + _huber(rel, O_TOL)
    return np.clip(1.0 - cost, 0.0, 1.0), diff.sum(axis=-1)


def _check_table(table):
    if table is None:
        return default_table()
    if isinstance(table, str) or hasattr(table, "__fspath__"):
        return read_table(table)
    try:
        rows = tuple(table)
    except TypeError:
        raise TypeError("`table` must be a path to a mineral CSV or a sequence of Mineral.") from None
    if not rows or not all(isinstance(r, Mineral) for r in rows):
        raise TypeError("`table` must be a path to a mineral CSV or a sequence of Mineral.")
    return rows


def _vector(comp, elements, oxygen_scale):
    """(cation fractions (E,), their errors (E,), oxygen per cation or None) of a composition."""
    cat, frac, err = comp.cations()
    x, e = np.zeros(len(elements)), np.zeros(len(elements))
    for el, f, s in zip(cat, frac, err):
        x[elements.index(el)], e[elements.index(el)] = f, s
    o = None
    if cat and comp.oxygen_ratio == comp.oxygen_ratio:  # O K measured: oxygen per cation from it
        d = comp.as_dict()
        o = d.get("O", 0.0) / sum(d[el] for el in cat)
        o = o * comp.oxygen_ratio * oxygen_scale if comp.oxygen == "stoichiometry" else o * oxygen_scale
    return x, e, o


def calibrate(comps, *, table=None, oxygen_scale=1.0, max_uncertainty=0.2):
    """A map's compositions with the element sensitivities fitted on its phases (see
    :mod:`phaselib.identify._calibrate`): (compositions, element -> factor; empty when none moved).
    Phases too uncertain to be named (``max_uncertainty``, see :func:`match_minerals`) do not vote,
    nor do those with under 1 % of the counts; those under 5 % weigh less (small grains: their
    pixels hold their neighbours' X-rays too, which the single minerals fitted cannot explain)."""
    rows = _check_table(table)
    table_elements, _, _, sig, oxy = _series_points(rows)
    good = [c for c in comps if c is not None and c.cations()[0]]
    extra = sorted(set().union(*(c.cations()[0] for c in good)) - set(table_elements))
    elements = list(table_elements) + extra
    sig = np.hstack([sig, np.zeros((sig.shape[0], len(extra)))])
    total = sum(c.total_counts for c in good)
    vectors = [(*v, min(1.0, c.total_counts / total / FULL_SHARE))
               for c, v in ((c, _vector(c, elements, oxygen_scale)) for c in good)
               if 2 * v[1].sum() <= max_uncertainty and c.total_counts >= MIN_SHARE * total]
    read = dict(kv for c in good for kv in c.line_energies().items())
    energies = np.array([read.get(el, np.nan) for el in elements])
    f, _ = map_sensitivities(vectors, energies, _scores, sig, oxy)
    factors = {el: float(v) for el, v in zip(elements, f) if el in read and abs(v - 1.0) > 1e-6}
    if not factors:
        return list(comps), {}
    return [None if c is None else c.rescaled(factors) for c in comps], factors


def _listing(ranked, top, top_key, margin):
    """The best, then up to two runners-up: other minerals, or a neighbour in the best's series
    that scores within the margin (the index is then near a range boundary)."""
    listed, seen = [top], {top_key}
    for c, key in ranked:
        near = key == top_key and c.score >= top.score - margin
        if len(listed) < 3 and (near or key not in seen) and c.score >= min(0.5, top.score):
            listed.append(c)
            seen.add(key)
    return ", ".join(f"{c.label()} {c.score:.2f}" for c in listed)


def match_minerals(comp: Composition, *, table=None, min_score=0.5, max_uncertainty=0.2, margin=0.05,
                   n_candidates=5, mixtures=True, neighbours=None, oxygen_scale=1.0) -> PhaseName:
    """Rank the minerals of a table by how well their cations fit a composition.

    The signature of a composition is its cation fractions (every element but H, Li, Be, B,
    C, N, O, F; they sum to 1) and, when the O K line was measured, its oxygen per cation.
    For a mineral of cation fractions ``m`` the score is ::

        1 - sum_i huber(|x_i - m_i|, t_i) - huber(|o - o_m| / max(o, o_m), 0.6)

    with ``t_i = 2 sigma_i + 0.1 max(x_i, m_i) + 0.01`` (``sigma_i`` the counting error of
    ``x_i``; the rest is the semi-quantitative error) and ``huber(d, t) = d^2 / 2t`` below
    ``t``, ``d - t/2`` above: differences within the tolerance cost little, larger ones count
    in full, so a score is roughly the share of the cations in agreement (1: all, 0: none).
    Solid solutions (table rows with a series index) are fitted along their series, and each
    named range reports its best index (``"An62"``).

    When no mineral scores 0.85, each is also scored as a grain whose pixels hold 5-80 % of
    one of ``neighbours`` (beam spread and boundary pixels around small grains;
    :mod:`phaselib.identify._mixture`), which replaces its own score if 0.05 higher
    (``detail`` then says ``"with 30% of phase 0"``; a phase named after a mineral that is
    less than half of it is flagged ambiguous). Not on a phase whose uncertainty is above
    0.75 ``max_uncertainty``: the extra freedom would fit noise. Mixtures of two table
    minerals are not tried: too many pairs fit any composition (a chlorite is olivine +
    sillimanite), so a fine-grained aggregate gets its closest single name (a
    quartz-feldspar groundmass: ``"rhyolitic glass"``, with the runners-up).

    Parameters
    ----------
    comp : Composition
    table : path or sequence of Mineral, optional
        Default: ``minerals.csv`` (:func:`mineral_table`).
    min_score : float
        A best score below this names the phase ``"unknown"``.
    max_uncertainty : float
        A phase whose counting errors allow an L1 change of the cation fractions larger than
        this (``sum_i 2 sigma_i``) is ``"unknown"`` (too few counts).
    margin : float
        Another mineral within this score of the best makes the name ambiguous.
    n_candidates : int
    mixtures : bool
        Try mixtures with ``neighbours`` when no single mineral fits well.
    neighbours : dict, optional
        label -> Composition of other phases of the map, for mixtures with them.
    oxygen_scale : float
        Factor on the measured oxygen (e.g. 1 / the map's median ``oxygen_ratio`` of its
        silicate and oxide phases, as :func:`name_phases` does: a detector's efficiency at
        O K is rarely known well).

    Returns
    -------
    PhaseName
    """
    if not isinstance(comp, Composition):
        raise TypeError(f"`comp` must be a Composition, got {type(comp).__name__}.")
    rows = _check_table(table)
    min_score = check_number(min_score, "min_score", low=0, high=1)
    max_unc = check_number(max_uncertainty, "max_uncertainty", low=0, low_open=True)
    margin = check_number(margin, "margin", low=0, high=1)
    n_candidates = check_int(n_candidates, "n_candidates", low=1)
    oxygen_scale = check_number(oxygen_scale, "oxygen_scale", low=0, low_open=True)
    neighbours = dict(neighbours or {})
    if not all(isinstance(c, Composition) for c in neighbours.values()):
        raise TypeError("`neighbours` must map labels to Composition objects.")
    cat = comp.cations()[0]
    if not cat:
        return PhaseName("unknown", 0.0, False, "unknown (no cation found)", (), comp, "no cation found")
    table_elements, owner, xs, sig, oxy = _series_points(rows)
    extra = set(cat).union(*(c.cations()[0] for c in neighbours.values())) - set(table_elements)
    elements = list(table_elements) + sorted(extra)
    sig = np.hstack([sig, np.zeros((sig.shape[0], len(extra)))])
    x, e, o_meas = _vector(comp, elements, oxygen_scale)
    score, dist = _scores(x, e, o_meas, sig, oxy)
    uncertainty = float(2 * e.sum())
    mixing = mixtures and score.max() < MIX_BELOW and uncertainty <= 0.75 * max_unc
    detail = [f"{rows[owner[k]].series}{xs[k]:.0f}" if rows[owner[k]].series else "" for k in range(len(owner))]
    minor_share = np.zeros(len(owner))
    nb = [(label, *_vector(c, elements, oxygen_scale)) for label, c in neighbours.items()]
    nb = [t for t in nb if t[1].sum() > 0 and 2 * t[2].sum() <= max_unc]
    if mixing and nb:  # each mineral also as a grain holding some of another phase of the map
        s_nb, d_nb, label, share = _mixture.with_neighbours(_scores, x, e, o_meas, sig, oxy, nb)
        use = s_nb >= score + NEIGHBOUR_GAIN
        # a mineral that would be under half of the phase's cations must also beat the best single
        # mineral by the gain: a small share of anything, added to a neighbour, fits many phases
        use &= (share >= 0.5) | (s_nb >= score.max() + NEIGHBOUR_GAIN)
        score, dist = np.where(use, s_nb, score), np.where(use, d_nb, dist)
        for k in np.flatnonzero(use):
            detail[k] = ", ".join(filter(None, [detail[k], f"with {1 - share[k]:.0%} of {label[k]}"]))
            minor_share[k] = share[k] < 0.5
    best = {}
    for k in np.lexsort((dist, -score)):
        r = rows[owner[k]]
        if r.name not in best:
            c = Candidate(r.name, r.group, detail[k], round(float(score[k]), 3), round(float(dist[k]), 3))
            best[r.name] = (c, (r.group, r.series) if r.series else r.name, k)
    entries = list(best.values())
    if len(entries) > 1 and entries[1][1] != entries[0][1] and entries[0][0].score - entries[1][0].score < TIE \
            and owner[entries[1][2]] < owner[entries[0][2]]:
        entries[:2] = entries[1::-1]
    ranked = [(c, key) for c, key, _ in entries]
    cands = tuple(c for c, _ in ranked[:n_candidates])
    (top, top_key), k_top = ranked[0], entries[0][2]
    rivals = [c for c, key in ranked[1:] if key != top_key and c.score >= top.score - margin]
    # also ambiguous: named after a grain that is less than half of its phase, or an index at
    # the boundary between two names of a series (e.g. An29: oligoclase or andesine)
    rivals += [top] if minor_share[k_top] or _at_boundary(rows, owner[k_top], xs[k_top]) else []
    text = _listing(ranked[1:], top, top_key, margin)
    reason = ""
    score_best = top.score
    if uncertainty > max_unc:
        reason = f"too few counts (cation fractions uncertain by {uncertainty:.2f})"
    elif score_best < min_score:
        reason = f"no mineral of the table fits (best score {score_best:.2f})"
    if reason:
        return PhaseName("unknown", score_best, True, f"unknown ({reason}; closest: {text})", cands, comp, reason)
    return PhaseName(top.name, score_best, bool(rivals), text, cands, comp, "", top.group)


def _at_boundary(rows, i, x):
    r = rows[i]
    if not r.series:
        return False
    inner = {b for q in rows if q.series == r.series and q.group == r.group and q.name != r.name
             for b in (q.lo, q.hi)}
    return any(abs(x - b) <= SERIES_NEAR for b in (r.lo, r.hi) if b in inner)
