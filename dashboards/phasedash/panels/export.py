"""Step 7, export: PNG, TIFF, CSV, MSA and a session file that reopens the same state."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import ipywidgets as W

from phaselib import quantify
from phaselib.render import save_phase_map_png

from ..plots import labels_rgb
from . import Panel, guide


class ExportPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.folder = W.Text(value="phasedash-export", description="folder")
        self.export = W.Button(description="Export results", button_style="primary", icon="download")
        self.save = W.Button(description="Save session", icon="save")
        self.reopen = W.FileUpload(accept=".json", description="Reopen session")
        self.links = W.HTML()
        self.export.on_click(lambda _: self.app.export(self.folder.value))
        self.save.on_click(lambda _: self.app.save_session(self.folder.value))
        self.reopen.observe(self.user(lambda ch: ch["new"] and self.app.restore(bytes(ch["new"][0]["content"]))),
                            "value")
        self.widget = W.VBox([
            guide("<h3>7. Export</h3>Write the phase map (PNG, TIFF), the modal table and grain table (CSV), "
                  "the phase spectra (MSA, readable by HyperSpy and vendor software) and a session file that "
                  "reopens this state. Files go to the folder on the server and can be downloaded here."),
            self.folder, W.HBox([self.export, self.save, self.reopen]), self.links])

    def show_files(self, paths):
        links = []
        for p in paths:
            data = base64.b64encode(p.read_bytes()).decode()
            links.append(f"<a download='{html.escape(p.name)}' href='data:application/octet-stream;base64,{data}'>"
                         f"{html.escape(p.name)}</a>")
        self.links.value = "Written: " + " &middot; ".join(links)


def export(session, folder, colours=None):
    """Write the session's results to ``folder``; returns the paths written.

    ``phases.csv`` is phaselib's modal table (:func:`phaselib.quantify.phase_table` and
    :func:`~phaselib.quantify.write_phase_table`), the file ``phaselib map`` writes.
    """
    from PIL import Image

    s = session
    s._need(s.labels, "Make a phase map before exporting.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if s.spectra is None or s.spectra.sums.shape[0] != int(s.labels.max()) + 1:
        s.measure()
    k = s.spectra.sums.shape[0]
    out = [folder / "phase_map.png", folder / "phase_map.tif", folder / "phases.csv", folder / "session.json"]
    save_phase_map_png(s.labels, out[0], n_phases=k)
    Image.fromarray(labels_rgb(s.labels, k, colours)).save(out[1])
    fractions, unassigned = s.fractions()
    rows = quantify.phase_table(fractions, s.spectra.n_pixels, s.phase_lines, unassigned_fraction=unassigned,
                                n_unassigned=int((s.labels < 0).sum()),
                                minerals=[n.best for n in s.minerals] if len(s.minerals) == k else None)
    quantify.write_phase_table(rows, out[2])
    s.save_session(out[3])
    im = s.image
    out += quantify.save_msa(s.spectra.means, im.energy_offset, im.energy_scale, folder,
                             names=[f"phase_{i}" for i in range(k)], beam_energy=im.beam_energy, overwrite=True)
    if s.grains is not None:
        s.grains.table().to_csv(folder / "grains.csv")
        out.append(folder / "grains.csv")
    return [Path(p) for p in out]
