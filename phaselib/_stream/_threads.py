"""Threads for the passes over a map: how many, and BLAS kept to one thread inside them."""

from __future__ import annotations

import os


def single_threaded_blas():
    """Context in which BLAS runs on one thread: our worker threads already use the
    cores, and OpenBLAS threads on top of them thrash a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def n_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))
