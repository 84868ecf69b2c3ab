"""Both tests after a clustering: :func:`refine_phases` -> :class:`Refinement`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from scipy.ndimage import uniform_filter

from .. import quantify
from .._validate import MAX_ITER, check_array, check_int, check_number, check_seed
from ._dip import ASKED_DIP_SHARE
from ._merge import LIGHT, ONE_FOREIGN, _shares, distinct_phases, inside_sums, merge_phases
from ._mixed import boundary_phases, give_to_neighbours, own_element_phases
from ._pixels import inside_pixels
from ._seed import seed_phases
from ._split import halves, is_mixture, split_phases

#: :func:`split_populations`: halves whose dip is under this are cut again at their valley (:func:`._dip.valley_cut`)
#: and tested on it. A random rock's andesine (35 %) holding labradorite (12 %) scored 0.52 on its 2-means halves
#: (each andesine, one with the labradorite) and 0.36 on the valley's (andesine | labradorite). Under 1.0 (one
#: population cut along its main axis scores 1.0-1.6), the valley of a zoned calcite beside K-feldspar under a 1 px
#: beam scored 0.52 and, with K asked for (threshold 0.8), a band of its rim became a phase (ARI 0.91 -> 0.77)
VALLEY_BELOW = 0.8


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


def describe_change(change) -> str:
    """One line for a phase added, merged or rejected (numbers are the clustering's)."""
    if not isinstance(change, dict) or not isinstance(change.get("action"), str) or "reason" not in change:
        raise TypeError(f"`change` must be a change of Refinement.changes (a dict with an action and a reason), "
                        f"got {type(change).__name__}.")
    if change["action"] == "merged":
        return f"merged phase {change['phase']} into {change['into']}: {change['reason']}"
    if change["action"] == "added":
        return f"added a phase ({change['n_pixels']} px): {change['reason']}"
    if change["action"] == "split":
        return f"split phase {change['phase']} ({change['n_pixels']} px to a new phase): {change['reason']}"
    if change["action"] == "dissolved":
        return f"dissolved phase {change['phase']} ({change['n_pixels']} px): {change['reason']}"
    if change["action"] == "fewer":
        return change["reason"]
    return f"{change['action']} phase {change.get('phase')}: {change['reason']}"


def refine_phases(image, labels, features=None, pixel_sums=None, *, n_phases=None, spectra=None, seed=True,
                  split=True, merge=True, dissolve=True, bands=True, p_value=1e-5, min_pixels=None, min_counts=150.0,
                  random_state=0, block_rows=None, client=None, dip_size=3, ratio=3.0, by_cost=False,
                  split_features=None):
    """Seed missed phases, then merge phases that are one (see the module docstring).

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
        Phases of a clustering, -1 unassigned.
    features, pixel_sums : (H*W, m), (H, W) ndarray, optional
        Count-normalised PCA features and counts per pixel, for seeding.
    split_features : (H*W, m') ndarray, optional
        Features the split test also cuts the phases it did not split on (the components above the noise: the extra
        ones of ``features``, kept for seeding, can steer a cut along noise; a 38 x 40 crop of P45 kept its 9 %
        andesine in the glass, cut 175 glass + 128 andesine vs 1196 + 9).
    n_phases : int, optional
        The number of phases asked for, a most: phases are still seeded, then the most alike merged
        until this many are left, and below it those of one chemistry (:data:`._merge.MOST_RATIO`). Default: merge
        every pair that is not distinct. With a number asked for, the
        split test cuts each phase on the 3 x 3 means of its features and keeps two populations of one chemistry
        apart at a shallower dip (:data:`._dip.ASKED_DIP_SHARE`).
    spectra : PhaseSpectra, optional
        Phase sums of ``labels`` (saves a pass over the map when nothing is seeded).
    seed, split, merge, dissolve : bool
        Run each test (:mod:`._seed`, :mod:`._split`, :mod:`._merge`, :mod:`._mixed`). Seeding needs pixels that
        hold enough counts to stand out one by one: it is skipped below ``min_counts`` counts per
        pixel (the low-count path seeds on its binned start instead).
    bands : bool
        Dissolve bands of mixed pixels a few pixels wide before the merge (:mod:`._mixed`), where
        pixels hold ``min_counts`` or more on average (the low-count path leaves them out: its
        binned start holds thin true phases that such a test would take).
    p_value, min_pixels, random_state
        As :func:`seed_phases`.
    dip_size : int
        Neighbourhood of the dip test (:mod:`._dip`) that splits and keeps apart two populations of one
        chemistry; 1 on a binned map (the low-count path's start).
    ratio : float
        Factor between a major element's shares that makes two phases distinct (:func:`merge_phases`).
    by_cost : bool
        Merging down to ``n_phases`` by the likelihood each merge loses (:func:`merge_phases`).

    Returns
    -------
    Refinement
    """
    n_phases = check_int(n_phases, "n_phases", allow_none=True)
    check_number(p_value, "p_value", low=0, high=1, low_open=True, high_open=True)
    min_pixels = check_int(min_pixels, "min_pixels", allow_none=True)
    check_number(min_counts, "min_counts", low=0)
    check_int(dip_size, "dip_size", high=99)
    check_number(ratio, "ratio", low=1, low_open=True, high=1000)
    random_state = check_seed(random_state)
    lab = check_array(labels, "labels", ndim=2, kind="iu").astype(np.int64)
    before, asked = lab, n_phases is not None
    smooth = asked or dip_size > 1  # the split's cut on 3 x 3 means (:func:`_split_probe`)
    h, w = lab.shape
    changes = []
    probe = None  # the split's probe, summed on the seed's pass (used if no phase is added)
    if seed and features is not None and pixel_sums is not None and np.mean(pixel_sums) >= min_counts:
        then = partial(_split_probe, lab, features, random_state, smooth) if split else None
        lab, spectra, added, probe = _seed(image, lab, features, pixel_sums, spectra, p_value=p_value,
                                           min_pixels=min_pixels, random_state=random_state, block_rows=block_rows,
                                           client=client, then=then)
        changes += added
    if split and features is not None:
        lab, spectra, cut = _split(image, lab, features, spectra, block_rows=block_rows, client=client,
                                   random_state=random_state, dip_size=dip_size, probe=probe, asked=asked,
                                   smooth=smooth, also=split_features)
        changes += cut
    k = int(lab.max()) + 1
    if spectra is None or spectra.sums.shape[0] != k:
        spectra = quantify.phase_spectra(image, lab, k, block_rows=block_rows, client=client)
    sums, n_pix = spectra.sums, spectra.n_pixels
    # bands of mixed pixels first: one dissolved before the merge to ``n_phases`` leaves its place to a mineral
    # a band of mixed pixels is told from a thin phase where pixels hold counts enough (as seeding)
    bands, keep = dissolve and bands and sums.sum() >= min_counts * h * w, set()
    # chemistries read on inside pixels (merge_phases), the same for the test of bands and for the merge
    core = inside_sums(image, lab, sums, block_rows, client) if merge or bands else None
    own = own_element_phases(sums, spectra.energy_keV, image.beam_energy) if dissolve else set()
    if bands:  # phases chemically one with another are merged, not dissolved
        _, _, alike = merge_phases(spectra, lab, beam_energy=image.beam_energy, core=core)
        keep = {m["phase"] for m in alike} | {m["into"] for m in alike}
    gone = boundary_phases(lab, sums, edges=False, keep=keep | own) if bands else []
    if gone:
        lab = give_to_neighbours(lab, {g["phase"] for g in gone})
        changes += gone
        spectra = quantify.phase_spectra(image, lab, k, block_rows=block_rows, client=client)
        sums, n_pix = spectra.sums, spectra.n_pixels
        core = inside_sums(image, lab, sums, block_rows, client) if merge else None
    if merge:
        seeded = lab
        lab, sums, merged = merge_phases(spectra, lab, n_phases=n_phases, beam_energy=image.beam_energy,
                                         image=image, dip_size=dip_size, ratio=ratio, core=core, most=True,
                                         dip_share=ASKED_DIP_SHARE if asked else None, by_cost=by_cost)
        changes += [dict(action="merged", **m) for m in merged]
        lab, sums, changes = _undo_merged_seeds(image, before, seeded, lab, sums, changes, block_rows, client)
        n_pix = np.bincount(lab[lab >= 0].ravel(), minlength=k)[:k]
    if dissolve and (gone or merge):  # what the phases hold changed
        own = own_element_phases(sums, spectra.energy_keV, image.beam_energy)
    gone = boundary_phases(lab, sums, bands=bands, keep=own) if dissolve else []  # twins merged by now
    if gone:
        lab = give_to_neighbours(lab, {g["phase"] for g in gone})
        changes += gone
        sums = quantify.phase_spectra(image, lab, k, block_rows=block_rows, client=client).sums
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


def _seed(image, lab, features, pixel_sums, spectra, *, block_rows, client, then=None, **options):
    """Accept the candidates of :func:`seed_phases` whose unexplained pixels' chemistry is
    distinct from every phase's; they take their pixels. ``then()``: the next step's probe of ``lab``
    (:func:`_split_probe`), summed on the same pass and returned with its spectra when no phase is added."""
    h, w = lab.shape
    candidates = seed_phases(features, np.ravel(pixel_sums), lab.ravel(), **options)
    if not candidates:
        return lab, spectra, [], None
    k = int(lab.max()) + 1
    probe = lab.ravel().copy()
    for i, cand in enumerate(candidates):
        probe[cand["members"]] = k + i
    nxt = then() if then is not None else None
    maps, ks = [probe.reshape(h, w)], [k + len(candidates)]
    if nxt is not None:
        maps.append(nxt[1])
        ks.append(3 * k)
    both, *cut = quantify.phase_spectra_many(image, maps, ks, block_rows=block_rows, client=client)
    nxt = (*nxt, cut[0]) if cut else None
    found = {f["element"] for s in both.sums if s.sum() > 0
             for f in quantify.lines_of(s, both.energy_keV, beam_energy=image.beam_energy, n_lines=12)}
    elements = tuple(sorted(found - set(LIGHT)))
    if not elements:  # no element line in any spectrum (not an X-ray map, or values that are no counts): no seed
        return lab, spectra, [], nxt
    shares, var = _shares(both.sums, both.energy_keV, elements, image.beam_energy)
    flat, added = lab.ravel().copy(), []
    norm = both.sums / np.maximum(both.sums.sum(1, keepdims=True), 1.0)
    present = [p for p in range(k) if both.n_pixels[p] > 0]
    for i, cand in enumerate(candidates):
        j = k + i
        if is_mixture(norm[j], norm[present]):
            continue
        verdicts = [distinct_phases(shares[j], var[j], shares[p], var[p], elements, together=False)
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
        return lab, spectra, [], nxt
    return flat.reshape(h, w), None, added, None


def _split_probe(lab, features, random_state, smooth=False):
    """``(half, probe)``: each phase's inside pixels in two halves, and the label map summed to test them (the
    halves' inside pixels as ``2p + half``, each phase's other pixels as ``2k + p``); None if no phase has halves.

    ``smooth``: cut on the 3 x 3 means of the features, whose halves follow two populations (of one chemistry,
    or two minerals in one cluster) where per-pixel halves follow the noise: a random rock at 10 kV, 200 counts/px
    (biotite and a basaltic glass in one cluster, 32 % glass) was cut into biotite | biotite + glass, halves
    whose K shares were 2.7 times apart (a factor 3 splits), and on 3 x 3 means into glass | biotite (K 2.0 % vs
    12.2 %). The binned start of the low-count path (``dip_size`` 1) is cut per pixel."""
    h, w = lab.shape
    k = int(lab.max()) + 1
    inside = inside_pixels(lab).ravel()
    if smooth:
        features = uniform_filter(np.asarray(features, np.float32).reshape(h, w, -1), size=(3, 3, 1),
                                  mode="nearest").reshape(h * w, -1)
    half = halves(features, lab.ravel(), inside, random_state=random_state)
    if not (half >= 0).any():
        return None
    flat = lab.ravel()
    return half, np.where(inside & (half >= 0), half, np.where(flat >= 0, 2 * k + flat, -1)).reshape(h, w)


def _split(image, lab, features, spectra, *, block_rows, client, random_state, dip_size=3, probe=None, asked=False,
           smooth=None, also=None):
    """Split the phases whose two halves are chemically distinct (:mod:`._split`); the second
    half of each becomes a new phase. ``probe``: ``(half, probe, its spectra)`` already summed for ``lab``;
    ``also``: other features the phases not split are cut on again (one more pass over the map)."""
    h, w = lab.shape
    k = int(lab.max()) + 1
    if probe is None:
        made = _split_probe(lab, features, random_state, asked if smooth is None else smooth)
        if made is None:
            return lab, spectra, []
        probe = (*made, quantify.phase_spectra(image, made[1], 3 * k, block_rows=block_rows, client=client))
    half, _, cut = probe
    if spectra is None or spectra.sums.shape[0] != k:
        pairs = lambda a: a[:2 * k].reshape(k, 2, *a.shape[1:]).sum(1) + a[2 * k:]  # noqa: E731
        spectra = quantify.PhaseSpectra(pairs(cut.sums), pairs(cut.n_pixels), cut.energy_keV, cut.total)
    splits, notes = split_phases(cut.sums[:2 * k], cut.n_pixels[:2 * k], spectra.sums, spectra.energy_keV,
                                 beam_energy=image.beam_energy)
    share = ASKED_DIP_SHARE if asked else None  # the user says how many phases there are: a shallower dip
    splits, notes, half = split_populations(image, half.reshape(h, w), cut, k, splits, notes, dip_size, share)
    if also is not None and len(splits) < k and np.shape(also)[-1] != np.shape(features)[-1]:  # not the same cut
        splits, notes, half = _split_also(image, lab, also, spectra, splits, notes, half, block_rows=block_rows,
                                          client=client, random_state=random_state,
                                          smooth=asked if smooth is None else smooth)
    if not splits:
        return lab, spectra, []
    half = half.ravel()
    flat = lab.ravel().copy()
    for (p, _, _), note in zip(splits, notes):
        new = int(flat.max()) + 1
        flat[half == 2 * p + 1] = new
        note.update(n_pixels=int(np.count_nonzero(flat == new)), new=new)
    return flat.reshape(h, w), None, notes


def split_populations(image, half, cut, k, splits, notes, size, share=None):
    """Also split the phases of one chemistry whose two halves are two populations (:mod:`._dip`: a plagioclase
    phase holding An60 and An35 grains, olivine with orthopyroxene).

    ``half``: (H, W) ``2 p + half`` of the cut phases' pixels (:func:`halves`); ``cut``: the halves' summed
    spectra and pixel counts (rows ``2 p + half``); ``splits``, ``notes``: those of :func:`split_phases`, to
    which the phases split here are added; ``share``: the dip's threshold (default :data:`._dip.DIP_SHARE`).
    A phase split here is cut again at the lowest density of its pixels' scores (:func:`._dip.valley_cut`), so
    that its halves follow the two populations. Returns ``splits``, ``notes`` and ``half`` (a copy where a
    phase was cut again)."""
    from ._dip import DIP_SHARE, dip_ratio, valley_cut
    from ._split import MIN_HALF

    check_int(k, "k", high=MAX_ITER)
    if image.is_lazy:
        return splits, notes, half
    share = DIP_SHARE if share is None else share
    done = {p for p, _, _ in splits}
    for p in range(k):
        a, b = 2 * p, 2 * p + 1
        if p in done or min(cut.n_pixels[a], cut.n_pixels[b]) < MIN_HALF:
            continue
        r = dip_ratio(image.data, half, a, b, cut.sums[a], cut.sums[b], size=size)
        if r is None or r >= VALLEY_BELOW:
            continue
        to_b, sum_a, sum_b, again = valley_cut(image.data, half, a, b, cut.sums[a], cut.sums[b], size=size)
        if to_b is not None and again < share:  # the populations' own cut
            half = np.where((half == a) | (half == b), np.where(to_b, b, a), half)
            r = again
        elif r < share:  # the 2-means halves, as found
            sum_a, sum_b = cut.sums[a], cut.sums[b]
        else:
            continue
        splits.append((p, sum_a, sum_b))
        notes.append(dict(action="split", phase=int(p), reason="two populations of one chemistry in one phase "
                          f"(the density of its pixels between the halves is {r:.2f} of the lower one's)"))
    return splits, notes, half


def _undo_merged_seeds(image, before, seeded, lab, sums, changes, block_rows, client):
    """A phase added by seeding and then merged into another was not a phase: its pixels go back
    to the phases they had, and both records become one ``"rejected"`` note."""
    added = {c["phase"] for c in changes if c["action"] == "added"}
    undone = {c["phase"] for c in changes if c["action"] == "merged" and c["phase"] in added
              and not c["reason"].startswith(ONE_FOREIGN)}
    if not undone:
        return lab, sums, changes
    back = np.isin(seeded, list(undone))
    lab = lab.copy()
    lab[back] = before[back]
    for c in changes:  # their old phases may have been merged since (in the order done)
        if c["action"] == "merged" and c["phase"] not in undone:
            lab[back & (lab == c["phase"])] = c["into"]
    dead = set(np.unique(lab[back]).tolist()) - set(np.unique(lab[~back]).tolist()) - {-1}
    if dead:  # or dissolved (a band of mixed pixels): to their neighbours again
        lab = give_to_neighbours(lab, dead)
    notes = [dict(action="rejected", phase=c["phase"], reason=f"seeded, then merged back ({c['reason']})")
             for c in changes if c["action"] == "merged" and c["phase"] in undone]
    changes = [c for c in changes if c.get("phase") not in undone] + notes
    sums = quantify.phase_spectra(image, lab, sums.shape[0], block_rows=block_rows, client=client).sums
    return lab, sums, changes


def _split_also(image, lab, features, spectra, splits, notes, half, *, block_rows, client, random_state, smooth):
    """:func:`_split`'s splits, with those that a cut on ``features`` finds among the phases not split yet."""
    k = int(lab.max()) + 1
    made = _split_probe(lab, features, random_state, smooth)
    if made is None:
        return splits, notes, half
    half2, probe2 = made
    cut = quantify.phase_spectra(image, probe2, 3 * k, block_rows=block_rows, client=client)
    more, why = split_phases(cut.sums[:2 * k], cut.n_pixels[:2 * k], spectra.sums, spectra.energy_keV,
                             beam_energy=image.beam_energy)
    done = {p for p, _, _ in splits}
    half, flat = np.asarray(half).ravel().copy(), lab.ravel()
    for (p, a, b), note in zip(more, why):
        if p not in done:
            half[flat == p] = half2[flat == p]
            splits, notes = [*splits, (p, a, b)], [*notes, note]
    return splits, notes, half
