"""A page on a class server: what it can read and write, what its messages say, what it shares.

Without a browser: the page's folders and checks (phasedash.confine, sources, upload, export), the
shared results of the bundled maps (phasedash.cache) and the server's settings (dashboards/voila.json).
The culling of closed pages is tested in a real browser in test_browser.py.
"""

import contextlib
import html
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from phasedash import App, Session, cache, confine, upload

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch, shared_cache):
    """This test's data, export and cache folders (the page's whole world); the tests that are not
    about the cache share one, as the kernels of a server do."""
    for name, env in (("data", confine.DATA_ENV), ("exports", confine.EXPORT_ENV), ("cache", None)):
        (tmp_path / name).mkdir()
        if env:
            monkeypatch.setenv(env, str(tmp_path / name))
    monkeypatch.setenv(cache.ENV, str(shared_cache))
    monkeypatch.setenv("PHASEDASH_SHARED_MAPS", "synthetic:60x80")
    return tmp_path


def _message(app):
    return html.unescape(app.runner.message.value)


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize("name, says", [
    ("../outside.npy", "'..' is not allowed"),
    ("/etc/passwd", "passwd: only the data folder"),
    ("missing.bcf", "missing.bcf: no such file in the data folder"),
    ("escape.bcf", "escape.bcf: only the data folder"),  # a symlink leading out
    ("pipe.bcf", "pipe.bcf: not a regular file"),
    ("", "Give a name in the data folder"),
])
def test_a_page_reads_only_regular_files_of_the_data_folder(folders, name, says):
    data = folders / "data"
    (folders / "outside.npy").write_bytes(b"x")
    (data / "escape.bcf").symlink_to(folders / "outside.npy")
    os.mkfifo(data / "pipe.bcf")
    with pytest.raises(confine.PageError, match=says):
        confine.input_path(name)


def test_a_fifo_or_a_raw_fifo_gives_a_message_at_once_not_a_hung_kernel(folders):
    data = folders / "data"
    os.mkfifo(data / "map.bcf")
    (data / "text.rpl").write_text("(MPD 1.0)\n")
    os.mkfifo(data / "text.raw")
    a = App("sample:P45", background=False)
    t0 = time.perf_counter()
    a.load("map.bcf")
    assert "map.bcf: not a regular file" in _message(a)
    a.load("text.rpl")
    assert "text.raw: not a regular file" in _message(a)
    assert time.perf_counter() - t0 < 5 and a.session.image.shape == (75, 100, 2048)


def test_messages_name_files_never_server_paths_python_text_or_contents(folders):
    data = folders / "data"
    secret = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    (data / "passwd.rpl").write_text(secret)
    (data / "passwd.raw").write_text(secret)
    (data / "notes.hspy").write_text(secret)
    a = App("sample:P45", background=False)
    for name in ("passwd.rpl", "notes.hspy", str(data / "notes.hspy")):
        a.load(name)
        text = _message(a)
        assert "phasedash-error" in text and Path(name).name in text
        assert str(folders) not in text and "root:x" not in text and "daemon" not in text
        assert "Traceback" not in text and "Errno" not in text
    assert a.session.image.shape == (75, 100, 2048)  # the map open before stays


def test_user_message_keeps_sentences_and_hides_the_rest():
    assert confine.user_message(confine.PageError("a.bcf: too big.")) == "a.bcf: too big."
    err = FileNotFoundError(2, "No such file or directory", "/srv/class/data/a/b/map.bcf")
    assert confine.user_message(err) == "map.bcf: no such file."
    try:
        np.zeros(3).reshape(2, 2)  # a ValueError raised by numpy: raw Python text
    except ValueError as e:
        assert confine.user_message(e, "reshaping").startswith("Something went wrong (reshaping)")
    try:
        None.shape  # noqa: B018 - an AttributeError
    except AttributeError as e:
        assert "NoneType" not in confine.user_message(e)
    assert confine.scrub_paths("cannot open /home/teacher/data/P45.bcf now") == "cannot open P45.bcf now"
    assert confine.scrub_paths("keV/ch and 0-1 and counts/pixel") == "keV/ch and 0-1 and counts/pixel"


