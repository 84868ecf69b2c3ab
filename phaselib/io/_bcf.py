"""Big Bruker ``.bcf`` maps in bounded memory: row blocks and a one-time ``.zspy`` conversion.

RosettaSciIO decodes the hypermap of a ``.bcf`` into one dense ``(H, W, C)`` array
(``BCF_reader.parse_hypermap``; its ``lazy=True`` is a single dask chunk wrapping the
same call), so reading a 1820 x 1295 px x 2048 ch map needs ~9.7 GB. This module
decodes it a few rows at a time **with RosettaSciIO's own decoder**:

* the hypermap is a stream (``EDSDatabase/SpectrumData<i>`` in the SFS container,
  read chunk by chunk and zlib-inflated by ``SFSTreeItem.get_iter_and_properties``):
  a 0x1A0-byte header (height, width, ...), then line after line, each line a
  ``uint32`` pixel count and one record per pixel (22-byte header + packed counts);
* :func:`iter_bcf_rows` walks that stream with the record *lengths* only (it never
  decodes counts), cuts the bytes of ``block_rows`` lines, puts the file's own
  header in front with the height set to the number of lines, and hands that to
  ``rsciio.bruker.unbcf_fast.parse_to_numpy`` (or ``py_parse_hypermap`` where the
  compiled parser is missing), which decodes it into a ``(rows, W, C)`` array.
  Unpacking (12-bit / 16-bit pulse lists, instruction-packed spectra, extra
  pulses), ``downsample`` (sums) and ``cutoff_at_kV`` are all RosettaSciIO's; shape,
  dtype and calibration come from RosettaSciIO's reader too (``bcf_hyperspectra``
  with ``lazy=True``, which decodes nothing).

The record walk (``_LineStream.take_lines``: pixel count per line; per pixel
``22 + data_size2`` bytes, plus ``2 x n_of_pulses`` extra-pulse bytes when
``flag > 1``) is the only part not taken from RosettaSciIO; it mirrors the reads
of ``unbcf_fast.bin_to_numpy``. It relies on ``rsciio.bruker._api`` internals
(RosettaSciIO 0.15), so ``tests/test_bcf.py`` checks every block against
RosettaSciIO's dense read.

Peak memory does not grow with the map height: :func:`iter_bcf_rows` holds one block of ``block_rows x W x
C`` counts plus the raw bytes of its lines (~1.1 x the block, plus ~3 MB for RosettaSciIO's zlib chunk
reader); :func:`phaselib._bcf_convert.bcf_to_zspy` adds zarr's compression buffer and, for the last, partial
chunk, zarr's full-size chunk (<= ~3 x one chunk). A dense read needs ``H x W x C x itemsize``. The decoded
counts are checked against the sum spectrum in the file's header before the last block is handed over.
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path

import numpy as np

from .._validate import check_int
from ._checks import DamagedFileError, check_bcf_container, check_input_path
from ._formats import _from_signal_dict

__all__ = ["BcfRows", "iter_bcf_rows"]

#: size of the hypermap stream header; pixel lines start there
_HEADER = 0x1A0
#: the 22-byte pixel header: x (uint32), chan1, chan2 (uint16), unknown (32 bit),
#: flag (uint16), size1 (uint16), n_of_pulses (uint16), data_size2 (uint32);
#: only x, flag, n_of_pulses and data_size2 are needed to find the next record
_PIXEL = struct.Struct("<I8xHxxHI")
_PIXEL_SIZE = 22
_U32 = struct.Struct("<I")
#: zero bytes after a block's records: neither parser asks for another chunk, and the compiled
#: decoder, which does no bounds checks, reads at most ~130 kB past a damaged record (a 16-bit
#: pulse list of 65535 pulses; an instruction-packed spectrum of 65535 bytes): all in here
_PAD = bytes(256 * 1024)


def _parser():
    """RosettaSciIO's hypermap parser: ``(parse(vfile, shape, dtype, downsample), fast)``."""
    from rsciio.bruker import _api

    if getattr(_api, "fast_unbcf", False):
        return _api.unbcf_fast.parse_to_numpy, True
    return _api.py_parse_hypermap, False


class _OneChunk:
    """A stand-in for RosettaSciIO's ``SFSTreeItem``: the whole stream in one chunk."""

    def __init__(self, data: bytes):
        self._data = data

    def get_iter_and_properties(self):
        return iter((self._data,)), len(self._data), 1


