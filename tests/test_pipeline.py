import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import P45, match_phases
from sklearn.metrics import adjusted_rand_score

from phaselib import quantify
from phaselib.pipeline import METHODS, map_phases

# accuracy each method family must reach on a 200 counts/pixel synthetic rock
MIN_ARI = {"pca-kmeans": 0.98, "gmm": 0.98, "fuzzy-cmeans": 0.95, "nmf-otsu": 0.95}


@pytest.mark.parametrize("method", METHODS)
def test_methods_recover_truth(rock, method):
    pm = map_phases(rock.image, method=method)
    assert pm.n_phases == rock.n_phases  # found automatically
    assert adjusted_rand_score(rock.labels.ravel(), pm.labels.ravel()) >= MIN_ARI[method]
    match = match_phases(rock.labels, pm.labels, rock.n_phases, pm.n_phases)
    # modal fractions within 1 % absolute (2 % where mixed pixels are left unassigned)
    tol = 0.01 if method in ("pca-kmeans", "gmm") else 0.02
    for found, true in match.items():
        assert abs(pm.fractions[found] - rock.fractions[true]) <= tol
        # phase mean spectra match the true phase spectra
        r = np.corrcoef(pm.spectra.means[found], rock.phase_spectra[true])[0, 1]
        assert r > 0.99
    assert pm.unassigned_fraction + pm.fractions.sum() == pytest.approx(1)


def test_default_method_fractions_within_one_percent(rock):
    pm = map_phases(rock.image)
    match = match_phases(rock.labels, pm.labels, rock.n_phases, pm.n_phases)
    err = [abs(pm.fractions[f] - rock.fractions[t]) for f, t in match.items()]
    assert max(err) < 0.01
    # the same data give the same label numbers on every run
    again = map_phases(rock.image)
    np.testing.assert_array_equal(pm.labels, again.labels)


def test_phase_spectra_blockwise_equal_direct(rock):
    labels = rock.labels.astype(np.int16).copy()
    labels[:5] = -1
    ps = quantify.phase_spectra(rock.image, labels, rock.n_phases, block_rows=7)
    data = np.asarray(rock.image.data)
    for p in range(rock.n_phases):
        np.testing.assert_array_equal(ps.sums[p], data[labels == p].sum(0))
    assert ps.n_pixels.sum() == (labels >= 0).sum()
    fr, un = quantify.modal_fractions(labels, rock.n_phases)
    assert un == pytest.approx(5 * labels.shape[1] / labels.size)


def test_identify_lines_on_true_spectra(rock):
    names = list(rock.phase_names)
    e = rock.image.energy_keV
    found = {n: quantify.main_elements(quantify.identify_lines(1e6 * rock.phase_spectra[i], e, beam_energy=20))
             for i, n in enumerate(names)}
    assert set(found["quartz"]) == {"Si", "O"}
    assert {"K", "Al", "Si"} <= set(found["K-feldspar"])
    assert {"Ca", "P"} <= set(found["apatite"])
    assert found["magnetite"][0] == "Fe"


def _coherence(labels):
    """Share of 4-neighbour pairs with the same label, and the same for shuffled labels."""
    def same(lab):
        return np.mean(np.r_[(lab[1:] == lab[:-1]).ravel(), (lab[:, 1:] == lab[:, :-1]).ravel()])
    shuffled = np.random.default_rng(0).permutation(labels.ravel()).reshape(labels.shape)
    return same(labels), same(shuffled)


@pytest.mark.parametrize("method", METHODS)
def test_real_p45_map(p45, method):
    pm = map_phases(p45, method=method)
    assert 3 <= pm.n_phases <= 8
    coh, shuffled = _coherence(pm.labels)
    assert coh > shuffled + 0.15  # phases form grains, not salt-and-pepper
    elements = [set(quantify.main_elements(lines, 6)) for lines in pm.lines]
    # the dacite's phases: K-rich groundmass, Ca-Na plagioclase, a Mg-Fe mafic phase, apatite
    assert any({"K", "Si", "Al"} <= e for e in elements)
    assert any({"Ca", "Na", "Al"} <= e for e in elements)
    assert any({"Mg", "Fe"} <= e for e in elements)
    assert any({"Ca", "P"} <= e for e in elements)


