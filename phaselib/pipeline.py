"""End to end: a spectrum image in, a phase map and its measures out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cluster as _cluster
from . import decompose, quantify, segment
from ._image import SpectrumImage

METHODS = ("pca-kmeans", "gmm", "fuzzy-cmeans", "nmf-otsu")
DEFAULT_METHOD = "pca-kmeans"

#: colours of phases 0, 1, ... (Okabe-Ito then tab10-like); unassigned is grey
PHASE_COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#e377c2",
)
UNASSIGNED_COLOUR = "#d9d9d9"


@dataclass(frozen=True, eq=False)
class PhaseMap:
    """A phase map and what was measured on it.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Phase index, ``-1`` unassigned.
    spectra : PhaseSpectra
        Summed and mean spectra of each phase on the input's channels.
    fractions : (K,) ndarray
        Modal (area) fraction of each phase among all pixels.
    unassigned_fraction : float
    lines : list of list of dict
        Strongest named X-ray lines of each phase.
    method : str
    params : dict
        Parameters actually used.
    timings : dict
        Seconds per stage.
    decomposition : Decomposition
    clustering : Clustering or None
    """

    labels: np.ndarray
    spectra: quantify.PhaseSpectra
    fractions: np.ndarray
    unassigned_fraction: float
    lines: list
    method: str
    params: dict
    timings: dict
    decomposition: decompose.Decomposition
    clustering: _cluster.Clustering | None = None
    image_info: dict = field(default_factory=dict)

    @property
    def n_phases(self) -> int:
        return len(self.fractions)

    def table(self) -> list[dict]:
        """One row per phase: phase, fraction, n_pixels, main elements."""
        return [
            dict(phase=i, fraction=round(float(f), 6), n_pixels=int(n),
                 main_elements=" ".join(quantify.main_elements(lines)))
            for i, (f, n, lines) in enumerate(zip(self.fractions, self.spectra.n_pixels, self.lines))
        ]

    def save(self, folder, *, summary_extra=None) -> Path:
        """Write labels.npy, phases.csv, phase_spectra.npy, summary.json, phase_map.png."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "labels.npy", self.labels)
        np.save(folder / "phase_spectra.npy", self.spectra.means.astype(np.float32))
        with open(folder / "phases.csv", "w", encoding="utf-8") as fh:
            fh.write("phase,fraction,n_pixels,main_elements\n")
            for row in self.table():
                fh.write(f"{row['phase']},{row['fraction']},{row['n_pixels']},{row['main_elements']}\n")
        summary = dict(
            method=self.method, n_phases=self.n_phases, params=self.params,
            timings_s={k: round(v, 4) for k, v in self.timings.items()},
            unassigned_fraction=self.unassigned_fraction, image=self.image_info,
            phases=self.table(), lines=self.lines,
            explained_variance_ratio=[float(v) for v in self.decomposition.explained_variance_ratio],
            **(summary_extra or {}),
        )
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=jsonable))
        save_phase_map_png(self.labels, folder / "phase_map.png", n_phases=self.n_phases,
                           names=[f"{r['phase']}: {r['main_elements']}" for r in self.table()])
        return folder


