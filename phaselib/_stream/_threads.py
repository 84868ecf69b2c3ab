"""Threads for the passes over a map: how many, and BLAS kept to one thread inside them."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os


def single_threaded_blas():
    """Context in which BLAS runs on one thread: our worker threads already use the
    cores, and OpenBLAS threads on top of them thrash a busy machine."""
    controller = _controller()
    if controller is None:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _controller():
    """One ThreadpoolController per process: making one loads every linked library (7 ms), which
    ``threadpool_limits`` did at each pass over the map (0.25 s of a 0.8 s classification)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def n_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))


@functools.lru_cache(maxsize=1)
def _libc_trim():
    """glibc's ``malloc_trim``, or None (another C library, or none found)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory():
    """Hand the memory freed by a pass back to the system (glibc keeps freed blocks of its worker threads'
    heaps: ~200 MB after a PCA pass over a full map). Nothing where ``malloc_trim`` does not exist."""
    trim = _libc_trim()
    if trim is not None:
        trim(0)
