"""Opening a spectrum image safely: :func:`load`.

Before a reader sees a file, its path is checked (a regular file, never a FIFO or a device;
a ``.rpl``'s ``.raw`` too), a ``.bcf``'s container is checked against its bytes and its map
is decoded by :class:`~phaselib.io.BcfRows` (record by record, within the bytes present), a
``.zspy``/``.hspy`` must hold every chunk of its data, and the chunks of a lazy map are read
through a guard that turns a damaged chunk into one clear :class:`DamagedFileError`, whenever
it is computed. A map bigger than a fraction of the available memory is read lazily unless
``lazy=False`` is given (:func:`phaselib.io._checks.memory_budget`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import phaselib.io._cubes as _cubes
import phaselib.io._formats as _formats

from .._hyperspy import one_spectrum_image
from .._stream._blocks import GUARDED_PREFIX
from .._validate import plain_text
from ._bcf import BcfRows, read_bcf
from ._checks import DamagedFileError, check_input_path, check_path_type, memory_budget, should_be_lazy
from ._rpl import check_raw, check_raw_size, check_rpl_header, check_rpl_size, raw_memmap

__all__ = ["load"]

_CHUNKED = (".zspy", ".hspy", ".hdf5")
_HDF5 = (".hspy", ".hdf5", ".emd")
_MAX_CHUNK_FRACTION = 0.5  # a chunk bigger than this share of the memory budget x 4 is refused


def load(path, *, lazy=None, select_type="spectrum_image", signal_index=None, energy_offset=None,
         energy_scale=None, beam_energy=None, pixel_size=None, **reader_kwargs):
    """Load an EDS spectrum image from a file.

    Parameters
    ----------
    path : str, Path, HyperSpy signal or list of signals
        A ``.bcf``, ``.rpl`` (with its ``.raw``), ``.hspy``, ``.zspy``, ``.msa``, ``.emd`` or ``.npy`` file (an
        ``(H, W, C)`` array: give ``energy_offset`` and ``energy_scale``), FITS or TIFF; a list's one spectrum image.
    lazy : bool or None
        None (default): read the map lazily (a dask array, read by row blocks when
        used) when it is bigger than a quarter of the available memory, else into
        memory. True / False: always lazily / always into memory. ``.npy`` files are
        always memory mapped, read-only. A ``.bcf`` is decoded whole (lazily: when
        first used); one bigger than the memory budget is refused unless
        ``lazy=False``: convert it once with :func:`phaselib.bcf_to_zspy`.
    select_type : str
        For ``.bcf``: which part of the file to read (``"spectrum_image"``).
    signal_index : int, optional
        For files holding several signals, which one to take (default: the first
        with an energy axis).
    energy_offset, energy_scale : float, optional
        Energy calibration in keV, overriding the file's.
    beam_energy : float, optional
        Accelerating voltage in kV, overriding the file's.
    pixel_size : float, optional
        Pixel size in micrometres, overriding the file's.
    **reader_kwargs
        Passed to the reader (e.g. ``downsample``, ``cutoff_at_kV``, ``index`` for ``.bcf``).

    Returns
    -------
    SpectrumImage

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is not supported, the file is not a regular file, is damaged
        (:class:`~phaselib.io.DamagedFileError`) or holds no spectrum.
    """
    if lazy not in (None, True, False):
        raise TypeError(f"`lazy` must be True, False or None, got {lazy!r}.")
    if _cubes.is_cube(path := one_spectrum_image(path)):  # a HyperSpy signal (no copy; of a list, the map), FITS, TIFF
        if isinstance(path, (str, Path)) and not any(ch in str(path) for ch in "*?[") and Path(path).exists():
            check_input_path(path, folder_ok=True)  # never a FIFO or a device
        return _cubes.open_cube(path, energy_offset=energy_offset, energy_scale=energy_scale,
                                beam_energy=beam_energy, pixel_size=pixel_size)
    path = Path(check_path_type(path))
    try:
        return _load(path, lazy, select_type, signal_index, energy_offset, energy_scale, beam_energy,
                     pixel_size, reader_kwargs)
    except ValueError as err:  # every message names the file
        if path.name in str(err):
            raise
        raise DamagedFileError(f"Could not read '{path.name}': {plain_text(err)}") from None


def _load(path, lazy, select_type, signal_index, energy_offset, energy_scale, beam_energy, pixel_size,
          reader_kwargs):
    ext = path.suffix.lower()
    check_input_path(path, folder_ok=ext == ".zspy")
    overrides = dict(energy_offset=energy_offset, energy_scale=energy_scale, beam_energy=beam_energy,
                     pixel_size=pixel_size)
    if ext == ".bcf" and select_type == "spectrum_image":
        return _apply(_load_bcf(path, lazy, signal_index, reader_kwargs), overrides)
    rpl = {}
    if ext == ".rpl":
        check_raw(path)
        rpl = check_rpl_header(path)  # its sizes, read once
        check_rpl_size(path, rpl)
    if ext not in _formats.READERS or ext in (".msa", ".ems", ".emsa", ".bcf"):
        return _formats.load(path, lazy=bool(lazy), select_type=select_type, signal_index=signal_index,
                             **overrides, **reader_kwargs)
    if ext == ".zspy" and path.is_dir():  # a zipped .zspy (one file) is opened read-only by RosettaSciIO
        reader_kwargs.setdefault("mode", "r")  # RosettaSciIO opens lazy .zspy read-write by default
    if ext in _HDF5 and _hdf5_contiguous(path):  # no chunks to read piece by piece: whole, where it fits
        image = _formats.load(path, lazy=False, signal_index=signal_index, **overrides, **reader_kwargs)
        return image if lazy is not True else image.replace(data=_as_lazy(image.data))
    image = _formats.load(path, lazy=True, signal_index=signal_index, **overrides, **reader_kwargs)
    data = image.data
    nbytes = int(np.prod(image.shape)) * data.dtype.itemsize
    if ext == ".rpl":  # the sizes the reader made of a header lacking some of them
        check_raw_size(path, rpl.get("offset", 0) + nbytes)
        if lazy is None and (mapped := raw_memmap(path, rpl, data)) is not None:
            return image.replace(data=mapped)  # as a .npy is: read by row blocks, whatever its size
    data = _guarded(path, data) if ext in _CHUNKED else _guarded_dask(path, data)
    if lazy is False or (lazy is None and not should_be_lazy(nbytes)):
        data = np.asarray(data)
    return image.replace(data=data)


def _apply(image, overrides):
    changes = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("pixel_size") is not None:
        changes["pixel_size_y"] = overrides["pixel_size"]
    return image.replace(**changes) if changes else image


def _load_bcf(path, lazy, signal_index, kwargs):
    kw = {k: kwargs.pop(k) for k in ("downsample", "cutoff_at_kV", "index") if k in kwargs}
    kwargs.pop("select_type", None)
    if kwargs:
        raise TypeError(f"Unknown option(s) for a .bcf: {', '.join(sorted(kwargs))}.")
    if signal_index is not None and "index" not in kw:
        kw["index"] = signal_index
    if lazy is None:
        rows = BcfRows(path, **kw)
        if should_be_lazy(rows.nbytes):
            raise ValueError(
                f"'{path.name}' holds a {rows.nbytes / 2**30:.1f} GiB map, more than this machine can hold "
                f"safely ({memory_budget() / 2**30:.1f} GiB): convert it once to a chunked .zspy "
                f"(python -m phaselib convert {path.name} {path.stem}.zspy) and map that, or force "
                "reading it whole with lazy=False (--eager).")
    return read_bcf(path, lazy=bool(lazy), **kw)


# ----------------------------------------------------------------- chunked formats
class _GuardedArray:
    """An array-like over a zarr array or an HDF5 dataset whose reads never raise anything
    but :class:`DamagedFileError` with the file's name."""

    def __init__(self, array, name):
        self._array = array
        self._name = name
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        try:
            return np.asarray(self._array[key])
        except Exception as err:
            raise DamagedFileError(
                f"'{self._name}' is damaged: part of its data cannot be read ({type(err).__name__}; "
                "a corrupt or missing chunk).") from None


