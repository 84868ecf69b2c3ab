"""Tests of phaselib.datasets: synthetic rocks with ground truth."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import label, regionprops

from phaselib.datasets import (
    MINERALS,
    SyntheticRock,
    _minerals,
    load_rock,
    make_discs,
    make_rock,
    make_texture,
    phase_spectra,
    write_rock,
)

SMALL = dict(n_channels=1024, energy_scale=0.01, energy_offset=-0.2)


@pytest.fixture(scope="module")
def rock():
    return make_rock()  # 128 x 160, 200 counts/pixel, the default minerals


def _channel(rock_or_e, energy):
    e = rock_or_e.image.energy_keV if isinstance(rock_or_e, SyntheticRock) else rock_or_e
    return int(np.argmin(np.abs(e - energy)))


# ----------------------------------------------------------------- structure
def test_default_rock_structure(rock):
    h, w, c = rock.image.shape
    assert (h, w, c) == (128, 160, 2048)
    assert rock.image.data.dtype == np.uint16
    assert rock.labels.shape == (h, w) and rock.labels.dtype == np.int16
    assert rock.grain_ids.shape == (h, w) and rock.grain_ids.dtype == np.int32
    assert rock.phase_names == ("albite", "quartz", "K-feldspar", "biotite", "magnetite", "apatite")
    assert rock.phase_spectra.shape == (6, c) and rock.phase_spectra.dtype == np.float64
    np.testing.assert_allclose(rock.phase_spectra.sum(1), 1.0)
    assert set(rock.compositions) == set(rock.phase_names)
    assert rock.image.beam_energy == 20.0 and rock.image.energy_offset == -0.2
    assert {"O", "Na", "Si", "K", "Fe", "P"} <= set(rock.image.elements)
    assert "H" not in rock.image.elements  # biotite's OH has no detectable line
    assert "SyntheticRock" in repr(rock)


def test_labels_and_grains_are_consistent(rock):
    labels, ids = rock.labels, rock.grain_ids
    n = rock.n_grains
    assert ids.min() == 1 and np.array_equal(np.unique(ids), np.arange(1, n + 1))
    index = np.arange(1, n + 1)
    lo = ndimage.minimum(labels, ids, index)
    hi = ndimage.maximum(labels, ids, index)
    assert np.array_equal(lo, hi)  # each grain has one phase
    assert np.array_equal(rock.grain_phases[1:], lo)
    assert label(ids, connectivity=1, background=0).max() == n  # each grain is 4-connected
    # touching grains of the same phase are different grains
    same_phase = labels[:, 1:] == labels[:, :-1]
    assert np.any(same_phase & (ids[:, 1:] != ids[:, :-1]))
    f = rock.fractions
    assert f.shape == (6,) and np.isclose(f.sum(), 1.0) and np.all(f > 0)
    assert 0.3 < f[0] < 0.5 and f[0] == f.max()  # albite dominant
    assert np.all(f[4:] < 0.1) and np.all(f[4:] > 0.01)  # magnetite, apatite accessory


def test_texture_has_inclusions_and_groundmass(rock):
    sizes = np.bincount(rock.grain_ids.ravel())[1:]
    assert sizes.max() > 200 and (sizes <= 15).sum() > 100  # varied sizes, a fine matrix
    # inclusions: small grains entirely surrounded by one other grain
    enclosed = 0
    for g in np.flatnonzero(sizes <= 15) + 1:
        mask = rock.grain_ids == g
        ring = ndimage.binary_dilation(mask) & ~mask
        hosts = np.unique(rock.grain_ids[ring])
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            continue
        if hosts.size == 1 and sizes[hosts[0] - 1] > 50:
            enclosed += 1
            assert rock.grain_phases[g] in (4, 5)  # magnetite or apatite specks
    assert enclosed >= 5


def test_make_texture_options_and_big_map_speed():
    import time

    labels, ids = make_texture((64, 64), n_phases=3, fractions=[0.5, 0.3, 0.2], seed=2,
                               matrix_fraction=0, inclusion_density=0)
    assert set(np.unique(labels)) == {0, 1, 2}
    t = time.perf_counter()
    labels, ids = make_texture((600, 800), seed=1)
    assert time.perf_counter() - t < 10
    f = np.bincount(labels.ravel(), minlength=6) / labels.size
    target = 0.6 ** np.arange(6) / (0.6 ** np.arange(6)).sum()
    np.testing.assert_allclose(f, target, atol=0.03)
    assert ids.max() > 5000


# ----------------------------------------------------------------- counts
def test_make_discs():
    mask, ids = make_discs((120, 160), n_discs=30, radius=(5, 12), overlap=0.3, seed=4)
    assert mask.dtype == bool and ids.dtype == np.int32 and np.array_equal(mask, ids > 0)
    n = ids.max()
    assert 20 <= n <= 30 and np.unique(ids).size == n + 1  # ids 1..n, one piece each
    again = make_discs((120, 160), n_discs=30, radius=(5, 12), overlap=0.3, seed=4)[1]
    assert np.array_equal(ids, again) and not np.array_equal(ids, make_discs((120, 160), seed=5)[1])
    solidity = [r.solidity for r in regionprops(ids) if r.area >= 20]
    assert min(solidity) > 0.85  # every grain is a disc cut by straight power lines: convex
    touching = np.any((ids[1:] != ids[:-1]) & (ids[1:] > 0) & (ids[:-1] > 0))
    assert touching and make_discs((50, 50), overlap=0.0, n_discs=5, seed=1)[0].any()
    for kw, match in ((dict(n_discs=0), "n_discs"), (dict(radius=(5,)), "radius"),
                      (dict(radius=(9, 3)), "radius"), (dict(overlap=1.0), "overlap")):
        with pytest.raises(ValueError, match=match):
            make_discs((50, 50), **kw)


def test_deterministic_for_a_seed():
    a = make_rock((24, 40), seed=7, **SMALL)
    b = make_rock((24, 40), seed=7, **SMALL)
    c = make_rock((24, 40), seed=8, **SMALL)
    assert np.array_equal(a.image.data, b.image.data)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.grain_ids, b.grain_ids)
    assert not np.array_equal(a.image.data, c.image.data)


@pytest.mark.parametrize("cpp", [10.0, 200.0, 1000.0])
def test_counts_per_pixel(cpp):
    r = make_rock((48, 64), counts_per_pixel=cpp, seed=1, **SMALL)
    total = r.image.data.sum(-1, dtype=np.int64)
    assert abs(total.mean() / cpp - 1) < 0.02
    assert abs(r.intensity.mean() / cpp - 1) < 0.02
    # Poisson totals around a mildly varying intensity
    assert np.var(total - r.intensity) == pytest.approx(cpp, rel=0.1)


def test_sum_spectra_correlate_with_truth(rock):
    data = rock.image.data
    for k, name in enumerate(rock.phase_names):
        s = data[rock.labels == k].sum(0, dtype=np.int64).astype(float)
        r = np.corrcoef(s, rock.phase_spectra[k])[0, 1]
        assert r > 0.99, (name, r)
    # no counts where the spectra are zero (above the beam energy, below zero keV)
    zero = rock.phase_spectra.max(0) == 0
    assert zero.any() and data[..., zero].max() == 0


def test_write_rock_equals_make_rock(tmp_path):
    opts = dict(counts_per_pixel=50.0, seed=4, **SMALL)
    ref = make_rock((37, 30), **opts)
    for block_rows in (5, 64):
        path = tmp_path / f"rock{block_rows}.npy"
        r = write_rock(path, (37, 30), block_rows=block_rows, **opts)
        assert isinstance(r.image.data, np.memmap) and not r.image.data.flags.writeable
        assert np.array_equal(r.image.data, ref.image.data)
        assert np.array_equal(r.labels, ref.labels) and r.image.source == str(path)
        assert (tmp_path / f"rock{block_rows}_truth.npz").exists()
    again = load_rock(tmp_path / "rock5.npy")
    assert np.array_equal(again.image.data, ref.image.data)
    assert np.array_equal(again.grain_ids, ref.grain_ids)
    assert again.phase_names == ref.phase_names and again.compositions == ref.compositions
    np.testing.assert_array_equal(again.phase_spectra, ref.phase_spectra)
    assert again.image.elements == ref.image.elements
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_rock(tmp_path / "rock5.npy", (37, 30), **opts)
    write_rock(tmp_path / "rock5.npy", (37, 30), overwrite=True, **opts)


# ----------------------------------------------------------------- spectra
def test_peaks_at_expected_energies():
    e = -0.2 + 0.01 * np.arange(2048)
    names = ["quartz", "K-feldspar", "magnetite", "apatite", "calcite"]
    s = dict(zip(names, phase_spectra(names, energy_keV=e)))

    def peak(spec, energy, ratio=3.0):  # a local maximum well above the nearby background
        i = _channel(e, energy)
        top = i - 3 + int(np.argmax(spec[i - 3:i + 4]))
        return abs(e[top] - energy) <= 0.015 and spec[top] > ratio * min(spec[i - 30], spec[i + 30])

    assert abs(e[np.argmax(s["quartz"])] - 1.74) <= 0.015  # Si Ka is the main peak
    assert peak(s["quartz"], 0.525) and not peak(s["quartz"], 3.31, ratio=1.1)  # O, no K
    assert peak(s["K-feldspar"], 3.314) and peak(s["K-feldspar"], 1.487)  # K Ka, Al Ka
    assert peak(s["magnetite"], 6.404) and peak(s["magnetite"], 7.058)  # Fe Ka, Kb
    assert peak(s["apatite"], 2.013) and peak(s["apatite"], 3.692)  # P Ka, Ca Ka
    assert peak(s["calcite"], 3.692) and not peak(s["calcite"], 1.74, ratio=1.1)
    # background rolls off at low energy and stops at the beam energy
    assert np.all(s["quartz"][e > 20.0] == 0) and s["quartz"][_channel(e, 0.1)] < 1e-6
    # a 5 kV beam cannot excite Fe K (edge 7.1 keV)
    mag5 = phase_spectra(["magnetite"], energy_keV=e, beam_energy=5.0)[0]
    assert mag5[_channel(e, 6.4)] < 1e-7 and peak(mag5, 0.705)  # Fe La remains


def test_background_share_and_physics_against_exspy():
    e = -0.2 + 0.01 * np.arange(2048)
    shares = []
    for name in ["albite", "quartz", "K-feldspar", "biotite", "magnetite", "apatite"]:
        lines, bg = _minerals.spectrum(MINERALS[name], e, 20.0, 130.0)
        shares.append(bg.sum() / (lines.sum() + bg.sum()))
    assert 0.2 < np.mean(shares) < 0.4 and min(shares) > 0.15 and max(shares) < 0.55
    from exspy._misc.eds.utils import get_FWHM_at_Energy

    for energy in (1.0, 1.74, 5.9, 10.0):
        assert _minerals.fwhm_keV(130.0, energy) == pytest.approx(get_FWHM_at_Energy(130.0, energy))
    db = _minerals._exspy().elements
    for el, a in _minerals.ATOMIC_WEIGHTS.items():
        assert a == pytest.approx(db[el]["General_properties"]["atomic_weight"])


def test_minerals_table():
    for name in ["quartz", "albite", "K-feldspar", "orthoclase", "biotite", "augite",
                 "hornblende", "magnetite", "ilmenite", "apatite", "calcite", "olivine"]:
        assert sum(MINERALS[name].values()) == pytest.approx(1.0, abs=1e-5)
    assert MINERALS["quartz"] == pytest.approx({"Si": 0.467435, "O": 0.532565}, abs=1e-5)
    assert MINERALS["magnetite"]["Fe"] == pytest.approx(0.7236, abs=1e-4)


def test_custom_minerals_and_fractions():
    r = make_rock((40, 50), minerals=["Quartz", "calcite"], fractions=[0.7, 0.3],
                  counts_per_pixel=20, **SMALL)
    assert r.phase_names == ("quartz", "calcite")
    assert 0.55 < r.fractions[0] < 0.85
    r = make_rock((20, 20), minerals={"fayalite": {"Fe": 0.548, "Si": 0.138, "O": 0.314}},
                  counts_per_pixel=20, **SMALL)
    assert r.phase_names == ("fayalite",) and np.all(r.labels == 0)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=(0, 10)), "shape"),
    (dict(shape=(10,)), "shape"),
    (dict(shape="big"), "shape"),
    (dict(counts_per_pixel=0), "counts_per_pixel"),
    (dict(counts_per_pixel=float("nan")), "counts_per_pixel"),
    (dict(counts_per_pixel=1e9), "counts_per_pixel"),
    (dict(minerals=["quartz", "unobtainium"]), "Unknown mineral 'unobtainium'.*quartz, albite"),
    (dict(minerals=[]), "empty"),
    (dict(minerals=["quartz", "quartz"]), "only once"),
    (dict(minerals={"x": {"Si": -1}}), "composition"),
    (dict(minerals={"x": {"Qq": 1.0}}), "Unknown chemical element"),
    (dict(beam_energy=0), "beam_energy"),
    (dict(beam_energy=-5), "beam_energy"),
    (dict(energy_scale=0), "energy_scale"),
    (dict(n_channels=1), "n_channels"),
    (dict(energy_offset=30.0), "no counts"),
    (dict(energy_resolution_MnKa=0.13), "eV"),
    (dict(intensity_variation=1.5), "intensity_variation"),
    (dict(fractions=[0.5, 0.5]), "fractions"),
    (dict(seed=-1), "seed"),
    (dict(pixel_size=0), "pixel_size"),
    (dict(grain_size=1), "grain_size"),
    (dict(matrix_fraction=0.95), "matrix_fraction"),
])
def test_bad_inputs_raise_clear_errors(kwargs, match):
    kwargs = {"shape": (16, 16), **kwargs}
    with pytest.raises(ValueError, match=match):
        make_rock(**kwargs)


def test_bad_write_and_texture_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"\.npy"):
        write_rock(tmp_path / "rock.raw", (8, 8))
    with pytest.raises(ValueError, match="block_rows"):
        write_rock(tmp_path / "rock.npy", (8, 8), block_rows=0)
    with pytest.raises(ValueError, match="Unknown option"):
        write_rock(tmp_path / "rock.npy", (8, 8), count_per_pixel=3)
    with pytest.raises(ValueError, match="inclusion_phases"):
        make_texture((16, 16), n_phases=3, inclusion_phases=[5])
    with pytest.raises(ValueError, match="n_phases"):
        make_texture((16, 16), n_phases=0)
    with pytest.raises(ValueError, match="energy_keV"):
        phase_spectra(["quartz"], energy_keV=[1.0])
    with pytest.raises(FileNotFoundError):
        load_rock(tmp_path / "missing.npy")


# ----------------------------------------------------------------- rich rocks
E = -0.2 + 0.01 * np.arange(2048)
#: make_rock((32, 40), seed=1) before the rich-rock options existed: they must not change it
DEFAULT_32x40_SHA256 = "cd36f2d8b28d85af"


def _window(e, lo, hi):
    return (e >= lo) & (e <= hi)


def test_defaults_are_bit_identical_to_before():
    import hashlib

    r = make_rock((32, 40), seed=1)
    assert hashlib.sha256(r.image.data.tobytes()).hexdigest()[:16] == DEFAULT_32x40_SHA256
    assert int(r.image.data.sum(dtype=np.int64)) == 256783
    assert hashlib.sha256(r.labels.tobytes()).hexdigest()[:16] == "3e8a7eba7ea0c870"
    # options that do nothing here (no zoned mineral, zero strengths) leave the map alone
    same = make_rock((32, 40), seed=1, zoning=1.0, beam_spread=0.0, escape_peaks=0.0, sum_peaks=0.0)
    assert np.array_equal(same.image.data, r.image.data)


def test_glass_compositions_and_rims():
    from phaselib.datasets import GLASSES, RIMS

    for name in ("basaltic glass", "rhyolitic glass"):
        assert name in GLASSES and sum(MINERALS[name].values()) == pytest.approx(1.0, abs=1e-5)
    assert MINERALS["rhyolitic glass"]["Si"] > 0.35 > MINERALS["basaltic glass"]["Si"] > 0.2
    assert MINERALS["basaltic glass"]["Fe"] > 5 * MINERALS["rhyolitic glass"]["Fe"]
    rim = _minerals.RIM_COMPOSITIONS
    assert set(RIMS) == set(rim) >= {"labradorite", "olivine", "augite"}
    assert rim["labradorite"]["Ca"] < MINERALS["labradorite"]["Ca"]  # An60 -> An30
    assert rim["olivine"]["Fe"] > MINERALS["olivine"]["Fe"]  # Fo90 -> Fo75
    assert rim["augite"]["Fe"] > MINERALS["augite"]["Fe"]


def test_zoning_moves_cores_and_rims_apart():
    from phaselib.datasets import _mixing

    kw = dict(minerals=["labradorite", "quartz"], fractions=[0.6, 0.4], matrix_fraction=0.0,
              grain_size=24.0, counts_per_pixel=300, seed=3)
    flat, zoned = make_rock((96, 120), **kw), make_rock((96, 120), zoning=1.0, **kw)
    assert np.array_equal(flat.labels, zoned.labels) and np.array_equal(flat.grain_ids, zoned.grain_ids)
    np.testing.assert_array_equal(flat.phase_spectra, zoned.phase_spectra)  # the cores
    x = _mixing.zone_map(zoned.labels, zoned.grain_ids, [True, False], 1.0)
    plag = zoned.labels == 0
    assert x[~plag].max() == 0 and x[plag].min() >= 0 and x[plag].max() == pytest.approx(1.0)
    core, rim = plag & (x < 0.3), plag & (x > 0.8)
    assert core.sum() > 300 and rim.sum() > 300
    ca, na = _window(E, 3.6, 3.78), _window(E, 0.96, 1.12)

    def ca_na(rock, mask):
        s = rock.image.data[mask].sum(0, dtype=np.int64)
        return s[ca].sum() / s[na].sum()

    assert ca_na(zoned, core) > 1.4 * ca_na(zoned, rim)  # An60 cores, An30 rims
    assert ca_na(flat, core) == pytest.approx(ca_na(flat, rim), rel=0.1)
    rim_spec = phase_spectra({"rim": _minerals.RIM_COMPOSITIONS["labradorite"]}, energy_keV=E)[0]
    s = zoned.image.data[plag & (x > 0.95)].sum(0, dtype=np.int64)
    assert np.corrcoef(s, rim_spec)[0, 1] > np.corrcoef(s, zoned.phase_spectra[0])[0, 1]
    # the quartz is not zoned
    qz = ~plag & (zoned.grain_ids > 0)
    assert np.corrcoef(zoned.image.data[qz].sum(0, dtype=np.int64), zoned.phase_spectra[1])[0, 1] > 0.999


def test_beam_spread_mixes_boundary_pixels_only():
    labels = np.zeros((40, 40), np.int16)
    labels[:, 20:] = 1  # quartz | magnetite, one straight boundary
    texture = (labels, labels.astype(np.int32) + 1)
    kw = dict(minerals=["quartz", "magnetite"], counts_per_pixel=500, texture=texture, seed=2)
    sharp, spread = make_rock((40, 40), **kw), make_rock((40, 40), beam_spread=0.7, **kw)
    assert np.array_equal(spread.labels, labels)  # the truth stays each pixel's own phase
    fe = _window(E, 6.25, 6.55)

    def fe_share(rock, col):  # Fe Ka counts of a column / those of the magnetite interior
        d = rock.image.data[..., fe].sum(-1, dtype=np.int64)
        return d[:, col].mean() / d[:, 30:].mean()

    bg = fe_share(sharp, 10)  # quartz's own background under Fe Ka
    assert bg < 0.03 and fe_share(sharp, 19) == pytest.approx(bg, abs=0.01)
    step = ndimage.gaussian_filter1d(np.r_[np.zeros(20), np.ones(20)], 0.7, mode="nearest", truncate=4.0)
    expect = step + (1 - step) * bg
    assert fe_share(spread, 19) == pytest.approx(expect[19], rel=0.15)  # ~21 % of magnetite
    assert fe_share(spread, 20) == pytest.approx(expect[20], rel=0.1)
    assert fe_share(spread, 10) == pytest.approx(bg, abs=0.01)  # interiors: no Fe


def test_escape_and_sum_peaks_at_the_right_energies():
    mag0 = phase_spectra(["magnetite"], energy_keV=E)[0]
    mag = phase_spectra(["magnetite"], energy_keV=E, escape_peaks=0.015)[0]
    d = mag - mag0
    sel = _window(E, 3.5, 5.8)
    assert E[sel][np.argmax(d[sel])] == pytest.approx(6.404 - 1.740, abs=0.011)  # Fe Ka escape
    share = d[_window(E, 4.5, 4.8)].sum() / mag0[_window(E, 6.25, 6.55)].sum()
    assert 0.002 < share < 0.006  # 1.5 % * 1.839 / 6.404 = 0.43 %
    np.testing.assert_allclose(d[E < 1.839 - 1.740], 0, atol=1e-12)  # nothing escapes that far
    q0 = phase_spectra(["quartz"], energy_keV=E)[0]
    q = phase_spectra(["quartz"], energy_keV=E, sum_peaks=0.01)[0]
    d = q - q0
    sel = _window(E, 2.6, 5.0)
    assert E[sel][np.argmax(d[sel])] == pytest.approx(2 * 1.740, abs=0.011)  # Si Ka + Si Ka
    f = q0[_window(E, 1.6, 1.88)].sum()  # Si Ka's share of the counts
    assert d[_window(E, 3.3, 3.65)].sum() == pytest.approx(0.01 * f**2, rel=0.1)  # ~ its square
    # in a map: the sum peak of Si Ka stands above the background
    kw = dict(minerals=["quartz"], counts_per_pixel=1000, seed=1)
    plain, art = make_rock((30, 30), **kw), make_rock((30, 30), detector_artefacts=True, **kw)
    s0, s1 = (r.image.data.sum((0, 1), dtype=np.int64) for r in (plain, art))
    peak = _window(E, 3.43, 3.53)
    assert s1[peak].sum() > s0[peak].sum() + 8 * np.sqrt(s0[peak].sum())
    assert art.image.metadata["options"]["escape_peaks"] == 0.015


def test_background_has_absorption_edges_and_detector_efficiency():
    lines, bg = _minerals.spectrum(MINERALS["quartz"], E, 20.0, 130.0)
    below, above = bg[_channel(E, 1.80)], bg[_channel(E, 1.88)]
    assert below > 1.4 * above  # Si K edge at 1.839 keV: the background steps down
    assert bg[_channel(E, 0.50)] > 2 * bg[_channel(E, 0.56)]  # O K edge at 0.532 keV
    assert _minerals.detector_efficiency(0.3) < 0.5 < _minerals.detector_efficiency(5.0)


def test_glass_matrix_is_one_homogeneous_phase():
    kw = dict(minerals=["labradorite", "augite", "apatite", "basaltic glass"],
              fractions=[0.5, 0.2, 0.01, 0.29], counts_per_pixel=20, seed=5, **SMALL)
    r = make_rock((96, 120), glass="basaltic glass", **kw)
    glass = r.labels == 3
    assert r.fractions[3] == pytest.approx(0.29, abs=0.005)
    assert r.fractions[2] == pytest.approx(0.01, abs=0.005)  # the accessory keeps its size
    # no grains inside the glass: each connected pool is one grain
    assert np.unique(r.grain_ids[glass]).size == label(glass, connectivity=1).max()
    assert np.array_equal(np.unique(r.grain_ids), np.arange(1, r.n_grains + 1))
    assert np.array_equal(ndimage.minimum(r.labels, r.grain_ids, np.arange(1, r.n_grains + 1)),
                          ndimage.maximum(r.labels, r.grain_ids, np.arange(1, r.n_grains + 1)))
    # the crystals float in it: most big crystals touch the glass (a few touch only crystals)
    big = [g for g in range(1, r.n_grains + 1) if r.grain_phases[g] in (0, 1) and (r.grain_ids == g).sum() > 30]
    touching = [np.any(glass[ndimage.binary_dilation(r.grain_ids == g)]) for g in big]
    assert len(big) > 10 and np.mean(touching) > 0.75
    spectra = r.image.data[glass].sum(0, dtype=np.int64)
    assert np.corrcoef(spectra, r.phase_spectra[3])[0, 1] > 0.99
    without = make_rock((96, 120), **kw)  # a glass without the option is grains like any other
    assert np.unique(without.grain_ids[without.labels == 3]).size > np.unique(r.grain_ids[glass]).size


@pytest.mark.parametrize("seed, grain_size", [(0, 12.0), (1, 12.0), (2, 12.0), (0, 4.0), (1, 30.0)])
def test_tiny_phases_get_their_target_fraction(seed, grain_size):
    target = np.array([0.55, 0.2, 0.15, 0.07, 0.025, 0.004, 0.001])
    labels, _ = make_texture((200, 300), fractions=target, seed=seed, grain_size=grain_size,
                             exact_fractions=True)
    f = np.bincount(labels.ravel(), minlength=7) / labels.size
    assert (labels == 6).sum() >= 50  # 0.1 % of 60 000 px: ~60 px, there
    np.testing.assert_allclose(f[5:], target[5:], rtol=0.15)
    np.testing.assert_allclose(f[:5], target[:5], atol=0.02)
    assert f[0] > 0.5
    old, _ = make_texture((200, 300), fractions=target, seed=seed, grain_size=grain_size)
    assert not np.array_equal(old, labels)  # off (the default): the maps made before


@pytest.mark.parametrize("kind", ["basalt", "dacite", "granite"])
def test_rich_rock_presets(kind):
    from phaselib.datasets import make_rich_rock, rich_rock_options

    r = make_rich_rock((200, 300), kind=kind, counts_per_pixel=10, seed=1, n_channels=512,
                       energy_scale=0.04)
    opts = rich_rock_options(kind)
    assert list(r.phase_names) == opts["minerals"] and r.image.shape == (200, 300, 512)
    f = r.fractions
    assert f.max() > 0.5  # a dominant phase
    assert np.any((f >= 0.001) & (f <= 0.005))  # an accessory at 0.1-0.5 %
    target = np.array(opts["fractions"]) / np.sum(opts["fractions"])
    np.testing.assert_allclose(f[target < 0.01], target[target < 0.01], rtol=0.15)
    assert np.all(f > 0.0008)  # every phase there
    meta = r.image.metadata["options"]
    assert meta["zoning"] == 0.8 and meta["beam_spread"] == 0.7 and meta["detector_artefacts"]
    assert (meta["glass"] is None) == (kind == "granite")
    assert make_rich_rock((20, 30), kind=kind, zoning=0.0, counts_per_pixel=5, n_channels=64,
                          energy_scale=0.3).image.metadata["options"]["zoning"] == 0.0
    with pytest.raises(ValueError, match="`kind` must be one of 'basalt'"):
        make_rich_rock((20, 20), kind="gabbro")


def test_write_rock_equals_make_rock_with_the_new_options(tmp_path):
    from phaselib.datasets import rich_rock_options

    opts = dict(rich_rock_options("basalt"), counts_per_pixel=40.0, seed=4, beam_spread=1.3, **SMALL)
    ref = make_rock((37, 30), **opts)
    for block_rows in (5, 64):
        r = write_rock(tmp_path / f"rich{block_rows}.npy", (37, 30), block_rows=block_rows, **opts)
        assert np.array_equal(r.image.data, ref.image.data)
        assert np.array_equal(r.grain_ids, ref.grain_ids)
    again = load_rock(tmp_path / "rich5.npy")
    assert np.array_equal(again.image.data, ref.image.data)
    assert again.image.metadata["options"] == ref.image.metadata["options"]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(zoning=2), ValueError, r"`zoning` must be a number in \[0, 1\], got 2\."),
    (dict(zoning="strong"), TypeError, "`zoning` must be a number"),
    (dict(beam_spread=-1), ValueError, "`beam_spread`"),
    (dict(escape_peaks=0.5), ValueError, "`escape_peaks`"),
    (dict(sum_peaks=-0.1), ValueError, "`sum_peaks`"),
    (dict(detector_artefacts=1), TypeError, "`detector_artefacts` must be True or False"),
    (dict(glass="obsidian"), ValueError, "`glass` must be one of the minerals"),
    (dict(glass=3), TypeError, "`glass`"),
    (dict(texture=np.zeros((16, 16))), TypeError, "`texture`"),
    (dict(texture=(np.zeros((8, 8), int), np.ones((8, 8), int))), ValueError, "shape"),
    (dict(texture=(np.full((16, 16), 9), np.ones((16, 16), int))), ValueError, "phases 0..5"),
    (dict(exact_fractions="yes"), TypeError, "`exact_fractions` must be True or False"),
])
def test_bad_rich_options_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_rock((16, 16), **kwargs)
