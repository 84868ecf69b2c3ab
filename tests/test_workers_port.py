"""`map --workers N` where port 8787 is taken (a notebook's Dask cluster, another run): the local cluster's HTTP
server moves to another port, which is no concern of the user's. It printed 'phaselib: warning: Port 8787 is already
in use. Perhaps you already have a cluster running? ...' and kept it in summary.json's warnings (session 59)."""

import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from phaselib.datasets import make_rock


def test_a_taken_dashboard_port_is_not_a_warning(tmp_path):
    pytest.importorskip("distributed")
    rock = make_rock((20, 24), counts_per_pixel=200, seed=2, n_channels=512)
    np.save(tmp_path / "m.npy", np.asarray(rock.image.data))
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:  # already taken by someone else: the case itself
        holder.close()
    try:
        r = subprocess.run([sys.executable, "-m", "phaselib", "map", str(tmp_path / "m.npy"), "--energy-offset",
                            "-0.2", "--energy-scale", "0.01", "--beam-energy", "20", "--n-phases", "3", "--workers",
                            "1", "--no-minerals", "--quiet", "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, timeout=240)
    finally:
        holder.close()
    assert r.returncode == 0, r.stderr
    assert "Port 8787" not in r.stderr and "warning" not in r.stderr, r.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["warnings"] == []
    labels = np.load(tmp_path / "o" / "labels.npy")
    from phaselib.compare import adjusted_rand
    assert adjusted_rand(labels, rock.labels) > 0.6  # the map itself was made