def jsonable(obj):
    """``json.dumps(default=...)`` for NumPy scalars and arrays (anything else as text)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def phase_colours_rgb(n_phases):
    """(n_phases + 1, 3) uint8 colours: index 0 is "unassigned", then phase 0, 1, ..."""
    hexes = [UNASSIGNED_COLOUR] + [PHASE_COLOURS[i % len(PHASE_COLOURS)] for i in range(n_phases)]
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)


def save_phase_map_png(labels, path, *, n_phases=None, names=None):
    """Save a label map as a PNG in the fixed phase colours, with a legend (Pillow).

    The map is scaled up by a whole factor (nearest neighbour) so that small maps
    stay readable; matplotlib is not needed.
    """
    from PIL import Image, ImageDraw

    k = int(labels.max()) + 1 if n_phases is None else n_phases
    rgb = phase_colours_rgb(k)[np.clip(labels.astype(np.int64) + 1, 0, k)]
    h, w = labels.shape
    zoom = max(1, 400 // max(h, w))
    img = Image.fromarray(rgb).resize((w * zoom, h * zoom), Image.NEAREST)
    entries = [(names[i] if names else f"phase {i}", i + 1) for i in range(k)]
    if (labels < 0).any():
        entries.append(("unassigned", 0))
    row = 14
    canvas = Image.new("RGB", (img.width + 220, max(img.height, row * len(entries) + 8)), "white")
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    colours = phase_colours_rgb(k)
    for j, (text, idx) in enumerate(entries):
        y = 4 + j * row
        draw.rectangle([img.width + 8, y, img.width + 18, y + 10], fill=tuple(int(v) for v in colours[idx]))
        draw.text((img.width + 24, y - 1), text[:32], fill="black")
    canvas.save(path)


def _resolve_auto(value, name):
    if value in (None, "auto"):
        return None
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive integer or 'auto', got {value!r}.") from None
    if v < 1:
        raise ValueError(f"{name} must be a positive integer or 'auto', got {value!r}.")
    return v


def map_phases(image: SpectrumImage, *, method=DEFAULT_METHOD, n_phases="auto", n_components="auto",
               energy_range=(0.1, None), min_size=0, membership_threshold=0.5, max_components=24,
               random_state=0, block_rows=None, sample_pixels=decompose.SAMPLE_PIXELS, client=None,
               decomposition=None, spatial_prior="auto", beta=1.0, progress=None) -> PhaseMap:
    """Find the phases of a spectrum image.

    Parameters
    ----------
    image : SpectrumImage
    method : {"pca-kmeans", "gmm", "fuzzy-cmeans", "nmf-otsu"}
        ``pca-kmeans`` (default): k-means on the Poisson-weighted PCA scores,
        normalised by each pixel's counts. ``gmm``: a Gaussian mixture in the same
        space. ``fuzzy-cmeans``: fuzzy c-means there, pixels below
        ``membership_threshold`` left unassigned. ``nmf-otsu``: NMF, then an Otsu
        threshold on each component's abundance map, as in the classroom notebook.
    n_phases : int or "auto"
        Default: the number of PCA components above the Poisson noise (for an
        uncentred decomposition, the number of distinct spectra).
    n_components : int or "auto"
        Components used for clustering (default: those above the noise).
    energy_range : (float, float or None)
        Energy window, keV.
    min_size : int
        Objects and holes smaller than this (pixels) are removed from each mask
        (``nmf-otsu``).
    membership_threshold : float
        For ``fuzzy-cmeans``.
    max_components : int
        Components computed for the scree plot.
    random_state : int
    block_rows : int, optional
        Rows per block in the passes over the map.
    sample_pixels : int or None
        On bigger maps, PCA is fitted on row blocks spread over the map holding
        about this many pixels, then every pixel is projected (see
        :func:`phaselib.decompose.pca`). None: fit on all pixels.
    client : distributed.Client, optional
        Run the passes over the map on a Dask cluster (default: the active
        client, else local threads).
    decomposition : Decomposition, optional
        A PCA of this map (:func:`phaselib.decompose.pca`) to reuse, e.g. when
        trying several methods on one map.
    spatial_prior : {"auto", True, False}
        Map low-count data with a Poisson mixture and a Potts spatial prior
        (:func:`phaselib.lowcount.map_lowcount`) instead of per-pixel clustering.
        ``"auto"``: for ``pca-kmeans`` when the map holds fewer than
        :data:`phaselib.lowcount.LOW_COUNTS` counts per pixel.
    beta : float
        Strength of the spatial prior (see :func:`~phaselib.lowcount.map_lowcount`).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    PhaseMap
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    k_req = _resolve_auto(n_phases, "n_phases")
    n_req = _resolve_auto(n_components, "n_components")
    h, w, c = image.shape
    max_components = min(int(max_components), h * w - 1, c - 1)
    if max_components < 1:
        raise ValueError(f"The map ({h} x {w} pixels) is too small to decompose.")
    say = progress or (lambda f, m: None)
    timings = {}
    t = time.perf_counter()
    if decomposition is None:
        dec = decompose.pca(image, n_components=max(max_components, n_req or 1, k_req or 1),
                            energy_range=energy_range, random_state=random_state, block_rows=block_rows,
                            sample_pixels=sample_pixels, client=client, progress=lambda f, m: say(0.5 * f, m))
    else:
        dec = decomposition
        if dec.algorithm != "pca" or dec.pixel_sums.shape != image.shape[:2]:
            raise ValueError("`decomposition` must be a PCA result of this map (phaselib.decompose.pca).")
        if dec.n_components < max(n_req or 1, k_req or 1):
            raise ValueError(f"`decomposition` has {dec.n_components} components; more are asked for.")
    timings["pca"] = time.perf_counter() - t
    if spatial_prior not in ("auto", True, False):
        raise ValueError(f"spatial_prior must be 'auto', True or False, got {spatial_prior!r}.")
    if spatial_prior is True or (spatial_prior == "auto" and method == DEFAULT_METHOD):
        from . import lowcount

        mean = float(dec.pixel_sums.mean())
        if spatial_prior is True or lowcount.needs_spatial_prior(mean):
            return _with_prior(image, dec, method, k_req, energy_range, beta, random_state, block_rows,
                               client, timings, say)
    n_comp = n_req or dec.suggested_n_components
    k = k_req or n_comp
    if k < 2:
        k = 2
    params = dict(method=method, n_phases=k, n_components=n_comp, energy_range=dec.params["energy_range"],
                  min_size=min_size, random_state=random_state, spatial_prior=False,
                  n_phases_auto=k_req is None, n_components_auto=n_req is None)
    say(0.55, "clustering")
    t = time.perf_counter()
    clus = None
    if method == "nmf-otsu":
        start = _cluster.kmeans(dec.features(n_comp), k, random_state=random_state)
        nm = decompose.nmf(image, k, labels=start.labels, energy_range=energy_range,
                           random_state=random_state, block_rows=block_rows, client=client,
                           sample_pixels=min(sample_pixels, decompose.NMF_SAMPLE_PIXELS) if sample_pixels else None)
        timings["nmf"] = time.perf_counter() - t
        t = time.perf_counter()
        ab = segment.abundances(nm.loadings, nm.factors)
        thresholds = segment.otsu_thresholds(ab)
        labels = segment.labels_from_masks(segment.masks_from_maps(ab, thresholds, min_size=min_size))
        params["thresholds"] = [round(float(v), 6) for v in thresholds]
        timings["segment"] = time.perf_counter() - t
        dec_out = nm
    else:
        feats = dec.features(n_comp)
        name = {"pca-kmeans": "kmeans", "gmm": "gmm", "fuzzy-cmeans": "fcm"}[method]
        kw = {"threshold": membership_threshold} if name == "fcm" else {}
        if name == "fcm":
            params["membership_threshold"] = membership_threshold
        clus = _cluster.cluster(feats, k, method=name, random_state=random_state, **kw)
        labels = clus.labels.reshape(h, w).astype(np.int16)
        timings["cluster"] = time.perf_counter() - t
        dec_out = dec
    return _measure(image, labels, k, method, params, timings, dec_out, clus, block_rows, client, say)


