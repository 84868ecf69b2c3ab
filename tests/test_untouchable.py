"""Inputs stay untouched and outputs look like any file the user makes; labels and counts that would be
misread are refused (cases found by a fuzz campaign, session 33)."""

import os

import numpy as np
import pytest
from _badfiles import cli_main, digest

import phaselib
from phaselib.datasets import make_rock

CAL = ["--energy-offset", "-0.2", "--energy-scale", "0.01", "--quiet"]


@pytest.fixture(scope="module")
def rock(tmp_path_factory):
    d = tmp_path_factory.mktemp("rock")
    r = make_rock((24, 30), counts_per_pixel=150, seed=1)
    np.save(d / "rock.npy", r.image.data)
    return d, r


def test_no_output_inside_an_input_store_or_result_folder(tmp_path, rock):
    d, r = rock
    store = phaselib.save(r.image, tmp_path / "m.zspy", chunks=(8, 30, r.image.shape[2]))
    before = digest(store)
    code, err = cli_main(["map", str(store), "--quiet", "--out", str(store / "Experiments" / "res")])
    assert code == 2 and "inside the input 'm.zspy'" in err and str(tmp_path) not in err
    assert digest(store) == before and not (store / "Experiments" / "res").exists()
    code, _ = cli_main(["map", str(store), "--quiet", "--out", str(tmp_path / "res")])
    assert code == 0
    before = digest(tmp_path / "res")
    code, err = cli_main(["grains", str(tmp_path / "res"), "--out", str(tmp_path / "res" / "g")])
    assert code == 2 and "inside the input 'res'" in err
    assert digest(tmp_path / "res") == before
    code, _ = cli_main(["grains", str(tmp_path / "res"), "--out", str(tmp_path / "g")])  # beside it: fine
    assert code == 0 and (tmp_path / "g" / "grains.csv").is_file()


def test_written_files_follow_the_umask_or_keep_the_replaced_files_mode(tmp_path, rock):
    _, r = rock
    old = os.umask(0o022)
    try:
        for name in ("s.npy", "s.hspy"):
            phaselib.save(r.image, tmp_path / name)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
        os.chmod(tmp_path / "s.npy", 0o640)
        phaselib.save(r.image, tmp_path / "s.npy", overwrite=True)
        assert (tmp_path / "s.npy").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@pytest.mark.parametrize("kind", ["uint64", "int64"])
def test_64_bit_integer_counts_beyond_float32_sums_are_refused(tmp_path, rock, kind):
    d, _ = rock
    data = np.load(d / "rock.npy")
    # (counts times 10**15 exactly are counts times a gain: phaselib.preprocess.as_counts divides it out)
    big = data.astype(np.uint64) + np.uint64(2 ** 63) if kind == "uint64" else data.astype(np.int64) * 10 ** 15 + 1
    np.save(tmp_path / "big.npy", big)
    code, err = cli_main(["map", str(tmp_path / "big.npy"), *CAL, "--out", str(tmp_path / "o")])
    assert code == 2 and "counts per channel must be at most" in err
    assert not (tmp_path / "o").exists()
    ok = data.astype(np.uint64)  # plain counts in a 64-bit array are fine
    np.save(tmp_path / "ok.npy", ok)
    assert cli_main(["map", str(tmp_path / "ok.npy"), *CAL, "--out", str(tmp_path / "o2")])[0] == 0


def _painted(labels, sparse_every=5):
    keep = np.arange(labels.size).reshape(labels.shape) % sparse_every == 0
    return np.where(keep, labels, -1)


