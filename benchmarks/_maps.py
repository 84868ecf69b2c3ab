"""The synthetic maps both sides read: their calibration, writing them once and reusing them, their truth.

A map is ``rock_HxW_cCOUNTS_sSEED.npy`` (uint16, H x W x 2048, written by
``phaselib.datasets.write_rock`` in a child process) next to its ``_truth.npz`` (true labels,
phase names, phase spectra, the options it was written with).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._measure import child_env
from benchmarks._paths import ROOT, WORK

# calibration of the synthetic maps (phaselib.datasets defaults)
ENERGY_OFFSET = -0.2  # keV
ENERGY_SCALE = 0.01  # keV per channel
BEAM_ENERGY = 20.0  # kV
N_PCA = 24  # components the PCA computes on both sides (phaselib's default max_components)
CHUNK_ROWS = 16  # rows per chunk of the lazy copies (.zspy, dask arrays over a .npy)


def parse_sizes(text, full=None):
    """Map sizes from the command line: ``HxW[,HxW...]``; with ``full``, the word 'full' stands for it."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if full is not None and part == "full":
            sizes.append(tuple(full))
            continue
        try:
            h, w = (int(v) for v in part.split("x"))
        except ValueError:
            words = "HxW or 'full'" if full is not None else "HxW"
            raise argparse.ArgumentTypeError(
                f"sizes are {words}, comma-separated, e.g. 200x300,256x256; got {text!r}") from None
        if h < 2 or w < 2:
            raise argparse.ArgumentTypeError(f"size {part!r} is too small")
        sizes.append((h, w))
    return sizes


def rock_path(folder, shape, counts, seed):
    h, w = shape
    return Path(folder) / f"rock_{h}x{w}_c{counts:g}_s{seed}.npy"


def truth_of(npy):
    """The ``_truth.npz`` next to a map."""
    return npy.with_name(npy.stem + "_truth.npz")


def write_rock_command(path, shape, counts, seed):
    """The command that writes a map and its truth (a child process: its memory is not ours)."""
    h, w = shape
    code = ("from phaselib.datasets import write_rock; "
            f"write_rock({str(path)!r}, ({h}, {w}), counts_per_pixel={counts!r}, seed={seed}, overwrite=True)")
    return [sys.executable, "-c", code]


def zspy_command(npy, zspy, width):
    """The command that copies a ``.npy`` map to a row-chunked ``.zspy`` (``phaselib.io.save``)."""
    code = ("import phaselib, phaselib.io; "
            f"img = phaselib.load({str(npy)!r}, energy_offset={ENERGY_OFFSET}, energy_scale={ENERGY_SCALE}, "
            f"beam_energy={BEAM_ENERGY}); "
            f"phaselib.io.save(img, {str(zspy)!r}, chunks=({CHUNK_ROWS}, {width}, 2048))")
    return [sys.executable, "-c", code]


def ensure_rock(shape, counts, seed, log=print):
    """The map in ``_work/`` (written the first time, reused afterwards): (map path, truth path)."""
    path = rock_path(WORK, shape, counts, seed)
    truth = truth_of(path)
    if path.exists() and truth.exists():
        return path, truth
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"writing {path.relative_to(ROOT)} ...")
    t = time.perf_counter()
    subprocess.run(write_rock_command(path, shape, counts, seed), check=True, env=child_env(), cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"  done in {time.perf_counter() - t:.1f} s")
    return path, truth


def read_truth(truth):
    """(true labels (H, W), number of phases) of a map's ``_truth.npz``."""
    import numpy as np

    with np.load(truth) as t:
        return t["labels"], int(len(t["phase_names"]))
