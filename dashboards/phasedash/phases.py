"""The phase-map steps of a :class:`~phasedash.state.Session` that run :mod:`phaselib`'s tests: the clusters'
phases refined as ``map_phases`` refines them, the spatial prior of :mod:`phaselib.lowcount`, the boundary steps."""

from __future__ import annotations

import numpy as np

from phaselib import _intensity, refine


class PhaseSteps:
    """Mixed into :class:`~phasedash.state.Session` (its traits: ``image``, ``pca``, ``clustering``, ``n_clusters``,
    ``suggested_clusters``, ``beta``, ``refinement``; its caches ``_spatial``, ``_refined``, ``_auto_phases``)."""

    def spatial_labels(self, beta=None):
        """Phase map with a spatial prior (:func:`phaselib.lowcount.map_lowcount`), cached per settings."""
        from phaselib.lowcount import map_lowcount

        self._need(self.image, "Load a map first.")
        beta = float(self.beta if beta is None else beta)
        if not 0 <= beta <= 10:
            raise ValueError(f"The spatial prior's strength must be between 0 and 10, got {beta}.")
        key = (self.n_clusters, beta)
        if self._spatial is None or self._spatial[0] is not self.image or self._spatial[1] != key:
            self._keep_spatial(map_lowcount(self.image, n_phases=self.n_clusters, beta=beta), key)
        self.beta, self.refinement = beta, self._spatial[3]
        return self._spatial[2]

    def low_count_start(self):
        """For a low-count map, the number of phases as phaselib finds it there (binned map), its
        spatial-prior map kept for the phase map's "spatial" choice."""
        from phaselib.lowcount import map_lowcount

        self._need(self.image, "Load a map first.")
        lc = map_lowcount(self.image, n_phases="auto", beta=self.beta)
        labels, gone = self._unmixed(lc.labels, lc.phase_sums, specks=True)
        n = int(labels.max()) + 1
        self._spatial = (self.image, (n, float(self.beta)), labels, tuple(lc.params["refinement"]) + tuple(gone))
        self.n_clusters = self.suggested_clusters = max(n, 2)
        return lc

    def refined_clusters(self):
        """The clusters' phases after ``refine_phases`` and the boundary steps; ``refinement`` says what changed.

        With the map's own number of clusters (``suggested_clusters``, not one the student chose) the phases are
        tested as ``python -m phaselib map``'s ``auto`` does (phases added, split and merged, as many as are
        chemically distinct); with another number, that number at most is kept (``--n-phases K``)."""
        clus = self.clustering
        if not self.image.is_counts and (self._refined is None or self._refined[0] is not clus):  # map_phases' prior
            k = None if self.n_clusters == self.suggested_clusters else self.n_clusters  # auto's: split and merge
            self._refined = (clus, *_intensity.tested_regions(self.pca, self.n_components, clus.labels, self.beta,
                                                              k, self.n_clusters, blank=self.blank())[:2])
        if self._refined is None or self._refined[0] is not clus:
            h, w = self.image.shape[:2]
            labels = clus.labels.reshape(h, w).astype(np.int16)
            m = min(self.pca.n_components, self.n_components + 8)
            auto = self.n_clusters == self.suggested_clusters  # the CLI's `auto`: phases added, split, merged
            if auto or self.cluster_method != "kmeans":
                ref = refine.refine_phases(self.image, labels, self.pca.features(m), self.pca.pixel_sums,
                                           n_phases=None if auto else self.n_clusters, split_features=self._cut_on())
                if auto and self.cluster_method == "kmeans" and self.n_clusters == max(self.n_components, 2):
                    self._auto_phases = ((self.image, self.pca, self.n_components), ref)  # a number chosen starts here
                labels, gone = self._unmixed(ref.labels, ref.spectra, specks=auto)
                self._refined = (clus, labels, list(ref.changes) + gone)
            else:
                self._refined = (clus, *self._asked(m))
        self.refinement = tuple(self._refined[2])
        return self._refined[1]

    def _cut_on(self):
        """The features map_phases' split test also cuts on (the components above the noise)."""
        return self.pca.features(max(self.n_components, min(2, self.pca.n_components)))

    def _asked(self, m):
        """``(labels, changes)`` of ``map_phases(n_phases=K)`` (:mod:`phaselib.refine._asked`): the phases of
        k-means with the map's own number of clusters, refined as under ``auto``, then tested again with the
        number the student chose when fewer, or merged down to it after the boundary steps when more."""
        from phaselib import cluster as _cluster

        h, w = self.image.shape[:2]
        feats, k = self.pca.features(m), self.n_clusters
        key = (self.image, self.pca, self.n_components)  # auto's phases, once whatever the number chosen
        if self._auto_phases is None or any(a is not b for a, b in zip(self._auto_phases[0], key)):
            blank = self.blank()
            first = _cluster.cluster(self.features(), max(self.n_components, 2), method="kmeans",
                                     mask=None if blank is None else ~blank.ravel()).labels.reshape(h, w)
            self._auto_phases = (key, refine.refine_phases(self.image, first.astype(np.int16), feats,
                                                           self.pca.pixel_sums, split_features=self._cut_on()))
        ref = self._auto_phases[1]

        def finish(labels, spectra):  # map_phases' boundary steps, then its specks dropped
            labels, gone = self._unmixed(labels, spectra, specks=True)
            return labels, None, int(labels.max()) + 1, gone

        labels, _, _, more = refine.asked_map(self.image, ref, k, feats, self.pca.pixel_sums, finish,
                                              start=lambda: self.clustering.labels)  # k-means with k clusters
        return labels, list(ref.changes) + more

    def _keep_spatial(self, lc, key):
        self._spatial = (self.image, key, self._unmixed(lc.labels, lc.phase_sums)[0], tuple(lc.params["refinement"]))

    def _unmixed(self, labels, spectra, specks=False):
        """The boundary steps of map_phases (:func:`phaselib.refine.relabel_boundaries`): unresolved inclusions to
        their phase, mixed pixels to their dominant phase (from 40 counts/px), then the beam's spread, then
        (``auto``) phases left with too few pixels given to their neighbours, so the page's map is the CLI's.
        Returns the labels and what was dissolved."""
        if self.pca is None or not self.image.is_counts:
            return labels, []
        labels = refine.relabel_boundaries(self.image, labels, int(labels.max()) + 1, spectra,
                                           self.pca.params["energy_range"], float(self.pca.pixel_sums.mean()))[0]
        return refine.drop_specks(labels, int(labels.max()) + 1)[::2] if specks else (labels, [])