def _guarded(path, data):
    """``data`` (RosettaSciIO's dask array) rebuilt over a guarded array, after checking that the
    file holds every chunk; unchanged where the stored array cannot be found."""
    import dask.array as da

    arrays = _stored_arrays(path)
    match = [a for a in arrays if tuple(a.shape) == tuple(data.shape) and np.dtype(a.dtype) == data.dtype]
    budget = 4 * memory_budget() * _MAX_CHUNK_FRACTION
    for a in arrays:
        chunks = getattr(a, "chunks", None)
        if chunks and int(np.prod(chunks)) * np.dtype(a.dtype).itemsize > max(budget, 2**28):
            raise DamagedFileError(f"'{path.name}' declares data chunks of {np.prod(chunks):.3g} values, "
                                   "more than this machine can read at once (damaged file?).")
    if len(match) != 1:
        return data
    array = match[0]
    st = os.stat(path)
    name = f"{GUARDED_PREFIX}{abs(hash((str(path.resolve()), st.st_mtime_ns, st.st_size)))}"
    chunks = getattr(array, "chunks", None) or data.chunks
    return da.from_array(_GuardedArray(array, path.name), chunks=chunks, name=name, asarray=False)


def _guarded_dask(path, data):
    """Any lazy array, its reads turned into :class:`DamagedFileError` naming the file."""
    import dask.array as da

    if not type(data).__module__.startswith("dask"):
        return data
    st = os.stat(path)
    name = f"phaselib-guard-{abs(hash((str(path.resolve()), st.st_mtime_ns, st.st_size)))}"
    return da.from_array(_GuardedArray(data, path.name), chunks=data.chunks, name=name, asarray=False)


