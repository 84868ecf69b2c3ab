"""Image files read safely: PNG / JPEG (Pillow), TIFF (tifffile), FITS (astropy), ``.npy``.

Each reader first checks the path without opening it (:func:`check_input_path`: a FIFO, a
device or a folder is refused, so nothing blocks), then reads the whole file and refuses it when
the library reports damage, even as a warning or a log line only. The libraries read what they
can of a damaged file and say so on stderr: tifffile logs "invalid page offset" and returns the
pages before it, astropy warns "File may have been truncated" and pads the data with zeros,
Pillow decodes a PNG whose last chunks are gone. Here each becomes :class:`DamagedFileError`
naming the file (never its folder, never its contents), and nothing reaches stderr.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np

from ._checks import DamagedFileError, check_input_path, unreadable

__all__ = ["read_fits", "read_npy", "read_picture", "read_tiff"]


def _damaged(path, kind, err=None):
    if isinstance(err, PermissionError):  # not damaged: not readable by this user
        return unreadable(path)
    why = f" ({type(err).__name__})" if err is not None else ""
    return DamagedFileError(f"Could not read '{path.name}' as {kind}{why}: not {kind}, damaged or truncated.")


class _Records(logging.Handler):
    """Keeps the records of a logger instead of printing them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _quiet_logger(name):
    """The logger ``name``'s warnings kept (yielded list), not printed, while inside."""
    log = logging.getLogger(name)
    handler, propagate = _Records(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield handler.records
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def read_picture(path, convert=None):
    """An ``(H, W)`` or ``(H, W, C)`` array of a PNG, JPEG or other Pillow image.

    ``convert(image) -> image`` (e.g. ``lambda im: im.convert("RGB")``) runs on the loaded image.
    A PNG is verified first (every chunk and its checksum, to the end chunk): a truncated PNG
    whose pixels happen to decode is still refused. A camera's EXIF orientation is applied.
    """
    path = check_input_path(path, what="an image file")
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning while decoding (a truncated file...) refuses it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # big scans are fine
            with Image.open(path) as im:
                fmt = im.format
                im.verify()
            im = Image.open(path)
            im.load()
            im = _upright(im)
        with im, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # converting a valid image (a palette with transparency) may warn
            arr = np.asarray(convert(im) if convert is not None else im)
    except Exception as err:  # noqa: BLE001 - Pillow raises many types; never echo them (paths)
        raise _damaged(path, "an image", err) from None
    if fmt is None or arr.size == 0 or (fmt == "PNG" and not (_ends_with_iend(path) and _png_rows_complete(path))):
        raise _damaged(path, "an image")
    return arr


def _upright(im):
    """The picture as viewers show it: a camera's EXIF Orientation tag applied (a JPEG stored on its side was read so,
    and its PP / XP pair refused as of two sizes, or, square, segmented misaligned)."""
    from PIL import ImageOps

    if im.getexif().get(0x0112, 1) in (None, 1):  # 0x0112: Orientation; 1 upright
        return im
    turned = ImageOps.exif_transpose(im)
    im.close()
    return turned


#: Pillow's modes of grey images (8-bit, 16-bit, 32-bit integer, float)
GREY_MODES = ("L", "I;16", "I;16B", "I;16L", "I", "F")


def grey_8bit(im):
    """A grey Pillow image as uint8 levels; its float levels when they cannot be scaled (refused by the caller)."""
    if im.mode == "L":
        return im
    a = np.asarray(im, np.float64)
    if im.mode.startswith("I;16") or (im.mode == "I" and a.max(initial=0) > 255):
        a = a / 257.0
    elif im.mode == "F" and a.max(initial=0) <= 1.0:
        a = a * 255.0
    ok = np.isfinite(a).all() and a.min(initial=0) >= 0 and a.max(initial=0) <= 255.5
    return np.clip(np.round(a), 0, 255).astype(np.uint8) if ok else a


def read_8bit(path):
    """(H, W) or (H, W, 3) uint8 of an image file: RGB (alpha dropped) or grey; a 16-bit grey image (a BSE
    detector's) scaled to 8 bits (levels / 257: ``convert("L")`` clipped every level over 255 to 255), a float one
    from 0-1 to 0-255; other levels refused."""
    try:
        arr = read_picture(path, lambda im: im.convert("RGB") if im.mode not in GREY_MODES else grey_8bit(im))
    except DamagedFileError:
        if Path(path).suffix.lower() not in (".tif", ".tiff"):
            raise
        arr = _colour_tiff_8bit(path)  # float or 16-bit colour TIFFs (tifffile's, scikit-image's): not Pillow's
    if arr.dtype.kind == "f":  # levels grey_8bit could not scale
        raise ValueError(f"{Path(path).name}: a grey image whose levels are negative, not finite or beyond 16 bits; "
                         "save it as an 8- or 16-bit image.")
    return arr


def _colour_tiff_8bit(path):
    """(H, W, 3) uint8 of a one-page colour TIFF that Pillow cannot open: float levels from 0-1, 16-bit ones / 257;
    a DamagedFileError for anything else (the reader's own words)."""
    data = read_tiff(path)
    if data.ndim != 3 or data.shape[-1] not in (3, 4):
        raise _damaged(Path(path), "an image")
    data = data[..., :3]
    if data.dtype.kind == "f" and np.isfinite(data).all() and data.min() >= 0 and data.max() <= 1:
        return np.round(data * 255).astype(np.uint8)
    if data.dtype.kind == "u" and data.dtype.itemsize <= 2:
        return (np.round(data / 257.0) if data.dtype.itemsize == 2 else data).astype(np.uint8)
    return data.astype(np.float64)  # refused by the caller: levels it cannot scale


#: the last chunk of every PNG: length 0, "IEND", its CRC
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _ends_with_iend(path):
    """Whether a PNG file ends with its end chunk, whole (Pillow decodes a PNG cut inside it)."""
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - len(_IEND), 0))
        return fh.read() == _IEND


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # per colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_rows_complete(path):
    """Whether a PNG's compressed data hold every row its header declares (Pillow fills the rows of a
    short data stream with zeros, without a word, when the stream ends cleanly before them)."""
    import struct
    import zlib

    with open(path, "rb") as fh:
        data = fh.read()
    pos, ihdr, stream = 8, None, zlib.decompressobj()
    size = 0
    try:
        while pos + 8 <= len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + n]
            if kind == b"IHDR":
                ihdr = struct.unpack(">IIBBBBB", body[:13])
                width, height, depth, colour, _, _, interlace = ihdr
                bits = depth * _PNG_CHANNELS[colour]
                passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
                need = 0
                for x0, y0, dx, dy in passes:
                    if width > x0 and height > y0:
                        rows, cols = -(-(height - y0) // dy), -(-(width - x0) // dx)
                        need += rows * (1 + -(-cols * bits // 8))  # a filter byte and the row's bytes
            elif kind == b"IDAT" and ihdr is not None:
                size += len(stream.decompress(body, max(need + 1 - size, 1)))
                if size > need:
                    return False
            pos += 12 + n
    except (struct.error, zlib.error, KeyError, ValueError):
        return False
    return ihdr is not None and size == need


def read_tiff(path):
    """The array of a TIFF file (every page: a stack is ``(pages, H, W[, C])``).

    Refused when tifffile logs any warning while reading it (a page it cannot reach, shape
    metadata that does not match the pages) or when a page's data runs past the end of the file.
    """
    path = check_input_path(path, what="a TIFF file")
    try:
        import tifffile
    except ImportError:
        raise ImportError("Reading TIFF needs tifffile: pip install 'tifffile>=2024.1'.") from None
    size = path.stat().st_size
    try:
        with warnings.catch_warnings(), _quiet_logger("tifffile") as logged:
            warnings.simplefilter("ignore")
            with tifffile.TiffFile(path) as tif:
                fmt = tif.tiff
                for page in tif.pages:  # its pixels, its tags' values and its directory inside the file
                    ends = [int(o) + int(n) for o, n in zip(page.dataoffsets, page.databytecounts)]
                    ends += [tag.valueoffset + tag.valuebytecount for tag in page.tags]
                    ends.append(page.offset + fmt.tagnosize + len(page.tags) * fmt.tagsize + fmt.offsetsize)
                    if max(ends) > size:
                        raise _damaged(path, "a TIFF image")
                if len(tif.series) > 1:  # pages of another shape: tifffile would read the first series only
                    raise DamagedFileError(f"'{path.name}' holds pages of {len(tif.series)} different shapes; a "
                                           "stack must hold pages of one shape.")
                data = tif.asarray()
    except DamagedFileError:
        raise
    except Exception as err:  # noqa: BLE001 - tifffile raises many types for damaged files
        raise _damaged(path, "a TIFF image", err) from None
    if logged:
        raise _damaged(path, "a TIFF image")
    return np.asarray(data)


def read_fits(path, *, memmap=False):
    """``(data, header)`` of the first HDU of a FITS file that holds an image (2-D or more).

    Refused when astropy warns that the file is truncated or its header invalid (it would pad
    the data with zeros); its other warnings (non-standard keywords) are not shown.
    """
    path = check_input_path(path, what="a FITS file")
    try:
        from astropy.io import fits
    except ImportError:
        raise ImportError("Reading FITS needs astropy: pip install 'astropy>=6.1,<9'.") from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(path, memmap=memmap) as hdul:
                scaling = [(h.header.get("BSCALE", 1.0), h.header.get("BZERO", 0.0)) for h in hdul]  # before the
                # data are read (astropy then drops them from the header)
                i = next((i for i, h in enumerate(hdul) if getattr(h, "data", None) is not None and h.data.ndim >= 2),
                         None)
                if i is None:
                    raise _damaged(path, "a FITS image")
                hdu, (scale, zero) = hdul[i], scaling[i]
                if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (scale, zero)) or scale == 0:
                    raise DamagedFileError(f"'{path.name}': its BSCALE / BZERO are not finite numbers with a "
                                           "non-zero scale (every pixel would read the same); refusing to read it.")
                data = np.array(hdu.data, dtype=hdu.data.dtype.newbyteorder("="))  # read (and copied) while the
                # file is open, in this machine's byte order (FITS stores big-endian)
                header = hdu.header.copy()
    except DamagedFileError:
        raise
    except Exception as err:  # noqa: BLE001 - astropy raises OSError, TypeError, ValueError...
        raise _damaged(path, "a FITS image", err) from None
    if any(w in str(c.message).lower() for c in caught for w in ("truncat", "error validating", "corrupt")):
        raise _damaged(path, "a FITS image")
    return data, header


def check_npy_size(path):
    """A DamagedFileError unless the ``.npy`` file holds exactly the bytes its header declares (NumPy reads a
    file holding more, ignoring the rest: a header declaring fewer rows, or a narrower dtype, than written)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            start = fh.tell()
    except Exception as err:  # noqa: BLE001 - never echo the file
        raise _damaged(path, "a .npy array", err) from None
    if dtype.hasobject:
        return
    need = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size != need:
        why = "truncated" if size < need else "more data than its header declares: another shape or data type"
        raise DamagedFileError(f"'{path.name}' declares {need} bytes, holds {size} ({why}); refusing to read it.")


def read_npy(path):
    """The array of a ``.npy`` file (no pickles)."""
    path = check_input_path(path, what="a .npy file")
    check_npy_size(path)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001
        raise _damaged(path, "a .npy array", err) from None
