"""Ripple ``.rpl`` headers and their ``.raw`` data: checked before RosettaSciIO reads them, and the ``.raw``
memory-mapped read-only where it holds the map as it is (a ``.npy``'s way: a map of 5 GB was read whole into
memory, 10.4 GB peak, where its ``.npy`` took 2.2 GB)."""

from __future__ import annotations

import io

import numpy as np

from ._checks import DamagedFileError, check_input_path

_RPL_SIZES = ("width", "height", "depth", "data-length", "offset")
_MAX_RPL_HEADER = 4 << 20  # bytes: a Ripple header is a few lines; RosettaSciIO would read any size whole


def check_rpl_header(path):
    """The sizes a ``.rpl`` declares (``width``, ``height``, ``depth``, ``data-length``, ``offset``): whole
    numbers, positive (``offset`` >= 0), or a DamagedFileError (RosettaSciIO reads a height of 0 as 1).

    The whole header is read (RosettaSciIO reads it all: a size past the first 64 kB was once left
    unchecked), up to :data:`_MAX_RPL_HEADER` bytes, and parsed as :func:`_rpl_entries` does."""
    try:
        size = path.stat().st_size
        if size > _MAX_RPL_HEADER:
            raise DamagedFileError(f"'{path.name}' is too big for a .rpl header ({size / 2**20:.4g} MB; at most "
                                   f"{_MAX_RPL_HEADER >> 20} MB are accepted).")
        with open(path, "rb") as fh:
            text = fh.read(_MAX_RPL_HEADER + 1).decode("latin-1")
    except OSError as err:
        raise DamagedFileError(f"Could not read '{path.name}' ({type(err).__name__}).") from None
    sizes = {}
    for key, value in _rpl_entries(text).items():
        if key == "record-by":
            sizes[key] = value
        if key not in _RPL_SIZES:
            continue
        try:
            sizes[key] = int(value)
        except ValueError:
            raise DamagedFileError(f"'{path.name}': its '{key}' is not a whole number (damaged header).") from None
        if sizes[key] < (0 if key == "offset" else 1):
            raise DamagedFileError(f"'{path.name}' declares {key} {sizes[key]}; refusing to read it.")
    return sizes


def _rpl_entries(text):
    """``{key: value}`` of a ``.rpl`` header's text, as RosettaSciIO's ``parse_ripple`` reads it: lines
    split at universal newlines (the file is opened in text mode), an INCA header corrected first, lines
    starting with ``;`` skipped, a trailing ``; comment`` cut, key and value the first two tab-separated
    fields, stripped, the last of a repeated key kept (a line without a tab, which the reader refuses,
    is left to it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "(" in text.split("\n", 1)[0]:
        try:
            from rsciio.ripple._api import correct_INCA_format

            text = correct_INCA_format(io.StringIO(text)).getvalue()
        except (ImportError, AttributeError):  # no such helper: the text as it is
            pass
    entries = {}
    for line in text.split("\n"):  # only at newlines, as readlines does (not at \f or \x85: splitlines)
        line = line.replace("data-Length", "data-length")
        if not line or line[0] == ";":
            continue
        line = line.split(";", 1)[0]
        if "\t" in line:
            fields = [seg.strip() for seg in line.split("\t")]
            entries[fields[0]] = fields[1]
    return entries


def check_rpl_size(path, sizes):
    """The ``.raw`` holds what the header declares, checked before the reader sees it (a width of 10**8
    over a 100-byte file kept RosettaSciIO's chunking busy for minutes)."""
    if not all(k in sizes for k in ("width", "height", "depth", "data-length")):
        return  # checked after reading, from the shape the reader made of it
    check_raw_size(path, sizes.get("offset", 0) + sizes["width"] * sizes["height"] * sizes["depth"]
                    * sizes["data-length"])


def check_raw_size(path, declared):
    """The ``.raw`` of a ``.rpl`` holds ``declared`` bytes: shorter, truncated; longer, another data type or size."""
    raw = path.with_suffix(".raw").stat().st_size
    if raw != declared:
        why = "truncated or damaged" if raw < declared else "not the data type or size declared"
        raise DamagedFileError(f"'{path.name}' declares {declared} bytes of data; its .raw holds {raw} ({why}).")


def check_raw(path):
    """The ``.raw`` of a ``.rpl``: there, and a regular file (a FIFO would block the reader)."""
    raw = path.with_suffix(".raw")
    try:
        check_input_path(raw)
    except FileNotFoundError:
        raise FileNotFoundError(f"'{path.name}' needs its data file '{raw.name}', which is missing.") from None
    except ValueError as err:
        raise DamagedFileError(f"'{path.name}': its data file {err}") from None


def raw_memmap(path, sizes, data):
    """The ``.raw`` of ``path`` as a read-only memory map in the shape and type of ``data`` (RosettaSciIO's lazy
    array of it), or None where it is not stored pixel by pixel (``record-by vector``) as that whole map.

    Parameters
    ----------
    path : Path
        The ``.rpl`` file.
    sizes : dict
        What :func:`check_rpl_header` read from it.
    data : array-like
        The reader's array, ``(height, width, depth)``.
    """
    shape = tuple(sizes.get(k) for k in ("height", "width", "depth"))
    if sizes.get("record-by") != "vector" or len(data.shape) != 3 or tuple(data.shape) != shape:
        return None
    dtype = np.dtype(data.dtype)
    if dtype.itemsize != sizes.get("data-length"):
        return None
    return np.memmap(path.with_suffix(".raw"), dtype=dtype, mode="r", offset=sizes.get("offset", 0), shape=shape)
