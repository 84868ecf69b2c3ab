"""The dashboard's state, without any widget: what a session has loaded and computed.

Every step of the practical is one method that calls :mod:`phaselib` and stores its
(immutable) result in a trait; the views observe the traits. The same checks raise
the same errors here as in a script, and the app shows their message.
"""

from __future__ import annotations

import numpy as np
import traitlets as T

from phaselib import _intensity, decompose, identify, preprocess, quantify, segment
from phaselib import cluster as _cluster
from phaselib.compare import adjusted_rand, match_labels
from phaselib.lowcount import few_counts_note
from phaselib.pipeline import MAX_COMPONENTS, METHODS

from .phases import PhaseSteps
from .session_file import SessionFile, mapping, pair, whole
from .sources import caught, chosen_axis, grain_score, named_lines, open_source, summed

SAMPLES = {
    "P45 dacite (real Bruker map, 75 x 100)": "sample:P45",
    "Synthetic rock with ground truth (200 x 300)": "synthetic:200x300",
    "Synthetic rock, low counts (20 counts/px, 200 x 300)": "synthetic:200x300:20",
    "Synthetic neutron ToF transmission, Bragg edges (64 x 64 x 661)": "synthetic-tof:64x64",
}
ALGORITHMS = ("PCA", "NMF", "ICA")
CLUSTER_METHODS = {"k-means": "kmeans", "Gaussian mixture": "gmm", "fuzzy c-means": "fcm"}


