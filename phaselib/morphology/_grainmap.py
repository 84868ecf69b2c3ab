"""Grains of every phase of a label map: :func:`grain_map` -> :class:`GrainMap`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import relabel_sequential

from .._hyperspy import image_of
from .._validate import check_array, check_labels, check_positive
from ._apart import clusters, spans_map, stands_apart
from ._boundaries import dark_in_image, prepare, split_grains
from ._colour import label_depth
from ._fill import open_inclusions
from ._separate import _check_options, _separate
from ._snap import block_size, snap_phases
from ._table import GrainTable, grain_table, touching


@dataclass(frozen=True, eq=False)
class GrainMap:
    """Grains of every phase of a label map.

    Attributes
    ----------
    labels : (H, W) ndarray of int32
        Grain id ``1..n_grains`` of every pixel (0: unassigned, background or removed).
    phases : (n_grains,) ndarray of int64
        Phase of each grain: ``phases[i]`` is the phase of grain id ``i + 1``.
    pixel_size : float
        Pixel size, micrometres.
    params : dict
        The separation options used.
    spanning_phases : tuple of int
        Phases whose largest cluster holds most of their area and crosses the map from one
        side to the other: a groundmass, a glass or crystals of one mineral packing the area.
        Their "grains" are pieces of that cluster; boundaries between crystals of one mineral
        do not show in a phase map, so many stay merged (see :func:`separate_grains`).
    outside : (H, W) ndarray of bool or None
        Pixels that hold no data (:func:`grain_map`'s ``outside``): grains beside them touch a border.
    """

    labels: np.ndarray
    phases: np.ndarray
    pixel_size: float = 1.0
    params: dict = field(default_factory=dict)
    spanning_phases: tuple = ()
    outside: np.ndarray | None = None

    @property
    def n_grains(self) -> int:
        return len(self.phases)

    @property
    def section_area_um2(self) -> float:
        """Area of the section mapped, um^2: every pixel but the :attr:`outside` ones (for CSD densities)."""
        n = self.labels.size - (0 if self.outside is None else int(np.count_nonzero(self.outside)))
        return float(n) * self.pixel_size ** 2

    def table(self) -> GrainTable:
        """The grain table (:func:`grain_table`) of these grains."""
        return grain_table(self.labels, phases=self.phases, pixel_size=self.pixel_size, outside=self.outside)

    def __repr__(self) -> str:
        counts = np.bincount(self.phases) if self.n_grains else []
        per = ", ".join(f"phase {p}: {c}" for p, c in enumerate(counts) if c)
        return f"<GrainMap {self.n_grains} grains ({per}); {self.labels.shape}, {self.pixel_size:g} um/px>"


#: A phase is interstitial (a glass between crystals) when the median depth of its pixels inside it is at most this
#: share of the other phases' median depth inside theirs (session 53: the glasses of make_thin_section's basalt and
#: dacite 0.39-0.55; almandine or magnetite packed as half of a space-filling texture 1.08-1.41)
INTERSTITIAL = 0.75


def _interstitial(mask, assigned, depth):
    """Whether a phase lies in films and pockets between the others' crystals (:data:`INTERSTITIAL`)."""
    others = assigned & ~mask
    return bool(others.any() and np.median(depth[mask]) <= INTERSTITIAL * np.median(depth[others]))


#: ... or when the other phases' crystals stand in it: at least this share of their outline (4-neighbour pairs with
#: another assigned phase) borders it (a glass-rich rock, its glass thicker than its crystals: 0.97-0.98 at 45-60 %
#: glass; crystals packed as 50 / 70 % of a space-filling texture 0.69 / 0.79; the presets' glasses 0.67-0.70)
ENCLOSING = 0.9


def _enclosing(mask, lab):
    """Share of the other phases' outline (4-neighbour pairs with another assigned phase) that borders ``mask``."""
    total = hits = 0
    for sa, sb in ((np.s_[:-1], np.s_[1:]), (np.s_[1:], np.s_[:-1])):
        for a, b, ma, mb in ((lab[sa], lab[sb], mask[sa], mask[sb]),
                             (lab[:, sa], lab[:, sb], mask[:, sa], mask[:, sb])):
            edge = (a != b) & (a >= 0) & (b >= 0) & ~ma
            total += int(edge.sum())
            hits += int((edge & mb).sum())
    return hits / total if total else 0.0


def _pieces(mask, min_area, exclude_border):
    """(H, W) int32: the 4-connected pieces of a mask numbered ``1..n`` (those under ``min_area`` pixels, and with
    ``exclude_border`` those on the map's border, left out): a groundmass is pieces, not crystals."""
    g, _ = ndi.label(mask)
    if min_area > 1:
        g[np.bincount(g.ravel())[g] < min_area] = 0
    if exclude_border:
        edge = np.unique(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]))
        g[np.isin(g, edge[edge > 0])] = 0
    return relabel_sequential(g)[0].astype(np.int32)


