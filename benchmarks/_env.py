"""The environment a result was measured in: machine, versions, BLAS threads, phaselib's source digest."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import sys

from benchmarks._paths import ROOT

DISTRIBUTIONS = ("phaselib", "hyperspy", "exspy", "rosettasciio", "numpy", "scipy", "scikit-learn", "dask",
                 "psutil")


def environment():
    """Date, machine, versions, BLAS libraries and threads, and :func:`source_digest` (a JSON-able dict)."""
    info = dict(
        date=_dt.datetime.now().isoformat(timespec="seconds"),
        python=sys.version.split()[0], platform=platform.platform(),
        cpu=cpu_model(), cpu_count=os.cpu_count(),
        cpu_affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    )
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info["versions"] = _versions()
    info["phaselib_source"] = source_digest()
    info["blas"] = _blas()
    info["env_threads"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                       "MKL_NUM_THREADS") if k in os.environ}
    return info


def _versions():
    from importlib import metadata

    versions = {}
    for dist in DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _blas():
    try:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info

        return [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
                for d in threadpool_info()]
    except Exception:  # pragma: no cover - informative only
        return None


def source_digest():
    """sha256 of phaselib's .py files, sub-packages included (the code benchmarked, whatever git says),
    and their newest mtime."""
    import hashlib

    package = ROOT / "phaselib"
    files = sorted(package.rglob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    newest = max((f.stat().st_mtime for f in files), default=0)
    return dict(sha256=h.hexdigest()[:16], newest_file_mtime=_dt.datetime.fromtimestamp(newest)
                .isoformat(timespec="seconds"), n_files=len(files))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.M)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def phaselib_kmeans_n_init():
    """Default ``n_init`` of ``phaselib.cluster.kmeans`` (HyperSpy's k-means gets the same)."""
    import inspect

    import phaselib.cluster

    return inspect.signature(phaselib.cluster.kmeans).parameters["n_init"].default


def print_environment(title, env, *, cpus="", machine=""):
    """The head of a benchmark's report: title, date, machine, versions, phaselib's source.

    ``cpus`` follows the CPU count and ``machine`` ends the machine line (what a benchmark adds).
    """
    print(f"# {title}\n")
    print(f"- date: {env['date']}")
    print(f"- machine: {env['cpu']}; {env['cpu_count']} CPUs{cpus}; {env.get('memory_gb', '?')} GiB RAM; "
          f"{env['platform']}; Python {env['python']}{machine}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    src = env["phaselib_source"]
    print(f"- phaselib source: sha256 {src['sha256']} of {src['n_files']} files (newest {src['newest_file_mtime']})")
