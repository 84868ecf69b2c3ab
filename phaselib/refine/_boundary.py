"""The boundary steps of a phase map, in order, on one pass over the map where both run."""

from __future__ import annotations

import time

from .. import quantify
from ._blur import MIN_INNER, SAMPLE_PIXELS, beam_spread_fit, inner_share
from ._blur import RULE as BEAM_RULE
from ._grouped import grouped_counts, stack_grouped
from ._inclusions import RULE as INCLUSION_RULE
from ._inclusions import reassign_inclusions
from ._unmix import MIN_COUNTS, RULE, assign_mixed_phase_pixels, low_count_margin


def relabel_boundaries(image, labels, k, spectra, energy_range, mean_counts, *, mixed_pixels=True, beam_spread=True,
                       block_rows=None, client=None):
    """Blobs of a phase that are unresolved inclusions of another in their host to that phase
    (:func:`~phaselib.refine.reassign_inclusions`), mixed pixels to their dominant phase
    (:func:`~phaselib.refine.assign_mixed_pixels`, from
    :data:`~phaselib.refine.MIXED_MIN_COUNTS` counts/px), then the beam's spread
    (:func:`~phaselib.refine.beam_spread_fit`), the spread read a second time on the boundaries it relabelled and,
    if it reads otherwise (not 0), the relabelled map's boundaries relabelled once more under it (``first_sigma``:
    the first reading, ``rounds``: 2; the beam step then costs twice its time). A spread read on a start whose
    boundaries are off by a pixel here and there
    comes out low: basalts at 20 counts/px of ``benchmarks/_othergen.py`` (beam 0.7 px) read 0.55 px, then 0.7 px;
    ARI 0.854 / 0.853 / 0.865 -> 0.859 / 0.858 / 0.870 (seeds 1-3). When both run on a map of over
    :data:`~phaselib.refine._blur.SAMPLE_PIXELS` pixels, the pass of the first also collects every pixel's counts on
    the second's groups of channels (their groups from the phases' spectra before the first step's moves), so the
    map is read once for both (a full 1295 x 1820 map: ~12 s less).

    Parameters
    ----------
    image : SpectrumImage
    labels : (H, W) int ndarray
    k : int
        Number of phases.
    spectra : PhaseSpectra or None
        The phases' summed spectra (computed when None and needed).
    energy_range : (float, float or None)
    mean_counts : float
        Mean counts per pixel of the map.
    mixed_pixels, beam_spread : bool
        Which steps run (the inclusions' step runs with either).
    block_rows : int, optional
    client : distributed.Client, optional

    Returns
    -------
    labels : (H, W) ndarray
    spectra : PhaseSpectra or None
        None when the beam's step moved pixels (the spectra are to be summed again).
    params : dict
        ``inclusions``, ``mixed_pixels`` and ``beam_spread`` entries, for the steps that ran.
    timings : dict
    """
    params, timings = {}, {}
    mixed = mixed_pixels and mean_counts >= MIN_COUNTS
    beam = beam_spread and k >= 2
    inclusions = (mixed_pixels or beam_spread) and k >= 3
    if (mixed or beam or inclusions) and spectra is None:
        spectra = quantify.phase_spectra(image, labels, k, block_rows=block_rows, client=client)
    if inclusions:
        t = time.perf_counter()
        labels, moved = reassign_inclusions(image, labels, k, spectra.sums, energy_range, block_rows=block_rows,
                                            client=client)
        if moved:  # the blobs' counts move with them
            spectra = quantify.phase_spectra(image, labels, k, block_rows=block_rows, client=client)
        params["inclusions"] = dict(moved=len(moved), pixels=sum(m["pixels"] for m in moved), rule=INCLUSION_RULE)
        timings["inclusions"] = time.perf_counter() - t
    grouped = None
    if mixed:
        t, margin = time.perf_counter(), low_count_margin(float(mean_counts))
        # a small map is read again in a moment; a map the beam step will skip needs no counts collected
        fuse = beam and image.shape[0] * image.shape[1] > SAMPLE_PIXELS and inner_share(labels) >= MIN_INNER
        merge, collect = grouped_counts(image, spectra.sums, energy_range) if fuse else (None, None)
        labels, spectra, moved, *parts = assign_mixed_phase_pixels(image, labels, k, spectra, energy_range,
                                                                   margin=margin, block_rows=block_rows,
                                                                   client=client, collect=collect)
        grouped = (merge, stack_grouped(parts[0])) if parts and parts[0] else None
        params["mixed_pixels"] = dict(moved=moved, rule=RULE, margin=margin)
        timings["mixed_pixels"] = time.perf_counter() - t
    if beam:
        t = time.perf_counter()
        new, info = beam_spread_fit(image, labels, spectra.sums, energy_range=energy_range, block_rows=block_rows,
                                    client=client, grouped=grouped)
        if info["moved"]:  # read again on the relabelled boundaries: the start's misplaced ones bias it low
            again, more = beam_spread_fit(image, new, spectra.sums, energy_range=energy_range, block_rows=block_rows,
                                          client=client, grouped=grouped)
            if more["sigma"] != info["sigma"] and more["sigma"] > 0:
                info = dict(more, first_sigma=info["sigma"], moved=int((again != labels).sum()), rounds=2)
                new = again
        del grouped
        params["beam_spread"] = dict(info, rule=BEAM_RULE)
        if info["moved"]:
            labels, spectra = new, None
        timings["beam_spread"] = time.perf_counter() - t
    return labels, spectra, params, timings