def test_synthetic_maps_are_bounded():
    a = App("sample:P45", background=False)
    for source in ["synthetic:2x80000", "synthetic:401x10", "synthetic:3x100", "synthetic:200x300:1e9",
                   "synthetic:200x300:nan", "synthetic:axb"]:
        t0 = time.perf_counter()
        a.load(source)
        assert "phasedash-error" in _message(a) and time.perf_counter() - t0 < 2, source  # refused before any work
        assert a.session.image.shape == (75, 100, 2048)
    assert "each side 4 to 400 pixels" in _message(App("synthetic:2x80000", background=False))


def test_requested_map_reads_the_query_string(monkeypatch):
    from phasedash import requested_map

    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "map=synthetic%3A60x80&x=1")
    assert requested_map() == "synthetic:60x80"
    monkeypatch.setenv("QUERY_STRING", "")
    assert requested_map("sample:P45") == "sample:P45"


# ------------------------------------------------------------------ writing
@pytest.mark.parametrize("name, says", [("../..", "'..' is not allowed"), ("/tmp", "only the export folder"),
                                        ("link", "only the export folder"), ("file.txt", "not a folder")])
def test_exports_go_only_to_the_export_folder(folders, name, says):
    (folders / "exports" / "link").symlink_to(folders)
    (folders / "exports" / "file.txt").write_text("x")
    a = App("synthetic:60x80", background=False)
    a.export(name)
    assert says in _message(a)
    a.save_session(name)
    assert says in _message(a)
    assert sorted(p.name for p in folders.iterdir()) == ["cache", "data", "exports"]


def test_export_default_folder_is_the_students_own(folders):
    a, b = App("synthetic:60x80", background=False), App("synthetic:60x80", background=False)
    assert a.export_panel.folder.value != b.export_panel.folder.value
    a.export_panel.export.click()
    written = list((folders / "exports" / a.export_panel.folder.value).iterdir())
    assert {"phases.csv", "session.json"} <= {p.name for p in written} and _message(a) == ""


# ------------------------------------------------------------------ uploads
def _start(widget, names, sizes):
    acks = []
    widget.send = acks.append
    widget.receive({"kind": "start", "names": names, "sizes": sizes})
    return acks


def test_upload_sizes_are_checked_on_the_server(folders):
    a = App("sample:P45", background=False)
    up = a.data.upload
    acks = _start(up, ["map.npy"], [10])
    up.receive({"kind": "chunk", "file": 0, "offset": 0}, [b"0123456789"])
    up.receive({"kind": "chunk", "file": 0, "offset": 10}, [b"x" * 2**20])  # past the declared 10 bytes
    assert acks[-1] == {"kind": "ack", "ok": False} and "more data than its declared size" in _message(a)
    assert not list((folders / "data" / "uploads").glob("*/map.npy"))  # the refused file is gone
    up.receive({"kind": "chunk", "file": 0, "offset": 0}, [b"x"])  # nothing open any more
    assert acks[-1] == {"kind": "ack", "ok": False}
    acks = _start(up, ["a.npy"], [100])
    up.receive({"kind": "chunk", "file": 3, "offset": 0}, [b"x"])  # no such file
    assert acks[-1]["ok"] is False
    acks = _start(up, ["a.npy"], [100])
    up.receive({"kind": "chunk", "file": 0, "offset": 0}, [b"x" * 50])
    up.receive({"kind": "done"})  # half of it
    assert acks[-1]["ok"] is False and "incomplete" in _message(a)
    for names, sizes, says in [(["a.npy"], [-5], "more than"), ([f"m{i}" for i in range(9)], [1] * 9, "1 to 8 files"),
                               ([".hidden"], [1], "cannot be uploaded"), (["a", "a"], [1, 1], "cannot be uploaded"),
                               (["a.npy"], [up.max_bytes + 1], "more than this dashboard takes")]:
        acks = _start(up, names, sizes)
        assert acks[-1]["ok"] is False and says in _message(a), names
    acks = _start(up, ["../../evil.npy"], [1])  # a name, never a path
    assert acks[-1]["ok"] is True and up._paths[0].name == "evil.npy"
    assert up._paths[0].parent.parent == folders / "data" / "uploads"


