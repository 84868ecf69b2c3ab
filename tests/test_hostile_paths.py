"""Session 42's hostile pass (about 440 new cases): what it found taken wrongly, hung, or refused in the wrong words.

Names with ``[``, ``*`` or ``?`` are files, not FITS patterns; an unchunked ``.hspy`` is read; HDF5 data kept in
other files (a FIFO, a short file read as zeros) is refused; ``--scheduler`` at a port where no Dask scheduler
answers is one line within seconds, and a real scheduler still works; Ctrl-C is one line; the grains command
refuses labels that are not its folder's or hold another tool's "unassigned"; damaged results files and legends
are one message. Hangs are failures: commands run in a forked child (``_badfiles.guarded``).
"""

import json
import shutil
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from _badfiles import cli_main, guarded
from conftest import CHEVKINITE

NPY = ["--energy-offset", "-0.2", "--energy-scale", "0.01", "--quiet", "--no-minerals"]


def _run(argv, timeout=120):
    kind, value, _ = guarded(cli_main, [str(a) for a in argv], timeout=timeout)
    assert kind == "ok", (kind, value)
    return value


def _one_line(argv, *words, timeout=120):
    code, err = _run(argv, timeout)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("phaselib: error:"), (code, err)
    assert "/tmp" not in err and all(w in lines[0] for w in words), err
    return lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from phaselib.datasets import make_rock

    d = tmp_path_factory.mktemp("hostile")
    rock = make_rock((24, 32), counts_per_pixel=120, seed=2)
    np.save(d / "rock.npy", rock.image.data)
    return d, rock


@pytest.mark.parametrize("folder, name", [("run[2024]", "c.bcf"), ("maps", "chev [site 2].bcf"),
                                          ("maps", "c*.bcf"), ("maps", "what?.bcf")])
def test_a_path_with_pattern_characters_is_that_file(tmp_path, folder, name):
    """`run[2024]/c.bcf` was "No FITS or TIFF file matches 'c.bcf'"; `map[ab].hspy` could read `mapa.hspy`."""
    from phaselib import load

    (tmp_path / folder).mkdir()
    path = tmp_path / folder / name
    shutil.copy(CHEVKINITE, path)
    assert load(path).shape == (30, 30, 2048)
    code, err = _run(["map", path, "--out", tmp_path / "res", "--quiet", "--no-minerals"])
    assert code == 0 and (tmp_path / "res" / "labels.npy").exists(), err


def test_a_pattern_naming_no_file_reads_no_other_format(tmp_path, small):
    d, rock = small
    from phaselib.io import save

    save(rock.image, tmp_path / "mapa.hspy")
    (tmp_path / "mapb.tif").write_bytes(b"SECRET")
    (tmp_path / "map[ab].hspy").write_bytes(b"x")  # exists: read as itself (damaged), never mapa.hspy or the .tif
    line = _one_line(["map", tmp_path / "map[ab].hspy", "--out", tmp_path / "r"], "'map[ab].hspy'")
    assert "SECRET" not in line and "TIFF" not in line


def test_an_unchunked_hspy_is_read(tmp_path, small):
    """h5py's default layout (contiguous), which HyperSpy reads, was refused as damaged (the lazy read needs chunks)."""
    h5py = pytest.importorskip("h5py")
    from phaselib import load
    from phaselib.io import save

    _, rock = small
    path = save(rock.image, tmp_path / "in.hspy")
    with h5py.File(path, "r+") as f:
        group = [g for g in f["Experiments"].values()][0]
        data = group["data"][()]
        del group["data"]
        group.create_dataset("data", data=data)
        assert group["data"].chunks is None
    for lazy in (None, True, False):
        assert np.array_equal(np.asarray(load(path, lazy=lazy).data), rock.image.data)
    code, err = _run(["map", path, "--out", tmp_path / "res", "--quiet", "--no-minerals"])
    assert code == 0, err


