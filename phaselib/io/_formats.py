"""Reading and writing spectrum images through RosettaSciIO.

RosettaSciIO's readers are used directly (not through HyperSpy) so that loading a
map costs no HyperSpy import; what they return is turned into a small
:class:`~phaselib.SpectrumImage`.
"""

from __future__ import annotations

import importlib
import math
import warnings
from pathlib import Path

import numpy as np

import phaselib.io._cubes as _cubes

from .._atomic import atomic_file, atomic_folder, memmap_source, refuse_inputs, reserve
from .._hyperspy import file_axes, from_hyperspy, is_signal, nav_axes_of_file, other_axis
from .._image import SpectrumImage
from .._stream import iter_row_blocks
from .._validate import check_image
from ._checks import unreadable

#: extension -> RosettaSciIO plugin module
READERS = {
    ".bcf": "rsciio.bruker",
    ".rpl": "rsciio.ripple",
    ".hspy": "rsciio.hspy",
    ".hdf5": "rsciio.hspy",
    ".zspy": "rsciio.zspy",
    ".msa": "rsciio.msa",
    ".ems": "rsciio.msa",
    ".emsa": "rsciio.msa",
    ".emd": "rsciio.emd",
}
SUPPORTED = tuple(sorted([*READERS, ".npy"]))
#: EDS maps of other vendors that RosettaSciIO (through HyperSpy) reads and phaselib does not open by name: readers
#: need extra packages (JEOL .pts numba, Phenom .elid imagecodecs) or hold several signals to choose from
VENDOR_MAPS = {".pts": "JEOL", ".elid": "Thermo Fisher Phenom", ".spd": "EDAX", ".dm3": "Gatan DigitalMicrograph",
               ".dm4": "Gatan DigitalMicrograph", ".emi": "FEI TIA", ".ser": "FEI TIA"}

_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "μm": 1.0, "nm": 1e-3, "pm": 1e-6}


def load(
    path,
    *,
    lazy=False,
    select_type="spectrum_image",
    signal_index=None,
    energy_offset=None,
    energy_scale=None,
    beam_energy=None,
    pixel_size=None,
    **reader_kwargs,
) -> SpectrumImage:
    """Load an EDS spectrum image from a file.

    Parameters
    ----------
    path : str or Path or HyperSpy signal
        A ``.bcf``, ``.rpl`` (with its ``.raw``), ``.hspy``, ``.zspy``, ``.msa``,
        ``.emd`` or ``.npy`` file. A ``.npy`` file holds an ``(H, W, C)`` array of
        counts and needs ``energy_offset`` and ``energy_scale``. Also any spectral cube
        (``phaselib/io/_cubes.py``): a FITS cube ``(bins, H, W)``, a folder or glob of FITS
        frames (one per bin), a TIFF stack, or a HyperSpy ``Signal1D`` map (used without a
        copy; a lazy signal stays a dask array).
    lazy : bool
        Read the data lazily (a dask array). ``.npy`` files are always memory
        mapped, read-only. Bruker ``.bcf`` files are still decoded in one block by
        RosettaSciIO.
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
        Passed to the RosettaSciIO reader (e.g. ``downsample``, ``cutoff_at_kV``
        for ``.bcf``).

    Returns
    -------
    SpectrumImage

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is not supported, the file cannot be read, or it holds no
        spectrum.
    """
    if _cubes.is_cube(path):  # a HyperSpy signal (no copy), FITS, TIFF (phaselib/io/_cubes.py)
        return _cubes.open_cube(path, energy_offset=energy_offset, energy_scale=energy_scale,
                                beam_energy=beam_energy, pixel_size=pixel_size)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path.name}'.")
    if path.is_dir() and path.suffix.lower() != ".zspy":
        raise ValueError(f"'{path.name}' is a folder, not a spectrum image file.")
    ext = path.suffix.lower()
    if ext == ".npy":
        image = _load_npy(path, energy_offset=energy_offset, energy_scale=energy_scale)
    elif ext in READERS:
        image = _load_rsciio(path, ext, lazy, select_type, signal_index, reader_kwargs)
    else:
        raise ValueError(
            f"Cannot read '{path.name}': unsupported extension '{ext or '(none)'}'. "
            f"Supported: {', '.join(SUPPORTED)}, FITS and TIFF cubes. "
            + (f"HyperSpy reads {VENDOR_MAPS[ext]} maps: " if ext in VENDOR_MAPS else "A map HyperSpy reads: ")
            + "pass its signal, phaselib.load(hyperspy.api.load(path)), or save it as .hspy "
            "(hyperspy.api.load(path).save('map.hspy')) for the command line and the dashboards."
        )
    changes = {
        k: v
        for k, v in dict(
            energy_offset=energy_offset,
            energy_scale=energy_scale,
            beam_energy=beam_energy,
            pixel_size=pixel_size,
        ).items()
        if v is not None
    }
    if pixel_size is not None:
        changes["pixel_size_y"] = pixel_size
    return image.replace(**changes) if changes else image


