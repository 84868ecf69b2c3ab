"""Maps whose values are counts times a factor (a live time, a gain): found, divided out, said."""

import json

import dask.array as da
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib import io, save
from phaselib.datasets import make_rich_rock, make_rock, sample_path
from phaselib.pipeline import map_phases
from phaselib.preprocess import as_counts, count_scale


@pytest.fixture(scope="module")
def rock():
    return make_rock((60, 80), counts_per_pixel=50, seed=1)


@pytest.mark.parametrize("factor", [1 / 1.7, 0.2, 12.5, 37.3])
def test_a_common_quantum_gives_the_counts_back_exactly(rock, factor):
    counts = np.asarray(rock.image.data)
    scaled = rock.image.replace(data=counts.astype(np.float32) * np.float32(factor))
    out, scale = as_counts(scaled)
    assert scale.how == "quantum" and scale.factor == pytest.approx(factor, rel=1e-5)
    assert out.data.dtype == np.uint16 and np.array_equal(out.data, counts)
    assert f"{scale.factor:.6g}" in scale.describe()
    assert np.asarray(scaled.data).max() > counts.max() or factor < 1  # the input is not modified


def test_integer_maps_times_a_gain_and_lazy_maps(rock):
    counts = np.asarray(rock.image.data)
    out, scale = as_counts(rock.image.replace(data=counts * np.uint16(7)))
    assert (scale.how, scale.factor) == ("quantum", 7.0) and out.data.dtype == np.uint16
    assert np.array_equal(out.data, counts)
    out, scale = as_counts(rock.image.replace(data=counts.astype(np.int64) * 10 ** 15))  # beyond float64's digits
    assert scale.factor == 1e15 and np.array_equal(out.data, counts)
    constant = rock.image.replace(data=np.full(counts.shape, 1e30, np.float32))  # no counts to tell a quantum by
    assert as_counts(constant)[1].how == "counts"
    lazy = rock.image.replace(data=da.from_array(counts.astype(np.float32) / 0.3, chunks=(16, 80, -1)))
    out, scale = as_counts(lazy)
    assert scale.how == "quantum" and out.is_lazy and np.array_equal(np.asarray(out.data), counts)


def test_counts_are_left_as_they_are(rock):
    counts = np.asarray(rock.image.data)
    for data in (counts, counts.astype(np.float32), counts.astype(np.float64) * 2 + (counts == 3)):
        image = rock.image.replace(data=data)
        out, scale = as_counts(image)
        assert out is image and scale.how == "counts" and scale.factor == 1 and scale.describe() == ""
    negative = rock.image.replace(data=counts.astype(np.float32) - 0.5)
    out, scale = as_counts(negative)
    assert out is negative and scale.how == "not counts"
    cube = rock.image.replace(data=counts / 3.0, signal="intensity")
    assert as_counts(cube)[0] is cube


def test_no_quantum_from_noise():
    rng = np.random.default_rng(1)
    assert count_scale(rng.random((40, 50, 300)).astype(np.float32)).how == "dispersion"
    assert count_scale(rng.normal(0, 1, (40, 50, 300))).how == "not counts"


