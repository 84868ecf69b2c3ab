"""Row-wise .bcf reading and the one-time .bcf -> chunked .zspy conversion."""

import hashlib

import numpy as np
import pytest
from conftest import CHEVKINITE, P45
from rsciio.bruker import file_reader

import phaselib
from phaselib._cli._convert import main
from phaselib.io import bcf_to_zspy, iter_bcf_rows

FILES = [P45, CHEVKINITE]
OPTIONS = [{}, {"downsample": 2}, {"cutoff_at_kV": 10}]


def _rsciio(path, **kw):
    return file_reader(str(path), select_type="spectrum_image", **kw)[0]["data"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.parametrize("path", FILES, ids=["P45", "chevkinite"])
@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "downsample2", "cutoff10"])
def test_row_blocks_equal_rsciio(path, options):
    ref = _rsciio(path, **options)
    for block_rows in (1, 7, 1000):
        rows = iter_bcf_rows(path, block_rows=block_rows, **options)
        assert rows.shape == ref.shape and rows.dtype == ref.dtype
        assert len(rows) == -(-ref.shape[0] // block_rows)
        blocks = list(rows)
        edges = [(r0, r1) for r0, r1, _ in blocks]
        assert edges[0][0] == 0 and edges[-1][1] == ref.shape[0]
        assert all(a[1] == b[0] for a, b in zip(edges, edges[1:]))
        for r0, r1, block in blocks:
            assert block.shape == (r1 - r0, *ref.shape[1:]) and block.dtype == ref.dtype
            np.testing.assert_array_equal(block, ref[r0:r1])


def test_pure_python_parser_path(monkeypatch):
    """Where RosettaSciIO's compiled parser is missing, its Python parser is driven the same way."""
    from rsciio.bruker import _api

    monkeypatch.setattr(_api, "fast_unbcf", False)
    monkeypatch.setattr(_api, "warn_once", False)
    ref = _rsciio(P45, downsample=2)
    out = np.concatenate([b for _, _, b in iter_bcf_rows(P45, block_rows=5, downsample=2)])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, ref)


def test_calibration_matches_load():
    for path in FILES:
        cal = iter_bcf_rows(path).calibration
        image = phaselib.load(path)
        for key, value in cal.items():
            assert value == getattr(image, key), key
        phaselib.SpectrumImage(np.zeros((1, 1, 4), np.uint8), **cal)  # usable as keyword arguments
    assert iter_bcf_rows(P45, downsample=2).calibration["pixel_size"] == pytest.approx(
        2 * phaselib.load(P45).pixel_size
    )


@pytest.mark.parametrize("path", FILES, ids=["P45", "chevkinite"])
def test_zspy_conversion(path, tmp_path):
    before = _digest(path)
    seen = []
    out = bcf_to_zspy(path, tmp_path / "map.zspy", block_rows=8,
                      progress=lambda done, total: seen.append((done, total)))
    assert out == tmp_path / "map.zspy" and out.is_dir()
    assert _digest(path) == before  # the input is only read
    assert [p.name for p in tmp_path.iterdir()] == ["map.zspy"]  # no partial folder left
    h = seen[-1][1]
    assert seen == [(min(r + 8, h), h) for r in range(0, h, 8)]

    ref = phaselib.load(path)
    lazy = phaselib.load(out, lazy=True)
    assert lazy.is_lazy and lazy.data.chunks[0][0] == 8
    assert lazy.data.chunks[1:] == ((ref.shape[1],), (ref.shape[2],))
    assert lazy.data.dtype == ref.data.dtype
    np.testing.assert_array_equal(lazy.data.compute(), ref.data)
    for key in ("energy_offset", "energy_scale", "beam_energy", "pixel_size", "pixel_size_y", "elements"):
        assert getattr(lazy, key) == getattr(ref, key), key
    assert lazy.metadata["original_metadata"]  # the .bcf's original metadata travel along


