"""Bad input never hurts: a corpus of damaged files, special files and absurd options.

Every case runs in a forked child (``_badfiles.guarded``), so that a segmentation fault or a
hang is a failed test, not the end of the run. A damaged file must give one clear error (a
ValueError or OSError; in the CLI one line on stderr and exit status 2) that names the file by
its name, never its folder, and never quotes the file's contents; the input is never modified.
Valid files next to them must still load. Outputs are never half-written, never the input.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _badfiles import (
    SECRET,
    bcf_variants,
    cli_main,
    digest,
    guarded,
    make_fifo,
    npy_header_with_shape,
    rpl_pair,
    write_text,
    zspy_chunks,
)
from conftest import CHEVKINITE, P45

import phaselib
import phaselib._cli
import phaselib.morphology
import phaselib.pipeline  # imported once here, not in every forked child

#: the damaged .bcf files, made from the real maps (names known at collection)
BCF_CASES = list(bcf_variants(P45.read_bytes(), CHEVKINITE.read_bytes()))


@pytest.fixture(scope="module")
def rock_map():
    from phaselib.datasets import make_rock

    return make_rock((32, 40), counts_per_pixel=150, seed=5).image


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, rock_map):
    """``{case: (path, load keyword arguments)}``: every damaged input, made once."""
    d = tmp_path_factory.mktemp("corpus")
    cases = {}
    for name, data in bcf_variants(P45.read_bytes(), CHEVKINITE.read_bytes()).items():
        (d / f"{name}.bcf").write_bytes(data)
        cases[f"bcf_{name}"] = (d / f"{name}.bcf", {})
    npy_kw = dict(energy_offset=0.0, energy_scale=0.01)
    good = phaselib.save(rock_map, d / "good.zspy", chunks=(8, 40, rock_map.shape[2]))

    def zspy_copy(name, damage):
        import shutil

        out = d / f"{name}.zspy"
        shutil.copytree(good, out)
        damage(out, zspy_chunks(out))
        cases[f"zspy_{name}"] = (out, {})
        cases[f"zspy_{name}_lazy"] = (out, {"lazy": True})

    zspy_copy("missing_chunk", lambda out, ch: ch[1].unlink())
    zspy_copy("corrupt_chunk", lambda out, ch: ch[2].write_bytes(ch[2].read_bytes()[:40] + os.urandom(500)))
    zspy_copy("empty_chunk", lambda out, ch: ch[0].write_bytes(b""))
    zspy_copy("fifo_chunk", lambda out, ch: (ch[3].unlink(), make_fifo(ch[3])))
    zspy_copy("garbage_zarray", lambda out, ch: next(out.glob("Experiments/*/data/.zarray")).write_text(SECRET))
    zspy_copy("huge_chunks", lambda out, ch: _zarray_edit(out, chunks=[2**20, 2**20, 2048], shape=[2**20, 2**20, 2048]))
    zspy_copy("no_groups", lambda out, ch: [p.unlink() for p in out.rglob(".zgroup")])
    # a missing chunk that a stray file (or a chunk beyond the declared shape) would hide from a count
    zspy_copy("missing_chunk_stray_file",
              lambda out, ch: (ch[1].unlink(), (ch[0].parent / "notes.txt").write_text("x")))
    zspy_copy("chunk_beyond_shape", lambda out, ch: _zarray_edit(out, shape=[8, 50, rock_map.shape[2]]))
    (d / "empty.zspy").mkdir()
    cases["zspy_empty_folder"] = (d / "empty.zspy", {})
    cases["zspy_text_file"] = (write_text(d / "text.zspy"), {})

    hspy = phaselib.save(rock_map, d / "good.hspy")
    (d / "truncated.hspy").write_bytes(hspy.read_bytes()[: hspy.stat().st_size // 2])
    cases["hspy_truncated"] = (d / "truncated.hspy", {})
    cases["hspy_truncated_lazy"] = (d / "truncated.hspy", {"lazy": True})
    cases["hspy_text"] = (write_text(d / "text.hspy"), {})

    cases["rpl_text_file"] = (write_text(d / "passwd.rpl", ["width 3"]), {})
    (d / "passwd.raw").write_bytes(b"\0" * 100)
    cases["rpl_missing_raw"] = (rpl_pair(d, "noraw"), {})
    cases["rpl_raw_too_short"] = (rpl_pair(d, "short", raw_bytes=b"\1\0" * 50), {})
    cases["rpl_absurd_size"] = (rpl_pair(d, "absurd", width=10**9, height=10**9, depth=4096,
                                         raw_bytes=b"\1\0" * 50), {})
    cases["rpl_negative_size"] = (rpl_pair(d, "negative", width=-8, raw_bytes=b"\1\0" * 50), {})
    cases["rpl_raw_fifo"] = (rpl_pair(d, "fiforaw", raw_fifo=True), {})
    cases["rpl_zero_height"] = (rpl_pair(d, "zeroheight", height=0, raw_bytes=b"\1\0" * 8 * 6 * 32), {})
    # twice the data declared (2-byte counts under a header of 1-byte ones): a misread, not a map
    cases["rpl_raw_too_long"] = (rpl_pair(d, "long", raw_bytes=b"\1\0" * 8 * 6 * 32 * 2), {})
    # a width of 10**8 over 100 bytes: RosettaSciIO's chunking of it ran for minutes before any size check
    cases["rpl_width_beyond_raw"] = (rpl_pair(d, "wide", width=99999999, height=40, depth=2048,
                                              raw_bytes=b"\1\0" * 50), {})

    np.save(d / "good.npy", np.asarray(rock_map.data))
    (d / "truncated.npy").write_bytes((d / "good.npy").read_bytes()[:5000])
    cases["npy_truncated"] = (d / "truncated.npy", npy_kw)
    cases["npy_absurd_shape"] = (npy_header_with_shape(d / "absurd.npy", (10**6, 10**6, 4096)), npy_kw)
    cases["npy_negative_shape"] = (npy_header_with_shape(d / "negative.npy", (-3, 4, 5)), npy_kw)
    np.save(d / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["npy_pickle"] = (d / "object.npy", npy_kw)
    np.save(d / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    cases["npy_strings"] = (d / "strings.npy", npy_kw)
    np.save(d / "four_d.npy", np.zeros((2, 2, 2, 2), np.uint16))
    cases["npy_four_d"] = (d / "four_d.npy", npy_kw)
    np.save(d / "zero_size.npy", np.zeros((0, 5, 5), np.uint16))
    cases["npy_zero_size"] = (d / "zero_size.npy", npy_kw)
    np.save(d / "complex.npy", np.zeros((2, 2, 8), complex))
    cases["npy_complex"] = (d / "complex.npy", npy_kw)
    cases["npy_text"] = (write_text(d / "text.npy"), npy_kw)
    data = np.asarray(rock_map.data).astype("<u2")
    for name, header in (("npy_header_fewer_rows", dict(descr="<u2", shape=(data.shape[0] // 2, *data.shape[1:]))),
                         ("npy_header_narrower_dtype", dict(descr="|u1", shape=data.shape))):
        with open(d / f"{name}.npy", "wb") as fh:  # the header declares half the data written
            np.lib.format.write_array_header_1_0(fh, dict(header, fortran_order=False))
            fh.write(data.tobytes())
        cases[name] = (d / f"{name}.npy", npy_kw)
    np.save(d / "timedelta.npy", data[:2, :2].astype("m8[s]"))
    cases["npy_timedelta"] = (d / "timedelta.npy", npy_kw)

    cases["msa_text"] = (write_text(d / "text.msa", ["#NPOINTS : 10", "1, 2", "x"]), {})
    cases["msa_absurd_npoints"] = (write_text(d / "absurd.msa", ["#FORMAT : EMSA/MAS Spectral Data File",
                                                                 "#NPOINTS : 1e12", "#XPERCHAN : 0.01",
                                                                 "#SPECTRUM :", "1, 2"]), {})
    for ext in (".bcf", ".npy", ".hspy", ".msa", ".rpl"):
        (d / f"empty{ext}").write_bytes(b"")
        cases[f"empty_file{ext}"] = (d / f"empty{ext}", npy_kw if ext == ".npy" else {})
        (d / f"random{ext}").write_bytes(np.random.default_rng(len(ext)).bytes(4096))
        cases[f"random_bytes{ext}"] = (d / f"random{ext}", npy_kw if ext == ".npy" else {})
        cases[f"fifo{ext}"] = (make_fifo(d / f"fifo{ext}"), npy_kw if ext == ".npy" else {})
        (d / f"folder{ext}").mkdir()
        cases[f"folder{ext}"] = (d / f"folder{ext}", npy_kw if ext == ".npy" else {})
    (d / "devzero.bcf").symlink_to("/dev/zero")
    cases["device_link.bcf"] = (d / "devzero.bcf", {})
    (d / "devnull.npy").symlink_to("/dev/null")
    cases["device_link.npy"] = (d / "devnull.npy", npy_kw)
    (d / "npy_named.bcf").write_bytes((d / "good.npy").read_bytes())
    cases["wrong_ext_npy_as_bcf"] = (d / "npy_named.bcf", {})
    (d / "bcf_named.npy").write_bytes(P45.read_bytes())
    cases["wrong_ext_bcf_as_npy"] = (d / "bcf_named.npy", npy_kw)
    (d / "hspy_named.msa").write_bytes(hspy.read_bytes())
    cases["wrong_ext_hspy_as_msa"] = (d / "hspy_named.msa", {})
    cases["unsupported_ext"] = (write_text(d / "notes.txt"), {})
    cases["no_ext"] = (write_text(d / "noext"), {})
    cases["missing_file"] = (d / "missing.bcf", {})
    cases["broken_link"] = (d / "broken.bcf", {})
    (d / "broken.bcf").symlink_to(d / "nowhere.bcf")
    return d, cases


def _zarray_edit(store, **changes):
    import json

    path = next(store.glob("Experiments/*/data/.zarray"))
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    (store / ".zmetadata").unlink(missing_ok=True)


def _read_whole(path, kwargs):
    img = phaselib.load(path, **kwargs)
    np.asarray(img.data).sum()  # a lazy map is read too


def _check_refused(result, path, folder):
    status, kinds, message = result
    assert status == "error", f"{path.name}: {status} {kinds}"  # not accepted, no crash, no hang
    assert "ValueError" in kinds or "OSError" in kinds, (path.name, kinds, message)
    assert message and "\n" not in message.strip(), message
    assert str(folder) not in message and "SECRET-LINE" not in message, message
    assert path.name in message or "missing" in path.name, message


CASE_NAMES = [f"bcf_{n}" for n in BCF_CASES] + [
    *(f"zspy_{n}{s}" for n in ("missing_chunk", "corrupt_chunk", "empty_chunk", "fifo_chunk", "garbage_zarray",
                               "huge_chunks", "no_groups", "missing_chunk_stray_file", "chunk_beyond_shape")
      for s in ("", "_lazy")),
    "zspy_empty_folder", "zspy_text_file", "hspy_truncated", "hspy_truncated_lazy", "hspy_text",
    "rpl_text_file", "rpl_missing_raw", "rpl_raw_too_short", "rpl_absurd_size", "rpl_negative_size", "rpl_raw_fifo",
    "rpl_zero_height", "rpl_raw_too_long", "rpl_width_beyond_raw",
    "npy_truncated", "npy_absurd_shape", "npy_negative_shape", "npy_pickle", "npy_strings", "npy_four_d",
    "npy_zero_size", "npy_complex", "npy_text", "npy_header_fewer_rows", "npy_header_narrower_dtype",
    "npy_timedelta", "msa_text", "msa_absurd_npoints",
    *(f"{kind}{ext}" for ext in (".bcf", ".npy", ".hspy", ".msa", ".rpl")
      for kind in ("empty_file", "random_bytes", "fifo", "folder")),
    "device_link.bcf", "device_link.npy", "wrong_ext_npy_as_bcf", "wrong_ext_bcf_as_npy", "wrong_ext_hspy_as_msa",
    "unsupported_ext", "no_ext", "missing_file", "broken_link",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_damaged_file_is_refused(corpus, case):
    folder, cases = corpus
    path, kwargs = cases[case]
    before = _fingerprint(path)
    _check_refused(guarded(_read_whole, path, kwargs, timeout=20), path, folder)
    assert _fingerprint(path) == before  # the input is never modified


def _fingerprint(path):
    if not path.exists() or path.is_dir() and any(p.is_fifo() for p in path.rglob("*")):
        return None
    return digest(path) if path.is_file() or path.is_dir() else None


def test_the_corpus_is_complete(corpus):
    assert sorted(corpus[1]) == sorted(CASE_NAMES) and len(CASE_NAMES) > 100


def test_valid_files_next_to_the_damaged_ones_still_load(corpus, rock_map):
    """The checks refuse damage, not valid files: the same formats, undamaged."""
    folder, _ = corpus
    p45 = phaselib.load(P45)
    assert p45.shape == (75, 100, 2048) and 100 < p45.data.sum(-1).mean() < 140
    np.testing.assert_array_equal(p45.data, phaselib.load(P45, lazy=True).data.compute())
    assert phaselib.load(CHEVKINITE).shape == (30, 30, 2048)
    for name, kw in (("good.zspy", {}), ("good.zspy", {"lazy": True}), ("good.hspy", {}),
                     ("good.npy", dict(energy_offset=0, energy_scale=0.01))):
        img = phaselib.load(folder / name, **kw)
        np.testing.assert_array_equal(np.asarray(img.data), np.asarray(rock_map.data))
    rpl = rpl_pair(folder, "valid", raw_bytes=np.arange(6 * 8 * 32, dtype="<u2").tobytes())
    assert phaselib.load(rpl).data[0, 1, 0] == 32


# ----------------------------------------------------------------- big maps are read lazily by default
def test_big_map_is_lazy_by_default(corpus, monkeypatch):
    folder, _ = corpus
    monkeypatch.setenv("PHASELIB_MEMORY_BUDGET", str(10**5))  # the 32 x 40 x 2048 map is "big" now
    assert phaselib.load(folder / "good.zspy").is_lazy
    assert not phaselib.load(folder / "good.zspy", lazy=False).is_lazy  # the override
    with pytest.raises(ValueError, match="convert it once"):  # a big .bcf: a message, not 10 GB of memory
        phaselib.load(P45)
    assert phaselib.load(P45, lazy=False).shape == (75, 100, 2048)
    monkeypatch.setenv("PHASELIB_MEMORY_BUDGET", str(10**10))
    assert not phaselib.load(folder / "good.zspy").is_lazy


# ----------------------------------------------------------------- absurd options
OPTION_CASES = {
    "workers_-1": ["--workers", "-1"], "workers_0": ["--workers", "0"], "workers_100000": ["--workers", "100000"],
    "crop_negative": ["--crop", "-5:10,0:5"], "crop_words": ["--crop", "a:b,c:d"], "crop_empty": ["--crop", "5:5,0:4"],
    "bin_0": ["--bin", "0"], "bin_-2": ["--bin", "-2"], "n_phases_0": ["--n-phases", "0"],
    "n_phases_-3": ["--n-phases", "-3"], "n_phases_5000": ["--n-phases", "5000"],
    "n_components_0": ["--n-components", "0"], "block_rows_0": ["--block-rows", "0"],
    "block_rows_-4": ["--block-rows", "-4"], "sample_pixels_-1": ["--sample-pixels", "-1"],
    "min_size_-1": ["--min-size", "-1"], "membership_1.5": ["--membership-threshold", "1.5"],
    "membership_0": ["--membership-threshold", "0"],
    "beta_-1": ["--beta", "-1"], "energy_range_reversed": ["--energy-range", "5", "1"],
    "energy_range_nan": ["--energy-range", "nan", "5"], "seed_-1": ["--seed", "-1"],
    "beam_energy_-20": ["--beam-energy", "-20"], "lazy_and_eager": ["--lazy", "--eager"],
}


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory, rock_map):
    d = tmp_path_factory.mktemp("options")
    np.save(d / "map.npy", np.asarray(rock_map.data)[:12, :16])
    (d / "res").mkdir()
    np.save(d / "res" / "labels.npy", np.repeat(np.arange(4, dtype=np.int16), 60).reshape(12, 20))
    return d


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_absurd_map_option_is_refused(small_inputs, case):
    d = small_inputs
    argv = ["map", str(d / "map.npy"), "--out", str(d / f"o_{case}"), "--quiet", "--energy-offset", "-0.2",
            "--energy-scale", "0.01", "--beam-energy", "20"]
    if case == "beam_energy_-20":
        argv = argv[:-2]
    result = guarded(cli_main, argv + OPTION_CASES[case], timeout=60)
    assert result[0] == "ok", result  # no crash, no hang, no exception out of main
    code, err = result[1]
    assert code == 2 and err.startswith("phaselib: error:") and err.count("\n") == 1, (code, err)
    assert "`" not in err  # said in the option's words (`threshold` for --membership-threshold 0 before)
    assert not (d / f"o_{case}").exists()


OTHER_OPTIONS = {
    "precompute_display_bin_0": ["precompute", "{d}/map.npy", "--out", "{d}/p.npz", "--display-bin", "0",
                                 "--energy-offset", "0", "--energy-scale", "0.01"],
    "precompute_unknown_method": ["precompute", "{d}/map.npy", "--out", "{d}/p.npz", "--methods", "magic",
                                  "--energy-offset", "0", "--energy-scale", "0.01"],
    "convert_block_rows_0": ["convert", str(P45), "{d}/c.zspy", "--block-rows", "0"],
    "convert_downsample_0": ["convert", str(P45), "{d}/c.zspy", "--downsample", "0"],
    "convert_cutoff_negative": ["convert", str(P45), "{d}/c.zspy", "--cutoff-at-kV", "-3"],
    "convert_dtype_words": ["convert", str(P45), "{d}/c.zspy", "--dtype", "rubbish"],
    "grains_min_distance_0": ["grains", "{d}/res", "--out", "{d}/g", "--min-distance", "0"],
    "grains_pixel_size_-1": ["grains", "{d}/res", "--out", "{d}/g", "--pixel-size", "-1"],
    "grains_growth_rate_0": ["grains", "{d}/res", "--out", "{d}/g", "--growth-rate", "0"],
    "grains_smoothing_-1": ["grains", "{d}/res", "--out", "{d}/g", "--smoothing", "-1"],
    "grains_phase_-2": ["grains", "{d}/res", "--out", "{d}/g", "--phase", "-2"],
    "grains_h_maxima_0": ["grains", "{d}/res", "--out", "{d}/g", "--h-maxima", "0"],
    "grains_out_is_input": ["grains", "{d}/res", "--out", "{d}/res"],
    "map_out_is_input": ["map", "{d}/map.npy", "--out", "{d}/map.npy", "--energy-offset", "0",
                         "--energy-scale", "0.01"],
    "map_out_holds_input": ["map", "{d}/map.npy", "--out", "{d}", "--energy-offset", "0", "--energy-scale", "0.01"],
    "precompute_out_is_input": ["precompute", "{d}/map.npy", "--out", "{d}/map.npy", "--overwrite",
                                "--energy-offset", "0", "--energy-scale", "0.01"],
}


@pytest.mark.parametrize("case", sorted(OTHER_OPTIONS))
def test_absurd_options_and_outputs_are_refused(small_inputs, case):
    d = small_inputs
    before = digest(d / "map.npy"), digest(d / "res")
    argv = [a.replace("{d}", str(d)) for a in OTHER_OPTIONS[case]]
    result = guarded(cli_main, argv, timeout=60)
    assert result[0] == "ok", result
    code, err = result[1]
    assert code == 2 and "phaselib: error:" in err and err.strip().count("\n") == 0, (code, err)
    assert str(d) not in err and "`" not in err  # said in the option's words, not the library's argument names
    assert (digest(d / "map.npy"), digest(d / "res")) == before  # inputs untouched
    assert not (d / "g").exists() and not (d / "c.zspy").exists() and not (d / "p.npz").exists()


# ----------------------------------------------------------------- nothing half-written, inputs untouchable
@pytest.fixture(scope="module")
def phase_map(rock_map):
    from phaselib.pipeline import map_phases

    return map_phases(rock_map, n_phases=3, refine_phases=False, name_minerals=False)


def test_save_never_writes_the_input(tmp_path, rock_map):
    src = phaselib.save(rock_map, tmp_path / "src.npy")
    before = digest(src)
    image = phaselib.load(src, energy_offset=0, energy_scale=0.01)
    (tmp_path / "link.npy").symlink_to(src)
    for target in (src, tmp_path / "link.npy", tmp_path / "." / "src.npy"):
        with pytest.raises(ValueError, match="Refusing to overwrite the input"):
            phaselib.save(image, target, overwrite=True)
    anonymous = phaselib.SpectrumImage(np.load(src, mmap_mode="r"))  # no source, but memory-mapped from src
    with pytest.raises(ValueError, match="Refusing to overwrite the input"):
        phaselib.save(anonymous, tmp_path / "link.npy", overwrite=True)
    zspy = phaselib.save(rock_map, tmp_path / "m.zspy")
    lazy = phaselib.load(zspy, lazy=True)
    with pytest.raises(ValueError, match="Refusing to overwrite the input"):
        phaselib.save(lazy, zspy, overwrite=True)
    assert digest(src) == before and (tmp_path / "link.npy").is_symlink()
    # a symlink to another file is replaced by the new file; what it pointed to is untouched
    other = phaselib.save(rock_map, tmp_path / "other.npy")
    other_before = digest(other)
    (tmp_path / "out.npy").symlink_to(other)
    phaselib.save(image, tmp_path / "out.npy", overwrite=True)
    assert not (tmp_path / "out.npy").is_symlink() and digest(other) == other_before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_results_replace_an_earlier_result_whole_and_refuse_other_folders(tmp_path, phase_map):
    out = phase_map.save(tmp_path / "res")
    (out / "summary.json").write_text("{}")  # an earlier result, marked
    phase_map.save(out)
    assert (out / "summary.json").read_text() != "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no temporary or old folder left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="holds other files"):
        phase_map.save(mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    (tmp_path / "data.npy").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a folder"):
        phase_map.save(tmp_path / "data.npy")
    source = Path(phase_map.image_info["source"] or tmp_path / "none")
    assert source.name != "res"


def _killed_while_saving(phase_map, out, at_file):
    """Save, and kill the process (no cleanup at all) while writing the ``at_file``-th file."""
    import phaselib.pipeline as pipeline

    real, count = np.save, [0]

    def dying_save(*args, **kwargs):
        count[0] += 1
        if count[0] == at_file:
            os._exit(9)
        return real(*args, **kwargs)

    pipeline.np.save = dying_save
    phase_map.save(out)


def test_a_killed_save_leaves_the_old_result_whole(tmp_path, phase_map):
    out = phase_map.save(tmp_path / "res")
    before = digest(out)
    result = guarded(_killed_while_saving, phase_map, out, 2)
    assert result[0] == "crash" and result[1] == 9
    assert digest(out) == before  # the old result, whole
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "res"]
    assert all(name.startswith(".res.tmp-") for name in leftovers)  # hidden, never taken for a result
    result = guarded(_killed_while_saving, phase_map, tmp_path / "new", 2)
    assert not (tmp_path / "new").exists()  # nothing that looks complete


def test_precompute_and_convert_never_half_written(tmp_path, rock_map):
    from phaselib.results import precompute

    src = phaselib.save(rock_map, tmp_path / "src.npy")
    image = phaselib.load(src, energy_offset=rock_map.energy_offset, energy_scale=rock_map.energy_scale)
    with pytest.raises(ValueError, match=r"\.npz"):
        precompute(image, tmp_path / "src.npy", overwrite=True)  # never a map file
    before = digest(src)
    (tmp_path / "r.npz").symlink_to(src)
    with pytest.raises(ValueError, match="Refusing to overwrite the input"):
        precompute(image, tmp_path / "r.npz", overwrite=True, methods=["pca-kmeans"])
    assert digest(src) == before

    def stop(done, total):
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        phaselib.bcf_to_zspy(P45, tmp_path / "p.zspy", block_rows=20, progress=stop)
    assert not (tmp_path / "p.zspy").exists() and not [p for p in tmp_path.iterdir() if "p.zspy" in p.name]


# ----------------------------------------------------------------- the command line, as a user runs it
CLI_CASES = {
    "bcf_truncated": ["map", "{c}/truncated_at_600000.bcf"],
    "bcf_header_size": ["map", "{c}/stream_height_larger.bcf"],
    "zspy_missing_chunk": ["map", "{c}/missing_chunk.zspy"],
    "zspy_corrupt_chunk_lazy": ["map", "{c}/corrupt_chunk.zspy", "--lazy"],
    "fifo": ["map", "{c}/fifo.bcf"],
    "device": ["map", "{c}/devzero.bcf"],
    "text_as_rpl": ["map", "{c}/passwd.rpl"],
    "workers_-1": ["map", "{c}/good.zspy", "--workers", "-1"],
    "convert_truncated": ["convert", "{c}/truncated_at_600000.bcf", "{o}/x.zspy"],
    "grains_fifo": ["grains", "{c}/fifo.npy"],
}


def test_command_line_gives_one_line_and_status_2(corpus, tmp_path):
    """Run as a user would, in subprocesses (a segmentation fault is a return code, not a crash of the
    tests), all at once."""
    folder, _ = corpus
    procs = {}
    for name, argv in CLI_CASES.items():
        argv = [a.replace("{c}", str(folder)).replace("{o}", str(tmp_path)) for a in argv]
        if argv[0] != "convert":
            argv += ["--out", str(tmp_path / f"out_{name}")]
        procs[name] = subprocess.Popen([sys.executable, "-m", "phaselib", *argv], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    bad = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            bad[name] = "hang"
            continue
        lines = err.strip().splitlines()
        if proc.returncode != 2 or len(lines) != 1 or not lines[0].startswith("phaselib: error:") or \
                "Traceback" in err or str(folder) in err or "SECRET-LINE" in err:
            bad[name] = (proc.returncode, err[-300:])
    assert not bad, bad
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out_")]  # nothing written
