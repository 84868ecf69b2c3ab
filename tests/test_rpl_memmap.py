"""A Ripple .rpl/.raw map is memory-mapped read-only, as a .npy is (session 59: a 5.4 GB .rpl map was read
whole into memory, 10.4 GB peak RSS, where its .npy took 2.2 GB), and its values are the file's."""

import numpy as np
import pytest

import phaselib
from phaselib._atomic import memmap_source
from phaselib.datasets import make_rock


def _write_rpl(tmp_path, data, *, record_by="vector", order="<", offset=0):
    h, w, c = data.shape
    stored = data if record_by == "vector" else np.moveaxis(data, -1, 0)
    raw = tmp_path / "m.raw"
    raw.write_bytes(b"\0" * offset + np.ascontiguousarray(stored).astype(f"{order}u2").tobytes())
    endian = "little-endian" if order == "<" else "big-endian"
    head = dict(width=w, height=h, depth=c, offset=offset, **{"data-length": 2, "data-type": "unsigned",
                "byte-order": endian, "record-by": record_by, "depth-origin": -0.2, "depth-scale": 0.01,
                "depth-units": "keV", "ev-per-chan": 10, "beam-energy": 20, "signal": "EDS_SEM"})
    (tmp_path / "m.rpl").write_text("key\tvalue\n" + "".join(f"{k}\t{v}\n" for k, v in head.items()))
    return tmp_path / "m.rpl"


@pytest.fixture(scope="module")
def rock():
    return make_rock((24, 30), counts_per_pixel=200, seed=3, n_channels=512)


@pytest.mark.parametrize("order,offset", [("<", 0), (">", 64)])
def test_rpl_is_memory_mapped_and_exact(rock, tmp_path, order, offset):
    path = _write_rpl(tmp_path, rock.image.data, order=order, offset=offset)
    image = phaselib.load(path)
    assert str(memmap_source(image.data)) == str(path.with_suffix(".raw"))  # read from the file, not copied in
    assert not image.data.flags.writeable
    np.testing.assert_array_equal(image.data, rock.image.data)
    assert image.energy_offset == pytest.approx(-0.2) and image.energy_scale == pytest.approx(0.01)
    assert memmap_source(phaselib.load(path, lazy=False).data) is None  # --eager still reads it into memory
    assert phaselib.load(path, lazy=True).is_lazy


def test_rpl_by_image_is_read_as_before(rock, tmp_path):
    path = _write_rpl(tmp_path, rock.image.data, record_by="image")
    image = phaselib.load(path)
    assert memmap_source(image.data) is None  # not stored pixel by pixel: the reader's array
    np.testing.assert_array_equal(np.asarray(image.data), rock.image.data)


def test_rpl_map_equals_npy_map(rock, tmp_path):
    path = _write_rpl(tmp_path, rock.image.data)
    kw = dict(n_phases=rock.phase_spectra.shape[0], random_state=0, refine_phases=False, mixed_pixels=False,
              beam_spread=False, name_minerals=False, block_rows=5)  # row blocks read from the memory map
    from_rpl = phaselib.map_phases(phaselib.load(path), **kw)
    from_memory = phaselib.map_phases(rock.image, **kw)
    np.testing.assert_array_equal(from_rpl.labels, from_memory.labels)
    assert phaselib.compare.adjusted_rand(from_rpl.labels, rock.labels) > 0.95
