"""End to end: a spectrum image in, a phase map and its measures out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _hyperspy, _intensity, decompose, identify, lowcount, preprocess, quantify, refine, render, segment
from . import cluster as _cluster
from ._atomic import atomic_folder, is_result_folder, refuse_inputs
from ._finish import COUNT_SAMPLE_PIXELS  # noqa: F401 - documented here
from ._finish import asked as _asked
from ._finish import boundaries as _boundaries
from ._finish import describe as _describe
from ._finish import low_counts as _low_counts
from ._finish import scaled as _scaled
from ._image import SpectrumImage
from ._serialize import dumps
from ._validate import MAX_ASKED, check_auto, check_choice, check_image, check_int, check_some_assigned

__all__ = ["DEFAULT_METHOD", "METHODS", "PhaseMap", "map_phases"]

METHODS = ("pca-kmeans", "gmm", "fuzzy-cmeans", "nmf-otsu")
#: the files of a result folder (PhaseMap.save replaces a folder holding only these)
RESULT_FILES = ("labels.npy", "phase_spectra.npy", "phases.csv", "summary.json", "phase_map.png", "blank.npy")
DEFAULT_METHOD = "pca-kmeans"
#: components the PCA of :func:`map_phases` computes (the dashboard's too, so both cluster the same scores)
MAX_COMPONENTS = 24

@dataclass(frozen=True, eq=False)
class PhaseMap:
    """A phase map and what was measured on it.

    Attributes
    ----------
    labels : (H, W) int16 ndarray
        Phase index, ``-1`` unassigned (and where a pixel holds no counts: ``params["blank_pixels"]`` of them).
    spectra : PhaseSpectra
        Summed and mean spectra of each phase on the input's channels.
    fractions : (K,) ndarray
        Modal (area) fraction of each phase among the pixels that hold data (all but the blank ones).
    unassigned_fraction : float
        Share of the pixels that hold data left unassigned.
    lines : list of list of dict
        Strongest named X-ray lines of each phase.
    method : str
    params : dict
        Parameters actually used.
    timings : dict
        Seconds per stage.
    decomposition : Decomposition
    clustering : Clustering or None
        The clustering the phases came from (before :mod:`phaselib.refine` added or merged
        phases: compare ``params["refinement"]``).
    image_info : dict
    minerals : tuple of PhaseName
        Composition and best-matching minerals of each phase (:func:`phaselib.identify.name_phases`);
        empty when not asked for or the beam energy is unknown.
    blank : (H, W) bool ndarray or None
        The pixels that hold no counts (None: none); saved as ``blank.npy``, read by ``grains``.
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
    minerals: tuple = ()
    blank: np.ndarray | None = None

    n_phases = property(lambda self: len(self.fractions), doc="Number of phases.")
    n_blank = property(lambda self: int(self.params.get("blank_pixels", 0)), doc="Pixels that hold no counts.")
    __repr__ = _describe  # size, method, one line per phase (not the arrays)

    def table(self) -> list[dict]:
        """The modal table (:func:`phaselib.quantify.phase_table`): one row per phase (phase,
        fraction, n_pixels, main elements), then one for the unassigned pixels."""
        return quantify.phase_table(self.fractions, self.spectra.n_pixels, self.lines,
                                    unassigned_fraction=self.unassigned_fraction,
                                    n_unassigned=int(np.count_nonzero(self.labels < 0)) - self.n_blank,
                                    minerals=[n.best for n in self.minerals] if self.minerals else None)

    def to_hyperspy(self):
        """The phase map as HyperSpy signals (needs HyperSpy): ``(labels, spectra)``.

        ``labels``: a ``Signal2D`` of the label map with the map's axes (scale, offset, units, names;
        those of the input signal when the map came from HyperSpy). ``spectra``: the mean spectrum of
        each phase, navigated by phase, an ``EDSSEMSpectrum`` on the energy axis for EDS maps, else a
        ``Signal1D`` on the input's signal axis.
        """
        return _hyperspy.phase_map_to_hyperspy(self)

    def save(self, folder, *, summary_extra=None) -> Path:
        """Write labels.npy, phases.csv, phase_spectra.npy, summary.json, phase_map.png.

        They are written into a temporary folder next to ``folder`` and renamed into place at the
        end (``phaselib._atomic``): a killed run leaves the old result whole. An existing ``folder``
        is replaced only when it holds nothing but these files, never when it holds the input."""
        final = Path(folder)
        refuse_inputs(final, [self.image_info.get("source")], folder=True)
        with atomic_folder(final, replace=is_result_folder(RESULT_FILES)) as folder:
            self._write(folder, summary_extra)
        return final

    def _write(self, folder, summary_extra):
        np.save(folder / "labels.npy", self.labels)
        if self.n_blank:
            np.save(folder / "blank.npy", self.blank)
        np.save(folder / "phase_spectra.npy", self.spectra.means.astype(np.float32))
        table = self.table()
        quantify.write_phase_table(table, folder / "phases.csv")
        summary = dict(
            method=self.method, n_phases=self.n_phases, params=self.params,
            timings_s={k: round(v, 4) for k, v in self.timings.items()},
            unassigned_fraction=self.unassigned_fraction, image=self.image_info,
            phases=table[:-1], lines=self.lines, minerals=[n.summary() for n in self.minerals],
            mineral_calibration=identify.calibration_note(self.minerals),
            explained_variance_ratio=[float(v) for v in self.decomposition.explained_variance_ratio],
            **(summary_extra or {}),
        )
        (folder / "summary.json").write_text(dumps(summary, indent=2))
        render.save_phase_map_png(self.labels, folder / "phase_map.png", n_phases=self.n_phases,
                                  names=[f"{r['phase']}: {r['main_elements']}" for r in table[:-1]])


