"""``python -m phaselib convert MAP.bcf OUT.zspy``: a big ``.bcf`` to a row-chunked ``.zspy``."""

from __future__ import annotations

from ..io import bcf_to_zspy
from ._common import Parser, error_message, positive_int

#: --cutoff-at-kV taken: below 1 kV no line but C, N, O is left; far above any beam, a typing slip
CUTOFF_KV = (1.0, 1000.0)


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
        if not (np.isfinite(cutoff) and CUTOFF_KV[0] <= cutoff <= CUTOFF_KV[1]):
            p.error(f"--cutoff-at-kV wants a number of kV from {CUTOFF_KV[0]:g} to {CUTOFF_KV[1]:g}, got "
                    f"{a.cutoff_at_kV[:40]!r}")

    def show(done, total):
        print(f"\r{done}/{total} rows", end="", file=sys.stderr, flush=True)

    try:
        _check_against_map(a.bcf, a.downsample, cutoff)
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


def _check_against_map(bcf, downsample, cutoff):
    """--downsample and a --cutoff-at-kV in kV checked against the map's size and energy axis, read from the
    file's header (nothing decoded): a downsample beyond the map wrote a 1 x 1 map, a cutoff below the first
    channel only channels below 0 keV, one above the last channel only empty channels after it."""
    if downsample == 1 and not isinstance(cutoff, float):
        return
    import numpy as np

    from ..io._bcf import iter_bcf_rows

    rows = iter_bcf_rows(bcf)
    h, w, c = rows.shape
    if downsample > min(h, w):
        raise ValueError(f"--downsample must be at most {min(h, w)}, the map's smaller side ({h} x {w} pixels), "
                         f"got {downsample}.")
    if isinstance(cutoff, float):
        offset, scale = rows.calibration["energy_offset"], rows.calibration["energy_scale"]
        first = offset + scale  # (channel 0 ends there)
        top = max(offset + scale * c, rows.calibration["beam_energy"] or 0)
        if cutoff <= first:
            raise ValueError(f"--cutoff-at-kV must be above the map's first channel ({first:.3g} keV), got {cutoff:g}.")
        if cutoff > top:
            raise ValueError(f"--cutoff-at-kV must be at most {np.floor(top * 1000) / 1000:g} kV, the end of the map's "
                             f"channels or its beam energy (beyond, channels would be added empty), got {cutoff:g}.")