def test_pipeline_errors(rock):
    with pytest.raises(ValueError, match="`method` must be one of 'pca-kmeans'"):
        map_phases(rock.image, method="magic")
    with pytest.raises(ValueError, match="`n_phases` must be an integer in \\[1, 64\\] or \"auto\", got -2"):
        map_phases(rock.image, n_phases=-2)
    with pytest.raises(TypeError, match="`n_phases` must be an integer in \\[1, 64\\] or \"auto\", got 2.5"):
        map_phases(rock.image, n_phases=2.5)
    with pytest.raises(TypeError, match="`image` must be a SpectrumImage"):
        map_phases(rock.image.data)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "phaselib", *map(str, args)], capture_output=True, text=True)


def test_cli_map_on_real_file(tmp_path):
    out = tmp_path / "res"
    proc = _cli("map", P45, "--out", out, "--quiet", "--crop", "0:60,10:90", "--n-phases", "4")
    assert proc.returncode == 0, proc.stderr
    labels = np.load(out / "labels.npy")
    assert labels.shape == (60, 80) and labels.min() >= -1 and labels.max() == 3
    spectra = np.load(out / "phase_spectra.npy")
    assert spectra.shape == (4, 2048)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["n_phases"] == 4 and summary["method"] == "pca-kmeans"
    # P45 holds ~100 counts/pixel: the spatial-prior path, chosen from a count estimate before any
    # full-resolution PCA (its PCA is that of the binned map the EM started from)
    assert summary["params"]["spatial_prior"] is True
    assert summary["peak_memory_mb"] > 0 and "count_estimate" in summary["timings_s"]
    assert "pca" not in summary["timings_s"] and "spatial_prior" in summary["timings_s"]
    rows = (out / "phases.csv").read_text().splitlines()
    assert rows[0] == "phase,fraction,n_pixels,main_elements,mineral" and len(rows) == 6
    assert rows[-1].startswith("unassigned,0.0,0,")
    # every phase named (P45: a feldspar or the glassy groundmass first), in the table and the summary
    assert all(r.split(",")[-1] for r in rows[1:-1])
    assert summary["minerals"][0]["best"] and summary["minerals"][0]["atomic_percent"]["Si"] > 15
    assert (out / "phase_map.png").stat().st_size > 1000


def test_cli_on_npy_with_methods(rock, tmp_path):
    path = tmp_path / "rock.npy"
    np.save(path, np.asarray(rock.image.data))
    out = tmp_path / "o"
    proc = _cli("map", path, "--out", out, "--quiet", "--method", "nmf-otsu", "--min-size", "3",
                "--energy-offset", rock.image.energy_offset, "--energy-scale", rock.image.energy_scale,
                "--beam-energy", 20, "--seed", 1)
    assert proc.returncode == 0, proc.stderr
    labels = np.load(out / "labels.npy")
    assert adjusted_rand_score(rock.labels.ravel(), labels.ravel()) > 0.95


@pytest.mark.parametrize("args, message", [
    (["map", "missing.bcf", "--out", "x"], "No such file"),
    (["map", "{tmp}/a.npy", "--out", "x"], "energy_offset and energy_scale"),
    (["map", "{tmp}/bad.bcf", "--out", "x"], "Could not read"),
    (["map", P45, "--out", "x", "--crop", "0:0,0:5"], "--crop: rows 0:0 are empty or outside the map"),
])
def test_cli_bad_input_one_line_error(tmp_path, args, message):
    np.save(tmp_path / "a.npy", np.zeros((3, 3, 10), np.uint16))
    (tmp_path / "bad.bcf").write_bytes(b"not a bcf")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    proc = _cli(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") <= 2


def test_results_print_as_short_summaries(rock):
    """A notebook cell ending in a result shows its phases, not screens of arrays."""
    from phaselib.classify import classify

    pm = map_phases(rock.image)
    text = repr(pm)
    assert "array(" not in text and len(text.splitlines()) == pm.n_phases + 1
    assert text.startswith("<PhaseMap 120 x 160 pixels, ")
    for row in pm.table()[:-1]:
        assert f"phase {row['phase']}: {100 * row['fraction']:5.1f} %  {row['main_elements']}" in text
        assert row["mineral"] and row["mineral"] in text
    assert repr(pm.decomposition).startswith("<Decomposition pca: ")
    assert f"in {pm.clustering.n_clusters} clusters" in repr(pm.clustering)
    labels = np.full(rock.labels.shape, -1)
    labels[::7, ::7] = rock.labels[::7, ::7]
    c = classify(rock.image, labels)
    assert "array(" not in repr(c) and f"{c.balanced_accuracy:.3f}" in repr(c)
    assert len(repr(c).splitlines()) == c.n_classes + 1