def _load_npy(path, *, energy_offset, energy_scale):
    if energy_offset is None or energy_scale is None:
        raise ValueError(
            f"'{path.name}' is a plain .npy array with no energy axis: give "
            "energy_offset and energy_scale (keV), e.g. energy_offset=0, energy_scale=0.01 (command line: "
            "--energy-offset 0 --energy-scale 0.01; a cube that is not EDS maps on channel numbers with "
            "--signal intensity)."
        )
    from ._images import check_npy_size

    check_npy_size(path)
    try:
        # always a read-only memory map: nothing is copied, the file cannot be changed
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except PermissionError:
        raise unreadable(path) from None
    except Exception:  # numpy raises several types for corrupt files; never echo the file
        raise ValueError(f"Could not read '{path.name}' as a .npy array: not a .npy file of numbers (Python "
                         "objects are never read), damaged or truncated.") from None
    data = _as_hwc(data, path.name)
    h, w, c = data.shape
    if h >= 256 and h >= 4 * max(w, c):  # a (C, H, W) cube: a tall strip of few channels, said, not refused
        warnings.warn(f"'{path.name}' is read as a {h} x {w} map of {c} channels (rows, columns, channels); if its "
                      "first axis holds the channels, save it as numpy.moveaxis(array, 0, -1).", stacklevel=3)
    return SpectrumImage(
        data, energy_offset=float(energy_offset), energy_scale=float(energy_scale),
        source=str(path),
    )


def _load_rsciio(path, ext, lazy, select_type, signal_index, reader_kwargs):
    module = importlib.import_module(READERS[ext])
    kwargs = dict(reader_kwargs)
    if ext == ".bcf":
        kwargs.setdefault("select_type", select_type)
    if ext not in (".msa", ".ems", ".emsa"):
        kwargs["lazy"] = lazy
    try:
        signals = module.file_reader(str(path), **kwargs)
    except PermissionError:
        raise unreadable(path) from None
    except Exception as err:
        # the reader's own message may quote the file's contents (a text file read as .rpl shows
        # its first line): only its type is given
        raise ValueError(
            f"Could not read '{path.name}' as a {ext} file ({type(err).__name__} in "
            f"{READERS[ext]}): not this format, damaged or truncated."
        ) from None
    if ext in (".msa", ".ems", ".emsa"):
        _check_msa_points(signals, path.name)
    candidates = [i for i, s in enumerate(signals) if _energy_axis_index(s["axes"]) is not None]
    if not candidates:
        raise ValueError(f"'{path.name}' holds no spectrum with an energy axis.")
    if signal_index is None:
        signal_index = candidates[0]
    elif signal_index not in candidates:
        raise ValueError(
            f"signal_index={signal_index} is not a spectrum in '{path.name}'; "
            f"spectra are at indices {candidates}."
        )
    return _from_signal_dict(signals[signal_index], str(path))


def _check_msa_points(signals, name):
    """An EMSA file's ``#NPOINTS`` against the values it holds (the reader takes the values as they come: a
    truncated file, or one whose header says 4096 over 2048 values, was read without a word)."""
    for sig in signals:
        declared = (sig.get("original_metadata") or {}).get("NPOINTS")
        held = int(np.prod(np.shape(sig.get("data"))))
        try:
            declared = float(declared)
        except (TypeError, ValueError):
            continue
        if declared != held:
            raise ValueError(f"Could not read '{name}': its header declares {declared:.0f} points, it holds "
                             f"{held} (truncated or damaged).")


