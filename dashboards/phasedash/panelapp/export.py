"""The session's results as one zip file in memory: nothing is written where the server keeps files."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from phaselib import quantify
from phaselib.render import save_phase_map_png

from ..plots import labels_rgb


def results_zip(session, colours=None):
    """``(zip bytes, file names)``: the files of the Voilà app's export (phase map PNG and TIFF,
    ``phases.csv``, ``session.json``, one MSA spectrum per phase), made in a temporary folder removed after.
    """
    from PIL import Image

    s = session
    s._need(s.labels, "Make a phase map before exporting.")
    if s.spectra is None or s.spectra.sums.shape[0] != int(s.labels.max()) + 1:
        s.measure()
    k = s.spectra.sums.shape[0]
    with tempfile.TemporaryDirectory(prefix="phasedash-") as tmp:
        folder = Path(tmp)
        out = [folder / "phase_map.png", folder / "phase_map.tif", folder / "phases.csv", folder / "session.json"]
        save_phase_map_png(s.labels, out[0], n_phases=k)
        Image.fromarray(labels_rgb(s.labels, k, colours)).save(out[1])
        fractions, unassigned = s.fractions()
        rows = quantify.phase_table(fractions, s.spectra.n_pixels, s.phase_lines, unassigned_fraction=unassigned,
                                    n_unassigned=s.n_unassigned(),
                                    minerals=[n.best for n in s.minerals] if len(s.minerals) == k else None)
        quantify.write_phase_table(rows, out[2])
        s.save_session(out[3])
        im = s.image
        out += [Path(p) for p in quantify.save_msa(s.spectra.means, im.energy_offset, im.energy_scale, folder,
                                                   names=[f"phase_{i}" for i in range(k)],
                                                   beam_energy=im.beam_energy, overwrite=True)]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in out:
                z.write(p, p.name)
    return buf.getvalue(), [p.name for p in out]
