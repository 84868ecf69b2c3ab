"""Files and folders the user may not read or write: one clear message each, never a damaged-file verdict, a
temporary name, a server path, a traceback, or minutes of work before the refusal.

Permissions mean nothing to root, and CI may run as root: every case then runs in a child process demoted
to ``nobody``, as an ordinary user's would (as an ordinary user, the child runs as that user). The files
live in a world-traversable folder under the system's temporary folder.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def as_user(args, cwd, timeout=300):
    """Run ``python args...`` as an ordinary user: ``nobody`` through util-linux's ``setpriv`` when the tests run
    as root (it changes user after finding the interpreter, which may sit in root's own folder), else this user."""
    env = dict(os.environ, HOME=str(cwd / "home"), MPLCONFIGDIR=str(cwd / "home"), PHASELIB_DEBUG="",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "dashboards")]))
    demote = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root: util-linux's setpriv is needed to run these cases as an ordinary user"
        demote = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    r = subprocess.run([*demote, sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def place():
    """Readable inputs, unreadable copies (mode 000) and a read-only folder."""
    from phaselib import datasets

    base = Path(tempfile.mkdtemp(prefix="phaselib-perm-"))
    base.chmod(0o777)
    (base / "home").mkdir(mode=0o777)
    (base / "home").chmod(0o777)
    rock = datasets.make_rock((30, 40), counts_per_pixel=100, seed=1)
    np.save(base / "rock.npy", np.asarray(rock.image.data))
    shutil.copy(datasets.sample_path("P45"), base / "p45.bcf")
    for name in ("rock.npy", "p45.bcf"):
        shutil.copy(base / name, base / f"locked_{name}")
        (base / name).chmod(0o644)
        (base / f"locked_{name}").chmod(0o000)
    r = subprocess.run([sys.executable, "-m", "phaselib", "map", "rock.npy", "--energy-offset", "0",
                        "--energy-scale", "0.01", "--n-phases", "3", "--quiet", "--out", "mapped"],
                       cwd=base, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = base / "mapped" / "summary.json"
    summary.write_text(summary.read_text().replace('"pixel_size": null', '"pixel_size": 0.5'))
    for p in [base / "mapped", *(base / "mapped").iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    summary.chmod(0o000)
    (base / "readonly").mkdir()
    (base / "readonly").chmod(0o555)
    yield base
    for p in base.rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)
    shutil.rmtree(base, ignore_errors=True)


def _clean(text, place):
    assert "Traceback" not in text and ".tmp-" not in text and str(place) not in text and "Errno" not in text, text


@pytest.mark.parametrize("args, says", [
    (["map", "locked_rock.npy", "--energy-offset", "0", "--energy-scale", "0.01", "--out", "o1"],
     "Cannot read 'locked_rock.npy': permission denied"),
    (["map", "locked_p45.bcf", "--out", "o2"], "Cannot read 'locked_p45.bcf': permission denied"),
    (["map", "rock.npy", "--energy-offset", "0", "--energy-scale", "0.01", "--out", "readonly/o3"],
     "Cannot write 'o3': its folder is not writable"),
    (["grains", "mapped", "--out", "readonly/g"], "Cannot write 'g': its folder is not writable"),
    (["precompute", "rock.npy", "--energy-offset", "0", "--energy-scale", "0.01", "--out", "readonly/x.npz"],
     "Cannot write 'x.npz'"),
])
def test_unreadable_inputs_and_unwritable_outputs_are_one_line(place, args, says):
    rc, out = as_user(["-m", "phaselib", *args], place)
    assert rc == 2 and says in out, out
    assert "damaged" not in out  # an unreadable file is not a damaged one
    _clean(out, place)
    assert not list((place / "readonly").iterdir())


def test_an_unreadable_summary_is_said_not_passed_over(place):
    """Its pixel size was silently dropped: the sizes came out in pixels with no word why."""
    rc, out = as_user(["-m", "phaselib", "grains", "mapped", "--out", "g_ok"], place)
    assert rc == 0 and "summary.json is not readable: permission denied" in out, out


def test_segmentation_outputs_refused_before_the_work(place):
    from phaselib.datasets import make_thin_section, write_training_folder

    imgs = place / "imgs"
    if not imgs.exists():
        write_training_folder(imgs, [make_thin_section((48, 56), rock="granite", seed=41)], ["A1"], true_labels=True)
        for p in [imgs, *imgs.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    model = ROOT / "dashboards" / "data" / "deep_model.onnx"
    rc, out = as_user(["-m", "phaselib", "segment", "--input_model", str(model), "--input_path", "imgs/A1_pp.png",
                       "--output_path", "readonly/a.nc"], place)
    assert rc == 2 and "Cannot write 'a.nc': its folder is not writable" in out, out  # h5py's text held the path
    _clean(out, place)
    rc, out = as_user(["-m", "phaselib", "segment", "train", "--images", "imgs", "--out", "readonly/m.pt",
                       "--epochs", "1"], place)
    assert rc == 2 and "Cannot write 'm.pt'" in out and "epoch" not in out, out  # refused before training


DASHBOARD = """
import html, sys
from phasedash import App
a = App("synthetic:40x50", background=False)
say = lambda: html.unescape(a.runner.message.value)
print("OPENED", a.session.image.shape, say())
a.load("locked_p45.bcf"); print("LOAD", say())
a.export("mine"); print("EXPORT", say())
up = a.data.upload; acks = []; up.send = acks.append
up._safe_receive(None, {"kind": "start", "names": ["m.npy"], "sizes": [3]}, [])
print("UPLOAD", acks[-1]["ok"], say())
"""


def test_a_page_on_read_only_folders_still_opens_and_says_what_it_cannot_do(place):
    """A cache folder the kernel may not write (another user's, a read-only image) stopped the page from opening
    its first map ("....lock: permission denied")."""
    (place / "page.py").write_text(DASHBOARD)
    (place / "page.py").chmod(0o644)
    data = place / "pagedata"  # a data folder the kernel may read, not write: no uploads
    data.mkdir()
    shutil.copy(place / "p45.bcf", data / "locked_p45.bcf")
    (data / "locked_p45.bcf").chmod(0o000)
    data.chmod(0o555)
    env = {"PHASEDASH_DATA_DIR": str(data), "PHASEDASH_EXPORT_DIR": str(place / "readonly"),
           "PHASEDASH_CACHE_DIR": str(place / "readonly" / "cache"), "PHASEDASH_SHARED_MAPS": "synthetic:40x50"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    (place / "readonly").chmod(0o555)
    try:
        rc, out = as_user(["page.py"], place)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert rc == 0, out
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.split(" ")[0].isupper())
    assert lines["OPENED"].startswith("(40, 50, 2048)") and "phasedash-error" not in lines["OPENED"], out
    assert "Cannot read 'locked_p45.bcf': permission denied" in lines["LOAD"]
    assert "Cannot write 'mine': its folder is not writable" in lines["EXPORT"]
    assert lines["UPLOAD"].startswith("False") and "Uploads are off on this server" in lines["UPLOAD"]
    _clean(out, place)


def test_a_zspy_with_an_unreadable_chunk_is_not_called_damaged(place):
    rc, out = as_user(["-m", "phaselib", "convert", "p45.bcf", "z.zspy", "--quiet"], place)
    assert rc == 0, out
    chunk = next(p for p in (place / "z.zspy").rglob("*") if p.is_file() and "data" in p.parts
                 and not p.name.startswith("."))
    chunk.chmod(0o000)
    rc, out = as_user(["-m", "phaselib", "map", "z.zspy", "--out", "zmap", "--quiet"], place)
    assert rc == 2 and "Cannot read 'z.zspy': permission denied" in out and "damaged" not in out, out
    _clean(out, place)


@pytest.mark.parametrize("command, out", [("map", "readonly/o4"), ("precompute", "readonly/x4.npz")])
def test_an_unwritable_output_is_refused_before_the_work(place, command, out):
    """A read-only output folder was said only after the whole run (3 minutes on a 5.4 GB map): here a map
    that the work refuses (no counts) shows which comes first."""
    zeros = place / "zeros.npy"
    if not zeros.exists():
        np.save(zeros, np.zeros((6, 7, 64), np.uint16))
        zeros.chmod(0o644)
    rc, text = as_user(["-m", "phaselib", command, "zeros.npy", "--energy-offset", "0", "--energy-scale", "0.01",
                        "--out", out], place)
    assert rc == 2 and f"Cannot write '{Path(out).name}'" in text and "no counts" not in text, text
    _clean(text, place)
