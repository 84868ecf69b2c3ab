"""Reading and writing spectrum images.

- :func:`load` / :func:`save`: every format through RosettaSciIO (``.bcf``, ``.rpl``, ``.hspy``,
  ``.zspy``, ``.msa``, ``.emd``) and ``.npy`` memory maps (``_formats.py``), opened safely
  (``_open.py``: special files refused, damaged files detected, big maps read lazily by default;
  ``_checks.py``: the checks and the memory budget);
- :func:`iter_bcf_rows` / :class:`BcfRows`: a Bruker ``.bcf`` decoded a few rows at a time (``_bcf.py``);
- :func:`bcf_to_zspy`: a big ``.bcf`` converted once to a row-chunked ``.zspy`` (``_bcf_convert.py``);
- :func:`guess_signal`: ``counts`` or ``intensity`` from the values (``_cubes.py``: FITS, TIFF).
"""

from ._bcf import BcfRows, iter_bcf_rows
from ._bcf_convert import bcf_to_zspy
from ._checks import DamagedFileError, memory_budget
from ._cubes import guess_signal, has_fractions
from ._formats import READERS, SUPPORTED, save
from ._open import load

__all__ = ["READERS", "SUPPORTED", "BcfRows", "DamagedFileError", "bcf_to_zspy", "guess_signal", "has_fractions",
           "iter_bcf_rows", "load", "memory_budget", "save"]