@pytest.mark.parametrize("low, high", [(3.0, 4.0), (0.2, 0.25)])
def test_a_gain_per_pixel_is_divided_out_and_without_a_quantum_estimated(low, high):
    """Counts times a gain that changes from pixel to pixel (a live time per pixel): each pixel's values are
    multiples of its own quantum, and the counts come back exactly (dispersion alone: rich basalt at 200
    counts/px ARI 0.932 for 0.970 on its counts). With the values blurred by a little noise there is no quantum:
    neighbours differ as counts times the mean gain would (the median pair ratio, within 8 %)."""
    rock = make_rich_rock((100, 150), kind="basalt", counts_per_pixel=200, seed=5)
    counts = np.asarray(rock.image.data)
    rng = np.random.default_rng(0)
    gain = rng.uniform(low, high, rock.labels.shape).astype(np.float32)[..., None]
    out, scale = as_counts(rock.image.replace(data=counts.astype(np.float32) * gain))
    assert scale.how == "pixel quantum" and np.array_equal(out.data, counts) and "own quantum" in scale.describe()
    assert scale.factor == pytest.approx((low + high) / 2, rel=0.05)  # the median pixel's gain
    doubled = counts.astype(np.int64)  # pixels whose smallest count is 2 are not halved
    doubled[:10] = doubled[:10] * 2 + 3 * (np.arange(counts.shape[-1]) == 500)
    out, scale = as_counts(rock.image.replace(data=doubled.astype(np.float32) * gain))
    assert scale.how == "pixel quantum" and np.array_equal(out.data, doubled)
    noisy = counts * gain + rng.normal(0, 1e-3 * low, counts.shape).astype(np.float32) * (counts > 0)
    scale = count_scale(noisy)
    assert scale.how == "dispersion" and scale.factor == pytest.approx((low + high) / 2, rel=0.08)


def test_map_phases_on_a_scaled_rock_finds_the_phases_of_its_counts():
    """Values x 37.3 used to read as 37 times the counts: the noise line kept too many components and the
    tests merged real phases (7 phases for 8, ARI 0.956 -> 0.554 on this rock)."""
    rock = make_rich_rock((100, 150), kind="dacite", counts_per_pixel=200, seed=2)
    base = map_phases(rock.image, name_minerals=False)
    scaled = map_phases(rock.image.replace(data=np.asarray(rock.image.data).astype(np.float32) * 37.3),
                        name_minerals=False)
    assert scaled.n_phases == base.n_phases and np.array_equal(scaled.labels, base.labels)
    assert scaled.params["count_scale"]["how"] == "quantum" and "count_scale" not in base.params
    valid = rock.labels >= 0
    assert adjusted_rand_score(rock.labels[valid], scaled.labels[valid]) > 0.93


def test_real_map_normalised_by_a_live_time_through_the_cli(tmp_path, capsys):
    """The real P45 map divided by a live time (floats), saved as .hspy, mapped by the CLI as its counts are."""
    from phaselib.__main__ import main

    full = io.load(sample_path("P45"))
    counts = np.asarray(full.data)
    base = map_phases(full, name_minerals=False)
    save(full.replace(data=counts.astype(np.float32) / np.float32(0.737)), tmp_path / "p45_per_second.hspy")
    main(["map", str(tmp_path / "p45_per_second.hspy"), "--out", str(tmp_path / "out"), "--no-minerals"])
    printed = capsys.readouterr().out
    assert "mapped as counts = values / 1.35685" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["params"]["count_scale"]["factor"] == pytest.approx(1 / 0.737, rel=1e-5)
    assert np.array_equal(np.load(tmp_path / "out" / "labels.npy"), base.labels)


def test_classify_and_the_page_read_counts(tmp_path, monkeypatch, rock):
    from phasedash.state import Session

    from phaselib.classify import classify, sample_labels

    counts = np.asarray(rock.image.data)
    painted = sample_labels(rock.labels, 20, random_state=1)
    base = classify(rock.image, painted)
    res = classify(rock.image.replace(data=counts.astype(np.float32) * 0.25), painted)
    assert np.array_equal(res.labels, base.labels) and res.params["count_scale"]["factor"] == 0.25
    for name in ("PHASEDASH_DATA_DIR", "PHASEDASH_EXPORT_DIR", "PHASEDASH_CACHE_DIR"):
        monkeypatch.setenv(name, str(tmp_path))
    save(rock.image.replace(data=counts.astype(np.float32) * 0.25), tmp_path / "scaled.hspy")
    s = Session()
    s.load("scaled.hspy")
    assert "values / 0.25" in s.count_note
    assert s.brightness.mean() == pytest.approx(counts.sum(-1).mean(), rel=1e-6)
