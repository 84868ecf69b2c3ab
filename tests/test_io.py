import numpy as np
import pytest
from conftest import CHEVKINITE, zip_folder

import phaselib
from phaselib import SpectrumImage, load, save


def test_p45_loads_with_calibration(p45):
    assert p45.shape == (75, 100, 2048)
    assert p45.data.dtype == np.uint8
    assert p45.energy_scale == pytest.approx(0.010001, rel=1e-6)
    assert p45.energy_offset == pytest.approx(-0.472397, abs=1e-6)
    assert p45.beam_energy == 20.0
    assert p45.pixel_size == pytest.approx(8.7368, rel=1e-4)
    assert "Si" in p45.elements and "Fe" in p45.elements
    # counts/pixel as documented (~122), and the Si Ka peak sits at its channel
    assert 100 < p45.data.sum(-1).mean() < 140
    total = p45.data.sum(axis=(0, 1))
    assert abs(p45.energy_keV[np.argmax(total)] - 1.740) < 0.02


def test_chevkinite_loads(tmp_path):
    img = load(CHEVKINITE)
    assert img.shape == (30, 30, 2048) and img.data.dtype == np.uint16
    assert img.energy_scale == pytest.approx(0.009999, rel=1e-6)
    assert img.pixel_size == pytest.approx(1.6674, rel=1e-4)


@pytest.mark.parametrize("ext", [".hspy", ".zspy", ".npy"])
def test_roundtrip_formats(p45, tmp_path, ext):
    path = save(p45, tmp_path / f"map{ext}")
    kw = dict(energy_offset=p45.energy_offset, energy_scale=p45.energy_scale) if ext == ".npy" else {}
    back = load(path, **kw)
    np.testing.assert_array_equal(np.asarray(back.data), p45.data)
    assert back.energy_offset == pytest.approx(p45.energy_offset)
    assert back.energy_scale == pytest.approx(p45.energy_scale)
    if ext != ".npy":
        assert back.beam_energy == 20.0
        assert back.pixel_size == pytest.approx(p45.pixel_size)
    lazy = load(path, lazy=True, **kw)
    assert lazy.shape == p45.shape
    assert lazy.is_lazy == (ext != ".npy")  # .npy is memory-mapped instead
    np.testing.assert_array_equal(np.asarray(lazy.data[10:12]), p45.data[10:12])


def test_zipped_zspy_is_read_like_its_folder(p45, tmp_path, caplog):
    folder = save(p45, tmp_path / "map.zspy")
    zipped = zip_folder(folder, tmp_path / "zipped.zspy")
    for lazy in (None, True):
        back = load(zipped, lazy=lazy)
        np.testing.assert_array_equal(np.asarray(back.data), p45.data)
        assert back.energy_scale == pytest.approx(p45.energy_scale) and back.beam_energy == 20.0
    assert "not supported" not in caplog.text  # no warning about a read-only mode a zip cannot take


def test_rpl_and_msa(p45, tmp_path):
    from rsciio.ripple import file_writer

    from phaselib.io._formats import _signal_dict

    file_writer(str(tmp_path / "m.rpl"), _signal_dict(p45))
    back = load(tmp_path / "m.rpl")
    np.testing.assert_array_equal(back.data, p45.data)
    assert back.energy_scale == pytest.approx(p45.energy_scale, rel=1e-5)

    from phaselib.quantify import save_msa

    [path] = save_msa(p45.data.sum(axis=(0, 1))[None], p45.energy_offset, p45.energy_scale, tmp_path,
                      names=["sum"], beam_energy=20)
    spec = load(path)
    assert spec.shape == (1, 1, 2048)
    np.testing.assert_allclose(spec.data[0, 0], p45.data.sum(axis=(0, 1)))
    assert spec.energy_offset == pytest.approx(p45.energy_offset, abs=1e-5)


def test_save_refuses_to_overwrite(p45, tmp_path):
    path = save(p45, tmp_path / "m.npy")
    with pytest.raises(FileExistsError, match="exists"):
        save(p45, path)
    src = load(path, energy_offset=0, energy_scale=0.01)
    with pytest.raises(ValueError, match="Refusing to overwrite the input"):
        save(src, path, overwrite=True)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        load(tmp_path / "missing.bcf")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported extension '.txt'"):
        load(tmp_path / "notes.txt")
    (tmp_path / "View000.pts").write_bytes(b"\x00" * 100)  # another vendor's map: where to go from here
    with pytest.raises(ValueError, match=r"'.pts'.*HyperSpy reads JEOL maps: .*phaselib.load\(hyperspy.api.load"):
        load(tmp_path / "View000.pts")
    (tmp_path / "broken.bcf").write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match="Could not read 'broken.bcf': not a Bruker .bcf file"):
        load(tmp_path / "broken.bcf")
    np.save(tmp_path / "a.npy", np.zeros((4, 4, 8), np.uint16))
    with pytest.raises(ValueError, match="energy_offset and energy_scale"):
        load(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.zeros((2, 2, 2, 2), np.uint16))
    with pytest.raises(ValueError, match=r"must be \(H, W, C\)"):
        load(tmp_path / "b.npy", energy_offset=0, energy_scale=0.01)


def test_spectrum_image_validation():
    with pytest.raises(ValueError, match=r"shape \(H, W, C\)"):
        SpectrumImage(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="empty"):
        SpectrumImage(np.zeros((0, 4, 5)))
    with pytest.raises(ValueError, match="energy_scale must be a positive"):
        SpectrumImage(np.zeros((2, 2, 5)), energy_scale=0)
    img = SpectrumImage(np.zeros((2, 3, 5), np.uint16), energy_offset=-0.1, energy_scale=0.02)
    np.testing.assert_allclose(img.energy_keV, -0.1 + 0.02 * np.arange(5))
    assert "2 x 3 px x 5 ch" in repr(img)
    assert phaselib.__version__