def test_zspy_with_reduction_equals_rsciio(tmp_path):
    options = {"downsample": 2, "cutoff_at_kV": 10}
    out = bcf_to_zspy(CHEVKINITE, tmp_path / "small.zspy", block_rows=4, **options)
    got = phaselib.load(out)
    np.testing.assert_array_equal(got.data, _rsciio(CHEVKINITE, **options))
    ref = phaselib.load(CHEVKINITE, **options)
    assert got.shape == ref.shape == (15, 15, 1047)
    assert got.pixel_size == ref.pixel_size and got.energy_scale == ref.energy_scale


def test_dtype(tmp_path):
    ref = _rsciio(P45)  # uint8
    rows = iter_bcf_rows(P45, block_rows=50, dtype=np.uint16)  # decoded straight into uint16
    assert rows.dtype == np.uint16
    np.testing.assert_array_equal(np.concatenate([b for _, _, b in rows]), ref)
    out = bcf_to_zspy(P45, tmp_path / "f.zspy", dtype="float32")
    assert phaselib.load(out).data.dtype == np.float32
    with pytest.raises(ValueError, match="do not fit uint8"):
        list(iter_bcf_rows(CHEVKINITE, dtype=np.uint8))  # counts up to 969


def test_refuses_to_overwrite(tmp_path):
    out = bcf_to_zspy(P45, tmp_path / "m.zspy", block_rows=40)
    stamp = (out / ".zgroup").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="overwrite=True"):
        bcf_to_zspy(P45, out)
    assert (out / ".zgroup").stat().st_mtime_ns == stamp
    bcf_to_zspy(CHEVKINITE, out, overwrite=True)
    assert phaselib.load(out).shape == (30, 30, 2048)

    other = tmp_path / "notes.zspy"  # a folder that is not a zarr store is never removed
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not a zarr store"):
        bcf_to_zspy(P45, other, overwrite=True)
    assert (other / "keep.txt").exists()

    with pytest.raises(ValueError, match=r"\.zspy"):
        bcf_to_zspy(P45, P45, overwrite=True)  # never the input
    with pytest.raises(ValueError, match=r"\.zspy"):
        bcf_to_zspy(P45, tmp_path / "m.hspy")


def test_failed_conversion_leaves_nothing(tmp_path):
    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bcf_to_zspy(P45, tmp_path / "m.zspy", block_rows=10, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_errors(tmp_path):
    text = tmp_path / "map.txt"
    text.write_text("not a map")
    with pytest.raises(ValueError, match="not a Bruker .bcf file"):
        iter_bcf_rows(text)
    with pytest.raises(ValueError, match="not a Bruker .bcf file"):
        bcf_to_zspy(text, tmp_path / "o.zspy")
    fake = tmp_path / "fake.bcf"
    fake.write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError, match="Could not read 'fake.bcf': not a Bruker .bcf file"):
        iter_bcf_rows(fake)
    with pytest.raises(FileNotFoundError):
        iter_bcf_rows(tmp_path / "missing.bcf")
    with pytest.raises(ValueError, match="block_rows"):
        iter_bcf_rows(P45, block_rows=0)
    with pytest.raises(TypeError, match="`downsample` must be an integer >= 1, got 1.5"):
        iter_bcf_rows(P45, downsample=1.5)
    with pytest.raises(ValueError, match="available indexes"):
        iter_bcf_rows(P45, index=3)
    assert sorted(tmp_path.iterdir()) == sorted([text, fake])  # nothing written


def test_command_line(tmp_path, capsys):
    assert main([str(CHEVKINITE), str(tmp_path / "c.zspy"), "--block-rows", "16",
                 "--cutoff-at-kV", "10", "--quiet"]) == 0
    assert "peak memory" in capsys.readouterr().out
    assert phaselib.load(tmp_path / "c.zspy").shape == (30, 30, 1047)
    assert main([str(CHEVKINITE), str(tmp_path / "c.zspy"), "--quiet"]) == 2
    assert "overwrite" in capsys.readouterr().err
