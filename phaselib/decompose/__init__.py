"""Decompositions of a spectrum image: Poisson-weighted PCA/SVD, NMF and ICA.

All three return a :class:`Decomposition` (``_base.py``); the input is never modified and
nothing is stored on it. ``_pca.py``: PCA by block subspace iteration on sparse row blocks;
``_nmf.py``: NMF started from cluster spectra (``_nmf_kl.py``: under the Poisson loss);
``_ica.py``: FastICA of the PCA scores; ``_shape.py``: PCA of the spectral shapes of intensity cubes
(transmission...), no Poisson weighting.
"""

from .._hyperspy import to_learning_results
from ..preprocess import energy_channels
from ._base import NMF_SAMPLE_PIXELS, SAMPLE_PIXELS, Decomposition, suggest_n_components
from ._ica import ica
from ._nmf import nmf
from ._pca import pca
from ._shape import shape_pca

__all__ = ["NMF_SAMPLE_PIXELS", "SAMPLE_PIXELS", "Decomposition", "energy_channels", "ica", "nmf", "pca",
           "shape_pca", "suggest_n_components",
           "to_learning_results"]
