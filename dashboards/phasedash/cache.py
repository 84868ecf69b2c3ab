"""The bundled maps' first look, computed once per server and shared read-only by every kernel.

Every student of a class opens the same bundled map and sees the same first results: the loaded
map, its PCA, the default decomposition, clusters and phase map. :func:`first_look` computes them
once, stores the session's state in a cache folder and lets every other kernel read it back:

* the arrays (the map itself first of all) are ``.npy`` files opened with ``mmap_mode="r"``: the
  operating system keeps one copy in its page cache for every kernel, read-only;
* the rest (small results, names, parameters) is a pickle whose arrays point at those files;
* an entry is written into a temporary folder and renamed into place (``os.replace``): a reader
  sees a whole entry or none; a lock file makes the kernels that arrive while the first computes
  wait for its result instead of computing it again.

The steps students then take on a bundled map (another number of clusters, another
decomposition) are shared the same way by :func:`step`, keyed by the whole session's choices
(:meth:`~phasedash.session_file.SessionFile.to_dict`) and the request: in a class following the
same instructions, the first student computes each step and the others read it. Arrays already in
the cache (the map) are referred to, not written again; new entries stop when the folder holds
``PHASEDASH_CACHE_MAX`` bytes (default 4 GB).

The key is a hash of the map's name, the cache format, the versions of numpy, scipy and
scikit-learn and the source code of phaselib and of the dashboard's computing modules: a change of
code or library gives new entries, never stale results. Only the bundled maps are shared (the
names in :data:`phasedash.state.SAMPLES`, plus those in ``PHASEDASH_SHARED_MAPS``, comma-separated):
a page cannot fill the disk with entries of maps of its own.

``PHASEDASH_CACHE_DIR`` sets the folder (default ``$XDG_CACHE_HOME/phasedash``, else
``~/.cache/phasedash``); ``PHASEDASH_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import pickle
import shutil
import time
import weakref
from importlib import metadata
from pathlib import Path

import numpy as np

FORMAT = 1
ENV = "PHASEDASH_CACHE_DIR"
MIN_MAPPED_BYTES = 64 * 2**10  # arrays from this size on are .npy files, memory-mapped when read
LOCK_WAIT = 600.0  # seconds a kernel waits for another one computing the same entry
_PRIVATE = ("_truth_full", "_grains_full", "_spatial", "_refined", "_sums_of", "_auto_phases")
_OWN = ("estimate", "grains", "grain_options")  # what a student asked for beyond the shared steps: never shared
_FROM_FILE = weakref.WeakValueDictionary()  # id(array) -> array read from the cache (its file: _FILE_OF)
_FILE_OF = {}


def folder() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get(ENV, "")
    if env.strip().lower() in ("off", "none", "0"):
        return None
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phasedash"


def shareable(source, calibration=None) -> bool:
    """Whether the first look of ``source`` is shared: a bundled map opened with its own calibration."""
    from .state import SAMPLES

    extra = [s.strip() for s in os.environ.get("PHASEDASH_SHARED_MAPS", "").split(",") if s.strip()]
    return folder() is not None and not calibration and str(source).strip() in {*SAMPLES.values(), *extra}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of what the results depend on: library versions and the source of the computing code."""
    import phaselib

    h = hashlib.sha256()
    for dist in ("numpy", "scipy", "scikit-learn", "scikit-image"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(f"{dist}={metadata.version(dist)};".encode())
    here = Path(__file__).resolve().parent
    files = sorted(Path(phaselib.__file__).resolve().parent.rglob("*.py"))
    files += [here / n for n in ("app.py", "pipeline.py", "state.py", "phases.py", "sources.py", "session_file.py",
                                 "cache.py")]
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def key(source) -> str:
    """The name of the cache entry of ``source``'s first look."""
    text = json.dumps([FORMAT, str(source).strip(), code_version()])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def first_look(session, source, compute):
    """Give ``session`` the first look of ``source``: from the cache, else ``compute()`` and store it.

    ``compute()`` loads ``source`` into ``session`` and computes the first results (what the app
    shows on opening). Returns True when the state came from the cache.
    """
    root = folder()
    if root is None:
        compute()
        return False
    return _shared(session, root / key(source), compute, fresh=True)


def step(session, request, compute, sets=()):
    """Run ``compute()`` (a step that changes ``session``), or read its result from the cache.

    Shared only on a bundled map (:func:`shareable`); ``request`` (JSON-able) names what the student
    asked for; ``sets``: the session's choices (``to_dict`` keys) that the request replaces, left out
    of the key (a student going from 6 to 9 clusters and one going from 8 to 9 share the result).
    Returns True when the result came from the cache.
    """
    root = folder()
    if root is None or not shareable(session.source) or session.image is None:
        compute()
        return False
    skip = {"grain_options", "has_grains", *sets}
    choices = {k: v for k, v in session.to_dict().items() if k not in skip}
    text = json.dumps([FORMAT, code_version(), choices, request], sort_keys=True, default=str)
    return _shared(session, root / ("s" + hashlib.sha256(text.encode()).hexdigest()[:24]), compute)


def _shared(session, entry, compute, fresh=False):
    """``fresh``: a new map (what the student computed on the old one goes)."""
    if _read(session, entry, fresh):
        return True
    with _lock(entry.with_name(f"{entry.name}.lock")) as writable:
        if not writable:  # a cache this kernel may read but not write (another user's, a read-only disk)
            compute()
            return False
        if _read(session, entry, fresh):  # another kernel computed it while this one waited
            return True
        compute()
        if not _full(entry.parent, evict=True) and _write(session, entry):
            _read(session, entry)  # this kernel too holds the shared, memory-mapped arrays, not its own copy
    return False


def _full(root, evict=False) -> bool:
    """Whether the cache holds ``PHASEDASH_CACHE_MAX`` bytes of arrays (4 GB); ``evict``: first remove the
    entries of other code versions (they are never read again: a change of the code makes new keys)."""
    try:
        limit = int(os.environ.get("PHASEDASH_CACHE_MAX", 4 * 2**30))
    except ValueError:
        limit = 4 * 2**30
    size = sum(f.stat().st_size for f in root.rglob("*.npy"))
    if size > limit and evict:
        for entry in root.iterdir():
            if entry.is_dir() and not entry.name.startswith(".") and _version(entry) != code_version():
                shutil.rmtree(entry, ignore_errors=True)  # kernels that mapped its arrays keep them
                entry.with_name(f"{entry.name}.lock").unlink(missing_ok=True)
        size = sum(f.stat().st_size for f in root.rglob("*.npy"))
    return size > limit


def _version(entry) -> str:
    try:
        return (entry / "version").read_text().strip()
    except OSError:
        return ""


def snapshot(session) -> dict:
    """The state of ``session``: its traits and the results it keeps for the next steps."""
    state = {name: getattr(session, name) for name in session.trait_names() if name not in _OWN}
    state.update({name: getattr(session, name) for name in _PRIVATE})
    return state


def restore(session, state):
    """Set a shared step's state; what the student asked for beyond it (:data:`_OWN`) goes where it no longer fits:
    grains of another phase map, the cluster estimate of other features (``Session`` drops them so on its own)."""
    with session.hold_trait_notifications():
        if session.grains is not None and not _same(session.labels, state.get("labels", session.labels)):
            session.grains = None
        if state.get("n_components", session.n_components) != session.n_components:
            session.estimate = None
        for name, value in state.items():
            setattr(session, name, value)


def _same(a, b):
    return a is b or (a is not None and b is not None and np.array_equal(a, b))


def _read(session, entry, fresh=False) -> bool:
    try:
        with open(entry / "state.pickle", "rb") as f:
            state = _Unpickler(f, entry).load()
    except FileNotFoundError:
        return False
    except Exception:  # noqa: BLE001 - an unreadable entry (another format, a damaged disk) is recomputed
        shutil.rmtree(entry, ignore_errors=True)
        return False
    if fresh:
        session.estimate = session.grains = None
    restore(session, state)
    return True


def _write(session, entry) -> bool:
    tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        with open(tmp / "state.pickle", "wb") as f:
            _Pickler(f, tmp).dump(snapshot(session))
        (tmp / "version").write_text(code_version())
        os.replace(tmp, entry)
        return True
    except (OSError, pickle.PicklingError):  # a full disk, an entry already there: the results stay in memory
        shutil.rmtree(tmp, ignore_errors=True)
        return False


@contextlib.contextmanager
def _lock(path):
    """Hold ``path``'s lock; yields whether the cache folder can be written (False: compute without sharing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")
    except OSError:
        yield False
        return
    with f:
        t0 = time.monotonic()
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - t0 > LOCK_WAIT:  # the other kernel is stuck: compute here
                    yield True
                    return
                time.sleep(0.2)
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Pickler(pickle.Pickler):
    """Pickles a state; arrays of ``MIN_MAPPED_BYTES`` and more go to ``.npy`` files beside it, and
    arrays read from the cache are referred to by their file."""

    def __init__(self, file, where):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.where, self.saved = where, {}

    def persistent_id(self, obj):
        if type(obj) not in (np.ndarray, np.memmap) or obj.dtype.hasobject or obj.nbytes < MIN_MAPPED_BYTES:
            return None
        if _FROM_FILE.get(id(obj)) is obj:
            return ("file", _FILE_OF[id(obj)])
        if id(obj) not in self.saved:  # one file per array, however often it is referred to
            name = f"a{len(self.saved)}.npy"
            np.save(self.where / name, np.ascontiguousarray(obj))
            self.saved[id(obj)] = (name, obj)  # obj kept alive: its id stays its own
        return ("npy", self.saved[id(obj)][0])


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, where):
        super().__init__(file)
        self.where, self.loaded = where, {}

    def persistent_load(self, pid):
        kind, name = pid
        parts = Path(name).parts
        if kind == "npy" and len(parts) == 1:
            rel = f"{self.where.name}/{name}"
        elif kind == "file" and len(parts) == 2 and ".." not in parts:
            rel = name
        else:
            raise pickle.UnpicklingError("not a phasedash cache entry")
        if rel not in self.loaded:
            arr = np.load(self.where.parent / rel, mmap_mode="r", allow_pickle=False)
            _FROM_FILE[id(arr)], _FILE_OF[id(arr)] = arr, rel
            self.loaded[rel] = arr
        return self.loaded[rel]
