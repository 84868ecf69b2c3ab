"""Step 1, data: open or upload a map, the spectrum of a pixel or a rectangle, crop, calibration."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W
import numpy as np

from ..confine import data_root
from ..plots import MapView, SpectrumView, axis_labels, rounded, scalar_rgb
from ..sources import NPY_AXES, axis_key
from ..state import SAMPLES
from ..upload import FRAME_SUFFIXES, ChunkedUpload
from ._base import Panel, guide


class DataPanel(Panel):
    def __init__(self, app):
        super().__init__(app)
        self.sample = W.Dropdown(options=list(SAMPLES), description="Bundled map", style={"description_width": "90px"},
                                 layout=W.Layout(width="460px"))
        self.load_sample = W.Button(description="Load", button_style="primary", icon="folder-open")
        self.upload = ChunkedUpload(self.uploaded, lambda msg: self.app.runner.error(msg),
                                    accept=".bcf,.rpl,.raw,.hspy,.zspy,.msa,.emd,.npy,.fits,.fit,.fts,.tif,.tiff",
                                    description="Upload a map",
                                    tooltip="an .rpl together with its .raw; a cube's FITS or TIFF frames together")
        self.path = W.Text(placeholder="or a file in the server's data folder: map.bcf",
                           layout=W.Layout(width="360px"))
        self.load_path = W.Button(description="Open path", icon="file")
        self.offset = W.FloatText(description="offset (keV)", step=0.001, layout=W.Layout(width="200px"))
        self.scale = W.FloatText(description="scale (keV/ch)", step=0.0001, layout=W.Layout(width="200px"))
        self.apply_cal = W.Button(description="Apply calibration")
        # a .npy, TIFF or FITS frames hold no axis: X-ray counts in keV, or a ToF cube (counts or transmissions)
        self.axis = W.Dropdown(options=list(NPY_AXES), value="auto", description="signal axis",
                               style={"description_width": "90px"}, layout=W.Layout(width="420px"))
        self.axis.add_class("pd-npy-axis")
        self.info = W.HTML()
        self.map = MapView("counts per pixel", brush=True, on_click=self.pick_pixel, on_brush=self.pick_box,
                           css="pd-data-map")
        self.pick = W.ToggleButtons(options=[("click a pixel", "pixel"), ("drag a rectangle", "rectangle")],
                                    value="pixel")
        self.pick.add_class("pd-pick")
        self.pick.observe(lambda ch: self.map.set_mode(ch["new"]), "value")
        self.spectrum = SpectrumView("summed spectrum", log=True)
        # a neutron ToF map (wavelength in Å): mark the Bragg edges of a known material on its spectrum
        self.bragg = W.Dropdown(options=["none"], value="none", description="Bragg edges of",
                                layout=W.Layout(width="260px", display="none"))
        self.bragg.add_class("pd-bragg")
        self.bragg.observe(lambda ch: self.show_total(), "value")
        self.lattice = W.Text(placeholder="or a lattice: bcc 2.8665", continuous_update=False,
                              layout=W.Layout(width="200px", display="none"))
        self.lattice.add_class("pd-lattice")
        self.lattice.observe(lambda ch: self.show_total(), "value")
        self.lattice_note = W.HTML()
        self.crop_btn = W.Button(description="Crop to rectangle", icon="crop", disabled=True)
        self.uncrop_btn = W.Button(description="Whole map", icon="expand")
        self.box = self._shown_for = None
        self.load_sample.on_click(lambda _: self.app.load(SAMPLES[self.sample.value]))
        self.load_path.on_click(lambda _: self.app.load(self.path.value, **self._calibration()))
        self.apply_cal.on_click(lambda _: self.app.calibrate(self.offset.value, self.scale.value, self.axis.value))
        self.crop_btn.on_click(lambda _: self.box and self.app.crop(self.box[:2], self.box[2:]))
        self.uncrop_btn.on_click(lambda _: self.app.crop(None, None))
        self.widget = W.VBox([
            guide("<h3>1. Data</h3>Choose a map. The summed spectrum shows every element present; "
                  "click a pixel or drag a rectangle on the map to see its spectrum, and crop the map to a "
                  "subset if it is large. Check the energy calibration against a known line (Si K&alpha; is at "
                  "1.740 keV). A whole classroom-size map, analysed earlier, is in the "
                  "<a href='full_map.ipynb' target='_blank'>full-map results dashboard</a>.",
                  ["Which elements does the summed spectrum show?",
                                  "Do bright and dark areas of the map have different spectra?"],
                  cube=("<h3>1. Data</h3>Choose a map. Each pixel holds a spectrum along the map's signal axis (a "
                        "neutron time-of-flight cube: the transmission against wavelength, with the Bragg edges of "
                        "the crystalline materials); the mean spectrum is on the right. Click a pixel or drag a "
                        "rectangle on the map to see its spectrum, crop the map if it is large, and mark the Bragg "
                        "edges of a material to compare.",
                        ["Which Bragg edges does the mean spectrum show? Of which materials?",
                         "Do dark and bright pieces differ in the shape of their spectra, or only in how much they "
                         "transmit?"])),
            W.HBox([self.sample, self.load_sample]), W.HBox([self.upload, self.path, self.load_path]),
            W.HBox([self.offset, self.scale, self.apply_cal]), self.axis, self.info,
            W.HBox([W.VBox([self.pick, self.map.widget, W.HBox([self.crop_btn, self.uncrop_btn])]),
                    W.VBox([W.HBox([self.bragg, self.lattice]), self.lattice_note, self.spectrum.widget])]),
        ])

    def _calibration(self, name=None):
        """What a .npy map needs: the axis calibration and kind (nothing for other files)."""
        name = self.path.value if name is None else name
        return dict(energy_offset=self.offset.value, energy_scale=self.scale.value,
                    axis=self.axis.value) if name.lower().endswith(".npy") else {}

    def uploaded(self, paths):
        """Open uploaded files (all in one folder: an .rpl finds its .raw beside it)."""
        main = [p for p in paths if p.suffix.lower() != ".raw"]
        if not main:
            self.app.runner.error("Upload the .rpl file together with its .raw file.")
            return
        if len(main) > 1 and all(p.suffix.lower() in FRAME_SUFFIXES for p in main):
            main = [main[0].parent]  # one FITS or TIFF frame per bin: the upload's folder is the cube
        elif len(main) > 1:  # one map at a time (two .npy files: the first was opened without a word)
            self.app.runner.error(f"{len(main)} maps uploaded together ({', '.join(p.name for p in main[:3])}"
                                  f"{' ...' if len(main) > 3 else ''}): upload one map at a time (an .rpl with its "
                                  ".raw, or the FITS/TIFF frames of one cube).")
            return
        path = str(Path(main[0]).relative_to(data_root()))  # a name in the data folder, no server path
        self.app.load(path, **self._calibration(path))

    def pick_pixel(self, row, col):
        self.box = None
        self.crop_btn.disabled = True
        self._show_selection(row, row + 1, col, col + 1, f"pixel ({row}, {col})")
        self.map.mark_pixel(row, col)

    def pick_box(self, r0, r1, c0, c1):
        self._show_selection(r0, r1, c0, c1, None)

    def _show_selection(self, r0, r1, c0, c1, name):
        try:
            spec, box = self.s.pixel_spectrum(r0, c0, r1, c1)
        except ValueError as err:
            self.app.runner.error(err)
            return
        n = (box[1] - box[0]) * (box[3] - box[2])
        self.box = box if n > 1 else None  # a one-pixel rectangle crops nothing: an older one no longer applies
        self.crop_btn.disabled = n <= 1
        name = name or f"rows {box[0]}:{box[1]}, columns {box[2]}:{box[3]} ({n} px)"
        mean = self.s.total / self.s.brightness.size
        self.spectrum.show(self.s.image.energy_keV, [mean, np.maximum(spec / n, 1e-3)],
                           colours=["#999999", "#d62728"], labels=["whole map (mean)", name],
                           lines=self.s.total_lines, title=f"spectrum of {name} (per pixel)",
                           **axis_labels(self.s.image))

    def refresh(self):
        s, im = self.s, self.s.image
        if im is None:
            return
        h, w, c = im.shape
        if self._shown_for != (s.source, s.crop_box, im.shape):  # another map: a rectangle of the last one is gone
            self._shown_for, self.box, self.crop_btn.disabled = (s.source, s.crop_box, im.shape), None, True
            self.map.clear_selection()
        with self.app.quiet(self.sample):
            names = {v: k for k, v in SAMPLES.items()}
            if s.source in names:
                self.sample.value = names[s.source]
        self.offset.value, self.scale.value = round(im.energy_offset, 5), round(im.energy_scale, 6)
        with self.app.quiet(self.axis):  # the axis the map was opened with (a reopened session's too)
            self.axis.value = axis_key(im)
        units = im.units or "channels"
        self.offset.description, self.scale.description = f"offset ({units})", f"scale ({units}/ch)"
        crop = "" if s.crop_box is None else " (cropped: rows {}:{}, columns {}:{})".format(*s.crop_box)
        self.info.value = (f"<b>{html.escape(Path(s.source).name if '/' in s.source else s.source)}</b>{crop}: "
                           f"{h} x {w} pixels x {c} channels, " + (f"{_counts_text(s.brightness)}; "
                                                                    if im.is_counts else f"{_axis_text(im)}; ") +
                           (f"{_beam_text(im)}; {_pixel_text(im)}; "
                            f"elements: {html.escape(' '.join(im.elements) or 'not in the file')}" if im.is_eds
                            else _pixel_text(im)) +
                           "".join(f"<br><i>{html.escape(t)}</i>" for t in (s.count_note, s.axis_note) if t))
        self.map.show(scalar_rgb(s.brightness), "counts per pixel" if im.is_counts else f"summed {im.signal}")
        tof = not im.is_eds and im.units == "Å"
        self.bragg.layout.display = self.lattice.layout.display = None if tof else "none"
        if tof and len(self.bragg.options) == 1:
            from phaselib.datasets import TOF_MATERIALS  # the generators' package: only for a ToF map

            with self.app.quiet(self.bragg):
                self.bragg.options = ["none", *TOF_MATERIALS]
        self.show_total()

    def show_total(self):
        """The map's mean spectrum, with its named X-ray lines (EDS) or the chosen material's Bragg edges."""
        s, im = self.s, self.s.image
        if im is None:
            return
        lines, self.lattice_note.value = s.total_lines, ""
        if not im.is_eds:
            try:
                lines = bragg_lines(self.bragg.value, im, self.lattice.value)
            except ValueError as err:
                lines, self.lattice_note.value = [], f"<span style='color:#b00'>{html.escape(str(err))}</span>"
        self.spectrum.show(im.energy_keV, np.maximum(s.total / s.brightness.size, 1e-3), lines=lines,
                           labels=["whole map (mean per pixel)"], colours=["#1f77b4"],
                           title="summed spectrum (mean per pixel)" + (", strongest lines named" if im.is_eds else ""),
                           **axis_labels(im))


def bragg_lines(material, image, lattice=""):
    """Markers (``line``, ``energy_keV``: the axis position) of Bragg edges (hkl) inside the wavelength
    range of ``image``: of a typed cubic ``lattice`` (``"bcc 2.8665"``, see :func:`parse_lattice`) if
    one is given, else of ``material``; none for ``"none"`` or an axis not in Å."""
    from phaselib.datasets import TOF_MATERIALS, bragg_edges

    if image.units != "Å":
        return []
    if lattice and lattice.strip():
        kind, a = parse_lattice(lattice)
    elif material in TOF_MATERIALS:
        kind, a = TOF_MATERIALS[material][:2]
    else:
        return []
    axis = image.energy_keV
    return [{"line": f"{hkl}", "energy_keV": lam}
            for hkl, lam in bragg_edges(kind, a, (float(axis[0]), float(axis[-1])))]


def parse_lattice(text):
    """``(kind, a)`` of a typed cubic lattice such as ``"bcc 2.8665"`` or ``"fcc a=3.524"``.

    Raises
    ------
    ValueError
        With what to type, for anything else (the text is not echoed back).
    """
    words = text.lower().replace("=", " ").replace(",", " ").replace("å", " ").split()
    kinds = [w for w in words if w in ("sc", "bcc", "fcc")]
    numbers = []
    for w in words:
        try:
            numbers.append(float(w))
        except ValueError:
            pass
    usage = "type sc, bcc or fcc and the cubic lattice constant in Å, e.g. bcc 2.8665"
    if len(kinds) != 1 or len(numbers) != 1:
        raise ValueError(usage + ".")
    if not 0.5 <= numbers[0] <= 50:
        raise ValueError(f"a lattice constant between 0.5 and 50 Å, please; {usage}.")
    return kinds[0], numbers[0]


def _axis_text(image):
    """``Wavelength 1-5 Å, intensity``: the signal axis of a map that is not of counts."""
    return html.escape(f"{image.name} {image.axis[0]:.4g}-{image.axis[-1]:.4g} {image.units}, {image.signal}")


def _counts_text(brightness):
    """Counts per pixel, over the pixels that hold any (as the few-counts note and `map` count them): a map two
    thirds blank said "3 counts/pixel" beside the note's 8.2."""
    held = brightness[brightness > 0]
    mean = held.mean() if held.size else 0.0
    blank = 1 - held.size / max(brightness.size, 1)
    return f"{mean:.3g} counts/pixel" + (f" where it holds any ({100 * blank:.0f} % of the pixels blank)"
                                         if blank >= 0.01 else "")


def _pixel_text(im):
    """The pixel size, or that the file gives none (sizes are then in pixels): "pixel ? um" read as a damaged value."""
    return f"pixel {rounded(im.pixel_size)} um" if im.pixel_size else "pixel size not in the file (sizes in pixels)"


def _beam_text(im):
    """The beam energy, or that the file gives none (minerals cannot be named then)."""
    return f"beam {rounded(im.beam_energy)} kV" if im.beam_energy else "beam energy not in the file"