def _resolve_auto(value, name):
    if value is None or check_auto(value):
        return None
    return check_int(value, name, allow_auto=True, high=MAX_ASKED)


def map_phases(image: SpectrumImage, *, method=DEFAULT_METHOD, n_phases="auto", n_components="auto",
               energy_range=(0.1, None), min_size=0, membership_threshold=0.5, max_components=MAX_COMPONENTS,
               random_state=0, block_rows=None, sample_pixels=decompose.SAMPLE_PIXELS, client=None,
               decomposition=None, spatial_prior="auto", beta=lowcount.DEFAULT_BETA, refine_phases=True,
               mixed_pixels=True, beam_spread=True, name_minerals=True, progress=None) -> PhaseMap:
    """Find the phases of a spectrum image.

    Parameters
    ----------
    image : SpectrumImage or HyperSpy Signal1D
        A HyperSpy map (eager or lazy, ``EDSSEMSpectrum`` included) is used without a copy
        (:func:`phaselib.load`). Values that are counts times a factor (a live time, a gain) are divided by it
        first (:func:`phaselib.preprocess.as_counts`, ``params["count_scale"]``). For ``signal="intensity"``
        images (transmission...) the phases come from the spectral shapes (:func:`phaselib.decompose.shape_pca`),
        and what assumes counts is
        skipped or refused (``params["notes"]``): the Poisson spatial prior, refinement, ``nmf-otsu``,
        X-ray lines and mineral names; the spatial prior there is a Potts field over Gaussian regions
        in the shape-score space (:func:`phaselib.lowcount.gaussian_potts`).
    method : {"pca-kmeans", "gmm", "fuzzy-cmeans", "nmf-otsu"}
        ``pca-kmeans`` (default): k-means on the Poisson-weighted PCA scores,
        normalised by each pixel's counts. ``gmm``: a Gaussian mixture in the same
        space. ``fuzzy-cmeans``: fuzzy c-means there, pixels below
        ``membership_threshold`` left unassigned. ``nmf-otsu``: NMF (Poisson loss, started
        from the phases of the default method), then an Otsu threshold on each component's abundance map, as in
        the classroom notebook.
    n_phases : int or "auto"
        Default: the number of PCA components above the Poisson noise (for an
        uncentred decomposition, the number of distinct spectra). A number is a most; the default method's
        per-pixel path tests the phases ``auto`` finds again with it (:mod:`phaselib.refine._asked`).
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
        :data:`phaselib.lowcount.LOW_COUNTS` counts per pixel, estimated before any
        decomposition from about :data:`COUNT_SAMPLE_PIXELS` pixels (or from `decomposition`).
        On that path no full-resolution PCA is made: ``PhaseMap.decomposition`` is the PCA of
        the binned map the EM started from (or the one given). Intensity cubes: "auto" and True
        smooth the clusters (``pca-kmeans``, ``gmm``) with :func:`~phaselib.lowcount.gaussian_potts`.
    beta : float
        Strength of the spatial prior (see :func:`~phaselib.lowcount.map_lowcount`).
    refine_phases : bool
        After clustering, add phases for pixels that no phase explains, split a phase holding two
        chemistries, merge phases that are chemically one and dissolve rims of mixed pixels
        (:func:`phaselib.refine.refine_phases`); with `n_phases` given, the most alike are merged
        down to it. A number given is a most: fewer phases come back where the others would be
        rims of mixed pixels or pieces of one chemistry (no major element's shares 2 times apart). What changed is in
        ``params["refinement"]``.
    mixed_pixels : bool
        Give each boundary pixel to the dominant phase of the two-phase mixture of the phases around
        it that best explains its counts (:func:`phaselib.refine.assign_mixed_pixels`: no rims of a
        third phase between two grains), from :data:`phaselib.refine.MIXED_MIN_COUNTS` counts/px (below
        100 with a margin: :func:`phaselib.refine.mixed_margin`).
        Pixels moved: ``params["mixed_pixels"]``.
    beam_spread : bool
        Read the beam's spread (the Gaussian mixing of neighbours' phases that best explains the counts) and
        relabel the boundary pixels under it (:func:`phaselib.refine.beam_spread_fit`): ``params["beam_spread"]``.
    name_minerals : bool
        Name each phase's mineral from its spectrum (:func:`phaselib.identify.name_phases`; needs
        the beam energy): ``PhaseMap.minerals``, the ``mineral`` column of ``phases.csv``.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    PhaseMap
    """
    if _hyperspy.is_signal(image):  # a HyperSpy Signal1D map: its array, no copy (lazy stays lazy)
        image = _hyperspy.from_hyperspy(image)
    check_image(image)
    check_choice(method, "method", METHODS)
    check_choice(spatial_prior, "spatial_prior", ("auto", True, False))
    check_choice(refine_phases, "refine_phases", (True, False))
    check_choice(mixed_pixels, "mixed_pixels", (True, False))
    check_choice(beam_spread, "beam_spread", (True, False))
    check_choice(name_minerals, "name_minerals", (True, False))
    check_int(min_size, "min_size", low=0)
    k_req = _resolve_auto(n_phases, "n_phases")
    n_req = _resolve_auto(n_components, "n_components")
    h, w, c = image.shape
    max_components = min(check_int(max_components, "max_components"), h * w - 1, c - 1,
                         preprocess.window_channels(image, energy_range) - 1)
    if max_components < 1:
        raise ValueError(f"The map ({h} x {w} pixels" + (f", {c} channel" if c < 2 else "") + ") is too small to "
                         "decompose" + (": a spectrum needs 2 channels or more." if c < 2 else "."))
    if decomposition is not None:
        if not isinstance(decomposition, decompose.Decomposition):
            raise TypeError(f"`decomposition` must be a Decomposition, got {type(decomposition).__name__}.")
        if decomposition.algorithm != "pca" or decomposition.pixel_sums.shape != image.shape[:2]:
            raise ValueError("`decomposition` must be a PCA result of this map (phaselib.decompose.pca).")
        if decomposition.n_components < max(n_req or 1, k_req or 1):
            raise ValueError(f"`decomposition` has {decomposition.n_components} components; more are asked for.")
    say = progress or (lambda f, m: None)
    timings = {}
    # values that are counts times a factor (a live time, a gain) are divided by it (params["count_scale"])
    image, scale = preprocess.as_counts(image) if decomposition is None else (image, None)
    intensity = not image.is_counts
    energy_range = _intensity.check_signal(image, method, energy_range)
    if not intensity and _low_counts(image, method == DEFAULT_METHOD, spatial_prior, decomposition, energy_range,
                                     timings):
        return _scaled(_with_prior(image, decomposition, method, k_req, energy_range, beta, random_state,
                                   block_rows, client, timings, say, refine_phases, name_minerals,
                                   (mixed_pixels, beam_spread)), scale)
    t = time.perf_counter()
    dec = decomposition
    if dec is None:
        dec = decompose.pca(image, n_components=max(max_components, n_req or 1, (k_req or 1) - intensity),  # K - 1
                            energy_range=energy_range, random_state=random_state, block_rows=block_rows,
                            sample_pixels=sample_pixels, client=client, progress=lambda f, m: say(0.5 * f, m))
    timings["pca"] = time.perf_counter() - t
    n_comp = _intensity.n_components(dec.suggested_n_components, n_req, k_req) if intensity else \
        (n_req or dec.suggested_n_components)
    # centred shapes (intensity): K regions span K - 1 directions
    k = max(k_req or (n_comp + 1 if dec.params.get("centred") else n_comp), 2)
    # pixels that hold no counts or no data (a drift-corrected edge, a montage's gaps) are left out and unassigned
    blank = _intensity.no_data_pixels(image) if intensity else preprocess.blank_pixels(dec.pixel_sums)
    params = dict(method=method, n_phases=k, n_components=n_comp, energy_range=dec.params["energy_range"],
                  min_size=min_size, random_state=random_state, spatial_prior=False,
                  n_phases_auto=k_req is None, n_components_auto=n_req is None)
    say(0.55, "clustering")
    t = time.perf_counter()
    clus = None
    # a number asked for, default clustering: auto's clusters and phases first (refine._asked)
    from_auto = k_req is not None and method == DEFAULT_METHOD and refine_phases and not intensity
    if method == "nmf-otsu":
        # NMF starts from the default method's phases (tested; the spatial prior at low counts): from bare k-means
        # on a few components a dominant glass split in two and took specks' place (tests/test_nmf_otsu.py)
        run = dict(random_state=random_state, block_rows=block_rows, client=client, energy_range=energy_range)
        first = map_phases(image, n_phases=k_req or "auto", n_components=n_req or "auto", decomposition=dec,
                           spatial_prior=spatial_prior, beta=beta, refine_phases=refine_phases, mixed_pixels=False,
                           beam_spread=False, name_minerals=False, **run)
        k = first.n_phases
        nm = decompose.nmf(image, k, loss="kullback-leibler", labels=first.labels.ravel(), **run,
                           sample_pixels=min(sample_pixels, decompose.NMF_SAMPLE_PIXELS) if sample_pixels else None)
        timings["nmf"], t = time.perf_counter() - t, time.perf_counter()
        ab = segment.abundances(nm.loadings, nm.factors)
        thresholds = segment.otsu_thresholds(ab)
        labels = segment.labels_from_abundances(ab, thresholds, min_size=min_size)
        labels[blank] = -1
        params["thresholds"] = [round(float(v), 6) for v in thresholds]
        timings["segment"], dec_out = time.perf_counter() - t, nm
    else:
        # counts: the first score, normalised, is constant: two scores at least (a 3 x 3 map's Fe oxide was lost)
        feats = dec.features(n_comp if intensity else max(n_comp, min(2, dec.n_components)))
        name = {"pca-kmeans": "kmeans", "gmm": "gmm", "fuzzy-cmeans": "fcm"}[method]
        kw = {"threshold": membership_threshold} if name == "fcm" else {}
        if name == "fcm":
            params["membership_threshold"] = membership_threshold
        clus = _cluster.cluster(feats, max(n_comp, 2) if from_auto else k, method=name, random_state=random_state,
                                mask=None if blank is None else ~blank.ravel(), **kw)
        labels = clus.labels.reshape(h, w).astype(np.int16)
        timings["cluster"] = time.perf_counter() - t
        dec_out = dec
    check_some_assigned(labels, method, membership_threshold=membership_threshold, min_size=min_size)
    spectra = None
    if intensity:
        labels = _intensity.smooth_regions(dec, n_comp, labels, method, spatial_prior, beta, params, timings, k_req,
                                           blank)
        k = params["n_phases"]
    if refine_phases and not intensity:
        say(0.7, "testing the phases")
        t = time.perf_counter()
        run = dict(random_state=random_state, block_rows=block_rows, client=client)
        feats_r = dec.features(min(dec.n_components, n_comp + 8))  # from_auto: `auto`'s phases, then K (_asked)
        ref = refine.refine_phases(image, labels, feats_r, dec.pixel_sums, n_phases=None if from_auto else k_req,
                                   split_features=dec.features(max(n_comp, min(2, dec.n_components))), **run)
        labels, spectra, k = ref.labels, ref.spectra, ref.n_phases
        params.update(n_phases=k, refinement=ref.changes)
        timings["refine"] = time.perf_counter() - t
    if from_auto:
        say(0.72, "mixed pixels")
        labels, spectra, k = _asked(image, ref, dec, n_comp, k_req, feats_r, blank, params, timings,
                                    float(dec.pixel_sums.mean()), (mixed_pixels, beam_spread), run)
    elif not intensity:
        say(0.72, "mixed pixels")
        labels, spectra, k = _boundaries(image, labels, k, spectra, params, timings, block_rows, client,
                                         float(dec.pixel_sums.mean()), (mixed_pixels, beam_spread),
                                         specks=refine_phases and k_req is None, blank=blank)
    return _scaled(_measure(image, labels, k, method, params, timings, dec_out, clus, block_rows, client, say,
                            spectra=spectra, name_minerals=name_minerals, blank=blank), scale)


