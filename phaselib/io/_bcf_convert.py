"""Convert a big Bruker ``.bcf`` map to a chunked ``.zspy``, a few rows at a time.

``python -m phaselib convert MAP.bcf OUT.zspy`` runs :func:`bcf_to_zspy`; the rows come from
:class:`phaselib.io.BcfRows`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .._atomic import atomic_folder, refuse_inputs
from ._bcf import BcfRows, iter_bcf_rows


def bcf_to_zspy(path, out, *, block_rows=16, downsample=1, cutoff_at_kV=None, index=None,
                dtype=None, overwrite=False, progress=None) -> Path:
    """Convert a Bruker ``.bcf`` once into a row-chunked ``.zspy`` for the streaming path.

    The map is decoded and written ``block_rows`` rows at a time (zarr chunks
    ``(block_rows, W, C)``, Blosc-zstd as RosettaSciIO), so memory stays at about
    three chunks (block, compressed copy, zarr's padded last chunk) whatever the map
    height: ~0.45 GB with ``block_rows=16`` for 1295 x 1820 px x 2048 ch uint16
    (extrapolated from measurements). ``phaselib.load(out, lazy=True)`` then opens
    it as a dask array read one chunk at a time, with the ``.bcf``'s calibration,
    metadata and original metadata (HyperSpy opens it as well).

    Parameters
    ----------
    path : str or Path
        The ``.bcf`` file; never written to.
    out : str or Path
        The ``.zspy`` folder to create. Written under a temporary name next to it and
        renamed when complete, so a failed conversion leaves nothing behind.
    block_rows : int
        Rows per block and per zarr chunk. A chunk is ``block_rows x W x C x
        itemsize`` bytes (7.45 MB per row for 1820 px x 2048 ch uint16); later
        lazy reads load whole chunks, so keep a chunk to ~100 MB (16 rows there).
    downsample, cutoff_at_kV, index, dtype
        As :func:`iter_bcf_rows`.
    overwrite : bool
        Replace an existing ``out`` (only a zarr folder or a file) if True;
        otherwise an existing ``out`` is an error.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each block.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    FileNotFoundError, ValueError, FileExistsError
    """
    import numcodecs
    import zarr
    from rsciio.zspy import file_writer

    rows = iter_bcf_rows(path, block_rows=block_rows, index=index, downsample=downsample,
                         cutoff_at_kV=cutoff_at_kV, dtype=dtype)
    out = Path(out)
    if out.suffix.lower() != ".zspy":
        raise ValueError(f"The output must be a .zspy folder, got '{out.name}'.")
    refuse_inputs(out, [rows.path], folder=True)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise FileExistsError(f"'{out.name}' exists; pass overwrite=True (--overwrite) to replace it.")
        if out.is_dir() and not out.is_symlink() and not (out / ".zgroup").exists():
            raise ValueError(f"'{out.name}' is a folder but not a zarr store; not replacing it.")

    h, w, c = rows.shape
    # written into a temporary folder next to `out`, renamed into place when complete
    # (an existing file or link at `out`, never what a link points to, is replaced once the store is complete)
    with atomic_folder(out, replace=lambda p: (p / ".zgroup").exists(), files=True) as tmp, \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The NestedDirectoryStore is deprecated", FutureWarning)
        store = zarr.storage.NestedDirectoryStore(str(tmp))
        root = zarr.open_group(store=store, mode="w")
        signal = _zspy_signal(rows)
        title = signal["metadata"]["General"]["title"].replace("/", "-") or "__unnamed__"
        compressor = numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.SHUFFLE)
        dset = root.require_group("Experiments").require_group(title).create_dataset(
            "data", shape=(h, w, c), chunks=(min(rows.block_rows, h), w, c),
            dtype=rows.dtype, compressor=compressor,
        )
        for r0, r1, block in rows:
            dset[r0:r1] = block
            del block
            if progress is not None:
                progress(r1, h)
        signal["data"] = dset
        # axes, metadata and the consolidated metadata by RosettaSciIO's writer,
        # around the data written above (write_dataset=False opens the store in "a")
        file_writer(str(tmp), signal, write_dataset=False, show_progressbar=False,
                    compressor=compressor)
    return out


def _zspy_signal(rows: BcfRows) -> dict:
    sig = rows.signal
    md = dict(sig["metadata"])
    md["General"] = {**md.get("General", {}), "title": md.get("General", {}).get("title") or "EDX"}
    if rows.downsample != 1 or rows.cutoff_at_kV is not None:
        md["General"]["notes"] = (
            f"converted by phaselib from {rows.path.name}: downsample={rows.downsample}, "
            f"cutoff_at_kV={rows.cutoff_at_kV}"
        )
    return {
        "data": None,
        "axes": [dict(ax) for ax in sig["axes"]],
        "metadata": md,
        "original_metadata": sig.get("original_metadata", {}),
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "models": {},
        "package_info": {"name": "", "version": ""},
    }
