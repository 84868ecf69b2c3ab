"""A file upload that streams to disk in chunks: any size, little kernel memory, clear refusals.

ipywidgets' ``FileUpload`` sends the whole file in one websocket message and keeps it in the
kernel: a file over the server's message limit silently drops the page's connection, and a
500 MB map costs 500 MB of the Binder pod's 2 GB. This widget (anywidget) checks the size in
the browser, sends ``CHUNK``-byte slices one at a time (each acknowledged by the kernel) and
writes them straight to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import anywidget
import traitlets

CHUNK = 8 * 2**20  # bytes per message: under Voilà's default 10 MB websocket limit
try:  # the largest upload taken, bytes (a server setting)
    MAX_BYTES = int(os.environ.get("PHASEDASH_MAX_UPLOAD", 8 * 2**30))
except ValueError:
    MAX_BYTES = 8 * 2**30

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
        self._files, self._paths = [], []
        self.on_msg(self._safe_receive)

    def _safe_receive(self, _, content, buffers):
        try:
            self.receive(content, buffers)
        except Exception as exc:  # a full disk, a closed file: say so, free the browser's button
            self._close()
            self._on_error(f"Upload failed: {exc}")
            self.send({"kind": "ack", "ok": False})

    def receive(self, content, buffers=()):
        """Handle one message from the browser (public for tests)."""
        kind = content.get("kind")
        if kind == "too_big":
            self._on_error(f"{', '.join(content['names'])}: {_size(content['size'])} is more than this "
                           f"dashboard takes ({_size(self.max_bytes)}); open a crop or a binned copy, or "
                           f"give its path on the server.")
        elif kind == "start":
            self._close()
            folder = Path(tempfile.mkdtemp(prefix="phasedash-upload-"))
            need, free = sum(content["sizes"]), shutil.disk_usage(folder).free
            if need > free:
                folder.rmdir()
                self._on_error(f"{_size(need)} to upload, but only {_size(free)} of disk is free on the server.")
                return self.send({"kind": "ack", "ok": False})
            self._paths = [folder / Path(n).name for n in content["names"]]
            self._files = [open(p, "wb") for p in self._paths]  # noqa: SIM115 - closed in _close
            self.send({"kind": "ack", "ok": True})
        elif kind == "chunk" and self._files:
            f = self._files[int(content["file"])]
            f.seek(int(content["offset"]))
            f.write(bytes(buffers[0]) if buffers else b"")
            self.send({"kind": "ack", "ok": True})
        elif kind == "done" and self._files:
            paths = self._paths
            self._close()
            self.send({"kind": "ack", "ok": True})
            self._on_files(paths)

    def _close(self):
        for f in self._files:
            f.close()
        self._files = []


def _size(n):
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
