"""A file upload that streams to disk in chunks: any size, little kernel memory, clear refusals.

ipywidgets' ``FileUpload`` sends the whole file in one websocket message and keeps it in the
kernel: a file over the server's message limit silently drops the page's connection, and a
500 MB map costs 500 MB of the Binder pod's 2 GB. This widget (anywidget) checks the size in
the browser, sends ``CHUNK``-byte slices one at a time (each acknowledged by the kernel) and
writes them straight to a folder of its own under the data folder's ``uploads/``.

The server does not trust the browser: the declared sizes are checked against the server's
limit (``PHASEDASH_MAX_UPLOAD``) and the free disk, a chunk past its file's declared size is
refused (the upload is dropped and its files removed), and the files must be whole at the end.
Uploaded files are removed when the kernel ends (or, after a crash, by the next upload on the
server), unless a saved session points at them (:func:`keep`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
from pathlib import Path

import anywidget
import traitlets

from phaselib.io._cubes import FITS_EXTENSIONS, TIFF_EXTENSIONS

from .confine import data_root, user_message

CHUNK = 8 * 2**20  # bytes per message: under Voilà's default 10 MB websocket limit
try:  # the largest upload taken, bytes (a server setting)
    MAX_BYTES = int(os.environ.get("PHASEDASH_MAX_UPLOAD", 8 * 2**30))
except ValueError:
    MAX_BYTES = 8 * 2**30
MAX_FILES = 8  # files in one upload (an .rpl and its .raw: 2)
MAX_FRAMES = 4096  # files in one upload of FITS or TIFF frames (a neutron ToF cube: one frame per bin)
FRAME_SUFFIXES = FITS_EXTENSIONS + TIFF_EXTENSIONS  # what phaselib reads as one frame per bin
KEEP = ".kept"  # marker of an upload folder that a saved session points at
_MINE = []  # upload folders of this kernel, removed at exit unless kept

_ESM = """
function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "file";
  input.multiple = true;
  input.accept = model.get("accept");
  input.style.display = "none";
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button pd-upload-button";
  button.textContent = model.get("description");
  button.title = model.get("tooltip");
  const status = document.createElement("span");
  status.className = "pd-upload-status";
  status.style.marginLeft = "8px";
  let acked = null;
  model.on("msg:custom", (msg) => {
    if (msg.kind === "ack" && acked) { const go = acked; acked = null; go(msg); }
  });
  const send = (content, buffers) => new Promise((resolve) => {
    acked = resolve;
    model.send(content, undefined, buffers || []);
  });
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const files = Array.from(input.files);
    input.value = "";
    if (!files.length) return;
    const total = files.reduce((s, f) => s + f.size, 0);
    const names = files.map((f) => f.name);
    if (total > model.get("max_bytes")) {
      model.send({ kind: "too_big", names, size: total });
      return;
    }
    button.disabled = true;
    try {
      const start = await send({ kind: "start", names, sizes: files.map((f) => f.size) });
      if (!start.ok) return;
      const chunk = model.get("chunk");
      let sent = 0;
      for (let i = 0; i < files.length; i++) {
        for (let offset = 0; offset < files[i].size; offset += chunk) {
          const buffer = await files[i].slice(offset, offset + chunk).arrayBuffer();
          const ack = await send({ kind: "chunk", file: i, offset }, [buffer]);
          if (!ack.ok) return;
          sent += buffer.byteLength;
          status.textContent = `uploading ${Math.floor((100 * sent) / Math.max(total, 1))} %`;
        }
      }
      status.textContent = "";
      await send({ kind: "done" });
    } finally {
      button.disabled = false;
    }
  });
  el.append(button, input, status);
}
export default { render };
"""


class ChunkedUpload(anywidget.AnyWidget):
    """Upload button; ``on_files(paths)`` is called with the files written to a new folder.

    Parameters
    ----------
    on_files : callable
        Called with the list of written paths (in the order chosen) when every byte is in.
    on_error : callable
        Called with a message when an upload is refused (too big, no disk space).
    """

    _esm = _ESM
    description = traitlets.Unicode("Upload").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    accept = traitlets.Unicode("").tag(sync=True)
    max_bytes = traitlets.Int(MAX_BYTES).tag(sync=True)
    chunk = traitlets.Int(CHUNK).tag(sync=True)

    def __init__(self, on_files, on_error, **kwargs):
        super().__init__(**kwargs)
        self._on_files, self._on_error = on_files, on_error
        self._open, self._paths, self._sizes = None, [], []  # (index, file) written now: one file open at a time
        self.on_msg(self._safe_receive)

    def _safe_receive(self, _, content, buffers):
        try:
            self.receive(content, buffers)
        except Exception as exc:  # a full disk, a closed file: say so, free the browser's button
            self._drop()
            self._on_error(f"Upload failed: {user_message(exc, 'uploading')}")
            self.send({"kind": "ack", "ok": False})

    def receive(self, content, buffers=()):
        """Handle one message from the browser (public for tests). Nothing in it is trusted."""
        kind = content.get("kind")
        if kind == "too_big":
            names = ", ".join(Path(str(n)).name[:80] for n in list(content.get("names") or [])[:MAX_FILES])
            self._on_error(f"{names}: {_size(_int(content.get('size')))} is more than this dashboard takes "
                           f"({_size(self.max_bytes)}); open a crop or a binned copy, or put it in the "
                           f"server's data folder.")
        elif kind == "start":
            self._drop()
            refusal = self._start(list(content.get("names") or []), list(content.get("sizes") or []))
            if refusal:
                self._on_error(refusal)
            self.send({"kind": "ack", "ok": not refusal})
        elif kind == "chunk" and self._paths:
            i, offset = _int(content.get("file")), _int(content.get("offset"))
            data = bytes(buffers[0]) if buffers else b""
            if not 0 <= i < len(self._paths) or offset < 0 or offset + len(data) > self._sizes[i]:
                name = self._paths[i].name if 0 <= i < len(self._paths) else "the upload"
                self._drop()
                self._on_error(f"{name}: more data than its declared size arrived; the upload was refused.")
                return self.send({"kind": "ack", "ok": False})
            f = self._file(i)
            f.seek(offset)
            f.write(data)
            self.send({"kind": "ack", "ok": True})
        elif kind == "done" and self._paths:
            paths, sizes = self._paths, self._sizes
            self._close()
            self._paths, self._sizes = [], []  # finished: a later chunk opens nothing
            short = [p.name for p, n in zip(paths, sizes) if p.stat().st_size != n]
            if short:
                self._drop(paths)
                self._on_error(f"{', '.join(short)}: the upload is incomplete; try again.")
                return self.send({"kind": "ack", "ok": False})
            self.send({"kind": "ack", "ok": True})
            self._on_files(paths)
        elif kind in ("chunk", "done"):  # no upload open (refused, or never started)
            self.send({"kind": "ack", "ok": False})

    def _start(self, names, sizes):
        """Open the files of a new upload; returns a refusal message, or "" when under way."""
        names = [Path(str(n)).name for n in names]
        sizes = [_int(n) for n in sizes]
        frames = bool(names) and all(Path(n).suffix.lower() in FRAME_SUFFIXES for n in names)
        most = MAX_FRAMES if frames else MAX_FILES
        if not names or len(names) != len(sizes) or len(names) > most:
            return (f"Upload 1 to {MAX_FILES} files at once (up to {MAX_FRAMES} FITS or TIFF frames of one "
                    f"cube).")
        if (any(not n or n.startswith(".") or len(n) > 200 or any(ord(c) < 32 or c == "\x7f" for c in n)
                for n in names) or len(set(names)) != len(names)):
            return "These file names cannot be uploaded (hidden, too long, repeated or with control characters)."
        if min(sizes) < 0 or sum(sizes) > self.max_bytes:
            return (f"{', '.join(names)}: {_size(max(sum(sizes), 0))} is more than this dashboard takes "
                    f"({_size(self.max_bytes)}).")
        root = data_root() / "uploads"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            return "Uploads are off on this server: its data folder cannot be written (open a file already there)."
        sweep(root)
        need, free = sum(sizes), shutil.disk_usage(root).free
        if need > free:
            return f"{_size(need)} to upload, but only {_size(free)} of disk is free on the server."
        folder = root / f"{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir()
        _MINE.append(folder)
        self._paths, self._sizes = [folder / n for n in names], sizes
        for p in self._paths:  # created empty now (a file of 0 bytes gets no chunk); each opened when written
            p.touch()
        return ""

    def _file(self, i):
        """File ``i`` of the upload, open for writing; the one before closed (4096 frames open at once would pass a
        server's usual limit of 1024 open files)."""
        if self._open is None or self._open[0] != i:
            self._close()
            self._open = (i, open(self._paths[i], "r+b"))  # noqa: SIM115 - closed in _close
        return self._open[1]

    def _close(self):
        if self._open is not None:
            f, self._open = self._open[1], None
            f.close()

    def _drop(self, paths=None):
        """Close the upload under way and remove its files (a refused or broken upload)."""
        paths = self._paths if paths is None else paths
        self._paths, self._sizes = [], []  # forgotten first: a path that cannot be removed stays no longer
        try:
            self._close()
        finally:
            for p in paths:
                with contextlib.suppress(OSError, ValueError):
                    Path(p).unlink(missing_ok=True)


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return -1


def keep(source):
    """Keep the upload folder of ``source`` (a path in the data folder) after this kernel ends:
    a saved session points at it. Other sources are left alone."""
    try:
        path = (data_root() / str(source)).resolve()
        uploads = (data_root() / "uploads").resolve()
    except (OSError, ValueError):
        return
    if uploads in path.parents and path.parent.parent == uploads and path.parent.is_dir():
        (path.parent / KEEP).touch()


def remove_mine():
    """Remove this kernel's upload folders, except those a saved session points at (runs at exit)."""
    for folder in list(_MINE):
        if not (folder / KEEP).exists():
            shutil.rmtree(folder, ignore_errors=True)
        _MINE.remove(folder)


def sweep(root):
    """Remove upload folders left by kernels that died without cleaning up (not the kept ones)."""
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)) and not (folder / KEEP).exists():
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


atexit.register(remove_mine)


def _size(n):
    n = max(n, 0)  # a junk size from the browser is -1
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