def _measure(image, labels, k, method, params, timings, dec, clus, block_rows, client, say):
    """Phase spectra, fractions and named lines of a label map -> PhaseMap."""
    say(0.75, "phase spectra")
    t = time.perf_counter()
    spectra = quantify.phase_spectra(image, labels, k, block_rows=block_rows, client=client,
                                     progress=lambda f, m: say(0.75 + 0.2 * f, m))
    fractions, unassigned = quantify.modal_fractions(labels, k)
    elements = tuple(image.elements) or None
    try:
        lines = [quantify.identify_lines(s, image.energy_keV, elements=elements,
                                         beam_energy=image.beam_energy) for s in spectra.sums]
    except ValueError:  # unknown element symbols in the file's metadata
        lines = [quantify.identify_lines(s, image.energy_keV, beam_energy=image.beam_energy)
                 for s in spectra.sums]
    timings["quantify"] = time.perf_counter() - t
    say(1.0, "done")
    info = dict(shape=list(image.shape), dtype=str(image.data.dtype), energy_offset=image.energy_offset,
                energy_scale=image.energy_scale, beam_energy=image.beam_energy,
                pixel_size=image.pixel_size, source=image.source)
    return PhaseMap(labels, spectra, fractions, unassigned, lines, method, params, timings, dec,
                    clus, info)

def _with_prior(image, dec, method, k_req, energy_range, beta, random_state, block_rows, client, timings, say):
    """Low-count path: Poisson mixture + Potts prior, then the usual measures."""
    from . import lowcount

    t = time.perf_counter()
    low = lowcount.map_lowcount(image, n_phases=k_req or "auto", beta=beta, energy_range=energy_range,
                                random_state=random_state, block_rows=block_rows,
                                progress=lambda f, m: say(0.5 + 0.25 * f, m))
    timings["spatial_prior"] = time.perf_counter() - t
    k = len(low.fractions)
    h, w = low.labels.shape
    clus = _cluster.Clustering("potts", low.labels.ravel().astype(np.int32), low.spectra,
                               low.posteriors.reshape(h * w, k), {}, low.params)
    params = dict(method=method, spatial_prior=True, n_phases=k, n_components=dec.suggested_n_components,
                  energy_range=dec.params["energy_range"], random_state=random_state,
                  n_phases_auto=k_req is None, prior=low.params)
    return _measure(image, low.labels, k, method, params, timings, dec, clus, block_rows, client, say)
