"""Checks made before any reader sees a file: what it is, how big, whether it is whole.

* :func:`check_input_path`: the path names a regular file (a ``.zspy`` folder for
  zarr), never a FIFO, a device or a socket (those are refused from ``os.stat`` alone,
  without opening them: a FIFO would block the reader for ever);
* :func:`memory_budget` / :func:`should_be_lazy`: a map bigger than a fraction of the
  available memory is read lazily, by row blocks, without being asked;
* :func:`check_bcf_container`: the SFS container of a Bruker ``.bcf`` (header, file
  table, the chunk tables of its streams) is checked against the bytes present, so that a
  truncated or altered file is refused before RosettaSciIO's compiled decoder, which
  does no bounds checks, sees it.

Messages name the file by its name, never its folder, and never quote its contents.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from pathlib import Path

__all__ = ["DamagedFileError", "check_bcf_container", "check_input_path", "memory_budget", "should_be_lazy",
           "unreadable"]

#: a map bigger than this fraction of the available memory is read lazily by default
LAZY_FRACTION = 0.25


class DamagedFileError(ValueError):
    """A file that is truncated, altered or not what its name says."""


def check_input_path(path, *, folder_ok=False, what="a spectrum image file") -> Path:
    """``path`` as a Path, after checking that it can be read safely (``what`` names it in messages).

    Raises FileNotFoundError (missing), ValueError (a folder where a file is expected,
    a FIFO, a device, a socket, an empty file) without opening the file.
    """
    path = Path(path)
    try:
        st = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: '{path.name}'.") from None
    except OSError as err:
        raise ValueError(f"Cannot open '{path.name}' ({type(err).__name__}).") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if folder_ok:
            if not os.access(path, os.R_OK | os.X_OK):
                raise unreadable(path)
            return path
        raise ValueError(f"'{path.name}' is a folder, not {what}.")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise ValueError(f"'{path.name}' is {kind}, not {what}; refusing to read it.")
    if st.st_size == 0:
        raise DamagedFileError(f"'{path.name}' is empty (0 bytes).")
    if not os.access(path, os.R_OK):
        raise unreadable(path)
    return path


def unreadable(path) -> PermissionError:
    """The error for a file or folder this user may not read: it is not damaged, so the message says so."""
    return PermissionError(f"Cannot read '{Path(path).name}': permission denied (the file is not readable by "
                           "this user).")


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, within a cgroup limit)."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 4 * 2**30
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit.isdigit() and int(limit) < 2**60:
                avail = min(avail, int(limit) - int(Path(usage_file).read_text().strip()))
            break
        except (OSError, ValueError):
            continue
    return max(int(avail), 0)


def memory_budget() -> int:
    """Bytes a map may take in memory before it is read lazily: a fraction of the available
    memory (``PHASELIB_MEMORY_BUDGET``, in bytes, overrides it)."""
    env = os.environ.get("PHASELIB_MEMORY_BUDGET", "").strip()
    if env:
        try:
            return max(0, int(float(env)))
        except ValueError:
            pass
    return int(LAZY_FRACTION * available_memory())


def should_be_lazy(nbytes) -> bool:
    """Whether a map of ``nbytes`` is read lazily when the caller did not say."""
    return nbytes > memory_budget()


# ----------------------------------------------------------------- .bcf (SFS container)
_SFS_MAGIC = b"AAMVHFSS"
_CHUNK_HEADER = 0x118  # offset of chunk 0; each chunk starts with 32 bytes of its own header
_ITEM = struct.Struct("<iQQQQIi176s?3s256s32s")  # one 0x200-byte entry of the file table


def check_bcf_container(path) -> None:
    """Check the SFS container of a ``.bcf`` against its bytes; raise DamagedFileError.

    Checks the signature, the chunk size, that the file holds every chunk its header
    declares (a truncated file does not), the file table, and that every stream's
    declared size and chunk table point inside the file. Decodes nothing.
    """
    path = Path(path)
    name = path.name
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(0x150)
        if len(head) < 0x150 or head[:8] != _SFS_MAGIC:
            raise DamagedFileError(f"Could not read '{name}': not a Bruker .bcf file (no SFS container "
                                   "signature).")
        _version, chunk = struct.unpack_from("<fI", head, 0x124)
        tree, n_items, n_chunks = struct.unpack_from("<III", head, 0x140)
        if not 0x240 <= chunk <= 2**24:
            raise DamagedFileError(f"Could not read '{name}': damaged .bcf header (chunk size {chunk} bytes).")
        need = _CHUNK_HEADER + n_chunks * chunk
        if need > size:
            raise DamagedFileError(
                f"Could not read '{name}': the file is truncated (its header declares {need} bytes, the "
                f"file has {size}).")
        usable = chunk - 32
        if not 1 <= n_items <= size // 0x200 or tree >= n_chunks:
            raise DamagedFileError(f"Could not read '{name}': damaged .bcf file table ({n_items} entries).")
        per_chunk = usable // 0x200
        raw, address = bytearray(), tree
        for _ in range(math.ceil(n_items / per_chunk)):
            if address >= n_chunks:
                raise DamagedFileError(f"Could not read '{name}': damaged .bcf file table (points outside the file).")
            fh.seek(chunk * address + _CHUNK_HEADER)
            block = fh.read(chunk)
            if len(block) < chunk:
                raise DamagedFileError(f"Could not read '{name}': the file is truncated (file table).")
            (address,) = struct.unpack_from("<I", block, 0)
            raw += block[32:32 + per_chunk * 0x200]
        for i in range(n_items):
            ptr, item_size, *_rest = _ITEM.unpack_from(raw, i * 0x200)
            is_dir = _rest[6]
            if is_dir:
                continue
            if item_size > size or not 0 <= ptr < n_chunks:
                raise DamagedFileError(
                    f"Could not read '{name}': a stream of the .bcf declares {item_size} bytes or a table outside the "
                    f"file (damaged or truncated file).")
            _check_chunk_table(fh, name, ptr, item_size, chunk, usable, n_chunks)


def _check_chunk_table(fh, name, ptr, item_size, chunk, usable, n_chunks):
    """Every chunk of one stream lies inside the file."""
    n = math.ceil(item_size / usable)
    table_chunks = math.ceil(n / (usable // 4))
    raw, address = bytearray(), ptr
    for _ in range(max(table_chunks, 1)):
        if not 0 <= address < n_chunks:
            raise DamagedFileError(f"Could not read '{name}': a chunk table of the .bcf points outside the file.")
        fh.seek(chunk * address + _CHUNK_HEADER)
        block = fh.read(chunk)
        if len(block) < chunk:
            raise DamagedFileError(f"Could not read '{name}': the file is truncated (chunk table).")
        (address,) = struct.unpack_from("<I", block, 0)
        raw += block[32:32 + usable]
    if n:
        pointers = struct.unpack_from(f"<{n}I", raw, 0)
        if max(pointers) >= n_chunks:
            raise DamagedFileError(
                f"Could not read '{name}': truncated or damaged file (a stream's data lie past its end).")


def check_path_type(path):
    """``path`` if it is a file name (str or path-like), else a TypeError that says what to pass (an array: make a
    :class:`~phaselib.SpectrumImage` of it)."""
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        hint = (" For an array, make the map with phaselib.SpectrumImage(array, energy_offset=..., energy_scale=...)."
                if hasattr(path, "shape") else "")
        raise TypeError(f"`path` must be a file name or a HyperSpy signal, got {type(path).__name__}.{hint}")
    return path