def _hdf5_contiguous(path):
    """Whether an HDF5 file (``.hspy``, ``.emd``) stores a data array unchunked (h5py's default layout, which
    HyperSpy reads but cannot read lazily); refused: data kept in other files (external or virtual datasets: a
    short external file read as zeros, a FIFO that blocks for ever), and unchunked data too big to read whole."""
    import h5py

    found = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda _, obj: found.append((obj.shape, obj.dtype.itemsize, obj.chunks, bool(
                obj.is_virtual or obj.external))) if isinstance(obj, h5py.Dataset) else None)
    except Exception:  # not HDF5 at all: the reader says so
        return False
    if any(other for *_, other in found):
        raise DamagedFileError(f"'{path.name}' keeps data in other files (HDF5 external or virtual datasets): "
                               "refused (altered or damaged file?).")
    arrays = [(int(np.prod(shape)) * size, chunks) for shape, size, chunks, _ in found if len(shape) >= 2]
    if not arrays:
        return False
    nbytes, chunks = max(arrays, key=lambda a: a[0])  # the map: a small unchunked image beside it does not count
    if chunks is not None:
        return False
    if should_be_lazy(nbytes):
        raise ValueError(f"'{path.name}' stores its data unchunked, which cannot be read piece by piece, and is too "
                         "big to read whole here: save it again chunked (HyperSpy: s.save(name, chunks=True)).")
    return True


def _as_lazy(data):
    import dask.array as da

    return da.from_array(np.asarray(data), chunks=(max(1, min(64, data.shape[0])),) + tuple(data.shape[1:]))


def _stored_arrays(path):
    """The data arrays of a ``.zspy`` (zarr) or ``.hspy``/``.emd`` (HDF5), each checked to hold all
    its chunks."""
    name = path.name
    try:
        if path.suffix.lower() == ".zspy":
            import zarr

            _check_tree(path)
            store = str(path) if path.is_dir() else zarr.storage.ZipStore(str(path), mode="r")
            root = zarr.open(store, mode="r")
            arrays = [a for _, a in root.arrays(recurse=True)] if hasattr(root, "arrays") else []
            arrays = [a for a in arrays if a.ndim >= 2]
            for a in arrays:
                stored = _zarr_chunks_stored(path, a)
                if stored < a.nchunks:
                    raise DamagedFileError(
                        f"'{name}' is damaged: {a.nchunks - stored} of the {a.nchunks} chunks of its data "
                        "are missing.")
            return arrays
        import h5py

        f = h5py.File(path, "r")
        found = []
        f.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
        for d in found:
            if d.chunks is not None:
                expected = int(np.prod([-(-n // c) for n, c in zip(d.shape, d.chunks)]))
                if d.id.get_num_chunks() < expected:
                    raise DamagedFileError(
                        f"'{name}' is damaged: {expected - d.id.get_num_chunks()} of the {expected} chunks "
                        "of its data are missing.")
        return found
    except DamagedFileError:
        raise
    except PermissionError:  # not damaged: a part of it this user may not read
        raise PermissionError(f"Cannot read '{name}': permission denied (a part of it is not readable by this "
                              "user).") from None
    except Exception as err:
        raise DamagedFileError(f"Could not read '{name}' ({type(err).__name__}; damaged file?).") from None


def _zarr_chunks_stored(path, array):
    """Chunks of a zarr array present in the store. In a folder, each chunk's own file must be there (a stray
    file does not stand for a missing chunk), and no other file (a chunk beyond the declared shape)."""
    if not path.is_dir():
        return array.nchunks_initialized
    sep = getattr(array, "_dimension_separator", None) or "."
    folder, grid = path / array.path, tuple(array.cdata_shape)
    found = 0
    for root, _dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder).parts
        for f in files:
            if f.startswith("."):
                continue
            index = (*rel, f) if sep == "/" else tuple(f.split("."))
            if not (len(index) == len(grid) and all(i.isdigit() and int(i) < n for i, n in zip(index, grid))
                    and (sep == "/" or not rel)):  # (an array's folder holds its chunks only)
                raise DamagedFileError(f"'{path.name}' is damaged: its data hold a file that is none of the chunks "
                                       "of the shape its header declares.")
            found += 1
    return found


def _check_tree(path):
    """Every entry of a ``.zspy`` folder is a regular file or a folder (no FIFO, device...)."""
    if not path.is_dir():
        return
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                check_input_path(Path(root) / f)
            except (ValueError, FileNotFoundError):
                raise DamagedFileError(f"'{path.name}' holds an entry that is not a regular file, or an "
                                       "empty one (damaged or altered store).") from None