def _energy_axis_index(axes):
    for i, ax in enumerate(axes):
        units = str(ax.get("units") or "").strip()
        name = str(ax.get("name") or "").lower()
        if units in ("keV", "eV") or name in ("energy", "e", "energy loss"):
            return i
    sig = [i for i, ax in enumerate(axes) if not ax.get("navigate", True)]
    return sig[-1] if len(sig) == 1 else None


def _from_signal_dict(signal: dict, source: str) -> SpectrumImage:
    axes = signal["axes"]
    data = signal["data"]
    e_index = _energy_axis_index(axes)
    if e_index != data.ndim - 1:
        order = [i for i in range(data.ndim) if i != e_index] + [e_index]
        data = data.transpose(order)
        axes = [axes[i] for i in order]
    energy = axes[-1]
    to_keV = 1e-3 if str(energy.get("units")).strip() == "eV" else 1.0
    data = _as_hwc(data, Path(source).name)
    other = other_axis(energy, signal.get("metadata", {}) or {})  # a cube that says it is not X-rays in keV
    nav = axes[:-1]
    name = Path(source).name
    px = [_length_um(ax, name) for ax in nav[-2:]] if len(nav) >= 2 else [_length_um(nav[0], name)] if nav else []
    md = signal.get("metadata", {}) or {}
    instrument = md.get("Acquisition_instrument", {}) or {}
    beam = None
    for key in ("SEM", "TEM"):
        beam = beam or (instrument.get(key, {}) or {}).get("beam_energy")
    if other:
        to_keV = 1.0
        values = energy.get("axis")
        if "scale" not in energy and values is not None and len(values) > 1:  # a non-uniform axis
            values = np.asarray(values, np.float64)
            energy = dict(energy, offset=values[0], scale=max(float(values[1] - values[0]), 1e-12))
            other["axis_values"] = values
    return SpectrumImage(
        data,
        energy_offset=float(energy.get("offset", 0.0)) * to_keV,
        energy_scale=float(energy.get("scale", 1.0)) * to_keV,
        **other,
        beam_energy=float(beam) if beam else None,
        pixel_size=px[-1] if px else None,
        pixel_size_y=px[0] if px else None,
        elements=tuple((md.get("Sample", {}) or {}).get("elements", ()) or ()),
        metadata={"metadata": md, "original_metadata": signal.get("original_metadata", {}),
                  "hyperspy_axes": nav_axes_of_file(nav)},
        source=source,
    )



#: pixel sizes (um) a map can have: a picometre to a metre (the grains command's limits)
PLAUSIBLE_UM = (1e-6, 1e6)


def _length_um(axis, name):
    factor = _LENGTH_TO_UM.get(str(axis.get("units") or "").strip())
    scale = axis.get("scale")
    if not (factor and scale):
        return None
    try:
        um = abs(float(scale)) * factor  # a negative step: an axis running the other way
    except (TypeError, ValueError):
        um = math.nan
    if not (math.isfinite(um) and um > 0):  # a damaged header: the pixel size is unknown, not NaN
        import warnings

        warnings.warn(f"'{name}': its pixel size is not a number; sizes will be in pixels.", stacklevel=3)
        return None
    if not PLAUSIBLE_UM[0] <= um <= PLAUSIBLE_UM[1]:  # 1e308 um overflowed the areas; 1e-300 underflowed them
        import warnings

        warnings.warn(f"'{name}': its pixel size ({um:.3g} um) is not plausible; sizes will be in pixels.",
                      stacklevel=3)
        return None
    return um


def _as_hwc(data, name):
    if data.ndim == 1:
        data = data.reshape(1, 1, -1)
    elif data.ndim == 2:
        data = data.reshape(1, *data.shape)
    elif data.ndim != 3:
        raise ValueError(
            f"'{name}' holds an array of shape {tuple(data.shape)}; a spectrum image "
            "must be (H, W, C) (or a single spectrum (C,) or a line (N, C))."
        )
    if data.dtype.kind not in "iuf":  # (timedelta64 is a NumPy integer)
        raise ValueError(f"'{name}' holds {data.dtype} data; counts must be numbers.")
    return data


