"""Reporting: medians, number formatting, the command line, and the one writer of ``results/*.json``."""

from __future__ import annotations

import datetime as _dt
import json
import statistics
import sys
from pathlib import Path

from benchmarks._paths import RESULTS, ROOT


def median(values):
    """Median of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec=".2f", none="–"):
    return none if value is None else format(value, spec)


def command_line():
    """This run's command, as typed from the repository root (``python -m benchmarks.NAME ...``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    head = ["-m", spec.name] if spec is not None else sys.argv[:1]
    return " ".join([Path(sys.executable).name, *head, *sys.argv[1:]])


def write_results(payload, path=None, prefix=""):
    """Write ``payload`` as JSON to ``path``, or to ``results/<prefix><date>[-N].json`` (a free name)."""
    if path is None:
        stem = f"{prefix}{_dt.date.today().isoformat()}"
        path, i = RESULTS / f"{stem}.json", 2
        while path.exists():
            path, i = RESULTS / f"{stem}-{i}.json", i + 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path