def _measure(image, labels, k, method, params, timings, dec, clus, block_rows, client, say, spectra=None,
             name_minerals=True, blank=None):
    """Phase spectra (unless given), fractions and named lines of a label map -> PhaseMap."""
    say(0.75, "phase spectra")
    t = time.perf_counter()
    if spectra is None:
        spectra = quantify.phase_spectra(image, labels, k, block_rows=block_rows, client=client,
                                         progress=lambda f, m: say(0.75 + 0.2 * f, m))
    fractions, unassigned = quantify.modal_fractions(labels, k, blank=blank)
    elements = tuple(image.elements) or None
    if not image.is_eds:  # no X-ray lines on another axis or in intensities
        lines = [[] for _ in range(k)]
    else:
        lines = quantify.phase_lines(spectra.sums, image.energy_keV, elements=elements, beam_energy=image.beam_energy)
    timings["quantify"] = time.perf_counter() - t
    minerals = ()
    if name_minerals and image.beam_energy and image.is_eds and image.n_channels >= 8:  # a spectrum to quantify
        say(0.96, "naming the minerals")
        t = time.perf_counter()
        minerals = identify.name_phases(spectra.sums, image.energy_keV, beam_energy=image.beam_energy)
        timings["minerals"] = time.perf_counter() - t
    say(1.0, "done")
    info = dict(shape=list(image.shape), dtype=str(image.data.dtype), energy_offset=image.energy_offset,
                energy_scale=image.energy_scale, beam_energy=image.beam_energy,
                pixel_size=image.pixel_size, source=image.source)
    info["axes"] = _hyperspy.navigation_axes(image)
    if not image.is_eds:
        info.update(signal=image.signal, axis_name=image.name, axis_units=image.units)
    return PhaseMap(labels, spectra, fractions, unassigned, lines, method, params, timings, dec,
                    clus, info, tuple(minerals), blank if params.get("blank_pixels") else None)


