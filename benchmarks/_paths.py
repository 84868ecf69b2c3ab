"""Where things are: the repository root, the benchmarks' scratch folder and their results."""

from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "_work"  # maps, logs and outputs (git-ignored)
RESULTS = BENCH / "results"  # the JSON results (committed)
