"""The steps a change makes stale, in order: one function for both front ends."""

from __future__ import annotations

from phaselib.lowcount import needs_spatial_prior

#: counts per pixel under which a new map's phase map is "clusters + spatial prior" (as the CLI's), not the clusters:
#: the synthetic classroom rock's clusters score ARI 0.77 at 30 counts/px (spatial prior 0.98), 0.976 at 45 (0.989),
#: 0.988 at 60 (0.994); above, the clustering step's choices (fuzzy c-means' unassigned pixels) show on the map
SPATIAL_BELOW = 50.0


def run_pipeline(s, *, pca=False, decompose=None, cluster=None, phases=None, report=None):
    """Compute what a change makes stale: PCA, decomposition, clusters, phase map, phase spectra.

    Both front ends (the Voilà app and the Panel app) run their steps through this function. A new map's
    phases come from the clusters, or under :data:`SPATIAL_BELOW` counts per pixel from the clusters with the
    spatial prior (as ``python -m phaselib map`` does there).
    """
    report = report or (lambda f, m: None)
    if pca or s.pca is None:
        low, mean = start_map(s, report)
        if s.phase_source in ("clusters", "spatial"):  # Otsu's thresholds, if chosen, stay
            s.phase_source = "spatial" if low and mean < SPATIAL_BELOW else "clusters"
    if decompose is not None or s.decomposition is None:
        s.decompose(*(decompose or (s.algorithm, s.n_components)), progress=lambda f, m: report(0.4 + 0.2 * f, m))
    if cluster is not None or s.clustering is None:
        report(0.6, "clustering")
        s.run_clustering(*(cluster or ()))
    report(0.8, "phase map")
    s.phase_map(**(phases or {}), spectra=False)
    report(0.9, "phase spectra")
    s.measure()


def start_map(s, report=None):
    """A map's PCA and, at low counts, its number of phases found on a binned copy (``Session.low_count_start``):
    what a new map and a reopened session both start from. Returns ``(low, mean counts per pixel)``."""
    report = report or (lambda f, m: None)
    s.run_pca(progress=lambda f, m: report(0.4 * f, "PCA: " + m))
    mean = float(s.brightness.mean())
    low = s.image.is_counts and needs_spatial_prior(mean)
    if low:
        report(0.45, "low counts: number of phases on a binned copy")
        s.low_count_start()
    return low, mean