class _LineStream:
    """The pixel lines of a hypermap stream, cut out line block by line block."""

    def __init__(self, chunks, name):
        self._chunks = chunks
        self._buf = bytearray()
        self._name = name

    def _fill(self, n):
        buf = self._buf
        while len(buf) < n:
            try:
                buf += next(self._chunks)
            except StopIteration:
                raise DamagedFileError(
                    f"'{self._name}': the hypermap stream ends early (truncated or "
                    "damaged file)."
                ) from None
            except Exception as err:  # zlib.error and the like, from a damaged compressed chunk
                raise DamagedFileError(
                    f"'{self._name}': a compressed chunk of the map cannot be read "
                    f"({type(err).__name__}; damaged file)."
                ) from None

    def header(self) -> bytes:
        self._fill(_HEADER)
        head = bytes(self._buf[:_HEADER])
        del self._buf[:_HEADER]
        return head

    def take_lines(self, n_lines, x_limit, prefix, suffix) -> bytes:
        """``prefix + <bytes of the next n_lines lines> + suffix`` (one copy)."""
        buf = self._buf
        fill = self._fill
        unpack_pixel = _PIXEL.unpack_from
        pos = 0
        for _ in range(n_lines):
            if len(buf) < pos + 4:
                fill(pos + 4)
            (n_pixels,) = _U32.unpack_from(buf, pos)
            pos += 4
            if n_pixels > x_limit:
                raise DamagedFileError(
                    f"'{self._name}': a line of the map holds {n_pixels} pixel records for a width "
                    f"of {x_limit} (damaged file).")
            for _ in range(n_pixels):
                if len(buf) < pos + _PIXEL_SIZE:
                    fill(pos + _PIXEL_SIZE)
                x, flag, n_pulses, size = unpack_pixel(buf, pos)
                if x >= x_limit:
                    raise DamagedFileError(
                        f"'{self._name}': a pixel record has x = {x} outside the map "
                        f"width {x_limit} (damaged file)."
                    )
                # flags 0 and 1 (pulse lists): the packed data; flag > 1
                # (instruction-packed spectrum): data_size2 includes a 4-byte size
                # field, then 2 bytes per additional pulse (as unbcf_fast reads them)
                pos += _PIXEL_SIZE + size + (2 * n_pulses if flag > 1 and n_pulses else 0)
        fill(pos)
        with memoryview(buf) as view, view[:pos] as lines:
            data = b"".join((prefix, lines, suffix))
        del buf[:pos]
        return data


