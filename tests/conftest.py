"""Shared fixtures: small synthetic rocks with ground truth, and the real maps."""

import os
from pathlib import Path

import pytest


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