def _with_prior(image, dec, method, k_req, energy_range, beta, random_state, block_rows, client, timings, say,
                refine_phases, name_minerals, boundaries):
    """Low-count path: Poisson mixture + Potts prior (its own PCA + k-means start on a binned copy),
    then the usual measures, with the phase sums the EM's blocks already give."""
    t = time.perf_counter()
    low = lowcount.map_lowcount(image, n_phases=k_req or "auto", beta=beta, energy_range=energy_range,
                                random_state=random_state, block_rows=block_rows, refine_phases=refine_phases,
                                progress=lambda f, m: say(0.75 * f, m))
    timings["spatial_prior"] = time.perf_counter() - t
    k = len(low.fractions)
    h, w = low.labels.shape
    dec = low.decomposition if dec is None else dec
    clus = _cluster.Clustering("potts", low.labels.ravel().astype(np.int32), low.spectra,
                               low.posteriors.reshape(h * w, k), {}, low.params)
    params = dict(method=method, spatial_prior=True, n_phases=k, n_components=dec.suggested_n_components,
                  energy_range=dec.params["energy_range"], random_state=random_state,
                  n_phases_auto=k_req is None, prior=low.params, refinement=low.params.get("refinement", []))
    labels, spectra, mean = low.labels, low.phase_sums, low.params["mean_counts"]
    labels, spectra, k = _boundaries(image, labels, k, spectra, params, timings, block_rows, client, mean, boundaries,
                                     specks=refine_phases and k_req is None, blank=low.blank)
    return _measure(image, labels, k, method, params, timings, dec, clus, block_rows, client, say,
                    spectra=spectra, name_minerals=name_minerals, blank=low.blank)
