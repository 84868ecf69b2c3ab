"""Threads for the passes over a map: how many, and BLAS kept to one thread inside them."""

from __future__ import annotations

import contextlib
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
