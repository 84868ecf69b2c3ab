"""The steps a change makes stale, in order: one function for both front ends."""

from __future__ import annotations

from phaselib.lowcount import needs_spatial_prior


def run_pipeline(s, *, pca=False, decompose=None, cluster=None, phases=None, report=None):
    """Compute what a change makes stale: PCA, decomposition, clusters, phase map, phase spectra.

    Both front ends (the Voilà app and the Panel app) run their steps through this function.
    """
    report = report or (lambda f, m: None)
    if pca or s.pca is None:
        s.run_pca(progress=lambda f, m: report(0.4 * f, "PCA: " + m))
        if needs_spatial_prior(float(s.brightness.mean())):
            report(0.45, "low counts: number of phases on a binned copy")
            s.low_count_start()
    if decompose is not None or s.decomposition is None:
        s.decompose(*(decompose or (s.algorithm, s.n_components)), progress=lambda f, m: report(0.4 + 0.2 * f, m))
    if cluster is not None or s.clustering is None:
        report(0.6, "clustering")
        s.run_clustering(*(cluster or ()))
    report(0.8, "phase map")
    s.phase_map(**(phases or {}), spectra=False)
    report(0.9, "phase spectra")
    s.measure()
