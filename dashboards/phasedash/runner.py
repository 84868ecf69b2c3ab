"""Run computations off the kernel's main thread, one at a time, with progress and messages.

A job is ``compute()`` (in a worker thread) then ``show(result)``. If the same kind
of job is asked for again before the first is shown, the first result is dropped:
the view always shows the latest request, never a mix. Errors become a message in
the page; the kernel keeps running.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import ipywidgets as W

from .confine import user_message

#: characters of a message shown (a name typed 5000 characters long ran off the page)
MAX_MESSAGE = 400


class Runner:
    """One worker thread, a progress bar and a message area.

    Parameters
    ----------
    background : bool
        Run jobs in a worker thread (the app); False runs them at once (tests, scripts).
    """

    def __init__(self, background=True):
        self.background = background
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="220px", visibility="hidden"))
        self.status = W.HTML("")
        self.message = W.HTML("")
        self.widget = W.HBox([self.progress, self.status])
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phasedash") if background else None
        self._latest = {}
        self._lock = self.lock = threading.RLock()
        self._futures = []
        self._pending = 0  # jobs queued or computing whose result is not shown yet
        self.on_idle = None  # called (under the lock) when the last such job is done
        self.on_error = None  # called (under the lock) with a job's kind when it failed
        self.last_seconds = {}

    def report(self, fraction, text=""):
        """A phaselib ``progress(fraction, message)`` callback."""
        self.progress.value = float(min(max(fraction, 0.0), 1.0))
        self.status.value = f"<span style='color:#555'>{html.escape(str(text))}</span>"

    def error(self, err, doing="working"):
        """Show an error as a message in the page: a sentence, no traceback, no server path
        (:func:`phasedash.confine.user_message`); a string is shown as it is."""
        text = err if isinstance(err, str) else user_message(err, doing)
        text = text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"  # a 5000-character path
        self.message.value = (f"<div class='phasedash-error' style='color:#a50f15;background:#fee0d2;"
                              f"padding:6px;border-radius:4px'>&#9888; {html.escape(text)}</div>")

    def clear(self):
        self.message.value = ""

    def run(self, kind, compute, show=None, label="working", *, wait=False, keep_message=False):
        """Compute in the worker, then show the result unless a newer ``kind`` job was asked for.

        ``wait=True`` runs it now, in this thread (for the first map, so that the page Voilà
        renders already holds it: updates sent before the browser connects can be lost).
        ``keep_message=True``: a job the page starts by itself (not the user) leaves the message shown (an
        error of a request made meanwhile is not wiped by it).
        """
        with self._lock:
            token = self._latest.get(kind, 0) + 1
            self._latest[kind] = token
        if wait or not self.background:
            return self._job(kind, token, compute, show, label, keep_message=keep_message)
        with self._lock:
            self._pending += 1
        fut = self._pool.submit(self._job, kind, token, compute, show, label, True, keep_message)
        self._futures = [f for f in self._futures if not f.done()] + [fut]
        return fut

    @property
    def busy(self) -> bool:
        """True while a job is queued or computing in the worker (its result not shown yet)."""
        return self._pending > 0

    def _current(self, kind, token):
        return self._latest.get(kind) == token

    def _job(self, kind, token, compute, show, label, queued=False, keep_message=False):
        shown = False  # the job left ``busy`` (under the lock, with its result shown)
        try:
            if not self._current(kind, token):
                return None  # a newer request of this kind is queued behind us
            t0 = time.perf_counter()
            self.progress.layout.visibility = "visible"
            self.report(0.0, label + "...")
            if not keep_message:
                self.clear()
            try:
                result = compute()
                with self._lock:
                    if show is not None and self._current(kind, token):
                        show(result)
                    if queued:
                        self._done_one()
                        shown = True
                return result
            except Exception as err:  # noqa: BLE001 - every error is shown, the kernel survives
                self.error(err, label)
                if self.on_error is not None and self._current(kind, token):
                    with self._lock, contextlib.suppress(Exception):  # the controls back to what is in effect
                        self.on_error(kind)
                return None
            finally:
                self.last_seconds[kind] = time.perf_counter() - t0
                self.progress.layout.visibility = "hidden"
                self.status.value = ""
        finally:
            if queued and not shown:
                with self._lock:
                    self._done_one()

    def _done_one(self):
        self._pending -= 1
        if self._pending == 0 and self.on_idle is not None:
            try:
                self.on_idle()
            except Exception as err:  # noqa: BLE001 - shown, the kernel survives
                self.error(err, "redrawing")

    def wait(self, timeout=120):
        """Wait for every queued job (tests)."""
        for f in list(self._futures):
            f.result(timeout=timeout)
