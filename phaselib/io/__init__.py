"""Reading and writing spectrum images.

- :func:`load` / :func:`save`: every format through RosettaSciIO (``.bcf``, ``.rpl``, ``.hspy``,
  ``.zspy``, ``.msa``, ``.emd``) and ``.npy`` memory maps (``_formats.py``);
- :func:`iter_bcf_rows` / :class:`BcfRows`: a Bruker ``.bcf`` decoded a few rows at a time (``_bcf.py``);
- :func:`bcf_to_zspy`: a big ``.bcf`` converted once to a row-chunked ``.zspy`` (``_bcf_convert.py``).
"""

from ._bcf import BcfRows, iter_bcf_rows
from ._bcf_convert import bcf_to_zspy
from ._formats import READERS, SUPPORTED, load, save

__all__ = ["READERS", "SUPPORTED", "BcfRows", "bcf_to_zspy", "iter_bcf_rows", "load", "save"]
