"""phaselib: phase maps from EDS spectrum images.

Where each step of the workflow lives:

=================  ==========================================================================
``io``             load / save maps (RosettaSciIO, ``.npy``; FITS, TIFF stacks, HyperSpy signals), ``.bcf`` rows
``preprocess``     crop, binning, energy window, energy calibration, Poisson weights, pixel size
``decompose``      Poisson-weighted PCA, NMF, ICA, PCA of spectral shapes (intensity cubes) -> ``Decomposition``
``cluster``        k-means, Gaussian mixture, fuzzy c-means, number of clusters
``segment``        Otsu thresholds, masks and label maps from component maps or memberships
``lowcount``       Poisson mixture + Potts prior for low-count maps
``quantify``       phase spectra, modal fractions, element lines, the phase table, MSA files
``compare``        label matching between phase maps, agreement
``morphology``     grain separation (watershed + cuts), grain table, size statistics, CSD
``datasets``       synthetic rocks and neutron ToF cubes with ground truth, bundled real maps
``pipeline``       ``map_phases``: the whole chain -> ``PhaseMap``
``classify``       supervised phases from a few labelled pixels (Poisson templates + Potts, kNN, RF)
``spots``          bright spots (gamma hits): median baseline, trained detector, cleaning
``tiles``          overlapping tiles of any image and their exact reassembly
``results``        compact precomputed results of a full map
``deep``           a U-Net learnt from EDS maps segments PP / XP / BSE images (torch to train, ONNX to run)
``render``         phase colours and the PNG writer
``_stream``        the streaming core: row blocks, passes (threads or Dask), weighted sparse blocks
``_cli``           ``python -m phaselib``
``_hyperspy``      HyperSpy signals in (no copy) and out (``PhaseMap.to_hyperspy``, ``to_learning_results``)
=================  ==========================================================================
"""
from ._image import SpectrumImage
from .io import bcf_to_zspy, iter_bcf_rows, load, save

__version__ = "0.1.0"
__all__ = ["SpectrumImage", "bcf_to_zspy", "iter_bcf_rows", "load", "map_phases", "save", "__version__"]

#: the public submodules, imported on first use: ``import phaselib; phaselib.datasets.make_rock()`` works
SUBMODULES = ("classify", "cluster", "compare", "datasets", "decompose", "deep", "identify", "io", "lowcount",
              "morphology", "pipeline", "preprocess", "quantify", "refine", "render", "results", "segment", "spots",
              "tiles")


def __getattr__(name):
    import importlib

    if name == "map_phases":  # the whole chain, ``phaselib.map_phases(phaselib.load(path))`` (imported when used)
        return importlib.import_module(".pipeline", __name__).map_phases
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'phaselib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBMODULES) | {"map_phases"})
