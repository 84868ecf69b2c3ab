"""Shared fixtures: small synthetic rocks with ground truth, and the real maps."""

import os
from pathlib import Path

import pytest

# One BLAS/OpenMP thread in each test process and in the commands, kernels and servers it starts: the suite runs
# in two processes on two cores (scripts/test.sh: pytest -n 2), and BLAS threads on top of them thrash (a 300 x 400
# map_phases took 31-35 s beside one busy process, 10-13 s with one BLAS thread; 8 s either way on a quiet machine).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
try:  # the libraries loaded before this file (a plugin's numpy) read the variables already
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass
else:
    threadpool_limits(1)


def _shared_data():
    """``../shared/data`` from the project root (or $PHASELIB_SHARED_DATA)."""
    if os.environ.get("PHASELIB_SHARED_DATA"):
        return Path(os.environ["PHASELIB_SHARED_DATA"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


DATA = _shared_data()
P45 = DATA / "P45_12bit_packed_8bit.bcf"
CHEVKINITE = DATA / "chevkinite_30x30.bcf"


@pytest.fixture(scope="session")
def rock():
    """A 120 x 160 synthetic rock at 200 counts/pixel (6 minerals)."""
    from phaselib.datasets import make_rock

    return make_rock((120, 160), counts_per_pixel=200, seed=3)


@pytest.fixture(scope="session")
def p45():
    from phaselib import load

    return load(P45)


def match_phases(true_labels, labels, n_true, n_found):
    """Best one-to-one matching of found phases to true phases (:func:`phaselib.compare.phase_matching`).

    Returns
    -------
    dict found -> true
    """
    from phaselib.compare import phase_matching

    return phase_matching(labels, true_labels)


def zip_folder(folder, path):
    """``folder`` zipped as one file (a .zspy a user zipped to send or upload it)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return path