@pytest.mark.parametrize("how", ["short", "fifo"])
def test_hdf5_data_kept_in_another_file_is_refused(tmp_path, small, how):
    """An .emd whose data is an HDF5 external dataset: a short file was read as zeros (exit 0, "1 phases"), a FIFO
    blocked the reader for ever."""
    import os

    h5py = pytest.importorskip("h5py")
    d = np.load(small[0] / "rock.npy")
    ext = tmp_path / "ext.raw"
    if how == "fifo":
        os.mkfifo(ext)
    else:
        ext.write_bytes(d.tobytes()[: d.nbytes // 8])
    with h5py.File(tmp_path / "in.emd", "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        g = f.create_group("data/map")
        g.attrs["emd_group_type"] = 1
        g.create_dataset("data", shape=d.shape, dtype=d.dtype, external=[(str(ext), 0, d.nbytes)])
        for i, (n, size, unit) in enumerate([("y", 24, "nm"), ("x", 32, "nm"), ("E", 2048, "keV")]):
            ds = g.create_dataset(f"dim{i + 1}", data=np.arange(size) * (0.01 if n == "E" else 1.0))
            ds.attrs["name"], ds.attrs["units"] = n, unit
    _one_line(["map", tmp_path / "in.emd", "--out", tmp_path / "res", "--beam-energy", "20", "--quiet"],
              "'in.emd'", "other files", timeout=60)
    assert not (tmp_path / "res").exists()


def _server(greeting):
    """A TCP server on loopback that accepts and sends ``greeting`` (b"" : nothing), and its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            held.append(conn)
            if greeting:
                conn.sendall(greeting)
    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("greeting", [b"", b"SSH-2.0-OpenSSH_8.9\r\n" * 4, b"HTTP/1.0 400 Bad request\r\n\r\n"])
def test_a_scheduler_address_where_no_dask_scheduler_answers(small, tmp_path, monkeypatch, greeting):
    """An HTTP server (the dashboard's port typed for the scheduler's) hung `map` for ever; a service that greets
    in text gave "out of memory (try --lazy...)"."""
    import phaselib._cli._cluster as common

    monkeypatch.setattr(common, "SCHEDULER_WAIT", 2)
    sock, port = _server(greeting)
    try:
        line = _one_line(["map", small[0] / "rock.npy", "--out", tmp_path / "res", *NPY, "--scheduler",
                          f"tcp://127.0.0.1:{port}"], "No Dask scheduler answers", timeout=30)
    finally:
        sock.close()
    assert "memory" not in line and not (tmp_path / "res").exists()


def _map_on_a_local_cluster(npy, out, workers, *, before="", timeout=300):
    """``map`` run with ``--scheduler`` pointing at a real LocalCluster (``workers``: its worker arguments) in a child
    process: its threads must not be forked by the other tests' guarded children. ``before``: code run first."""
    import subprocess
    import sys

    script = ("import sys, distributed\n"
              "import phaselib._cli._cluster as common\n"
              "from phaselib._cli import main\n"
              f"{before}"
              f"with distributed.LocalCluster({workers}, processes=False, protocol='tcp',\n"
              "                              dashboard_address=None) as c:\n"
              "    code = main(sys.argv[1:] + ['--scheduler', c.scheduler_address])\n"
              "sys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", script, "map", str(npy), "--out", str(out), *NPY],
                          capture_output=True, text=True, timeout=timeout)


def test_a_real_scheduler_maps_the_same(small, tmp_path):
    """Through ``--scheduler`` to a real scheduler."""
    pytest.importorskip("distributed")
    d, _ = small
    assert _run(["map", d / "rock.npy", "--out", tmp_path / "here", *NPY])[0] == 0
    done = _map_on_a_local_cluster(d / "rock.npy", tmp_path / "there", "n_workers=1, threads_per_worker=1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "here" / "labels.npy"), np.load(tmp_path / "there" / "labels.npy"))


def test_ctrl_c_is_one_line(monkeypatch, small, tmp_path):
    from phaselib import _cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(_cli._COMMANDS["map"], "run", interrupted)
    code, err = cli_main(["map", str(small[0] / "rock.npy"), "--out", str(tmp_path / "res"), *NPY])
    assert (code, err.strip()) == (130, "phaselib: interrupted")


def test_grains_refuses_labels_that_are_not_its_folders(small, tmp_path):
    _, rock = small
    res = tmp_path / "res"
    res.mkdir()
    np.save(res / "labels.npy", rock.labels[:20, :30].astype("i2"))
    (res / "summary.json").write_text(json.dumps({"image": {"shape": [24, 32, 2048], "pixel_size": 1.0}}))
    _one_line(["grains", res, "--out", tmp_path / "g"], "20 x 30", "24 x 32")
    np.save(res / "labels.npy", np.where(rock.labels == 0, 255, rock.labels).astype("u1"))
    (res / "summary.json").unlink()
    _one_line(["grains", res, "--out", tmp_path / "g"], "255", "-1")
    assert not (tmp_path / "g").exists()


def test_beam_energies_and_pixel_sizes_out_of_reach(small, tmp_path):
    from phaselib import SpectrumImage
    from phaselib.io import save

    _one_line(["map", small[0] / "rock.npy", "--out", tmp_path / "r", *NPY, "--beam-energy", "1e308"],
              "--beam-energy", "1000")
    with pytest.raises(ValueError, match="up to 1000"):
        SpectrumImage(np.ones((2, 2, 8)), energy_offset=0, energy_scale=0.01, beam_energy=1e308)
    path = save(small[1].image.replace(pixel_size=2.0), tmp_path / "px.hspy")
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "r+") as f:  # a pixel step of 1e305 um: areas overflowed
        group = [g for g in f["Experiments"].values()][0]
        for axis in ("axis-0", "axis-1"):
            group[axis].attrs["scale"] = 1e305
    with warnings.catch_warnings():  # the CLI prints warnings (pytest's own filter makes them errors)
        warnings.simplefilter("default")
        code, err = _run(["map", path, "--out", tmp_path / "px", "--quiet", "--no-minerals"])
    assert code == 0 and "pixel size" in err and "not plausible" in err, err
    assert json.loads((tmp_path / "px" / "summary.json").read_text())["image"]["pixel_size"] is None


def test_damaged_results_files_are_one_message(tmp_path, small):
    from phaselib import load
    from phaselib.results import load_results, precompute

    image = load(small[0] / "rock.npy", energy_offset=-0.2, energy_scale=0.01, beam_energy=20.0)
    good = precompute(image, tmp_path / "p.npz", methods=("pca-kmeans",))
    z = dict(np.load(good, allow_pickle=False))
    meta = json.loads(str(z["meta"]))
    cases = {"no map shape": ({}, {"shape": None}), "its info is not a table": ({}, "SECRET"),
             "component maps": ({"loadings": z["loadings"][..., :0]}, None),
             "energy axis": ({"energy_keV": z["energy_keV"] * np.nan}, None),
             "another size": ({"pca-kmeans/labels": z["pca-kmeans/labels"][:3]}, None),
             "spectra": ({"sum_spectrum": z["sum_spectrum"][:5]}, None),
             "beam energy": ({}, {"beam_energy": "SECRET"}),
             "no spectrum for": ({"pca-kmeans/labels": np.where(z["pca-kmeans/labels"] == 0, 50,
                                                                z["pca-kmeans/labels"])}, None)}
    for i, (words, (arrays, info)) in enumerate(cases.items()):
        m = json.loads(json.dumps(meta))
        if isinstance(info, dict):
            m["info"].update(info)
        elif info is not None:
            m["info"] = info
        path = tmp_path / f"c{i}.npz"
        np.savez(path, **{**z, **arrays, "meta": np.array(json.dumps(m))})
        with pytest.raises(ValueError, match="damaged phaselib results file") as err:
            load_results(path)
        assert words in str(err.value) and "SECRET" not in str(err.value)


def test_a_legend_that_is_no_file_or_starts_with_a_bom(tmp_path, small):
    import os

    from PIL import Image

    d, rock = small
    rgb = np.zeros(rock.labels.shape + (3,), np.uint8)
    rgb[2:6, 2:6] = (255, 0, 0)
    rgb[10:14, 20:24] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "lab.png")
    def argv(out):
        return ["classify", d / "rock.npy", "--labels", tmp_path / "lab.png", "--out", tmp_path / out, *NPY[:4]]
    (tmp_path / "lab.json").write_text('\ufeff{"#ff0000": "quartz", "#0000ff": "biotite"}', encoding="utf-8")
    code, err = _run(argv("c"))
    assert code == 0, err
    assert "quartz" in (tmp_path / "c" / "phases.csv").read_text()
    (tmp_path / "lab.json").unlink()
    os.mkfifo(tmp_path / "lab.json")
    _one_line(argv("c2"), "legend", "not a regular file", timeout=60)


def test_messages_in_the_options_words_and_names_without_control_characters(small, tmp_path):
    d, _ = small
    _one_line(["map", d / "rock.npy", "--out", tmp_path / "r", *NPY, "--bin", "1000"], "--bin 1000", "24 x 32")
    _one_line(["map", d / "rock.npy", "--out", tmp_path / "r", *NPY, "--crop", "10:5,0:4"], "--crop", "rows 10:5")
    _one_line(["map", d / "rock.npy", "--out", tmp_path / "r", *NPY, "--n-phases", "1"], "--n-phases", "from 2")
    res = tmp_path / "res"
    res.mkdir()
    np.save(res / "labels.npy", small[1].labels.astype("i2"))
    _one_line(["grains", res, "--out", tmp_path / "g", "--smoothing", "1e9"], "--smoothing", "0 to 100")
    bad = tmp_path / "bad\x1b[31mred\nname.npy"
    bad.write_bytes(b"not an array")
    line = _one_line(["map", bad, "--out", tmp_path / "r", *NPY], "bad?[31mred?name.npy")
    assert "\x1b" not in line
    here = tmp_path / "here"
    here.mkdir()
    np.save(here / "m.npy", np.load(d / "rock.npy"))
    import os

    cwd = os.getcwd()
    try:
        os.chdir(here)
        _one_line(["precompute", ".", "--out", "p.npz"], "'here'")
    finally:
        os.chdir(cwd)


def test_a_zspy_whose_values_decode_to_no_element_lines(small, tmp_path):
    """A .zspy altered to declare a delta filter decodes to running sums along each row of pixels' channels: no
    X-ray line in any phase. The seed test compared chemistries over no element and stopped in words of the
    library ("shares_a, var_a ... must have one value per element"); the map is made (its values are whole and
    positive: nothing tells them from counts)."""
    import glob

    from phaselib.datasets import make_rock
    from phaselib.io import save

    path = save(make_rock((24, 32), counts_per_pixel=40, seed=2).image, tmp_path / "in.zspy")
    header = glob.glob(str(path / "Experiments" / "*" / "data" / ".zarray"))[0]
    z = json.loads(Path(header).read_text())
    z["filters"] = [{"id": "delta", "dtype": "<u2"}]
    Path(header).write_text(json.dumps(z))
    import warnings

    with warnings.catch_warnings():  # printed, not raised, in the command's child: its spectrum belies its axis
        warnings.simplefilter("default", UserWarning)
        code, err = _run(["map", path, "--out", tmp_path / "res", "--quiet", "--no-minerals"])
    assert code == 0 and "shares_a" not in err, err


def test_a_scheduler_with_no_worker_is_said_and_refused(small, tmp_path):
    """A scheduler with no worker: `map` waited for ever without a word. Now a note at once, then one line after
    the wait (shortened here), nothing written. A real scheduler, in a child process."""
    pytest.importorskip("distributed")
    d, _ = small
    done = _map_on_a_local_cluster(d / "rock.npy", tmp_path / "o", "n_workers=0", before="common.WORKER_WAIT = 3\n",
                                   timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "has no worker yet; waiting up to 3 s" in done.stderr and "has no worker (3 s waited)" in done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("when", ["starting", "up"])
def test_ctrl_c_in_the_terminal_stops_map_with_local_workers(tmp_path, when):
    """Ctrl-C in a terminal (SIGINT to the whole process group) during `map --workers 2`: the workers died with it,
    printed 60-86 lines of tracebacks, and a read ahead waited for them for ever (4 tries of 4 at 6-8 s hung). Given
    while the cluster started, it was lost (the command went on to the end, rc 0): SIGINT was ignored meanwhile, and
    the kernel gave it to a thread that does not block it (BLAS's, dask's), which dropped it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pytest.importorskip("distributed")
    from phaselib.datasets import write_rock

    write_rock(tmp_path / "m.npy", (400, 500), n_channels=1024, energy_scale=0.01, energy_offset=-0.2,
               counts_per_pixel=200, seed=1)
    p = subprocess.Popen([sys.executable, "-m", "phaselib", "map", str(tmp_path / "m.npy"), "--energy-offset", "-0.2",
                          "--energy-scale", "0.01", "--beam-energy", "20", "--lazy", "--workers", "2", "--out",
                          str(tmp_path / "res"), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True,  # Ctrl-C as a terminal gives it (a background job's runner ignores it)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def descendants():  # the cluster's processes: a fork server and its workers, or the workers
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
        kids = [d for d in pids if _ppid(d) == p.pid]
        return kids + [d for d in pids if str(_ppid(d)) in kids]

    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 120:
        if when == "starting" and descendants():  # the first process of the cluster
            break
        if when == "up" and len(descendants()) >= 3:  # the workers too
            time.sleep(1.0)  # the cluster up, the map being read (it takes 10 s or more)
            break
        time.sleep(0.05)
    assert p.poll() is None, "the map was done before the Ctrl-C"
    os.killpg(p.pid, signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    lines = [x for x in err.decode().splitlines() if x.strip()]
    assert p.returncode == 130 and lines[-1] == "phaselib: interrupted" and len(lines) <= 5, lines[-10:]
    assert not (tmp_path / "res").exists()


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_saving_a_npy_onto_a_full_disk_is_an_error_not_a_crash(tmp_path):
    """`phaselib.save(image, "x.npy")` onto a file system without room wrote through a memory map of a sparse file:
    SIGBUS killed the process and a hidden temporary file filled the disk. A real small tmpfs (root only)."""
    import subprocess

    from phaselib.datasets import make_rock

    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        image = make_rock((100, 100), n_channels=1024, counts_per_pixel=50, seed=1).image  # 20 MB

        def save():
            import phaselib

            phaselib.save(image, small / "x.npy")
        kind, value, message = guarded(save, timeout=60)
        assert kind == "error" and "no space left on the device for 'x.npy'" in message, (kind, value, message)
        assert list(small.iterdir()) == []  # no temporary file left
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_a_cluster_gone_during_the_run_is_not_called_a_damaged_input():
    """The scheduler died mid-run: "could not complete (ClosedClientError); the input may be damaged"."""
    distributed = pytest.importorskip("distributed")
    from phaselib._cli._common import unexpected_message

    said = unexpected_message(distributed.client.ClosedClientError("closed"))
    assert "the Dask cluster stopped during the run (ClosedClientError)" in said and "damaged" not in said
    assert "the input may be damaged" in unexpected_message(RuntimeError("x"))


def test_map_onto_a_full_or_read_only_file_system_says_so(small, tmp_path):
    """A nearly full disk: "120000 requested and 49088 written" (numpy's words); a read-only one: "its folder is not
    writable (permission denied)". Real small tmpfs mounts (root only)."""
    import os
    import subprocess

    full, ro = tmp_path / "full", tmp_path / "ro"
    full.mkdir()
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], check=True)
    try:
        filler = full / "filler"
        with open(filler, "wb") as fh:
            fh.write(b"\0" * (os.statvfs(full).f_bavail * os.statvfs(full).f_frsize - 20_000))
        _one_line(["map", small[0] / "rock.npy", "--out", full / "res", *NPY], "no space left on the device")
        assert sorted(p.name for p in full.iterdir()) == ["filler"]
        _one_line(["map", small[0] / "rock.npy", "--out", ro / "res", *NPY], "its file system is read-only")
    finally:
        subprocess.run(["umount", str(full)], check=False)
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.parametrize("address, words", [("inproc://x", "wants tcp://HOST:PORT"),
                                            ("tls://127.0.0.1:8786", "wants tcp://HOST:PORT"),
                                            ("tcp://127.0.0.1:99999", "99999 is no port number")])
def test_scheduler_addresses_the_command_cannot_use(small, tmp_path, address, words):
    """inproc:// gave "not enough values to unpack", tls:// distributed's ssl text, port 99999 a refusal."""
    _one_line(["map", small[0] / "rock.npy", "--out", tmp_path / "o", *NPY, "--scheduler", address], words)


def test_sigterm_stops_a_command_as_ctrl_c_does(tmp_path):
    """SIGTERM (a job's time-out, `kill`) left hidden temporary outputs (.res.tmp-XXXX/) and no word."""
    import signal
    import subprocess
    import sys
    import time

    from phaselib.datasets import write_rock

    write_rock(tmp_path / "m.npy", (300, 400), n_channels=1024, energy_scale=0.01, energy_offset=-0.2,
               counts_per_pixel=200, seed=1)
    p = subprocess.Popen([sys.executable, "-m", "phaselib", "map", str(tmp_path / "m.npy"), "--energy-offset", "-0.2",
                          "--energy-scale", "0.01", "--out", str(tmp_path / "res"), "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(2.5)  # imports done, the map being read (it takes 10 s or more)
    assert p.poll() is None, "the map was done before the SIGTERM"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err.decode().strip().splitlines()[-1] == "phaselib: interrupted"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.npy", "m_truth.npz"]
