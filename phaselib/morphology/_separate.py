"""Separation of the touching grains of one phase: distance transform, watershed, concavity cuts.

Examples
--------
>>> import numpy as np
>>> mask = np.zeros((30, 40), bool)
>>> mask[5:15, 3:13] = mask[9:19, 13:23] = True   # two touching, offset squares
>>> int(separate_grains(mask).max())
2
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.morphology import h_maxima, remove_small_holes
from skimage.segmentation import relabel_sequential, watershed

import phaselib.morphology._dents as _dents
import phaselib.morphology._fill as _fill
import phaselib.morphology._split as _split

from .._validate import check_array, check_int, check_number
from ._apart import MATRIX_SHARE, in_matrix, stands_apart  # noqa: F401 (in_matrix, MATRIX_SHARE: re-exported)
from ._split import MIN_PIECE, concave_cuts

#: lone sharp concave corners per pair cut above which a phase's lone corners are bites, not contacts
#: (:func:`lone_rays`). Measured on the thick clusters (inradius >= LONE_INRADIUS) of true phase masks,
#: seeds 1-3: space-filling Voronoi textures 0.4-3.6, the default rock 0.6-3.2 (4.0 for a phase with 8 lone
#: corners), overlapping discs 0.5-0.9; porphyritic textures 3.9-17.8 (crystals bitten by others of any
#: phase, holding inclusions and bays). At 3.5 one Voronoi seed turns (12 px, phase 4: matched 0.874 -> 0.794).
LONE_RATIO = 4.0
LONE_MIN = 20  # ... counted once a phase has at least this many lone corners
HOLES_MIN = 0.5  # ... (this share of it for the holes' rule below)
LONE_INRADIUS = 4.0  # pixels: ... on clusters at least twice this thick (strands of fine grains left out)
#: ... or where at least this share of them lie on enclosed holes (:func:`lone_rays`; seeds 1-3: Voronoi and the
#: default rock 0-11 %, overlapping discs 0-9 %, phenocrysts holding inclusions 80-100 %, impinged 29-49 %)
LONE_HOLES = 0.5
LONE_SAMPLE_PX = 150_000  # ... at most about this many pixels of them (a full map's phase: a random sample)
CLIFF = 0.25  # corners counted in 8 orientations where a ratio is this near its threshold (they move by 5-10 %)
#: there, two grains of one piece between the pair cuts merge when their boundary is at least this share of
#: the narrower one's inscribed diameter (:func:`_merge_bands`; 0.8 and 1.0 tried, 0.8 kept)
BAND = 0.8


def _check_mask(mask, name="mask"):
    return check_array(mask, name, ndim=2, kind="biuf") != 0


def separate_grains(mask, *, min_distance=3, footprint=None, h=None, smoothing=1.0, compactness=0.0,
                    split_concave=True, merge_convex=True, inclusions=True, fill_holes=30, min_area=0,
                    exclude_border=False, outline_tol=1.0, phase_map=None):
    """Split the touching grains of one phase: distance transform and watershed.

    The Euclidean distance to the background is computed on the mask with its inclusions
    filled (see below) and, by default, with straight cuts drawn from the concave corners
    of every cluster (touching crystal sections are convex, so a concave corner is where
    two grains meet the cluster's outline; the distance map alone misses grains that share
    a long straight boundary). The map is smoothed, its maxima (``peak_local_max`` with
    ``min_distance`` / ``footprint``, or the h-maxima when ``h`` is given) are the markers,
    every piece between the cuts gets one, and a watershed of the negative distance,
    restricted to the mask, grows the grains. Last, touching pieces whose union is convex
    are merged: nothing in the mask tells them from one grain, and they are most often one
    grain split twice (an elongated grain with two distance maxima); two pieces that no cut
    parts (only the watershed) merge while their union lacks at most 3 % of its hull. A
    cluster with two sharp concave corners and no other is cut along the segment joining them
    whenever that keeps both sides convex (two crystals touching: their contact).

    Inclusions (``inclusions=True``): a region of other pixels (another phase, unassigned
    pixels) enclosed by the mask, whatever its size, is an inclusion when its crystal is one
    convex section once it is filled: its cluster is nearly convex (solidity >= 0.85) with
    it filled, or, in a cluster of touching crystals, the separation with every hole filled
    puts it inside one grain whose union with it is convex. An inclusion stays filled: its
    outline starts no cut and its crystal is separated as if whole (the grain labels leave
    its pixels out). Any other hole is a pocket between grains (a grain of another phase
    enclosed by several grains of this phase, as in a space-filling texture): its corners are
    where grains meet, and its cluster is separated again with it open, as before; grains
    around it whose union with it is convex are merged. Rounded bays are filled too: on a
    crystal standing alone (at least 16 px thick, every concavity of its outline a bay: holding
    1.4 times or more the triangle of its mouth and deepest point, where a notch between two
    convex grains holds at most that triangle); on a cluster of touching crystals, or a crystal
    8-16 px thick, only bays holding 2.5 times their triangle or more (behind a neck, hopper
    cavities) and, between touching crystals, rounded bays whose edge is a circular arc, also where such
    a bay opens into the notch between two crystals (the outline between its two mouth corners fits a
    circle: ``_dents.arc_dents``).

    A concave corner with no partner across its cluster (a lone corner) starts a ray along its
    bisector: two crystals whose contact's far end is hidden. But a crystal bitten by a neighbour of
    another phase (a corner pressed into it: impinged crystals) or holding an open inclusion shows lone
    corners too. Where a phase's thick clusters hold more than 4 lone corners per pair cut (crystals
    standing apart, as phenocrysts), or where half of them or more lie on inclusions (crystals riddled
    with them), lone corners are taken for bites and start no ray
    (``lone_rays``), and two grains of one piece between the pair cuts that meet across the whole
    width of the narrower merge (bands of one bent or bitten crystal that the watershed parted; two
    crystals touching meet at a neck); in space-filling textures lone corners keep their rays.

    Touching grains of one phase share boundaries that the mask does not show; only the
    corners where they meet the outline do. Where most grains of a phase touch others of
    the same phase (a phase filling ~40 % of a space-filling texture), about one grain in
    five stays merged with a neighbour (see ``bench_grains``' table in benchmarks/README.md).

    Parameters
    ----------
    mask : (H, W) array_like of bool
        Pixels of the phase (non-zero is the phase).
    min_distance : int
        Smallest distance between two markers, in pixels (``peak_local_max``).
    footprint : (N, M) ndarray of bool, optional
        Neighbourhood of a local maximum, overriding ``min_distance`` for the maximum filter.
    h : float, optional
        Use the h-maxima of the distance map (maxima at least ``h`` pixels above their
        surroundings) as markers instead of ``peak_local_max``.
    smoothing : float
        Standard deviation (pixels) of the Gaussian that smooths the distance map (0: none).
    compactness : float
        Compact watershed: larger values give more regular, straighter boundaries.
    split_concave : bool
        Draw the concave-corner cuts (see above). ``False`` (with ``merge_convex=False``)
        gives the classic watershed.
    merge_convex : bool
        Merge touching pieces whose union is convex (at most 0.5 % of its area inside its
        convex hull but outside it; 3 % for pieces between the same cuts).
    inclusions : bool
        Fill the inclusions and bays (see above). ``False``: only the holes of at most
        ``fill_holes`` pixels are filled, and larger ones are cut from (the behaviour before
        inclusions were told from pockets).
    fill_holes : int
        Holes of at most this many pixels (30 px: ~6 px across) are always filled before the
        distance map and the cuts.
    min_area : int
        Grains smaller than this (pixels) are removed (set to 0).
    exclude_border : bool
        Remove the grains that touch the map border (their sizes are truncated).
    outline_tol : float
        Pixels: the outline is a polygon within this distance before its concave corners are
        sought. A phase map from a classification has ragged outlines (pixels mixing two grains
        along every boundary go to either side) whose bumps and notches of a pixel or two make
        concave corners: below 1.5 px, a corner cuts only if it persists on the outline simplified
        to 1.5 px, is sharper than 90 degrees or lies between edges of 4 px or more
        (``benchmarks/bench_map_grains.py``: phenocrysts mapped at 50 counts/px with the beam spreading
        0.7 px, count +0.17-0.27 -> +0.00-0.13 at 1 px). 2 px smooths more (fewer cuts on a wider beam's
        outlines; finer grains lose more than they gain: 12 px grains drawn exactly 0.78 -> 0.71 matched).
    phase_map : (H, W) array_like of int, optional
        The phase map the mask was taken from (negative: unassigned). Where one other phase holds at least
        ``MATRIX_SHARE`` of the pixels just outside the mask, its crystals stand in a matrix (a porphyritic
        rock), and where they are ``_apart.COARSER`` times thicker than the grains around them (phenocrysts in a
        fine mixed groundmass) they stand apart too: two crystals in contact there show both ends of their
        contact, so a lone concave corner is a bite or an open inclusion and starts no ray
        (``_apart.stands_apart``); there a blob of another phase of at most
        ``fill_holes`` px, with half or more of the pixels around it in the mask (a spinel on an olivine's rim), is an
        inclusion open to the outside, filled as a bay (``_fill.open_inclusions``): two of them on opposite sides cut
        the crystal in two before. :func:`grain_map` passes its labels.

    Returns
    -------
    (H, W) ndarray of int32
        Grain labels ``1..n`` (0: background or removed).

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :60]
    >>> discs = ((yy - 20) ** 2 + (xx - 18) ** 2 < 100) | ((yy - 20) ** 2 + (xx - 38) ** 2 < 121)
    >>> labels = separate_grains(discs)
    >>> int(labels.max()), np.bincount(labels.ravel())[1:].tolist()
    (2, [305, 373])
    """
    m = _check_mask(mask)
    if not m.any():
        raise ValueError("`mask` is empty: the phase has no pixel, so there are no grains to separate.")
    opts = _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area, split_concave,
                          merge_convex, inclusions, outline_tol)
    matrix, opens = False, None
    if phase_map is not None:
        phase_map = check_array(phase_map, "phase_map", ndim=2, kind="biu")
        matrix = stands_apart(m, phase_map)
        opens = _fill.open_inclusions(m, phase_map, opts["fill_holes"]) if matrix else None
    return _separate(m, **opts, exclude_border=bool(exclude_border), matrix=matrix, opens=opens)


def _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
                   split_concave, merge_convex, inclusions=True, outline_tol=1.0):
    check_int(min_distance, "min_distance")
    if footprint is not None:
        footprint = np.asarray(footprint, bool)
        if footprint.ndim != 2 or not footprint.any():
            raise ValueError(f"footprint must be a 2-D boolean array with at least one True, "
                             f"got shape {footprint.shape}.")
    for name, v in (("fill_holes", fill_holes), ("min_area", min_area)):
        check_int(v, name, low=0)
    return dict(min_distance=int(min_distance), footprint=footprint,
                h=check_number(h, "h", low=0, low_open=True, allow_none=True),
                smoothing=check_number(smoothing, "smoothing", low=0, high=100),
                compactness=check_number(compactness, "compactness", low=0),
                fill_holes=int(fill_holes), min_area=int(min_area), split_concave=bool(split_concave),
                merge_convex=bool(merge_convex), inclusions=bool(inclusions),
                outline_tol=check_number(outline_tol, "outline_tol", low=0.5, high=5.0))


def _grains(m, filled, *, min_distance, footprint, h, smoothing, compactness, split_concave, merge_convex,
            outline_tol=1.0, hole_rays=True, rays=True, before_bands=None):
    """Grain labels over ``filled`` (``m`` and its filled holes): cuts, watershed, merges."""
    core = filled & ~concave_cuts(filled, hole_rays=hole_rays, tol=outline_tol, rays=rays) if split_concave else filled
    dist = ndi.distance_transform_edt(core)
    if smoothing > 0:
        dist = ndi.gaussian_filter(dist, smoothing)
    dist[~filled] = 0
    if h is not None:
        peaks = h_maxima(dist, h).astype(bool)
    else:
        coords = peak_local_max(dist, min_distance=min_distance, footprint=footprint, exclude_border=False)
        peaks = np.zeros(m.shape, bool)
        peaks[tuple(coords.T)] = True
    peaks &= m  # not in the filled holes
    # a maximum's pixels touching diagonally are one marker, as scikit-image labels them (4-connected, at
    # min_distance=1 a synthetic rock's phase gave 962 grains where skimage's watershed gave 856)
    markers, n = ndi.label(peaks, structure=np.ones((3, 3), bool))
    # every piece between the cuts (and every component) of some size gets a marker
    pieces, n_pieces = ndi.label(core & m)
    size = np.bincount(pieces.ravel())
    has = np.zeros(n_pieces + 1, bool)
    has[pieces[markers > 0]] = True
    lacking = np.flatnonzero(~has[1:] & (size[1:] >= MIN_PIECE)) + 1
    if lacking.size:
        where = np.flatnonzero(np.isin(pieces.ravel(), lacking))
        where = where[np.lexsort((-dist.ravel()[where], pieces.ravel()[where]))]
        top = where[np.r_[True, pieces.ravel()[where][1:] != pieces.ravel()[where][:-1]]]
        markers.ravel()[top] = n + 1 + np.arange(top.size)
        n += lacking.size
    labels = watershed(-dist, markers, mask=filled, compactness=compactness)
    rest, n_rest = ndi.label(filled & (labels == 0))  # parts no marker could reach
    labels[rest > 0] = rest[rest > 0] + n
    if merge_convex:
        labels = _split.merge_convex(labels, pieces=_main_piece(labels, pieces) if split_concave else None)
        if split_concave and not rays:  # no ray parts grains there: bands of one crystal merge
            if before_bands is not None:
                before_bands.append(labels)
            labels = _merge_bands(labels, _main_piece(labels, pieces))
    return labels


def _merge_bands(labels, main):
    """Merge the grains of one piece between the cuts that meet across the whole width of the narrower
    (their boundary at least ``BAND`` times its inscribed diameter). The boundary's length is measured
    (:func:`._split.boundary_lengths`), not its pixel edges counted: along a diagonal those are 1.4 times
    as many, and two crystals touching across a diagonal neck merged (phenocrysts mapped at a 1.5 px beam).

    Where lone corners start no ray (:func:`lone_rays`), a piece between the pair cuts is a crystal that
    may be bent or bitten (a hopper frame, a lath, a crystal with a neighbour's corner pressed in): the
    distance map has several maxima along it, and the watershed cuts it in bands whose unions are not
    convex. Two crystals touching meet at a neck, along less than the narrower one's width.
    """
    inner = labels > 0
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[1:] != labels[:-1]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    dt = ndi.distance_transform_edt(inner & ~edge)
    n = int(labels.max())
    radius = np.zeros(n + 1)
    radius[1:] = np.asarray(ndi.maximum(dt, labels, np.arange(1, n + 1))) + 0.5
    uniq, length = _split.boundary_lengths(labels)
    if not len(uniq):
        return labels
    parent = np.arange(n + 1)

    def root(g):
        while parent[g] != g:
            g = parent[g]
        return g

    for (a, b), shared in zip(uniq.tolist(), length.tolist()):
        if main.get(a, -1) == main.get(b, -2) and shared >= BAND * 2 * min(radius[a], radius[b]):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    for g in range(n + 1):
        parent[g] = root(g)
    return parent[labels].astype(labels.dtype)


def lone_rays(filled, tol=1.0, holes=None):
    """Whether the lone sharp concave corners of a phase's clusters start rays (see ``LONE_RATIO``).

    Two crystals touching show a concave corner at each end of their contact (a pair cut joins the two)
    or, where the far end is hidden (their outer edges run on in one line), one: a ray from it parts
    them. A crystal bitten by a neighbour of another phase (a corner pressed into it), or holding an
    open inclusion or a bay, shows lone corners too, and a ray cuts it in two. Where the phase's
    clusters at least ``2 * LONE_INRADIUS`` px thick hold more than ``LONE_RATIO`` lone corners per pair
    cut (and at least ``LONE_MIN`` of them), its crystals mostly stand apart (a contact with both ends
    hidden is rare) and its lone corners are taken for bites: they start no ray. So are they where at
    least ``LONE_HOLES`` of them lie on the outlines of ``holes`` (enclosed holes: their corners go once
    the holes are filled): crystals holding inclusions, whose corners across a hole count as pair cuts.
    """
    lab, n = ndi.label(filled if holes is None else filled | holes)
    if n == 0:
        return True
    inradius = np.asarray(ndi.maximum(ndi.distance_transform_edt(filled), lab, np.arange(1, n + 1)))
    thick = np.flatnonzero(inradius >= LONE_INRADIUS) + 1
    area = np.bincount(lab.ravel(), minlength=n + 1)[thick]
    if area.sum() > LONE_SAMPLE_PX:  # a large map: clusters drawn at random (the same every time) up to that area
        order = np.random.default_rng(0).permutation(thick.size)
        thick = thick[order[:np.searchsorted(np.cumsum(area[order]), LONE_SAMPLE_PX) + 1]]
    keep = np.zeros(n + 1, bool)
    keep[thick] = True
    lone, pairs = _corners(keep[lab] & filled, tol, lambda lo, pa: lo / max(pa, 1) / LONE_RATIO)
    if lone >= LONE_MIN and lone > LONE_RATIO * max(pairs, 1):
        return False
    if holes is None or not (keep[lab] & holes).any() or lone < HOLES_MIN * LONE_MIN:
        return True
    closed, _ = _corners(keep[lab], tol, lambda lo, pa: lo / max((1 - LONE_HOLES) * lone, 1))
    return bool(closed > (1 - LONE_HOLES) * lone)


def _corners(mask, tol, against):
    """``(lone, pairs)``: the sharp concave corners of ``mask`` (:func:`concave_cuts`), averaged over the map's 8
    orientations when ``against(lone, pairs)`` (the ratio to a rule's threshold) is within ``CLIFF`` of 1. Corners
    are read on pixel outlines and move with the orientation: a default rock's albite held 227 lone corners per 56
    pairs as the map was, 233 / 56 transposed, 225 / 59 turned by 90 degrees (4.05, 4.16, 3.81 per pair, about
    ``LONE_RATIO``), and the phase's crystals came out 225 and 123 (218 true) of one map turned."""
    counts = {}
    concave_cuts(mask, tol=tol, rays=False, counts=counts, dents=False, one_end=False)
    lone, pairs = counts.get("lone", 0), counts.get("pairs", 0)
    if abs(against(lone, pairs) - 1.0) > CLIFF:
        return lone, pairs
    for turn in range(1, 8):  # the 7 other orientations: 4 turns, each as is and transposed
        m = np.rot90(mask, turn % 4)
        counts = {}
        concave_cuts(np.ascontiguousarray(m.T if turn >= 4 else m), tol=tol, rays=False, counts=counts, dents=False,
                     one_end=False)
        lone, pairs = lone + counts.get("lone", 0), pairs + counts.get("pairs", 0)
    return lone / 8, pairs / 8


def _main_piece(labels, pieces):
    """Grain id -> the piece between the cuts (``pieces`` > 0) holding most of its pixels."""
    both = (labels > 0) & (pieces > 0)
    base = int(pieces.max()) + 1
    pair, count = np.unique(labels[both].astype(np.int64) * base + pieces[both], return_counts=True)
    grain, piece = pair // base, pair % base
    order = np.lexsort((count, grain))  # by grain, the largest count last
    last = order[np.r_[grain[order][1:] != grain[order][:-1], True]]
    return dict(zip(grain[last].tolist(), piece[last].tolist()))


def _separate(m, *, min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
              split_concave, merge_convex, inclusions, exclude_border, outline_tol=1.0, matrix=False, opens=None):
    # a distance beyond the map's size is the map's size (peak_local_max's window of 2 * 10**9 + 1 px is not)
    opts = dict(min_distance=min(min_distance, max(m.shape)), footprint=footprint, h=h, smoothing=smoothing,
                compactness=compactness, split_concave=split_concave, merge_convex=merge_convex,
                outline_tol=outline_tol)
    filled = remove_small_holes(m, max_size=fill_holes) if fill_holes else m
    if not inclusions:  # every hole's corners cut, as before inclusions were told apart
        labels = _grains(m, filled, **opts)
    else:
        holes = _fill.enclosed_holes(m, speck=fill_holes) & ~(filled & ~m)  # specks in a hole go with it
        bays = _fill.bays(filled | holes)
        if opens is not None:  # inclusions open to the outside: bays whose pixels the phase map shows
            bays |= opens & ~filled & ~holes
        bays |= _dents.arc_dents(filled | holes | bays, outline_tol)
        if holes.any():
            solid = _fill.solidity(filled | holes | bays, holes)
            holes &= solid >= _fill.LOOSE  # in a network of grains: pockets, left open
            unsure = holes & (solid < _fill.SOLID)
        else:
            unsure = holes
        if split_concave:
            opts["rays"] = not matrix and lone_rays(filled, outline_tol, holes)
        filled |= holes | bays
        plain = []
        labels = _grains(m, filled, before_bands=plain, **opts)
        if unsure.any() or bays.any():
            first = plain[0] if plain else labels  # which grain holds a hole: before the bands merged
            pockets = _fill.not_in_one_grain(first, unsure) | _fill.not_in_one_grain(first, bays)
            if pockets.any():  # separate again the clusters around them, the pockets left open
                comps, _ = ndi.label(filled)
                redo = np.isin(comps, np.unique(comps[pockets]))
                pad = 4 * int(np.ceil(smoothing)) + min_distance + 2  # what the smoothing and the peaks see
                near = ndi.distance_transform_edt(~redo) <= pad
                rows, cols = np.flatnonzero(near.any(1)), np.flatnonzero(near.any(0))
                box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
                # the pockets' corners start pair cuts only: a ray from each corner of a hole that was an
                # inclusion after all cuts its crystal like a pizza
                sub = _grains(m[box] & near[box], filled[box] & near[box] & ~pockets[box], hole_rays=False, **opts)
                sub[~redo[box]] = 0
                labels[redo] = 0
                labels[box][sub > 0] = sub[sub > 0] + labels.max()
                labels = _fill.merge_around(labels, pockets & holes)
    if opens is not None:  # crystals in a matrix: an inclusion whose rim a pixel's gap opens cut no crystal in two
        labels = _fill.merge_around(labels, _fill.narrow_mouthed(m) & ~filled, _fill.NARROW_DEFECT)
    labels[~m] = 0  # the filled holes
    if min_area > 1:
        area = np.bincount(labels.ravel())
        labels[area[labels] < min_area] = 0
    if exclude_border:
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        labels[np.isin(labels, edge[edge > 0])] = 0
    return relabel_sequential(labels)[0].astype(np.int32)
