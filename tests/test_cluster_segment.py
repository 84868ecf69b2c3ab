import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib import cluster, segment
from phaselib.decompose import pca


@pytest.fixture(scope="module")
def features(rock):
    dec = pca(rock.image, n_components=12)
    return dec.features(dec.suggested_n_components)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "fcm"])
def test_clustering_recovers_phases(rock, features, method):
    res = cluster.cluster(features, rock.n_phases, method=method)
    assert res.n_clusters == rock.n_phases
    assert adjusted_rand_score(rock.labels.ravel(), res.labels) > 0.97
    if method != "kmeans":
        assert res.memberships.shape == (rock.image.n_pixels, rock.n_phases)
        np.testing.assert_allclose(res.memberships.sum(1), 1, atol=1e-4)


def test_canonical_order_is_stable(rock, features):
    a = cluster.kmeans(features, rock.n_phases, random_state=0)
    b = cluster.kmeans(features[::-1], rock.n_phases, random_state=7)
    # same data (pixels reversed), another seed: the same label numbers
    np.testing.assert_array_equal(a.labels, b.labels[::-1])
    sizes = np.bincount(a.labels)
    assert np.all(np.diff(sizes) <= 0)  # phase 0 is the most abundant
    g = cluster.gmm(features, rock.n_phases, random_state=1)
    assert adjusted_rand_score(a.labels, g.labels) > 0.97
    assert (a.labels == g.labels).mean() > 0.98  # same numbering across methods


def test_fuzzy_threshold_leaves_mixed_pixels_unassigned(features, rock):
    strict = cluster.fuzzy_cmeans(features, rock.n_phases, threshold=0.99)
    loose = cluster.fuzzy_cmeans(features, rock.n_phases, threshold=0.5)
    assert strict.unassigned_fraction > loose.unassigned_fraction
    assert 0 <= loose.unassigned_fraction < 0.02
    assert 0 < loose.score["fpc"] <= 1
    u = strict.memberships.reshape(*rock.labels.shape, -1)
    labels, frac = segment.labels_from_memberships(u, 0.99)
    np.testing.assert_array_equal(labels.ravel(), strict.labels)
    assert frac == pytest.approx(strict.unassigned_fraction)


def test_estimate_n_clusters(features, rock):
    est = cluster.estimate_n_clusters(features, range(2, 10), criteria=("silhouette", "bic", "elbow", "fpc"))
    assert set(est.best) == {"silhouette", "bic", "elbow", "fpc"}
    assert est.best["bic"] == rock.n_phases
    assert est.best["fpc"] == rock.n_phases
    assert abs(est.best["elbow"] - rock.n_phases) <= 1
    # silhouette favours splitting off the most distinct phase (magnetite) alone, but
    # the true number is a local maximum of it
    sil = dict(zip(est.k, est.scores["silhouette"]))
    assert sil[rock.n_phases] > max(sil[rock.n_phases - 1], sil[rock.n_phases + 1])
    assert len(est.scores["elbow"]) == 8 and np.all(np.diff(est.scores["elbow"]) < 0)


def test_cluster_errors(features):
    with pytest.raises(ValueError, match="Unknown clustering method"):
        cluster.cluster(features, 3, method="dbscan")
    with pytest.raises(ValueError, match="`n_clusters` must be an integer in \\[1, "):
        cluster.kmeans(features, 0)
    with pytest.raises(ValueError, match="NaN"):
        cluster.kmeans(np.full((10, 2), np.nan), 2)
    with pytest.raises(ValueError, match="`m` must be a number in \\(1, 100\\]"):
        cluster.fuzzy_cmeans(features, 3, m=1)


def test_otsu_masks_and_labels():
    rng = np.random.default_rng(0)
    truth = np.zeros((60, 80), int)
    truth[:, 40:] = 1
    truth[20:30, 10:20] = 2
    maps = np.stack([(truth == p) + rng.normal(0, 0.1, truth.shape) for p in range(3)], -1)
    th = segment.otsu_thresholds(maps)
    assert np.all((th > 0.3) & (th < 0.7))
    labels = segment.labels_from_masks(segment.masks_from_maps(maps, th, min_size=20))
    assert (labels == truth).mean() > 0.99
    # an override moves one threshold only
    th2 = segment.otsu_thresholds(maps, overrides={1: 0.9})
    assert th2[1] == 0.9 and th2[0] == th[0]
    # pixels claimed by two masks or none are unassigned
    masks = np.zeros((2, 2, 2), bool)
    masks[0, 0] = [True, True]
    masks[0, 1] = [True, False]
    np.testing.assert_array_equal(segment.labels_from_masks(masks), [[-1, 0], [-1, -1]])


def test_clean_mask_removes_specks_and_fills_holes():
    m = np.zeros((40, 40), bool)
    m[5:25, 5:25] = True
    m[10, 10] = False  # a one-pixel hole
    m[35, 35] = True  # a one-pixel speck
    out = segment.clean_mask(m, min_size=5)
    assert out[10, 10] and not out[35, 35]
    assert out.sum() == 400


def test_segment_errors():
    with pytest.raises(ValueError, match="`maps` must be a 3-D array"):
        segment.otsu_thresholds(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="overrides name components"):
        segment.otsu_thresholds(np.random.rand(4, 4, 2), overrides={5: 0.1})
    with pytest.raises(ValueError, match="thresholds must have shape"):
        segment.masks_from_maps(np.random.rand(4, 4, 2), [0.5])
    with pytest.raises(ValueError, match="`threshold` must be a number in \\(0, 1\\]"):
        segment.labels_from_memberships(np.random.rand(4, 4, 2), 0)


def test_clean_labels_removes_specks_per_phase():
    from phaselib.segment import clean_labels

    labels = np.zeros((20, 20), np.int16)
    labels[:, 10:] = 1
    labels[5, 5] = 1  # a one-pixel speck of phase 1 inside phase 0
    labels[12:15, 2:5] = 2  # a 9-pixel grain of phase 2
    out = clean_labels(labels, min_size=4)
    assert out[5, 5] == 0  # the speck is a hole of phase 0, filled; its own object removed
    assert (out[12:15, 2:5] == 2).all() and (out[:, 10:] == 1).all()
    assert np.array_equal(clean_labels(labels, 0), labels)
    out = clean_labels(labels, min_size=10)
    assert (out[12:15, 2:5] == 0).all()  # the grain of 9 pixels goes; phase 0 fills its hole
    with pytest.raises(ValueError, match="`min_size` must be an integer >= 0"):
        clean_labels(labels, -1)
    with pytest.raises(ValueError, match="`labels` must be a 2-D array"):
        clean_labels(labels[0], 2)