class Session(SessionFile, PhaseSteps, T.HasTraits):
    """One user's session: the map and every result derived from it.

    Results are replaced, never mutated, so a view can compare old and new. Session files
    (``to_dict``, ``save_session``, ``restore``) come from :class:`~phasedash.session_file.SessionFile`.
    """

    source = T.Unicode("")
    image = T.Any(None)          # SpectrumImage being analysed (after crop / calibration)
    full_image = T.Any(None)     # as loaded
    crop_box = T.Any(None)       # (r0, r1, c0, c1) or None
    truth = T.Any(None)          # (H, W) true labels of a synthetic rock, cropped with the map
    phase_names = T.Any(None)    # true mineral names of a synthetic rock
    total = T.Any(None)          # (C,) sum spectrum
    brightness = T.Any(None)     # (H, W) counts per pixel
    total_lines = T.Any(())      # named lines of the sum spectrum
    pca = T.Any(None)            # Decomposition (PCA, all components, for the scree plot)
    algorithm = T.Unicode("PCA")
    n_components = T.Int(2)
    decomposition = T.Any(None)  # the chosen decomposition (PCA truncated, NMF or ICA)
    cluster_method = T.Unicode("kmeans")
    n_clusters = T.Int(2)
    suggested_clusters = T.Int(0)  # the map's own number (PCA, or the low-count start): phases tested as `auto`
    membership_threshold = T.Float(0.5)
    clustering = T.Any(None)
    estimate = T.Any(None)       # ClusterEstimate
    phase_source = T.Unicode("clusters")  # or "loadings" (Otsu per component), "spatial" (Potts prior)
    beta = T.Float(2.0)                  # strength of the spatial prior
    overrides = T.Dict()         # component -> threshold overriding Otsu's
    otsu = T.Any(None)           # (K,) Otsu thresholds of the abundance maps
    min_size = T.Int(0)
    labels = T.Any(None)         # (H, W) phase map, -1 unassigned
    refinement = T.Any(())       # what phaselib.refine added / merged in the clusters' phases
    minerals = T.Any(())         # PhaseName of each phase (phaselib.identify), for the current spectra
    spectra = T.Any(None)        # PhaseSpectra
    phase_lines = T.Any(())
    grain_options, grains = T.Dict(), T.Any(None)  # the grains' options and GrainMap
    paint = T.Any(None)          # (H, W) int16 painted classes of the Label step, -1 unpainted
    label_names = T.Any(())      # names of the painted classes
    supervised = T.Any(None)     # (Classification, painted classes used) of the Label step
    _truth_full = _grains_full = None  # (H, W) true phases and grain ids of a synthetic rock, uncropped
    _spatial = None   # (image, (n_phases, beta), labels, refinement): the last spatial-prior map
    _refined = None   # (clustering, labels, changes): the clusters' phases after phaselib.refine
    _auto_phases = None  # ((image, pca, n_components), Refinement): auto's phases, start of a number chosen
    _blank = None     # (decomposition, mask): the pixels that hold no counts, once per decomposition
    count_note = axis_note = ""  # values turned into counts, too few counts; an axis or beam energy the data belie
    reader_notes = ()  # the reader's warnings (a channels-first .npy): said with a failure after them
    _sums_of = None   # (image, labels, PhaseSpectra): the last phase sums

    # ------------------------------------------------------------------ data
    def load(self, source, *, energy_offset=None, energy_scale=None, axis=None, progress=None):
        """Load ``sample:P45``, ``synthetic:HxW[:counts]`` or a file path (``axis``: see ``sources.NPY_AXES``)."""
        original = str(source).strip()
        (image, truth, names, true_grains), said = caught(lambda: open_source(
            original, energy_offset=energy_offset, energy_scale=energy_scale, axis=axis))  # the reader's warnings
        image, scale = preprocess.as_counts(image)  # values that are counts times a factor: counts
        with self.hold_trait_notifications():
            self._reset()
            self.source, self.full_image, self.truth, self.phase_names = original, image, truth, names
            self._truth_full, self._grains_full = truth, true_grains
            self._set_image(image)
            few = few_counts_note(self.brightness[self.brightness > 0].mean()) if image.is_counts else ""
            self.count_note = " ".join(t for t in (*said, scale.describe() if scale.scaled else "", few) if t)
            self.reader_notes = said

    def _reset(self):
        self.crop_box = None
        self.pca = self.decomposition = self.clustering = self.estimate = None
        self.labels = self.spectra = self.grains = self.otsu = None
        self.phase_lines, self.overrides = (), {}
        self.paint = self.supervised = None  # painted pixels belong to the pixels of one map and crop

    def _set_image(self, image):
        self.clear_caches()
        data = np.asarray(image.data)
        if image.is_counts and data.dtype.kind == "f" and not np.isfinite(data).all():  # a cube may miss values
            raise ValueError("The map holds NaN or infinite values: it is not a map of X-ray counts.")
        if image.is_counts and data.dtype.kind in "if" and data.min() < 0:
            raise ValueError("The map holds negative values: it is not a map of X-ray counts.")
        if image.shape[0] * image.shape[1] < 4:
            raise ValueError(f"The map has {image.shape[0] * image.shape[1]} pixel(s); at least 4 are needed.")
        brightness = summed(data, -1)
        if brightness.max() <= 0:
            raise ValueError("The map holds no counts (every pixel is zero).")
        self.image = image
        self.brightness = brightness.astype(np.float32)
        self.total = summed(data.reshape(-1, data.shape[-1])).astype(np.float64)
        self.total_lines = named_lines(image, self.total, n_lines=10)
        self.axis_note = (" ".join(quantify.axis_warnings(self.total, image.energy_keV, image.beam_energy))
                          if image.is_eds else "")

    def clear_caches(self):  # results cached for the current map (they hold a reference to it)
        self._spatial = self._sums_of = self._refined = self._auto_phases = None

    def crop(self, rows, cols):
        """Analyse a rectangle of the loaded map: ``rows=(r0, r1)``, ``cols=(c0, c1)``; None resets."""
        self._need(self.full_image, "Load a map first.")
        if rows is None and cols is None:
            image, box, truth = self.full_image, None, self._truth_full
        else:
            h, w = self.full_image.shape[:2]
            r0, r1 = (0, h) if rows is None else pair(rows, "The crop's rows")
            c0, c1 = (0, w) if cols is None else pair(cols, "The crop's columns")
            if r1 - r0 < 4 or c1 - c0 < 4:
                raise ValueError(f"The crop must be at least 4 x 4 pixels, got {r1 - r0} x {c1 - c0}.")
            image = preprocess.crop(self.full_image, rows=(r0, r1), cols=(c0, c1))
            box, truth = (r0, r1, c0, c1), self._truth_full
            if truth is not None:
                truth = truth[r0:r1, c0:c1]
        with self.hold_trait_notifications():
            image = image.replace(energy_offset=self.image.energy_offset, energy_scale=self.image.energy_scale)
            keep = self.source, self.full_image, self.phase_names
            self._reset()
            self.source, self.full_image, self.phase_names = keep
            self.crop_box, self.truth = box, truth
            self._set_image(image)

    def set_calibration(self, energy_offset, energy_scale, axis=None):
        """Change the axis calibration (keV, or ``axis``: a key of ``sources.NPY_AXES``); results before are dropped."""
        self._need(self.image, "Load a map first.")
        image = self.image.replace(energy_offset=float(energy_offset), energy_scale=float(energy_scale),
                                   **chosen_axis(axis))
        with self.hold_trait_notifications():
            keep = self.source, self.full_image, self.phase_names, self.crop_box, self.truth
            self._reset()
            self.source, self.full_image, self.phase_names, self.crop_box, self.truth = keep
            self._set_image(image)

    def pixel_spectrum(self, row, col, row1=None, col1=None):
        """Summed spectrum of a pixel or of the rectangle ``[row:row1, col:col1]``."""
        self._need(self.image, "Load a map first.")
        h, w = self.image.shape[:2]
        row1, col1 = (row + 1 if row1 is None else row1), (col + 1 if col1 is None else col1)
        r0, r1 = sorted((int(np.clip(row, 0, h - 1)), int(np.clip(row1, 1, h))))
        c0, c1 = sorted((int(np.clip(col, 0, w - 1)), int(np.clip(col1, 1, w))))
        r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
        block = np.asarray(self.image.data[r0:r1, c0:c1])
        return summed(block.reshape(-1, block.shape[-1])), (r0, r1, c0, c1)

    # --------------------------------------------------------- decomposition
    def run_pca(self, progress=None):
        self._need(self.image, "Load a map first.")
        h, w, c = self.image.shape
        # map_phases' PCA (the CLI's clusters), held to the energy window's channels (24 of 10 was refused)
        n = max(2, min(MAX_COMPONENTS, h * w - 1, c - 1, preprocess.window_channels(self.image, (0.1, None)) - 1))
        pca = decompose.pca(self.image, n_components=n, progress=progress)
        with self.hold_trait_notifications():
            self.pca = pca
            self.n_components = max(2, min(pca.suggested_n_components or 2, n))
            self.n_clusters = self.n_components + (1 if pca.params.get("centred") else 0)  # shapes: K - 1 directions
            self.suggested_clusters = self.n_clusters
        return pca

    def decompose(self, algorithm=None, n_components=None, progress=None):
        """The chosen decomposition (PCA truncated, NMF or ICA) with ``n_components``."""
        algorithm = algorithm or self.algorithm
        if algorithm not in ALGORITHMS:
            raise ValueError(f"Unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}.")
        if self.pca is None:
            self.run_pca(progress)
        n = whole(self.n_components if n_components is None else n_components, "The number of components")
        if not 1 <= n <= self.pca.n_components:
            raise ValueError(f"The number of components must be between 1 and {self.pca.n_components}, got {n}.")
        if algorithm == "PCA":
            dec = self.pca.truncate(n)
        elif algorithm == "ICA":
            if n < 2:
                raise ValueError("ICA needs at least 2 components.")
            dec = decompose.ica(self.pca, n)
        else:
            if n < 2:
                raise ValueError("NMF needs at least 2 components.")
            start = _cluster.kmeans(self.pca.features(min(n, self.pca.n_components)), n)
            dec = decompose.nmf(self.image, n, labels=start.labels.reshape(self.image.shape[:2]), progress=progress)
        with self.hold_trait_notifications():
            self.algorithm, self.n_components, self.decomposition, self.estimate = algorithm, n, dec, (
                self.estimate if n == self.n_components else None)  # an estimate scores one number of components
            self.otsu, self.overrides = None, {}
        return dec

    # ------------------------------------------------------------ clustering
    def features(self):
        self._need(self.pca, "Run the decomposition first.")
        return self.pca.features(self.n_components)

    def estimate_clusters(self, k_max=8):
        x = self.features()
        k_max = min(whole(k_max, "k_max"), 20, x.shape[0] - 1)  # as many as run_clustering takes
        est = _cluster.estimate_n_clusters(x, range(2, k_max + 1), criteria=("silhouette", "elbow"),
                                           sample_size=3000)
        self.estimate = est
        return est

    def run_clustering(self, method=None, n_clusters=None, membership_threshold=None):
        method = method or self.cluster_method
        if method not in _cluster.METHODS:
            raise ValueError(f"Unknown clustering {method!r}; choose one of {', '.join(_cluster.METHODS)}.")
        k = whole(self.n_clusters if n_clusters is None else n_clusters, "The number of clusters")
        thr = float(self.membership_threshold if membership_threshold is None else membership_threshold)
        if not 0 < thr <= 1:
            raise ValueError(f"The membership threshold must be in (0, 1], got {thr}.")
        x = self.features()
        if not 2 <= k <= min(20, x.shape[0]):
            raise ValueError(f"The number of clusters must be between 2 and {min(20, x.shape[0])}, got {k}.")
        kw = {"threshold": thr} if method == "fcm" else {}
        blank = self.blank()  # pixels that hold no counts stay out of the clusters (-1), as in map_phases
        clus = _cluster.cluster(x, k, method=method, mask=None if blank is None else ~blank.ravel(), **kw)
        if not (clus.labels >= 0).any() and clus.memberships is not None:  # refused: the clusters before stay
            top = np.floor(1000 * float(np.nanmax(clus.memberships))) / 1000 if clus.memberships.size else 0.0
            raise ValueError(f"No pixel has a membership of {thr:g} or more in any cluster (the largest is "
                             f"{top:.3f}): lower the membership threshold.")
        with self.hold_trait_notifications():
            self.cluster_method, self.n_clusters, self.membership_threshold = method, k, thr
            self.clustering = clus
        return clus

    # ------------------------------------------------------------- phase map
    def abundances(self):
        self._need(self.decomposition, "Run the decomposition first.")
        d = self.decomposition
        return segment.abundances(d.loadings, d.factors if d.algorithm == "nmf" else None)

    def phase_map(self, source=None, *, overrides=None, min_size=None, beta=None, spectra=True):
        """Labels from the clusters, from Otsu thresholds on the component maps, or with a spatial prior."""
        source = source or self.phase_source
        min_size = whole(self.min_size if min_size is None else min_size, "The minimum size")
        if min_size < 0 or min_size > 10_000:
            raise ValueError(f"The minimum size must be between 0 and 10000 pixels, got {min_size}.")
        h, w = self.image.shape[:2] if self.image is not None else (0, 0)
        if self.image is not None and min_size > max(h * w // 4, 1):  # a speck, not a phase: 12 x 12 px at 200 lost all
            raise ValueError(f"The minimum size must be at most a quarter of the map ({max(h * w // 4, 1)} pixels of "
                             f"{h * w}), got {min_size}: regions larger than that are phases, not specks.")
        if source in ("clusters", "spatial"):
            self._need(self.clustering, "Run a clustering first.")
            labels = self.spatial_labels(beta).astype(np.int16) if source == "spatial" else self.refined_clusters()
            labels = segment.clean_labels(labels, min_size)
            otsu, overrides = self.otsu, self.overrides
        elif source == "loadings":
            maps = self.abundances()
            overrides = {whole(k, "A threshold's component"): float(v)
                         for k, v in mapping(self.overrides if overrides is None else overrides, "overrides").items()}
            if self.otsu is None or len(self.otsu) != maps.shape[-1]:
                self.otsu = segment.otsu_thresholds(maps)  # once per decomposition (reset by decompose)
            otsu, used = self.otsu, self.otsu.copy()
            bad = [i for i in overrides if not 0 <= i < len(used)]
            if bad:
                raise ValueError(f"Threshold overrides name components {bad}; there are {len(used)}.")
            used[list(overrides)] = list(overrides.values())
            labels = segment.labels_from_masks(segment.masks_from_maps(maps, used, min_size=min_size))
        else:
            raise ValueError(f"Phases come from 'clusters', 'loadings' or 'spatial', not {source!r}.")
        blank = self.blank()  # the cleaning and the prior fill small holes: pixels that hold no counts stay out
        if blank is not None and blank.any():
            labels = np.where(blank, -1, labels).astype(np.int16)
        with self.hold_trait_notifications():
            self.phase_source, self.min_size, self.overrides, self.otsu = source, min_size, overrides, otsu
            if self.grains is not None and (self.labels is None or not np.array_equal(self.labels, labels)):
                self.grains = None  # separated on the phase map before: stale (exported beside the new phases)
            self.labels = labels
            if spectra:
                self.measure()
        return labels

    def measure(self):
        """Phase spectra and their named lines for the current labels."""
        self._need(self.labels, "Make a phase map first.")
        labels, k = self.labels, max(int(self.labels.max()) + 1, 1)
        sp = self._sums_from_last(labels, k) or quantify.phase_spectra(self.image, labels, k)
        self._sums_of = (self.image, labels, sp)
        lines = [named_lines(self.image, s) if n else [] for s, n in zip(sp.sums, sp.n_pixels)]
        with self.hold_trait_notifications():
            self.spectra, self.phase_lines, self.minerals = sp, lines, ()
        return sp

    def name_minerals(self):
        """Composition and best-matching minerals of each phase (:func:`phaselib.identify.name_phases`)."""
        self._need(self.spectra, "Make a phase map first.")
        self._need(self.image.beam_energy, "Naming minerals needs the beam energy of the map.")
        self._need(self.image.is_eds or None, "Minerals are named from X-ray lines: this map is not EDS.")
        self._need(self.image.n_channels >= 8 or None, "Minerals are named from X-ray spectra of 8 channels or more.")
        self.minerals = tuple(identify.name_phases(self.spectra.sums, self.image.energy_keV,
                                                   beam_energy=self.image.beam_energy))
        return self.minerals

    def _sums_from_last(self, labels, k):
        """The last phase sums corrected for the pixels whose phase changed, or None (recompute).

        A threshold or minimum-size change moves a few pixels: :func:`phaselib.quantify.update_phase_spectra`
        reads only those. Only sums of this very map with the same number of phases are reused."""
        prev = self._sums_of
        if prev is None or prev[0] is not self.image or prev[1].shape != labels.shape or prev[2].sums.shape[0] != k:
            return None
        return quantify.update_phase_spectra(self.image, prev[2], prev[1], labels)

    def fractions(self):
        self._need(self.labels, "Make a phase map first.")
        k = max(int(self.labels.max()) + 1, 1)
        return quantify.modal_fractions(self.labels, k, blank=self.blank())

    def unassigned_note(self):
        """The clusters' unassigned (mixed) share of the pixels that hold data, and the pixels that hold none."""
        blank, labels = self.blank(), self.clustering.labels
        n_blank = 0 if blank is None else int(np.count_nonzero(blank))
        mixed = (np.count_nonzero(labels < 0) - n_blank) / max(labels.size - n_blank, 1)
        note = f"Unassigned (mixed) pixels: <b>{100 * mixed:.1f} %</b>"
        return note + (f"; {n_blank} pixels hold no counts (left out)" if n_blank else "")

    def n_unassigned(self):
        """Unassigned pixels of the phase map that hold data (blank ones are not the specimen's)."""
        blank = self.blank()
        return int(np.count_nonzero((self.labels < 0) & (True if blank is None else ~blank)))

    def blank(self):
        """Pixels that hold no counts or, of a cube, no data (as map_phases'; None before the decomposition)."""
        if self.pca is not None and (self._blank is None or self._blank[0] is not self.pca):  # a cube's too
            blank = preprocess.blank_pixels if self.image.is_counts else lambda _: _intensity.no_data_pixels(self.image)
            self._blank = (self.pca, blank(self.pca.pixel_sums))
        return None if self.pca is None else self._blank[1]

    def accuracy(self, labels=None):
        """Adjusted Rand index against the truth of a synthetic map (None for real maps)."""
        labels = self.labels if labels is None else labels
        if self.truth is None or labels is None:
            return None
        return adjusted_rand(labels, self.truth)

    def compare(self, methods=None, progress=None):
        """Phase maps of several methods on the same map, their agreement and accuracy. ``methods``: by default
        pca-kmeans, nmf-otsu and fuzzy-cmeans; gmm in place of nmf-otsu (Poisson NMF) on an intensity cube."""
        from phaselib.pipeline import map_phases

        self._need(self.image, "Load a map first.")
        if methods is None:
            methods = METHODS[:1] + ("nmf-otsu" if self.image.is_counts else "gmm", "fuzzy-cmeans")
        if self.pca is None:
            self.run_pca(progress)
        maps = {}
        for i, m in enumerate(methods):
            pm = map_phases(self.image, method=m, n_phases=self.n_clusters, n_components=self.n_components,
                            decomposition=self.pca, spatial_prior=False,
                            progress=None if progress is None else
                            (lambda f, msg, i=i: progress((i + f) / len(methods), f"{methods[i]}: {msg}")))
            maps[m] = pm.labels
        ref = maps[methods[0]]
        maps = {m: lab if m == methods[0] else match_labels(lab, ref) for m, lab in maps.items()}
        agree = {(a, b): adjusted_rand(maps[a], maps[b]) for i, a in enumerate(methods) for b in methods[i + 1:]}
        acc = {m: self.accuracy(lab) for m, lab in maps.items()}
        return maps, agree, acc

    # ---------------------------------------------------------------- grains
    def run_grains(self, **options):
        from phaselib.morphology import grain_map

        self._need(self.labels, "Make a phase map first.")
        px = self.image.pixel_size or 1.0
        g = grain_map(self.labels, pixel_size=px, outside=self.blank(), **options)  # empty pixels: a border
        with self.hold_trait_notifications():
            self.grain_options, self.grains = dict(options), g
        return g

    def grain_accuracy(self):
        """The grains against a synthetic map's true grains (:func:`sources.grain_score`), else None."""
        return grain_score(self.grains, self.labels, self._grains_full, self.crop_box)

    @staticmethod
    def _need(value, message):
        if value is None:
            raise ValueError(message)