def test_an_upload_named_with_a_nul_byte_is_refused_and_the_next_one_works(folders):
    """A name holding a NUL byte made open() and then the clean-up raise: the exception left the message handler,
    the browser got no answer (its button stayed disabled) and every later upload of that kernel failed."""
    a = App("sample:P45", background=False)
    up = a.data.upload
    acks = []
    up.send = acks.append
    up._safe_receive(None, {"kind": "start", "names": ["a\0b.npy"], "sizes": [3]}, [])
    assert acks[-1] == {"kind": "ack", "ok": False} and "cannot be uploaded" in _message(a)
    up._safe_receive(None, {"kind": "start", "names": ["good.npy"], "sizes": [3]}, [])
    assert acks[-1] == {"kind": "ack", "ok": True}


def test_a_damaged_export_target_leaves_nothing_half_written(folders):
    """An export writes a temporary folder that becomes the target at the end. Before, a folder in the way of one
    file (``phase_1.msa``) stopped the export after five files, which looked like a complete result."""
    a = App("synthetic:60x80", background=False)
    trap = folders / "exports" / "trap"
    (trap / "phase_1.msa").mkdir(parents=True)
    a.export("trap")
    assert "holds other files" in _message(a)
    assert [p.name for p in trap.iterdir()] == ["phase_1.msa"]
    a.export("mine")  # an earlier export is replaced whole
    first = sorted(p.name for p in (folders / "exports" / "mine").iterdir())
    a.export("mine")
    assert sorted(p.name for p in (folders / "exports" / "mine").iterdir()) == first and "phases.csv" in first
    assert not [p for p in (folders / "exports").iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("field, value", [
    ("source", None), ("calibration", 5), ("calibration", [1]), ("calibration", {"a": 1}), ("n_clusters", 1e309),
    ("overrides", [1, 2]), ("grain_options", {"evil": 1}), ("crop", [0, 10]), ("has_labels", "yes"),
    ("paint", {"shape": [60, 80], "rows": [0, 99], "cols": [0, 1], "classes": [0, 1]}),
    ("paint", {"shape": [60, 80], "rows": [0, 1], "cols": [0, 1], "classes": [0, 10**9]}),
    ("paint", {"shape": [60, 80], "rows": [0.5, 1], "cols": [0, 1], "classes": [0, 1]}),
    ("paint", {"shape": [60, 80], "rows": [0, 1], "cols": [0], "classes": [0, 1]}),
    ("paint", {"shape": [60, 80], "rows": [-1, 1], "cols": [0, 1], "classes": [0, 1]}),
])
def test_a_damaged_session_file_is_one_message(folders, field, value):
    """Each of these ended in a KeyError, TypeError, IndexError, OverflowError or AttributeError (the page's
    generic "something went wrong"), or, for negative painted rows, was read silently (-1 is the last row)."""
    state = dict(format="phasedash-session-1", source="synthetic:60x80", label_names=["a", "b"])
    if value is None:
        del state[field]
    else:
        state[field] = value
    a = App("synthetic:60x80", background=False)
    a.restore(json.dumps(state).encode())
    assert "session file" in _message(a).lower() and "went wrong" not in _message(a).lower(), _message(a)
    with pytest.raises(ValueError, match="session file"):
        Session().restore(state)


def test_a_deeply_nested_session_file_is_a_message():
    a = App("synthetic:60x80", background=False)
    a.restore(b"[" * 100000 + b"]" * 100000)  # a RecursionError left the widget's handler
    assert "not a session file" in _message(a).lower()


def test_absurd_numbers_given_to_a_session_are_messages(folders):
    s = Session()
    s.load("synthetic:60x80")
    for call in (lambda: s.crop((np.inf, 10), (0, 10)), lambda: s.crop((0,), (0, 10)), lambda: s.crop(5, 5),
                 lambda: s.decompose("PCA", np.inf)):
        with contextlib.suppress(ValueError):  # a ValueError with words, or nothing wrong (a tiny scale: no lines)
            call()
    s.run_pca()
    s.decompose("PCA", 3)
    assert len(s.estimate_clusters(10**9).scores["silhouette"]) <= 19  # was 2 to 2399 clusters (minutes)
    with pytest.raises(ValueError, match="whole number"):
        s.run_clustering("kmeans", np.inf)
    with pytest.raises(ValueError, match="must map component numbers"):
        s.phase_map("loadings", overrides=[1, 2])  # an AttributeError before
    s.paint = np.zeros(s.image.shape[:2], np.int16) + (np.arange(80) % 5).astype(np.int16)
    s.label_names = ["a", "b"]
    from phasedash.training import train

    with pytest.raises(ValueError, match="only 2 classes are named"):
        train(s, "knn")  # an IndexError inside the training before
    s.set_calibration(0.0, 1e-12)  # a 1.6 TiB MemoryError naming the lines (1e-9: minutes in a Gaussian filter)
    assert s.total_lines == []


def test_sums_of_64_bit_counts_that_would_wrap_are_refused():
    from phasedash.sources import summed

    data = np.zeros((4, 4, 20), np.uint64)
    data[..., 5:10] = 2**62  # a pixel's sum passes int64's range: it wrapped, read as a map of nothing
    with pytest.raises(ValueError, match="far too large"):
        summed(data.reshape(-1, 20))


_KERNEL = """
import sys
from pathlib import Path
from phaselib import save
from phaselib.datasets import make_rock
from phasedash import App
data = Path(sys.argv[1])
blob = save(make_rock((20, 30), seed=1).image, data.parent / "mine.hspy").read_bytes()
for keep in (False, True):
    a = App("sample:P45", background=False)
    up = a.data.upload
    up.send = lambda m: None
    up.receive({"kind": "start", "names": ["mine.hspy"], "sizes": [len(blob)]})
    up.receive({"kind": "chunk", "file": 0, "offset": 0}, [blob])
    up.receive({"kind": "done"})
    assert a.session.image.shape[:2] == (20, 30), a.runner.message.value
    if keep:
        a.save_session("saved")
print("ok")
"""


def test_uploads_are_removed_when_the_kernel_ends_unless_a_saved_session_needs_them(folders):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "dashboards")}
    out = subprocess.run([sys.executable, "-c", _KERNEL, str(folders / "data")], env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
    left = list((folders / "data" / "uploads").glob("*/mine.hspy"))
    assert len(left) == 1 and (left[0].parent / upload.KEEP).exists()  # the one the session points at
    saved = json.loads((folders / "exports" / "saved" / "session.json").read_text())
    assert folders / "data" / saved["source"] == left[0] and not Path(saved["source"]).is_absolute()
    dead = folders / "data" / "uploads" / "999999999-dead"  # a kernel killed before cleaning up
    dead.mkdir()
    (dead / "x.bcf").write_bytes(b"x")
    upload.sweep(folders / "data" / "uploads")
    assert not dead.exists() and left[0].exists()


# ------------------------------------------------------------------ shared results
def _state(s):
    return (s.image.shape, s.n_components, s.n_clusters, s.labels.copy(), s.pca.loadings.copy(),
            s.spectra.sums.copy(), s.refinement)


def _same(a, b):
    assert a[:3] == b[:3] and a[6] == b[6]
    for x, y in zip(a[3:6], b[3:6]):
        np.testing.assert_array_equal(x, y)


def test_the_first_look_is_computed_once_and_shared_read_only(folders, monkeypatch):
    monkeypatch.setenv(cache.ENV, "off")
    fresh = _state(App("sample:P45", background=False).session)
    monkeypatch.setenv(cache.ENV, str(folders / "cache"))
    first = App("sample:P45", background=False)  # computes and writes the entry
    entries = [p for p in (folders / "cache").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "state.pickle").exists()
    calls = []
    second = Session()
    assert cache.first_look(second, "sample:P45", lambda: calls.append(1)) and not calls  # read, not computed
    for s in (first.session, second):
        _same(_state(s), fresh)
        assert isinstance(s.image.data, np.memmap) and not s.image.data.flags.writeable  # one copy, read-only
    assert second.image.data.filename == first.session.image.data.filename
    # every step still works on the read-only arrays, and gives what a fresh session gives
    app = App("sample:P45", background=False)
    app.phase_map.min_size.value = 20
    app.crop((0, 40), (0, 60))
    app.phase_map.source.value = "loadings"
    assert _message(app) == "" and app.session.labels.shape == (40, 60)


def test_a_full_cache_makes_room_by_dropping_other_code_versions(folders, monkeypatch):
    """Entries of an earlier code are never read again: when the cache is full they go, and the current
    code's first look is stored (a full cache of stale entries made every kernel of a class compute it)."""
    root = folders / "cache"
    monkeypatch.setenv(cache.ENV, str(root))
    monkeypatch.setenv("PHASEDASH_CACHE_MAX", str(30 * 2**20))
    stale = root / "0123456789abcdef01234567"
    stale.mkdir()
    np.save(stale / "a.npy", np.zeros(31 * 2**20, np.uint8))  # over the limit on its own
    (stale / "version").write_text("an earlier code")
    App("synthetic:60x80", background=False)
    entries = [p for p in root.iterdir() if p.is_dir()]
    assert not stale.exists() and len(entries) == 1
    assert (entries[0] / "version").read_text() == cache.code_version()
    calls = []
    assert cache.first_look(Session(), "synthetic:60x80", lambda: calls.append(1)) and not calls


def test_steps_on_a_bundled_map_are_shared_and_equal_a_fresh_computation(folders, monkeypatch):
    monkeypatch.setenv(cache.ENV, "off")
    fresh = App("synthetic:60x80", background=False)
    k = fresh.session.n_clusters + 1
    fresh.clustering.k.value = k
    monkeypatch.setenv(cache.ENV, str(folders / "cache"))
    a, b = App("synthetic:60x80", background=False), App("synthetic:60x80", background=False)
    a.grain_panel.go.click()  # a's own result: not shared, not lost
    a.clustering.k.value = k
    calls = []
    assert cache.step(b.session, ["cluster", "kmeans", k, 0.5], lambda: calls.append(1),
                      sets=("cluster_method", "n_clusters", "membership_threshold")) and not calls
    b.clustering.k.value = k  # the slider: read from a's computation too
    for app in (a, b):
        _same(_state(app.session), _state(fresh.session))
        assert f"{k} clusters" in app.clustering.clusters.figure.title
    assert a.session.grains is not None and b.session.grains is None
    npy = sum(f.stat().st_size for f in (folders / "cache").rglob("*.npy"))
    assert npy < 1.2 * b.session.image.data.nbytes  # the map is stored once, not once per step


def test_a_step_is_shared_whatever_number_of_clusters_the_student_came_from(folders, monkeypatch):
    """The result of asking for k clusters does not depend on the k before: a student who went 6 -> 9
    and one who went 6 -> 7 -> 9 read one computation (the key left out the choices a step replaces)."""
    monkeypatch.setenv(cache.ENV, "off")
    fresh = App("synthetic:60x80", background=False)
    k0 = fresh.session.n_clusters
    fresh.clustering.k.value = k0 + 3
    monkeypatch.setenv(cache.ENV, str(folders / "cache"))
    a, b = App("synthetic:60x80", background=False), App("synthetic:60x80", background=False)
    a.clustering.k.value = k0 + 3
    b.clustering.k.value = k0 + 1
    calls = []
    assert cache.step(b.session, ["cluster", "kmeans", k0 + 3, 0.5], lambda: calls.append(1),
                      sets=("cluster_method", "n_clusters", "membership_threshold")) and not calls
    _same(_state(b.session), _state(fresh.session))
    # what the step does not replace still tells results apart: another minimum size is another entry
    b.phase_map.min_size.value = b.session.min_size + 7
    assert not cache.step(b.session, ["cluster", "kmeans", k0 + 3, 0.5], lambda: calls.append(1),
                          sets=("cluster_method", "n_clusters", "membership_threshold")) and calls == [1]


def test_a_class_arriving_together_computes_the_first_look_once(folders, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(folders / "cache"))
    calls, sessions = [], [Session() for _ in range(4)]

    def compute(s):
        calls.append(1)
        time.sleep(0.5)
        s.load("synthetic:40x50")

    threads = [threading.Thread(target=cache.first_look, args=(s, "synthetic:40x50", lambda s=s: compute(s)))
               for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(calls) == 1 and all(s.image is not None and s.image.shape[:2] == (40, 50) for s in sessions)


def test_cache_entries_are_whole_or_absent_and_follow_the_code(folders, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(folders / "cache"))
    s = Session()
    cache.first_look(s, "synthetic:40x50", lambda: s.load("synthetic:40x50"))
    entry = folders / "cache" / cache.key("synthetic:40x50")
    (entry / "state.pickle").write_bytes(b"damaged")
    (folders / "cache" / ".x.tmp-1").mkdir()  # what a killed writer leaves: ignored
    calls = []
    assert not cache.first_look(Session(), "synthetic:40x50", lambda: calls.append(1))  # recomputed
    assert calls == [1]
    monkeypatch.setattr(cache, "code_version", lambda: "another")
    assert cache.key("synthetic:40x50") != entry.name
    assert not cache.shareable("synthetic:123x45") and cache.shareable("synthetic:200x300")
    assert cache.shareable("synthetic:60x80")  # named by the server (PHASEDASH_SHARED_MAPS)
    assert not cache.shareable("sample:P45", {"energy_offset": 0.1})


# ------------------------------------------------------------------ the first look of each step
def test_steps_that_need_a_button_say_so(folders):
    a = App("synthetic:60x80", background=False)
    for view, button in [(a.comparison.maps["nmf-otsu"], "Compare the methods"), (a.comparison.disagree, "Compare"),
                         (a.grain_panel.map, "Separate grains"), (a.grain_panel.hist, "Separate grains"),
                         (a.clustering.curves, "Estimate the number"), (a.clustering.membership, "fuzzy c-means")]:
        assert view.waiting and button in view.note.value and view.frame.layout.visibility == "hidden"
        assert view.figure.layout.display is None  # laid out under the note: bqplot draws no negative sizes
    a.comparison.go.click()
    a.grain_panel.go.click()
    a.clustering.estimate_btn.click()
    for view in (a.comparison.disagree, a.grain_panel.map, a.clustering.curves):
        assert not view.waiting and view.frame.layout.visibility is None
    assert a.comparison.prior.widget not in a.comparison.beside.children  # not the prior's phase map: not drawn
    a.clustering.method.value = "fuzzy c-means"  # new clusters: the comparison made before no longer applies
    assert not a.clustering.membership.waiting and a.comparison.disagree.waiting and a.comparison.result is None


def test_legends_sit_below_the_plots_and_numbers_are_rounded():
    a = App("sample:P45", background=False)
    scree = a.decomposition.scree
    assert not scree.lines.display_legend and "Poisson noise" in scree.legend.value
    assert not a.phase_map.spectra.lines.display_legend and "phase 0" in a.phase_map.spectra.legend.value
    px = re.search(r"pixel (\S+) um", a.data.info.value).group(1)
    assert len(px.lstrip("0.").replace(".", "")) <= 3 and float(px) == pytest.approx(a.session.image.pixel_size,
                                                                                     rel=5e-3)


# ------------------------------------------------------------------ the server's settings
def test_the_served_settings_free_kernels_and_keep_a_coffee_break():
    conf = json.loads((ROOT / "dashboards" / "voila.json").read_text())
    cull = conf["MappingKernelManager"]
    assert 20 * 60 <= cull["cull_idle_timeout"] <= 60 * 60 and cull["cull_interval"] <= 120
    assert 15 * 60 <= conf["ClassroomKernelManager"]["cull_disconnected_timeout"] <= cull["cull_idle_timeout"]
    v = conf["VoilaConfiguration"]
    assert v["preheat_kernel"] and v["multi_kernel_manager_class"] == "phasedash.server.ClassroomKernelManager"
    assert conf["VoilaExecutor"]["iopub_timeout"] >= 60  # the class's pages render under load
    binder = (ROOT / "binder" / "postBuild").read_text()
    assert '"cull_idle_timeout": 1800' in binder


def test_a_class_server_keeps_kernels_ready_and_refills_them_only_when_quiet():
    """``class_size`` kernels wait with the dashboard imported; a page takes one and no new kernel starts
    while pages keep opening; a page that finds none ready gets a new kernel at once, not after the wait.
    The page's loading screen is still."""
    import urllib.request

    from _voila import kernel_processes, voila_server, wait_preheated

    page = "/voila/render/phase_mapping.ipynb?map=synthetic:60x80"
    with voila_server(args=["--ClassroomKernelManager.class_size=1",
                            "--ClassroomKernelManager.refill_when_quiet=600"]) as url:
        ready = set(wait_preheated(url, 2))  # 1 ready + full_map's, each having run its page (idle again)
        assert len(ready) == 2
        t0 = time.time()
        body = urllib.request.urlopen(url + page, timeout=180).read().decode()
        assert "widget-view+json" in body
        first = time.time() - t0
        # the page template (share/voila/templates/phaselib): a loading screen with nothing to animate,
        # which a class's waiting pages would otherwise keep drawing
        assert "#loading, #loading * { animation: none !important; }" in body and "@keyframes rotation" in body
        time.sleep(4)  # Voilà alone would have started a new ready kernel 1 s after
        assert set(kernel_processes(url.proc.pid)) == ready
        t0 = time.time()
        assert "widget-view+json" in urllib.request.urlopen(url + page, timeout=180).read().decode()
        assert time.time() - t0 < 120  # a new kernel at once, not the refill put off for 600 s
        assert len(set(kernel_processes(url.proc.pid)) - ready) == 1, first


def test_a_ready_kernel_that_died_is_never_given_to_a_page():
    """A ready kernel can die before its page comes (a class run saw one fail to start: "Address already in
    use" on a port taken meanwhile; Voilà kept it in its pool and handed it to the 29th student, whose page
    never rendered). Killed here: restarted, it no longer holds the page's widgets. The page gets a live
    kernel, and the dead ones are shut down."""
    import signal
    import urllib.request

    from _voila import kernel_processes, voila_server, wait_preheated

    page = "/voila/render/phase_mapping.ipynb?map=synthetic:60x80"
    with voila_server(args=["--ClassroomKernelManager.class_size=2",
                            "--ClassroomKernelManager.refill_when_quiet=600"]) as url:
        killed = wait_preheated(url, 3)  # 2 ready + full_map's
        assert len(killed) == 3
        for proc in killed.values():
            proc.send_signal(signal.SIGKILL)
        time.sleep(8)  # Jupyter's restarter starts them again: new processes, without the pages' widgets
        body = urllib.request.urlopen(url + page, timeout=180).read().decode()
        kernel = re.search(r'"kernelId": "([0-9a-f-]+)"', body).group(1)
        assert kernel not in killed and "widget-view+json" in body
        t0 = time.time()
        while len(set(kernel_processes(url.proc.pid)) & set(killed)) > 1 and time.time() < t0 + 30:
            time.sleep(0.5)
        left = set(kernel_processes(url.proc.pid)) & set(killed)
        assert len(left) <= 1, left  # the guided page's are shut down; full_map's pool was not asked for


def test_kernel_ports_lie_below_the_outgoing_connections_range():
    """Ports Jupyter gives a kernel are bindable, distinct and below the range the server's own outgoing
    connections take theirs from (a port taken meanwhile killed a ready kernel at its start)."""
    import socket

    from phasedash.server import KernelPorts, ephemeral_ports

    low, high = ephemeral_ports()
    assert 1024 <= low < high
    cache = KernelPorts()
    ports = [cache.find_available_port("127.0.0.1") for _ in range(200)]
    assert len(set(ports)) == 200 and all(max(1024, low - 10000) <= p < low for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))


def test_a_refill_keeps_a_class_in_the_room_plus_a_few_spare_kernels():
    """A class of 30 in the room holds 30 kernels: the refill (when the server is quiet) keeps 3 ready for
    latecomers, not 30 more (that doubled the server's memory: 4.3 -> 7.2 GB PSS in a class run); the pool
    grows back as the class's kernels end."""
    from phasedash.server import ClassroomKernelManager, pool_target

    assert pool_target(30, 30, 3) == 3 and pool_target(30, 28, 3) == 3 and pool_target(30, 20, 3) == 10
    assert pool_target(30, 0, 3) == 30 and pool_target(30, 45, 3) == 3
    assert pool_target(2, 5, 3) == 2 and pool_target(0, 5, 3) == 0
    assert ClassroomKernelManager.class_spare.default_value == 3
