"""netCDF files in GeoSlicer's layout (xarray + h5netcdf; no torch).

Images and segmentations share the dimensions ``y, x`` (colour images add ``c``), with
coordinates in millimetres; a segmentation carries ``type = "segmentation"``, ``labels``
(rows ``"Name,Index,Color"``, the first the header) and ``reference`` (its image).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from .._atomic import atomic_file, cannot_write


def _xr():
    try:
        import xarray as xr
    except ImportError:
        raise ImportError("xarray and h5netcdf are needed for netCDF: pip install 'phaselib[infer]'.") from None
    return xr


def label_rows(classes, colors):
    """The ``labels`` attribute: ``["Name,Index,Color", "quartz,0,#0072B2", ...]`` (CSV rows: a name holding a comma
    is quoted, ``"quartz, clear",1,#E69F00``; split at every comma it shifted the names after it)."""
    def row(*cells):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        return buf.getvalue()

    return ["Name,Index,Color"] + [row(n, i, c) for i, (n, c) in enumerate(zip(classes, colors))]


def parse_label_rows(rows):
    """``(names, colours)`` of a ``labels`` attribute (index order)."""
    rows = [rows] if isinstance(rows, str) else list(rows)
    out = {}
    for row in rows:
        parts = [p.strip() for p in next(csv.reader([str(row)]), [])]
        if len(parts) >= 3 and parts[1].lstrip("-").isdigit():
            out[int(parts[1])] = (parts[0], parts[2])
    names = [out[i][0] for i in sorted(out)]
    return names, [out[i][1] for i in sorted(out)]


def _open(path):
    """The dataset of a netCDF-4 (HDF5) or netCDF-3 file, loaded; a ValueError for anything else."""
    from ..io._checks import check_input_path

    xr = _xr()
    path = check_input_path(path, what="a netCDF file")  # a FIFO would block the reader
    for engine in ("h5netcdf", "scipy"):  # netCDF-4 (HDF5), then netCDF-3
        try:
            return xr.load_dataset(path, engine=engine)
        except Exception:  # noqa: BLE001 - a corrupt or foreign file, whatever the engine raises
            continue
    raise ValueError(f"cannot read {path.name} as netCDF.")


def read_segmentation(path):
    """``(labels (H, W) int64, mm_per_pixel or None, variable name, class names)`` of the segmentation a netCDF file of
    ``segment`` holds (its last, where it holds several: each run adds one)."""
    path = Path(path)
    ds = _open(path)
    names = [str(n) for n, v in ds.data_vars.items() if v.attrs.get("type") == "segmentation" and v.ndim == 2]
    if not names:
        raise ValueError(f"{path.name} holds no segmentation (a variable of type 'segmentation', as `segment` "
                         "writes).")
    var = ds[names[-1]]
    labels = np.asarray(var.values)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"the segmentation '{names[-1]}' of {path.name} must hold class indices.")
    mm = ds.attrs.get("mm_per_pixel")
    mm = float(mm) if isinstance(mm, (int, float, np.floating)) and math.isfinite(mm) and mm > 0 else None
    try:
        classes, _ = parse_label_rows(var.attrs.get("labels", ()))
    except (TypeError, ValueError):
        classes = []
    return labels.astype(np.int64), mm, names[-1], classes


def read_netcdf(path, patterns):
    """``(images {role: (H, W, C) uint8}, mm_per_pixel, dataset, names {role: variable})`` of a netCDF file.

    The first variable whose name holds each pattern is the image of that role (the
    seed's rule); the scale comes from the ``x`` coordinate.
    """
    path = Path(path)
    ds = _open(path)
    images, names = {}, {}
    for role, pat in patterns.items():
        for name, var in ds.data_vars.items():
            if pat and pat in str(name) and var.attrs.get("type") != "segmentation" and var.dims[:2] == ("y", "x"):
                arr = np.asarray(var.values)
                if arr.dtype != np.uint8:
                    if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
                        raise ValueError(f"the image '{name}' of {path.name} must hold finite numbers.")
                    arr = _to_8bit(arr)
                images[role] = arr[..., None] if arr.ndim == 2 else arr
                names[role] = str(name)
                break
    mm = None
    axis = "x" if ds.sizes.get("x", 0) > 1 else "y"  # a one-column image has its scale in y
    if axis in ds.coords and ds.sizes.get(axis, 0) > 1:
        v = np.asarray(ds[axis].values, np.float64) if ds[axis].dtype.kind in "biuf" else np.array([np.nan] * 2)
        step = abs(float(f"{float(v[1] - v[0]) * mm_per_unit(ds[axis]):.12g}"))  # 0.01, not 0.009999999999999787
        if math.isfinite(step) and 0 < step <= 1e3:  # else the file has no usable scale: the caller's is used
            mm = step
    return images, mm, ds, names


