"""Block-wise, lazy, sampled and Dask-cluster runs against the in-memory run."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from phaselib import load, save
from phaselib.pipeline import map_phases


@pytest.fixture(scope="module")
def reference(rock):
    return map_phases(rock.image)


def _same(a, b, *, rtol=1e-6):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.spectra.sums, b.spectra.sums, rtol=rtol)
    np.testing.assert_allclose(a.fractions, b.fractions)


def test_blockwise_and_lazy_equal_in_memory(rock, reference, tmp_path):
    da = pytest.importorskip("dask.array")
    # small row blocks
    _same(map_phases(rock.image, block_rows=5), reference)
    # a lazy dask map with odd chunks
    lazy = rock.image.replace(data=da.from_array(np.asarray(rock.image.data), chunks=(13, 40, -1)))
    _same(map_phases(lazy, block_rows=9), reference)
    # a .zspy file read lazily and a memory-mapped .npy
    path = save(rock.image, tmp_path / "rock.zspy", chunks=(16, 160, 2048))
    _same(map_phases(load(path, lazy=True)), reference)
    path = save(rock.image, tmp_path / "rock.npy")
    npy = load(path, energy_offset=rock.image.energy_offset, energy_scale=rock.image.energy_scale,
               beam_energy=rock.image.beam_energy)
    _same(map_phases(npy), reference)


@pytest.mark.parametrize("method", ["pca-kmeans", "nmf-otsu"])
def test_sampled_fit_streams_all_pixels(rock, method):
    """Fitting on a third of the rows, then projecting every pixel, still finds the truth."""
    res = map_phases(rock.image, method=method, sample_pixels=rock.image.n_pixels // 3, block_rows=8)
    assert res.decomposition.params["sample_fraction"] < 0.5
    assert res.labels.shape == rock.labels.shape
    assert adjusted_rand_score(rock.labels.ravel(), res.labels.ravel()) > 0.95
    assert res.n_phases == rock.n_phases


def test_local_dask_cluster_equals_local_run(rock, tmp_path):
    distributed = pytest.importorskip("distributed")
    path = save(rock.image, tmp_path / "rock.zspy", chunks=(16, 160, 2048))
    image = load(path, lazy=True)
    kw = dict(sample_pixels=rock.image.n_pixels // 2, block_rows=16)
    local = map_phases(image, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = map_phases(image, client=client, **kw)
        npy = save(rock.image, tmp_path / "rock.npy")
        mm = load(npy, energy_offset=image.energy_offset, energy_scale=image.energy_scale,
                  beam_energy=image.beam_energy)
        remote_npy = map_phases(mm, client=client, **kw)
    _same(remote, local, rtol=1e-5)
    _same(remote_npy, local, rtol=1e-5)
    np.testing.assert_allclose(remote.decomposition.loadings, local.decomposition.loadings, rtol=1e-4, atol=1e-3)


def test_precompute_and_reload(rock, tmp_path):
    from phaselib.results import load_results, precompute

    path = precompute(rock.image, tmp_path / "res.npz", methods=("pca-kmeans", "fuzzy-cmeans"))
    res = load_results(path)
    assert set(res.methods) == {"pca-kmeans", "fuzzy-cmeans"}
    direct = map_phases(rock.image)
    np.testing.assert_array_equal(res.methods["pca-kmeans"].labels, direct.labels)
    np.testing.assert_allclose(res.methods["pca-kmeans"].mean_spectra, direct.spectra.means, rtol=1e-5)
    np.testing.assert_allclose(res.sum_spectrum, np.asarray(rock.image.data).sum(axis=(0, 1)))
    assert res.loadings.dtype == np.float16 and res.loadings.shape[:2] == rock.labels.shape
    assert res.suggested_n_components == rock.n_phases
    assert res.loadings.shape[2] == rock.n_phases + 2
    # small enough to ship: far below the raw map
    assert path.stat().st_size < 0.1 * np.asarray(rock.image.data).nbytes
    with pytest.raises(FileExistsError):
        precompute(rock.image, path)
    with pytest.raises(ValueError, match="Unknown method"):
        precompute(rock.image, tmp_path / "x.npz", methods=("magic",))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a phaselib results file"):
        load_results(tmp_path / "junk.npz")


def test_big_blocks_wait_in_small_numbers_and_project_piecewise(monkeypatch):
    from phaselib._stream import _blocks
    from phaselib.decompose import _pca

    # a 119 MB block (16 rows of a 1820 x 2048 map): one waiting per worker, no more; small ones: two each
    assert _blocks.in_flight(16 * 1820 * 2048 * 2, 2) == 2
    assert _blocks.in_flight(8 * 2**20, 2) == 4 and _blocks.in_flight(8 * 2**20, 1) == 2
    rng = np.random.default_rng(0)
    block = rng.poisson(0.2, (5, 7, 64)).astype(np.uint16)
    vw = rng.normal(size=(60, 3)).astype(np.float32)
    whole = _pca._project_block(0, 5, block, channels=slice(2, 62), vw=vw, poisson=True)
    monkeypatch.setattr(_pca, "PIECE_BYTES", 4 * 60 * 4)  # four pixels at a time
    pieces = _pca._project_block(0, 5, block, channels=slice(2, 62), vw=vw, poisson=True)
    flat = block.reshape(-1, 64)[:, 2:62].astype(np.float64)
    g = flat.sum(1)
    expected = (flat @ vw) / np.sqrt(np.where(g > 0, g, 1))[:, None]
    for g_out, s_out in (whole, pieces):
        np.testing.assert_array_equal(g_out, g)
        np.testing.assert_allclose(s_out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.int16, np.float32])
def test_phase_sums_piece_by_piece_are_exact(monkeypatch, dtype):
    """Phase sums are taken a few pixels at a time (bounded copies), in uint32 where it cannot
    overflow: they equal the sums of each phase's pixels, unassigned pixels and labels past K
    only in the total."""
    from phaselib.quantify import _spectra

    rng = np.random.default_rng(1)
    low, high = {np.uint16: (0, 60000), np.int16: (-30000, 30000)}.get(dtype, (0, 250))
    block = rng.integers(low, high, size=(7, 33, 40)).astype(dtype)
    labels = rng.integers(-1, 6, size=(7, 33))  # -1 unassigned, 5 beyond n_phases=5
    monkeypatch.setattr(_spectra, "SUM_PIECE_BYTES", 5 * 40 * block.itemsize)  # 5 pixels a piece
    got = _spectra._sum_block(0, 7, block, labels=labels, n_phases=5)
    flat, lab = block.reshape(-1, 40).astype(np.float64), labels.ravel()
    want = np.array([flat[lab == p].sum(0) for p in range(5)] + [flat.sum(0)])
    np.testing.assert_array_equal(got, want)


def test_rows_of_a_zspy_are_read_once_not_copied(rock, tmp_path):
    """A block that is one chunk of a .zspy read by phaselib is the decompressor's array, not
    dask's copy of it (a full map's 114 MB blocks were held twice while read); any other block,
    and any other dask array, still comes from ``compute()``: equal data, never a view of the source."""
    import tracemalloc

    import dask.array as da

    from phaselib._stream._blocks import _block_reader

    whole = np.asarray(rock.image.data)
    image = load(save(rock.image, tmp_path / "rows.zspy", chunks=(16, *whole.shape[1:])), lazy=True)
    read = _block_reader(image.data)
    block_bytes = 16 * whole.shape[1] * whole.shape[2] * whole.itemsize
    read(0, 16)  # warm up (imports, zarr metadata)
    tracemalloc.start()
    try:
        got = read(16, 32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, whole[16:32])
    assert peak < 1.5 * block_bytes  # dask's compute(): ~2 blocks
    np.testing.assert_array_equal(read(10, 40), whole[10:40])  # across chunks: compute()
    plain = da.from_array(whole, chunks=(16, -1, -1))
    rows = _block_reader(plain)(16, 32)
    np.testing.assert_array_equal(rows, whole[16:32])
    assert not np.shares_memory(rows, whole)
