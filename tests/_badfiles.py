"""Damaged files, made on the fly from the real maps and small synthetic ones (nothing committed).

Every ``make_*`` function writes one file (or folder) under ``folder`` and returns its path.
:data:`SECRET` is written into every text file, so that a test can check that no message
quotes a file's contents. :func:`guarded` runs a case in a forked child, so that a crash
(segmentation fault) or a hang is a test failure, not the end of the test run.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np

#: a line that must never show in an error message
SECRET = "root:x:0:0:SECRET-LINE-7f3a:/root:/bin/bash"


# ----------------------------------------------------------------- guard
def _child(conn, fn, args):
    threaded = sys.modules.get("dask.threaded")
    if threaded is not None:  # the parent's dask thread pools have no threads in a forked child
        threaded.default_pool = None
        threaded.pools.clear()
    try:  # nor its OpenMP threads (scikit-learn's k-means in an earlier test): one thread, no team to wait for
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="openmp")
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass
    try:
        value = fn(*args)
        conn.send(("ok", value, ""))
    except BaseException as err:  # noqa: BLE001 - everything is reported to the parent
        conn.send(("error", [c.__name__ for c in type(err).__mro__], str(err)))
    finally:
        conn.close()


def cli_main(argv):
    """``(exit status, stderr)`` of ``python -m phaselib argv`` run in this process."""
    import contextlib
    import io

    from phaselib._cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, err.getvalue()


def guarded(fn, *args, timeout=30):
    """Run ``fn(*args)`` in a forked child: ``("ok", value, "")``, ``("error", mro_names, message)``,
    ``("crash", signal, "")`` or ``("hang", timeout, "")``."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    child.close()
    result = None
    if parent.poll(timeout):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    proc.join(5 if result else 0.1)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return result or ("hang", timeout, "")
    if result is None:
        return ("crash", -proc.exitcode if proc.exitcode and proc.exitcode < 0 else proc.exitcode, "")
    return result


