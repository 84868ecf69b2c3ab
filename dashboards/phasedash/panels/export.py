"""Step 7, export: PNG, TIFF, CSV, MSA and a session file that reopens the same state."""

from __future__ import annotations

import base64
import html
import os
import re
import secrets
from pathlib import Path

import ipywidgets as W
import numpy as np

from phaselib import quantify
from phaselib._atomic import atomic_folder
from phaselib.render import save_phase_map_png

from ..confine import PageError, output_folder
from ..plots import labels_rgb
from ..upload import keep
from ._base import Panel, guide

MAX_SESSION_FILE = 2**20  # bytes: a session file is a few kB


class ExportPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.folder = W.Text(value=f"results-{secrets.token_hex(3)}", description="folder",
                             placeholder="a folder name in the server's export folder")
        self.export = W.Button(description="Export results", button_style="primary", icon="download")
        self.save = W.Button(description="Save session", icon="save")
        self.reopen = W.FileUpload(accept=".json", description="Reopen session")
        self.links = W.HTML()
        self.export.on_click(lambda _: self.app.export(self.folder.value))
        self.save.on_click(lambda _: self.app.save_session(self.folder.value))
        self.reopen.observe(self.user(lambda ch: ch["new"] and self.reopened(ch["new"][0])), "value")
        self.widget = W.VBox([
            guide("<h3>7. Export</h3>Write the phase map (PNG, TIFF), the modal table and grain table (CSV), "
                  "the phase spectra (MSA, readable by HyperSpy and vendor software) and a session file that "
                  "reopens this state. Files go to a folder of the server's export folder and can be downloaded "
                  "here."),
            self.folder, W.HBox([self.export, self.save, self.reopen]), self.links])

    def reopened(self, upload):
        if len(upload["content"]) > MAX_SESSION_FILE:
            self.app.runner.error(f"{Path(str(upload.get('name', ''))).name}: too big for a session file.")
            return None
        return self.app.restore(bytes(upload["content"]))

    def show_files(self, paths):
        links = []
        for p in paths:
            data = base64.b64encode(p.read_bytes()).decode()
            links.append(f"<a download='{html.escape(p.name)}' href='data:application/octet-stream;base64,{data}'>"
                         f"{html.escape(p.name)}</a>")
        self.links.value = "Written: " + " &middot; ".join(links)


_EXPORTED = {"phase_map.png", "phase_map.tif", "phases.csv", "session.json", "grains.csv", "phase_spectra.csv"}


def export(session, folder, colours=None):
    """Write the session's results to ``folder``; returns the paths written.

    ``phases.csv`` is phaselib's modal table (:func:`phaselib.quantify.phase_table` and
    :func:`~phaselib.quantify.write_phase_table`), the file ``phaselib map`` writes.
    """
    s = session
    s._need(s.labels, "Make a phase map before exporting.")
    target = output_folder(folder)  # inside the export folder, or a message
    if s.spectra is None or s.spectra.sums.shape[0] != int(s.labels.max()) + 1:
        s.measure()
    k = s.spectra.sums.shape[0]
    # written in a temporary folder that becomes the target at the end: a failed export leaves nothing that
    # looks complete; an earlier export there is replaced whole, a folder holding anything else refused
    with atomic_folder(target, replace=_an_export) as folder:
        names = _write(s, folder, k, colours)
        (folder / _OWNER).write_text(str(os.getpid()))  # this page's kernel: another page's export is not replaced
    return [target / n for n in names]


#: the file naming the kernel (one per page) that wrote an export
_OWNER = ".written_by"


def _an_export(folder):
    """An earlier export of this page: only the files :func:`export` writes, by this page's kernel (two students
    who chose the same folder name: the second one's export replaced the first's without a word)."""
    owner = folder / _OWNER
    if owner.is_file() and owner.read_text(errors="replace").strip() != str(os.getpid()):
        raise PageError(f"{folder.name}: another page's export; choose another folder name.")
    return all(p.is_file() and not p.is_symlink() and (p.name in _EXPORTED or p.name == _OWNER
                                                       or re.fullmatch(r"phase_\d+\.msa", p.name))
               for p in folder.iterdir())


def _write(s, folder, k, colours):
    from PIL import Image

    out = [folder / "phase_map.png", folder / "phase_map.tif", folder / "phases.csv", folder / "session.json"]
    save_phase_map_png(s.labels, out[0], n_phases=k)
    Image.fromarray(labels_rgb(s.labels, k, colours)).save(out[1])
    fractions, unassigned = s.fractions()
    rows = quantify.phase_table(fractions, s.spectra.n_pixels, s.phase_lines, unassigned_fraction=unassigned,
                                n_unassigned=s.n_unassigned(),
                                minerals=[n.best for n in s.minerals] if len(s.minerals) == k else None)
    quantify.write_phase_table(rows, out[2])
    s.save_session(out[3])
    keep(s.source)  # an uploaded map stays while a saved session points at it
    im = s.image
    if im.is_eds:
        out += quantify.save_msa(s.spectra.means, im.energy_offset, im.energy_scale, folder,
                                 names=[f"phase_{i}" for i in range(k)], beam_energy=im.beam_energy, overwrite=True)
    else:  # EMSA is for X-ray spectra: another cube's mean spectra go to a table on its own axis
        out.append(folder / "phase_spectra.csv")
        table = np.column_stack([im.axis, np.asarray(s.spectra.means, np.float64).T])
        np.savetxt(out[-1], table, delimiter=",", fmt="%.8g", comments="", encoding="utf-8",
                   header=",".join([im.axis_label] + [f"phase_{i}" for i in range(k)]))
    if s.grains is not None:
        # no pixel size: the grains were measured in pixels, and their columns say so (not _um)
        s.grains.table().to_csv(folder / "grains.csv", unit="um" if s.image.pixel_size else "px")
        out.append(folder / "grains.csv")
    return [Path(p).name for p in out]
