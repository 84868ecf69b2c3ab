"""The HyperSpy 2.5 calls every HyperSpy child makes alike (HyperSpy is imported by the caller).

An ``EDS_SEM`` signal with the maps' calibration, k-means ``cluster_analysis`` on the
decomposition, and the labels from its cluster masks.
"""

from __future__ import annotations

from benchmarks._maps import BEAM_ENERGY, ENERGY_OFFSET, ENERGY_SCALE


def eds_signal(hs, data, offset=ENERGY_OFFSET, scale=ENERGY_SCALE, beam_energy=BEAM_ENERGY):
    """``data`` (H, W, C) as an ``EDS_SEM`` ``Signal1D`` with this energy axis (and beam energy, if given)."""
    s = hs.signals.Signal1D(data)
    s.set_signal_type("EDS_SEM")
    ax = s.axes_manager.signal_axes[0]
    ax.name, ax.units, ax.offset, ax.scale = "Energy", "keV", offset, scale
    if beam_energy:
        s.metadata.set_item("Acquisition_instrument.SEM.beam_energy", beam_energy)
    return s


def n_init(text):
    """KMeans ``n_init`` from the command line: an integer, or 'auto' (scikit-learn's default)."""
    return text if text == "auto" else int(text)


def kmeans(s, k, n, n_init, preprocessing=None, random_state=0):
    """k-means ``cluster_analysis`` on the first ``n`` components of ``s``'s decomposition."""
    s.cluster_analysis("decomposition", source_for_centers=None, preprocessing=preprocessing, n_clusters=k,
                       algorithm="kmeans", number_of_components=n, n_init=n_init, random_state=random_state)


def cluster_labels(s):
    """(masks (K, pixels) bool, largest cluster first; labels (pixels,), -1 where no cluster)."""
    import numpy as np

    masks = np.asarray(s.learning_results.cluster_labels, bool)
    return masks, np.where(masks.any(0), masks.argmax(0), -1)