def grain_map(labels, *, phases=None, pixel_size=None, min_distance=3, footprint=None, h=None,
              smoothing=1.0, compactness=0.0, split_concave=True, merge_convex=True, inclusions=True,
              fill_holes=30, min_area=0, exclude_border=False, boundary_image=None, outline_tol=1.0, outside=None):
    """Separate the grains of every phase of a label map (see :func:`separate_grains`).

    Parameters
    ----------
    labels : (H, W) array_like of int, PhaseMap or HyperSpy Signal2D
        Phase index of every pixel, negative for unassigned (``PhaseMap.labels``); a ``PhaseMap`` (its labels,
        pixel size and blank pixels as `outside`) or a HyperSpy image (``PhaseMap.to_hyperspy()``'s labels, a
        mask: its data, and its axes' pixel size in µm; they gave sizes in pixels read as µm).
    phases : int or sequence of int, optional
        Phases to separate (default: every phase present).
    pixel_size : float, optional
        Micrometres per pixel. Default: that of a PhaseMap or a signal's axes (in a length unit), else 1.
    min_distance, footprint, h, smoothing, compactness, split_concave, merge_convex, inclusions, fill_holes, outline_tol
        As in :func:`separate_grains` (the corners of ragged outlines that do not persist at 1.5 px
        cut nothing). A phase whose crystals stand apart (in a matrix: one other phase around most of them; or
        twice as thick as the grains around them: phenocrysts in a fine mixed groundmass; ``params["in_matrix"]``)
        is separated as ``separate_grains(..., phase_map=labels)`` does (lone corners start no ray; inclusions
        open to the outside are filled as bays).
        Inclusions of a crystal (other phases or unassigned pixels enclosed by it) stay inside it
        while it is separated; the grain table counts them (``n_inclusions``, ``inclusion_area_px``).
    min_area, exclude_border
        As in :func:`separate_grains`; with `outside`, a grain beside an outside pixel touches a border too.
    boundary_image : (H, W) or (H, W, C) array, optional
        A co-registered crossed-polars (or BSE) image: each grain is split again along its
        edges (:func:`phaselib.morphology.image_grains`), which parts touching crystals of
        one mineral that the phase map shows as one region. A coarser phase map repeated onto
        the image's grid (blocks of ``k`` x ``k`` equal pixels) first has its outlines snapped
        to the image's edges (``phaselib.morphology._snap``; ``params["snapped_block"]`` is
        ``k``) and is then separated without concave-corner cuts. A phase black in the image (isotropic or
        opaque) whose largest cluster crosses the map (:func:`spans_map`) and that lies between the other phases'
        crystals (its pixels less deep inside it than theirs: :data:`INTERSTITIAL`; or bordering most of their
        outline: :data:`ENCLOSING`) is a glass or a groundmass: its 4-connected pieces are its grains, not cut at all
        (``params["groundmass"]``). Isotropic or opaque crystals packed together (garnet, magnetite) are as thick as
        the others and are separated as usual.
    outside : (H, W) array_like of bool, optional
        Pixels that hold no data (``PhaseMap.blank``: an empty edge, a montage's gaps, dead pixels): what lies
        there is unknown, so a grain beside them is cut as at the map's border (``touches_border`` in the table;
        removed with `exclude_border`).

    Returns
    -------
    GrainMap
    """
    labels, pixel_size, outside = image_of(labels, pixel_size, outside)  # a PhaseMap, a HyperSpy image
    pixel_size = 1.0 if pixel_size is None else pixel_size
    lab = check_labels(labels, "labels", ndim=2, low=None)  # ids past MAX_PHASES sized tables of 8 TiB
    if lab.dtype.kind == "b":  # a mask is one phase (True), as `grains` reads it, not phase 1 on a phase 0
        lab = np.where(lab, 0, -1)
    if outside is not None:
        outside = check_array(outside, "outside", ndim=2, kind="b")
        if outside.shape != lab.shape:
            raise ValueError(f"`outside` has shape {outside.shape}; `labels` has {lab.shape}.")
        outside = outside if outside.any() else None
    present = np.unique(lab[lab >= 0]).astype(np.int64)
    if present.size == 0:
        raise ValueError("`labels` has no assigned pixel (all are negative): no grains to separate.")
    if phases is None:
        phases = present
    else:
        phases = np.atleast_1d(np.asarray(phases))
        if phases.dtype.kind not in "iu" or phases.ndim != 1:
            raise TypeError(f"`phases` must be phase indices (integers), got {phases!r}.")
        missing = sorted(set(phases.tolist()) - set(present.tolist()))
        if missing:
            raise ValueError(f"phase(s) {missing} not in the map; its phases are {present.tolist()}.")
    pixel_size = check_positive(pixel_size, "pixel_size")
    opts = _check_options(min_distance, footprint, h, smoothing, compactness, fill_holes, min_area,
                          split_concave, merge_convex, inclusions, outline_tol)
    out = np.zeros(lab.shape, np.int32)
    grain_phase = []
    block = 1
    if boundary_image is not None:
        landscape = prepare(boundary_image, lab.shape)
        block = block_size(lab)
        if block > 1:  # a coarse map repeated onto the image's grid: outlines snapped to its edges,
            lab = snap_phases(lab, landscape.edges, block)  # whose corners then mean little
            opts["split_concave"] = False
    matrix = []  # phases whose crystals stand in a matrix: their lone concave corners start no ray
    groundmass = []  # black in the image, one network across the map, between the crystals: a glass, kept as its pieces
    cache = {}

    def maps():  # depth of every pixel inside its phase, clusters of every phase: computed once, when first needed
        if not cache:
            cache["maps"] = (label_depth(lab), clusters(lab))
        return cache["maps"]

    for p in np.unique(phases):
        dark = boundary_image is not None and spans_map(lab == p) and dark_in_image(landscape, lab == p)
        if dark and (_interstitial(lab == p, lab >= 0, maps()[0]) or _enclosing(lab == p, lab) >= ENCLOSING):
            groundmass.append(int(p))
            g = _pieces(lab == p, opts["min_area"], bool(exclude_border))
        else:
            if stands_apart(lab == p, lab, maps):
                matrix.append(int(p))
            g = _separate(lab == p, **opts, exclude_border=bool(exclude_border), matrix=int(p) in matrix,
                          opens=open_inclusions(lab == p, lab, opts["fill_holes"]) if int(p) in matrix else None)
            if boundary_image is not None:
                g = split_grains(lab == p, g, landscape, min_area=max(int(min_area), 10))
        k = int(g.max())
        out[g > 0] = g[g > 0] + len(grain_phase)
        grain_phase += [int(p)] * k
    if exclude_border and outside is not None and grain_phase:  # grains cut by the unknown: out, renumbered
        gone = touching(out, outside)
        keep = np.setdiff1d(np.arange(1, len(grain_phase) + 1), gone)
        new = np.zeros(len(grain_phase) + 1, np.int32)
        new[keep] = np.arange(1, keep.size + 1)
        out, grain_phase = new[out], [grain_phase[i - 1] for i in keep]
    params = dict(opts, footprint=None if footprint is None else np.asarray(footprint, bool).tolist(),
                  exclude_border=bool(exclude_border), boundary_image=boundary_image is not None,
                  snapped_block=block, phases=[int(p) for p in np.unique(phases)], in_matrix=matrix,
                  groundmass=groundmass)
    spanning = tuple(int(p) for p in np.unique(phases) if spans_map(lab == p))
    return GrainMap(out, np.asarray(grain_phase, np.int64), pixel_size, params, spanning,
                    None if outside is None else outside.copy())