def test_label_pngs_that_would_be_misread_are_refused(tmp_path, rock):
    from PIL import Image

    d, r = rock
    s = _painted(r.labels)
    grey = np.where(s >= 0, np.array([10, 20, 30, 40, 300, 600, 700, 800])[np.clip(s, 0, 7)], 0).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")  # 300 and 600 would clip to white (unlabelled)
    noise = np.random.default_rng(0).integers(0, 255, (*s.shape, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "jpeg.png", format="JPEG")
    pal = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
                    [128, 0, 0], [0, 128, 0]], np.uint8)
    Image.fromarray(np.where((s >= 0)[..., None], pal[np.clip(s, 0, 7)], 0).astype(np.uint8)).save(tmp_path / "ok.png")
    for name, words in (("grey16.png", "16-bit grey image"), ("jpeg.png", "is not a PNG file")):
        code, err = cli_main(["classify", str(d / "rock.npy"), *CAL, "--labels", str(tmp_path / name),
                              "--out", str(tmp_path / f"o_{name}")])
        assert code == 2 and words in err, (name, err)
        assert not (tmp_path / f"o_{name}").exists()
    code, err = cli_main(["classify", str(d / "rock.npy"), *CAL, "--labels", str(tmp_path / "ok.png"),
                          "--out", str(tmp_path / "o_ok")])
    assert code == 0, err
    got = np.load(tmp_path / "o_ok" / "labels.npy")
    assert got.shape == r.labels.shape and len(np.unique(got)) == len(np.unique(s[s >= 0]))


def test_a_failed_write_over_an_existing_file_leaves_it(tmp_path, rock, monkeypatch):
    """``save`` and ``convert`` with overwrite onto an existing file (not a store) removed it before writing: a
    write that then failed left nothing (fuzz campaign, session 45). The file is replaced once the store is whole."""
    import rsciio.zspy
    from conftest import CHEVKINITE

    _, r = rock
    old = tmp_path / "t.zspy"
    old.write_bytes(b"an earlier file")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rsciio.zspy, "file_writer", boom)
    with pytest.raises(OSError):
        phaselib.save(r.image, old, overwrite=True)
    assert old.read_bytes() == b"an earlier file" and [p.name for p in tmp_path.iterdir()] == ["t.zspy"]
    monkeypatch.undo()
    code, err = cli_main(["convert", str(CHEVKINITE), str(old), "--dtype", "uint8", "--overwrite"])
    assert code == 2 and "uint8" in err and old.read_bytes() == b"an earlier file"
    assert [p.name for p in tmp_path.iterdir()] == ["t.zspy"]
    link = tmp_path / "l.zspy"
    link.symlink_to(old)
    phaselib.save(r.image, link, overwrite=True)  # the link is replaced, never what it points to
    assert link.is_dir() and not link.is_symlink() and old.read_bytes() == b"an earlier file"
    assert phaselib.load(link).shape == r.image.shape


def test_outputs_with_the_longest_names_a_file_system_takes(tmp_path, rock):
    """A name of 255 bytes is valid; the temporary name beside it was 255 + 13 ("File name too long")."""
    _, r = rock
    assert np.load(phaselib.save(r.image, tmp_path / ("n" * 251 + ".npy"))).shape == r.image.shape
    assert phaselib.load(phaselib.save(r.image, tmp_path / ("z" * 250 + ".zspy"))).shape == r.image.shape
    code, err = cli_main(["map", str(tmp_path / ("n" * 251 + ".npy")), *CAL, "--out", str(tmp_path / ("o" * 255))])
    assert code == 0, err
    assert (tmp_path / ("o" * 255) / "labels.npy").is_file()


@pytest.mark.parametrize("chunks", [(0, 0, 0), (8, 30), (8.0, 30, 2048), (True, 30, 2048)])
def test_save_refuses_chunks_in_its_own_words(tmp_path, rock, chunks):
    """Chunks of 0 ended in a ZeroDivisionError, a wrong rank in h5py's text (fuzz campaign, session 45)."""
    _, r = rock
    for name in ("c.zspy", "c.hspy"):
        with pytest.raises(ValueError, match="`chunks` must be three whole numbers"):
            phaselib.save(r.image, tmp_path / name, chunks=chunks)
        assert not (tmp_path / name).exists()


def test_an_object_npy_is_refused_without_a_class_name(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError) as err:
        phaselib.load(tmp_path / "o.npy", energy_offset=0, energy_scale=0.01)
    assert "never read" in str(err.value) and "Error" not in str(err.value)