#: a coordinate's length units -> mm (no units: mm, the GeoSlicer layout's)
_MM_PER = {"": 1.0, "mm": 1.0, "millimeter": 1.0, "millimetre": 1.0, "um": 1e-3, "µm": 1e-3, "μm": 1e-3,
           "micron": 1e-3, "microns": 1e-3, "micrometer": 1e-3, "micrometre": 1e-3, "nm": 1e-6, "cm": 10.0,
           "m": 1e3, "meter": 1e3, "metre": 1e3}


def mm_per_unit(coord):
    """mm per unit of a coordinate, from its ``units`` (um read as mm gave a 1000 times coarser scale); NaN for
    units that are no length."""
    return _MM_PER.get(str(coord.attrs.get("units", "")).strip().lower(), float("nan"))


def _to_8bit(arr):
    """uint8 levels of an image variable that is not uint8: 0-1 floats and 16-bit levels as image files are read (their
    0.1-99.9 percentiles in range, the rest clipped), other values stretched between those percentiles (one pixel at
    -5 stretched a 0-1 image to a sixth of its range: 0.994 -> 0.679 of the pixels right)."""
    lo, hi = np.percentile(arr, [0.1, 99.9]) if arr.size else (0.0, 0.0)
    if arr.dtype.kind == "f" and lo >= 0 and hi <= 1:  # 0-1 levels (a few outliers clipped)
        return np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    if arr.dtype.kind in "biu" and lo >= 0 and hi <= 255:
        return np.clip(arr, 0, 255).astype(np.uint8)
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        return np.round(arr / 257.0).astype(np.uint8)
    return np.round(np.clip((arr - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8)


def write_netcdf(path, stem, labels, classes, colors, images, mm_per_pixel, *, base=None, reference=None,
                 overwrite=False):
    """Write a segmentation and its images as a netCDF file in GeoSlicer's layout.

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file; an existing one is replaced only with ``overwrite=True``.
    stem : str
        Prefix of the variable names (``STEM_pp``, ``STEM_segmentation``, ...).
    labels : (H, W) array of int
        Class ids of the model (``-1`` none).
    classes, colors : sequences of str
    images : dict
        role -> (H, W, C) uint8 image, written as ``STEM_<role>``.
    mm_per_pixel : float
    base : xarray.Dataset, optional
        An input netCDF whose variables are copied (the seed's rule for netCDF inputs).
    reference : str, optional
        The image variable the segmentation refers to (default the first of ``images``).
    overwrite : bool
    """
    xr = _xr()
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path.name} exists: give --overwrite to replace it.")
    h, w = labels.shape
    coords = {"y": ("y", np.arange(h) * mm_per_pixel, {"units": "mm"}),
              "x": ("x", np.arange(w) * mm_per_pixel, {"units": "mm"})}
    for axis, n in (("y", h), ("x", w)):  # an input's own coordinates (its origin), where they fit the image
        if base is not None and axis in base.coords and base.sizes.get(axis) == n and base[axis].dtype.kind in "iuf":
            v = np.asarray(base[axis].values, np.float64) * mm_per_unit(base[axis])  # in mm, rising or falling
            if np.isfinite(v).all() and np.allclose(np.abs(np.diff(v)), mm_per_pixel, rtol=1e-6):  # the scale used
                coords[axis] = (axis, v, {"units": "mm"})
    ds = xr.Dataset(coords=coords, attrs={"mm_per_pixel": float(mm_per_pixel), "source": "phaselib segment"})
    if base is not None:
        for name, var in base.data_vars.items():
            if var.dims[:2] == ("y", "x") and var.shape[:2] == (h, w):
                ds[name] = (var.dims, var.values, dict(var.attrs))
    ref = reference
    for role, img in images.items():
        name = f"{stem}_{role}"
        img = np.asarray(img)
        dims = ("y", "x") if img.shape[-1] == 1 else ("y", "x", "c")
        ds[name] = (dims, img[..., 0] if img.shape[-1] == 1 else img, {"type": "image", "role": role})
        ref = ref or name
    seg = f"{stem}_segmentation"
    while base is not None and seg in base.data_vars:
        seg += "_new"
    dtype = np.uint8 if len(classes) < 255 and labels.min() >= 0 else np.int16
    ds[seg] = (("y", "x"), labels.astype(dtype),
               {"type": "segmentation", "labels": label_rows(classes, colors), "reference": ref or ""})
    with atomic_file(path, overwrite=True) as tmp:  # the caller refuses to overwrite without being asked
        try:
            ds.to_netcdf(tmp, engine="h5netcdf", encoding={v: {"zlib": True, "complevel": 4} for v in ds.data_vars})
        except OSError as err:  # h5py's text holds the whole temporary path
            raise cannot_write(path, err) from None
    return path