# ----------------------------------------------------------------- .bcf
def bcf_layout(data: bytes):
    """Offsets in an uncompressed ``.bcf`` (the bundled P45): chunk size, the chunk count field,
    the file table and the first chunk of the hypermap stream."""
    chunk = struct.unpack_from("<I", data, 0x128)[0]
    tree, n_items, _ = struct.unpack_from("<III", data, 0x140)
    table = chunk * tree + 0x138
    items = {}
    for i in range(n_items):
        rec = data[table + i * 0x200: table + (i + 1) * 0x200]
        ptr, size = struct.unpack_from("<iQ", rec)
        name = rec[224:480].split(b"\0")[0].decode()
        items[name] = dict(entry=table + i * 0x200, ptr=ptr, size=size)
    stream = items["SpectrumData0"]
    first = struct.unpack_from("<I", data, chunk * stream["ptr"] + 0x138)[0] * chunk + 0x138
    return dict(chunk=chunk, table=table, items=items, stream=first)


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def bcf_variants(p45: bytes, compressed: bytes):
    """``{name: bytes}``: damaged ``.bcf`` files made from the real P45 (uncompressed SFS) and
    chevkinite (zlib-compressed SFS) maps."""
    lay = bcf_layout(p45)
    n = len(p45)
    out = {}
    for cut in (8, 0x130, 0x150, 4096, 20_000, 30_000, 120_000, 210_000, 600_000, n // 2, 1_200_000, 1_500_000,
                n - 5000, n - 1):
        out[f"truncated_at_{cut}"] = p45[:cut]
    out["chunk_count_plus_one"] = patched(p45, 0x148, "<I", struct.unpack_from("<I", p45, 0x148)[0] + 1)
    out["chunk_size_zero"] = patched(p45, 0x128, "<I", 0)
    out["chunk_size_huge"] = patched(p45, 0x128, "<I", 2**31)
    out["file_table_items_huge"] = patched(p45, 0x144, "<I", 2**30)
    out["file_table_address_outside"] = patched(p45, 0x140, "<I", 10**6)
    sd = lay["items"]["SpectrumData0"]
    out["stream_size_huge"] = patched(p45, sd["entry"] + 4, "<Q", 2**62)
    out["stream_table_outside"] = patched(p45, sd["entry"], "<i", 10**7)
    out["stream_height_larger"] = patched(p45, lay["stream"], "<i", 95)
    out["stream_height_smaller"] = patched(p45, lay["stream"], "<i", 40)
    out["stream_width_larger"] = patched(p45, lay["stream"] + 4, "<i", 120)
    out["stream_height_negative"] = patched(p45, lay["stream"], "<i", -5)
    first_line = lay["stream"] + 0x1A0
    out["line_pixel_count_huge"] = patched(p45, first_line, "<I", 2**31)
    out["pixel_x_outside"] = patched(p45, first_line + 4, "<I", 5000)
    out["pixel_data_size_huge"] = patched(p45, first_line + 4 + 18, "<I", 2**31 - 7)
    out["pixel_pulse_count_huge"] = patched(p45, first_line + 4 + 16, "<H", 65535)
    xml = p45.replace(b"<Height>75</Height>", b"<Height>95</Height>")
    out["header_height_larger"] = xml
    out["header_width_smaller"] = p45.replace(b"<Width>100</Width>", b"<Width>080</Width>")
    out["header_xml_garbage"] = p45.replace(b"<ChCount>4096</ChCount>", b"<ChCount>4&96</ChCount>")
    out["not_sfs_signature"] = b"XXXXXXXX" + p45[8:]
    # data overwritten with zeros, the container intact: the map then disagrees with its header's sum spectrum
    out["data_block_zeroed"] = p45[:400_000] + bytes(65_536) + p45[465_536:]
    out["data_end_zeroed"] = p45[:n - 100_000] + bytes(100_000)
    start = lay["stream"] + 0x1A0  # every pixel line empty: a map of zeros (a damaged channel list reads so too)
    out["data_all_zeroed"] = p45[:start] + bytes(n - 1000 - start) + p45[n - 1000:]
    out["compressed_truncated"] = compressed[: len(compressed) * 2 // 3]
    out["compressed_truncated_early"] = compressed[: len(compressed) // 5]
    bad = bytearray(compressed)
    bad[len(bad) // 2: len(bad) // 2 + 2000] = os.urandom(2000)
    out["compressed_block_garbage"] = bytes(bad)
    return out


# ----------------------------------------------------------------- other formats
def write_text(path: Path, lines=()):
    path.write_text("\n".join([SECRET, *lines]) + "\n")
    return path


def make_fifo(path: Path):
    os.mkfifo(path)
    return path


def npy_header_with_shape(path: Path, shape, dtype="<u2"):
    """A .npy whose header declares ``shape`` over a few bytes of data."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    return path


def rpl_pair(folder: Path, name: str, *, width=8, height=6, depth=32, raw_bytes=None, raw_fifo=False):
    """A Ripple ``.rpl`` header and its ``.raw`` (uint16, little endian)."""
    rpl = folder / f"{name}.rpl"
    rpl.write_text("\n".join([
        "key\tvalue", f"width\t{width}", f"height\t{height}", f"depth\t{depth}", "offset\t0",
        "data-length\t2", "data-type\tunsigned", "byte-order\tlittle-endian", "record-by\tvector",
        "ev-per-chan\t10", "depth-scale\t0.01", "depth-origin\t0", "depth-units\tkeV",
    ]) + "\n")
    raw = folder / f"{name}.raw"
    if raw_fifo:
        os.mkfifo(raw)
    elif raw_bytes is not None:
        raw.write_bytes(raw_bytes)
    return rpl


def zspy_chunks(path: Path):
    """The chunk files of the data array of a ``.zspy`` written by phaselib.save."""
    return sorted(p for p in path.glob("Experiments/*/data/**/*") if p.is_file() and not p.name.startswith("."))


def digest(path: Path):
    """A fingerprint of a file or a folder (names, sizes, contents) to show it was not modified."""
    import hashlib

    h = hashlib.sha256()
    paths = [path] if not path.is_dir() else sorted(p for p in path.rglob("*"))
    for p in paths:
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(path.parent)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