class BcfRows:
    """The spectrum image of a ``.bcf`` file, decoded ``block_rows`` rows at a time.

    Iterating yields ``(r0, r1, block)``: rows ``r0:r1`` of the map as a
    ``(r1 - r0, W, C)`` numpy array, equal to the same rows of
    ``rsciio.bruker.file_reader(path, select_type="spectrum_image", downsample=...,
    cutoff_at_kV=...)[0]["data"]``. Every iteration reads the file again from the
    start; nothing of the map is kept between blocks.

    Attributes
    ----------
    shape : tuple
        ``(H, W, C)`` after ``downsample`` and ``cutoff_at_kV``.
    dtype : numpy.dtype
        dtype of the blocks (RosettaSciIO's estimate, or the ``dtype`` asked for).
    calibration : dict
        ``energy_offset``, ``energy_scale`` (keV), ``beam_energy`` (kV),
        ``pixel_size``, ``pixel_size_y`` (um) and ``elements``: keyword arguments of
        :class:`~phaselib.SpectrumImage`, as :func:`phaselib.load` gives them.
    signal : dict
        RosettaSciIO's signal dictionary (axes, metadata, original_metadata); its
        ``"data"`` is RosettaSciIO's single-chunk lazy array, **never compute it**.
    """

    def __init__(self, path, *, block_rows=16, index=None, downsample=1,
                 cutoff_at_kV=None, dtype=None):
        path = Path(path)
        if path.suffix.lower() != ".bcf":
            raise ValueError(
                f"'{path.name}' is not a Bruker .bcf file (expected a file ending in .bcf)."
            )
        check_input_path(path)
        self.path = path
        self.block_rows = check_int(block_rows, "block_rows")
        self.downsample = check_int(downsample, "downsample")
        self.cutoff_at_kV = cutoff_at_kV

        from rsciio.bruker._api import BCF_reader, bcf_hyperspectra

        check_bcf_container(path)
        try:
            reader = BCF_reader(str(path))
        except Exception as err:
            raise DamagedFileError(
                f"Could not read '{path.name}' as a Bruker .bcf ({type(err).__name__}; damaged file)."
            ) from None
        if index is None:
            index = reader.def_index
        if index not in reader.available_indexes:
            raise ValueError(f"'{path.name}' has no hypermap at index={index!r}; available indexes: "
                             f"{reader.available_indexes}.")
        try:
            # lazy=True: shape, dtype, axes and metadata from RosettaSciIO; nothing decoded
            signal = bcf_hyperspectra(
                reader, index=index, downsample=self.downsample,
                cutoff_at_kV=cutoff_at_kV, lazy=True,
            )[0]
        except Exception as err:
            raise DamagedFileError(
                f"Could not read '{path.name}' as a Bruker .bcf ({type(err).__name__}; damaged file)."
            ) from None
        self.index = index
        self._reader = reader
        self.signal = signal
        self.shape = tuple(int(n) for n in signal["data"].shape)

        self._parse, self._fast = _parser()
        estimate = np.dtype(signal["data"].dtype)
        self._decode_dtype = estimate
        # the pure-Python parser works in a signed dtype and returns its unsigned view
        native = np.dtype(f"u{estimate.itemsize}") if estimate.kind == "i" else estimate
        self.dtype = np.dtype(dtype) if dtype is not None else native
        if (
            self._fast
            and self.dtype.kind == "u"
            and estimate.itemsize < self.dtype.itemsize <= 4
        ):
            # decode straight into the wider dtype asked for (no wrap-around of
            # RosettaSciIO's dtype estimate, no cast)
            self._decode_dtype = self.dtype

        image = _from_signal_dict(signal, str(path))
        self.calibration = dict(
            energy_offset=image.energy_offset,
            energy_scale=image.energy_scale,
            beam_energy=image.beam_energy,
            pixel_size=image.pixel_size,
            pixel_size_y=image.pixel_size_y,
            elements=image.elements,
        )

    def __len__(self):
        return math.ceil(self.shape[0] / self.block_rows)

    def __repr__(self):
        h, w, c = self.shape
        return (
            f"<BcfRows '{self.path.name}' {h} x {w} px x {c} ch, {self.dtype}, "
            f"blocks of {self.block_rows} rows>"
        )

    @property
    def nbytes(self) -> int:
        """Size of the whole map in memory (what a dense read needs)."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __iter__(self):
        h, w, c = self.shape
        d = self.downsample
        vfile = self._reader.get_file(f"EDSDatabase/SpectrumData{self.index}")
        stream = _LineStream(vfile.get_iter_and_properties()[0], self.path.name)
        head = stream.header()
        n_lines, width = struct.unpack_from("<ii", head)
        image = self._reader.header.image
        if (n_lines, width) != (image.height, image.width):
            raise DamagedFileError(
                f"'{self.path.name}': the header declares a {image.height} x {image.width} map, its data "
                f"hold {n_lines} x {width} (damaged file, or an acquisition stopped early); refusing to "
                "read it.")
        x_limit = w * d
        total = np.zeros(c, np.float64)
        for r0 in range(0, h, self.block_rows):
            r1 = min(h, r0 + self.block_rows)
            l0, l1 = r0 * d, min(r1 * d, n_lines)
            if l1 <= l0:  # not reached: the header's height is checked above
                raise DamagedFileError(f"'{self.path.name}': rows {r0}-{r1} are missing.")
            else:
                count = l1 - l0
                data = stream.take_lines(
                    count, x_limit, struct.pack("<ii", count, width) + head[8:], _PAD
                )
                if len(data) >= 2**31:  # unbcf_fast's stream offsets are C ints
                    raise ValueError(
                        f"Block of {self.block_rows} rows holds {len(data) / 2**30:.1f} GiB "
                        "of raw data; use a smaller block_rows."
                    )
                block = self._parse(
                    _OneChunk(data), (math.ceil(count / d), w, c), self._decode_dtype,
                    downsample=d,
                )
                del data
                if block.shape[0] < r1 - r0:
                    block = np.concatenate(
                        [block, np.zeros((r1 - r0 - block.shape[0], w, c), block.dtype)]
                    )
            out = _cast(block, self.dtype, self.path.name)
            del block
            total += out.sum(axis=(0, 1), dtype=np.float64)
            if r1 == h:  # before the last block is handed over: a damaged map never reads as whole
                self._check_total(total)
            yield r0, r1, out
            del out  # the next block is decoded while only the caller may hold this one

    def _check_total(self, total):
        """Bruker writes the map's own sum spectrum in the header (0.07 % apart on P45, 0.001 % on chevkinite): no
        counts, or 3 % away from it, is a damaged map (zeroed data, a cut channel list); 0.5 %, a warning."""
        name = self.path.name
        if not total.any():
            raise DamagedFileError(f"'{name}': the map holds no counts (damaged data or channel list); refusing it.")
        spectra = list(getattr(self._reader.header, "spectra_data", {}).values())
        if len(spectra) != 1:  # which sum spectrum belongs to this map is not known
            return
        header = np.asarray(spectra[0].data, np.float64)[:len(total)].sum()  # the channels kept
        ratio = total.sum() / header if header > 0 else np.inf
        if not 0.97 <= ratio <= 1.03:
            raise DamagedFileError(
                f"'{name}': its data hold {100 * ratio:.1f} % of the counts of the sum spectrum in its header "
                "(damaged or overwritten data); refusing to read it.")
        if not 0.995 <= ratio <= 1.005:
            warnings.warn(f"'{name}': its data hold {100 * ratio:.1f} % of the counts of the sum spectrum in its "
                          "header: part of the map may be damaged.", stacklevel=2)


def iter_bcf_rows(path, *, block_rows=16, index=None, downsample=1, cutoff_at_kV=None,
                  dtype=None) -> BcfRows:
    """Decode the spectrum image of a Bruker ``.bcf`` file in blocks of rows.

    Memory: one block of ``block_rows x W x C`` counts plus the raw bytes of its
    lines (~1.1 x the block measured), never the whole map; a caller that keeps a
    block while asking for the next holds two.

    Parameters
    ----------
    path : str or Path
        A ``.bcf`` file (opened read-only).
    block_rows : int
        Rows (after ``downsample``) per block.
    index : int, optional
        Which hypermap of a multi-map file (default: the first, as RosettaSciIO).
    downsample : int
        Sum ``downsample x downsample`` pixels (RosettaSciIO's ``downsample``).
    cutoff_at_kV : float, "zealous", "auto" or None
        Keep channels up to this energy (RosettaSciIO's ``cutoff_at_kV``).
    dtype : numpy dtype, optional
        dtype of the blocks (default: RosettaSciIO's estimate from the sum spectrum).
        A wider unsigned integer is decoded into directly; another dtype is a cast
        (an error if counts do not fit an integer dtype).

    Returns
    -------
    BcfRows
        Iterable of ``(r0, r1, block)``, with ``.shape``, ``.dtype`` and
        ``.calibration`` (``SpectrumImage`` keyword arguments).

    Examples
    --------
    >>> rows = iter_bcf_rows("map.bcf", block_rows=16, cutoff_at_kV=10)
    >>> total = sum(block.sum(axis=(0, 1), dtype=np.int64) for _, _, block in rows)
    """
    return BcfRows(path, block_rows=block_rows, index=index, downsample=downsample,
                   cutoff_at_kV=cutoff_at_kV, dtype=dtype)


def _cast(block, dtype, name):
    if block.dtype == dtype:
        return block
    if dtype.kind in "iu" and block.size:
        info = np.iinfo(dtype)
        if block.max() > info.max:
            raise ValueError(
                f"'{name}': counts up to {int(block.max())} do not fit {dtype}; "
                "choose a wider dtype."
            )
    return block.astype(dtype)


def read_bcf(path, *, lazy=False, index=None, downsample=1, cutoff_at_kV=None):
    """The spectrum image of a ``.bcf``, decoded by :class:`BcfRows` (checked record by record,
    so a damaged file is an error, never a crash of the compiled decoder) into one array.

    ``lazy=True``: one dask chunk, decoded when computed (as RosettaSciIO's ``lazy=True``).
    """
    from .._image import SpectrumImage

    rows = BcfRows(path, block_rows=64, index=index, downsample=downsample, cutoff_at_kV=cutoff_at_kV)
    if lazy:
        import dask
        import dask.array as da

        data = da.from_delayed(dask.delayed(_decode_all)(rows), shape=rows.shape, dtype=rows.dtype)
    else:
        data = _decode_all(rows)
    md = rows.signal.get("metadata", {}) or {}
    return SpectrumImage(data, **rows.calibration, source=str(rows.path),
                         metadata={"metadata": md, "original_metadata": rows.signal.get("original_metadata", {})})


def _decode_all(rows):
    out = np.empty(rows.shape, rows.dtype)
    for r0, r1, block in rows:
        out[r0:r1] = block
    return out
