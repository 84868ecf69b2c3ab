"""What every session of one ``panel serve`` process shares: a worker pool and the first results.

The first look at a map (the map loaded, PCA, decomposition, clustering, phase map, phase spectra
and mineral names) is computed once per process and map, kept in Panel's cache
(``pn.state.cache``) and handed to each new session as a :class:`~phasedash.state.Session` whose
traits point at the same, read-only, arrays. A session's own changes replace its traits with new
results (the Session never mutates a result), so they stay private to it.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..pipeline import run_pipeline
from ..state import Session

#: the map a page opens without ``?map=``
DEFAULT_MAP = "sample:P45"
#: maps whose first look is computed when the process starts (the two pages ``serve.sh --panel`` prints)
PREHEATED = (DEFAULT_MAP, "synthetic:200x300")
#: bundled maps the page may name (``?map=sample:NAME``)
SAMPLE_NAMES = ("P45",)
#: largest side and area of a synthetic map a page may ask for
MAX_SIDE, MAX_PIXELS = 400, 400 * 400
#: first looks kept per process, and the most map data (bytes) they may hold together
MAX_TEMPLATES, MAX_TEMPLATE_BYTES = 6, 1_500_000_000

#: one pool for the whole process: heavy work never runs on the server's event loop
POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="phasedash-panel")
_LOCK = threading.Lock()
_PRIVATE = ("_truth_full", "_grains_full", "_spatial", "_refined", "_sums_of")


def check_map_name(name) -> str:
    """The map a page asks for, checked: ``sample:NAME`` or ``synthetic:HxW[:counts]`` only.

    A class server opens no path on its disk from a URL, and synthetic maps are bounded
    (``synthetic:2x80000`` would take gigabytes).

    Raises
    ------
    ValueError
        With a message for the page.
    """
    name = str(name).strip()
    if name.startswith("sample:"):
        if name.split(":", 1)[1] not in SAMPLE_NAMES:
            raise ValueError(f"Unknown bundled map; this server has {', '.join('sample:' + s for s in SAMPLE_NAMES)}.")
        return name
    m = re.fullmatch(r"synthetic:(\d{1,6})x(\d{1,6})(?::(\d{1,6}(?:\.\d*)?))?", name.lower())
    if name.startswith("synthetic:") and m is None:
        raise ValueError("Synthetic maps are named 'synthetic:HxW' or 'synthetic:HxW:counts', e.g. synthetic:200x300.")
    if m is None:
        raise ValueError("This server opens bundled and synthetic maps only: ?map=sample:P45 or "
                         "?map=synthetic:200x300.")
    h, w = int(m.group(1)), int(m.group(2))
    counts = float(m.group(3)) if m.group(3) else None
    if not (4 <= h <= MAX_SIDE and 4 <= w <= MAX_SIDE and h * w <= MAX_PIXELS):
        raise ValueError(f"A synthetic map of {h} x {w} pixels is refused here: each side must be "
                         f"between 4 and {MAX_SIDE} pixels.")
    if counts is not None and not 1 <= counts <= 10_000:
        raise ValueError(f"A synthetic map's counts per pixel must be between 1 and 10000, got {counts:g}.")
    return f"synthetic:{h}x{w}" + ("" if counts is None else f":{counts:g}")


def first_look(name) -> Session:
    """A session on map ``name`` with every step done at its defaults and its minerals named."""
    s = Session()
    s.load(name)
    run_pipeline(s, pca=True)
    if s.image.beam_energy:
        s.name_minerals()
    _freeze(s)
    return s


def _freeze(session):
    """Make the arrays of a shared session read-only: a session that tried to change one in place
    would fail loudly instead of changing every student's map."""
    seen = set()

    def walk(value, depth=0):
        if id(value) in seen or depth > 2:
            return
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        elif isinstance(value, (tuple, list)):
            for v in value:
                walk(v, depth + 1)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v, depth + 1)
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            for v in vars(value).values():
                walk(v, depth + 1)

    for name in session.trait_names():
        walk(getattr(session, name))
    for name in _PRIVATE:
        walk(getattr(session, name))


def _cache():
    """The process's first looks, in Panel's cache (a dict shared by every session)."""
    import panel as pn

    return pn.state.cache.setdefault("phasedash-first-looks", {})


def first_look_future(name) -> Future:
    """The shared first look at ``name`` (a checked map name): computed once per process, in the pool.

    Every session asking for the same map while it is computed waits on the same future. A failure
    is not kept (the next page tries again); the oldest first looks are dropped beyond
    :data:`MAX_TEMPLATES` or :data:`MAX_TEMPLATE_BYTES`.
    """
    with _LOCK:
        cache = _cache()
        fut = cache.pop(name, None)
        if fut is None or (fut.done() and fut.exception() is not None):
            fut = POOL.submit(first_look, name)
        cache[name] = fut  # most recently used last
        _evict(cache)

    def forget_failure(f):
        if f.exception() is not None:
            with _LOCK:
                if _cache().get(name) is f:
                    del _cache()[name]

    fut.add_done_callback(forget_failure)
    return fut


def _evict(cache):
    def nbytes(f):
        if not f.done() or f.exception() is not None:
            return 0
        return int(getattr(f.result().image.data, "nbytes", 0))

    while len(cache) > MAX_TEMPLATES or (len(cache) > 1
                                          and sum(nbytes(f) for f in cache.values()) > MAX_TEMPLATE_BYTES):
        cache.pop(next(iter(cache)))


def preheat(names=PREHEATED):
    """Start computing the first looks at ``names`` (``panel serve --warm`` runs this at start), so
    that the class's first students do not wait for them; the futures, in order."""
    names = (names,) if isinstance(names, str) else names
    return [first_look_future(check_map_name(n)) for n in names]


def clone(template) -> Session:
    """A new session showing the same results as ``template``, sharing its (read-only) arrays."""
    s = Session()
    with s.hold_trait_notifications():
        for name in template.trait_names():
            value = getattr(template, name)
            setattr(s, name, dict(value) if isinstance(value, dict) else value)
    for name in _PRIVATE:
        setattr(s, name, getattr(template, name))
    return s


def snapshot(session):
    """Everything a failed action must put back (see :func:`restore`)."""
    return ({n: getattr(session, n) for n in session.trait_names()}, {n: getattr(session, n) for n in _PRIVATE})


def restore(session, saved):
    traits, private = saved
    with session.hold_trait_notifications():
        for name, value in traits.items():
            setattr(session, name, value)
    for name, value in private.items():
        setattr(session, name, value)
