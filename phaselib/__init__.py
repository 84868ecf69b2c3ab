"""phaselib: phase maps from EDS spectrum images."""
from ._bcf import iter_bcf_rows
from ._bcf_convert import bcf_to_zspy
from ._image import SpectrumImage
from .io import load, save

__version__ = "0.1.0"
__all__ = ["SpectrumImage", "bcf_to_zspy", "iter_bcf_rows", "load", "save", "__version__"]
