"""phaselib: phase maps from EDS spectrum images."""
from ._image import SpectrumImage
from .io import load, save

__version__ = "0.1.0"
__all__ = ["SpectrumImage", "load", "save", "__version__"]
