"""``python -m phaselib convert MAP.bcf OUT.zspy``: a big ``.bcf`` to a row-chunked ``.zspy``."""

from __future__ import annotations

from ..io import bcf_to_zspy
from ._common import Parser, error_message, positive_int


def main(argv=None):
    """``python -m phaselib convert MAP.bcf OUT.zspy [--block-rows N] [--downsample D]
    [--cutoff-at-kV KV] [--dtype DTYPE] [--overwrite]``"""
    import resource
    import sys

    import numpy as np

    p = Parser(prog="python -m phaselib convert", description=(
        "Convert a Bruker .bcf once into a row-chunked .zspy, in bounded memory; "
        "then `python -m phaselib map OUT.zspy ...`."))
    p.add_argument("bcf")
    p.add_argument("out")
    p.add_argument("--block-rows", type=positive_int, default=16)
    p.add_argument("--downsample", type=positive_int, default=1)
    p.add_argument("--cutoff-at-kV", default=None,
                   help="keep channels up to this energy (kV), or 'auto' / 'zealous'")
    p.add_argument("--dtype", default=None, choices=("uint8", "uint16", "uint32", "uint64", "float32", "float64"))
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    cutoff = a.cutoff_at_kV
    if cutoff not in (None, "auto", "zealous"):
        try:
            cutoff = float(cutoff)
        except ValueError:
            p.error(f"--cutoff-at-kV wants a number, 'auto' or 'zealous', got {cutoff[:40]!r}")
        if not (np.isfinite(cutoff) and cutoff > 0):
            p.error(f"--cutoff-at-kV wants a positive number of kV, got {a.cutoff_at_kV[:40]!r}")

    def show(done, total):
        print(f"\r{done}/{total} rows", end="", file=sys.stderr, flush=True)

    try:
        out = bcf_to_zspy(a.bcf, a.out, block_rows=a.block_rows, downsample=a.downsample,
                          cutoff_at_kV=cutoff, dtype=a.dtype, overwrite=a.overwrite,
                          progress=None if a.quiet else show)
    except (OSError, ValueError, TypeError, MemoryError) as err:
        if not a.quiet:
            print(file=sys.stderr)
        text = (f"out of memory decoding {a.block_rows} rows at a time (try a smaller --block-rows, --downsample "
                "or --cutoff-at-kV)") if isinstance(err, MemoryError) else error_message(err)
        print(f"phaselib: error: {text}", file=sys.stderr)
        return 2  # (any other error: one line from python -m phaselib's own handler)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not a.quiet:
        print(file=sys.stderr)
    print(f"wrote {out} (peak memory {peak:.0f} MB)")
    return 0