def _signal_dict(image: SpectrumImage, title="EDS map"):
    h, w, c = image.shape
    ax = lambda name, size, scale, units, nav, off=0.0: dict(  # noqa: E731
        name=name, size=size, scale=scale, offset=off, units=units, navigate=nav
    )
    eds = image.is_energy_axis  # another cube keeps its axis and its kind (HyperSpy's Signal1D, no EDS type)
    md = {
        "General": {"title": title if eds else "spectral cube"},
        "Signal": {"signal_type": "EDS_SEM", "quantity": "X-rays (Counts)"} if eds else
                  {"signal_type": "", "quantity": "Counts" if image.is_counts else "Intensity"},
        "Acquisition_instrument": {"SEM": {"beam_energy": image.beam_energy or 0.0}},
        "Sample": {"elements": list(image.elements)},
    }
    if eds:
        signal_axis = ax("Energy", c, image.energy_scale, "keV", False, image.energy_offset)
    else:
        signal_axis = ax(image.name, c, image.energy_scale, image.units or "<undefined>", False, image.energy_offset)
        if image.axis_values is not None:  # explicit values: HyperSpy's non-uniform axis
            signal_axis = dict(name=image.name, size=c, units=image.units or "<undefined>", navigate=False,
                               axis=np.asarray(image.axis_values, np.float64))
        if not image.beam_energy:
            del md["Acquisition_instrument"]
    return {
        "data": image.data,
        "axes": [*file_axes(image), signal_axis],  # y, x: a HyperSpy map's own (a crop's offsets), else in µm
        "metadata": md,
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": image.is_lazy},
        "learning_results": {},
        "models": {},
        "package_info": {"name": "phaselib", "version": "0.1.0"},
    }


def save(image: SpectrumImage, path, *, overwrite=False, chunks=None) -> Path:
    """Write a spectrum image to ``.hspy``, ``.zspy`` (chunked, for big maps) or ``.npy``.

    Parameters
    ----------
    image : SpectrumImage or HyperSpy Signal1D map
    path : str or Path
    overwrite : bool
        Refuse to replace an existing file unless True. The image's own source file
        (or the file it is memory-mapped from) is never written, not through a symlink
        either; the result is written to a temporary name and renamed into place.
    chunks : tuple of int, optional
        Chunk shape for ``.zspy``/``.hspy`` (e.g. ``(64, W, C)`` for row blocks).

    Returns
    -------
    Path
    """
    path, image = Path(path), check_image(from_hyperspy(image) if is_signal(image) else image)  # was 'no .source'
    ext = path.suffix.lower()
    if ext not in (".npy", ".hspy", ".zspy"):
        raise ValueError(f"Cannot write '{ext}'; use .hspy, .zspy or .npy.")
    if chunks is not None:  # (h5py's and zarr's own words, or a ZeroDivisionError, otherwise)
        if not (isinstance(chunks, (tuple, list)) and len(chunks) == 3
                and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in chunks)):
            raise ValueError(f"`chunks` must be three whole numbers >= 1 (rows, columns, channels), "
                             f"got {chunks!r:.60}.")
    refuse_inputs(path, [image.source, memmap_source(image.data)], folder=True)
    if ext == ".zspy":
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise FileExistsError(f"'{path.name}' exists; pass overwrite=True (--overwrite) to replace it.")
        if path.is_dir() and not path.is_symlink() and not (path / ".zgroup").exists():
            raise ValueError(f"'{path.name}' is a folder but not a zarr store; not replacing it.")
        # written into a temporary folder, renamed into place when complete (an existing file or link replaced then)
        with atomic_folder(path, replace=lambda p: (p / ".zgroup").exists(), files=True) as tmp:
            module = importlib.import_module(READERS[ext])
            kwargs = {"chunks": chunks} if chunks else {}
            module.file_writer(str(tmp), _signal_dict(image), show_progressbar=False, **kwargs)
        return path
    with atomic_file(path, overwrite=overwrite) as tmp:  # a temporary file, renamed when complete
        if ext == ".npy":
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=image.data.dtype, shape=image.shape)
            reserve(tmp, path.name)  # no room: an error now, not SIGBUS while writing through the memory map
            for r0, r1, block in iter_row_blocks(image.data):
                out[r0:r1] = block
            out.flush()
            del out
        else:
            module = importlib.import_module(READERS[ext])
            kwargs = {"chunks": chunks} if chunks else {}
            module.file_writer(str(tmp), _signal_dict(image), **kwargs)
    return path
