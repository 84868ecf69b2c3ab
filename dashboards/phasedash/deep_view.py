"""Dashboard page: cheap images of a synthetic thin section, the bundled model's segmentation
beside the EDS phase map, and the scores. Inference by ONNX Runtime (no torch)."""

from __future__ import annotations

import html
import io
from pathlib import Path

import ipywidgets as W
import numpy as np

from phaselib.datasets import make_thin_section
from phaselib.deep import load_model, predict, score
from phaselib.deep._data import overexposed, stack
from phaselib.deep._evaluate import colourise

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "deep_model.onnx"
GROUPS = {"plagioclase": ["andesine", "labradorite"]}


def _score(v):
    """A precision, recall or IoU; "–" where there is none (no pixel predicted, or none true, of a class)."""
    return "–" if not np.isfinite(v) else f"{v:.2f}"


def _png(rgb):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class DeepApp:
    """Segment a synthetic thin section (PP, XP, BSE) with a model and compare with its EDS map.

    Parameters
    ----------
    model : str or Path
        An ONNX model written by ``segment train`` (default: the bundled one).
    size : int
        Side of the section, pixels.
    """

    def __init__(self, model=BUNDLED, *, size=256):
        self.model = load_model(model)
        self.size = int(size)
        self.rock = W.Dropdown(options=["granite", "basalt", "dacite"], value="granite", description="rock")
        self.seed = W.BoundedIntText(value=101, min=0, max=10_000, description="seed")
        self.brightness = W.FloatSlider(value=1.0, min=0.8, max=1.2, step=0.05, description="brightness",
                                        continuous_update=False)
        self.grain = W.FloatSlider(value=27.0, min=12, max=45, step=1, description="grain size",
                                   continuous_update=False)
        names = ["PP", "XP", "BSE", "EDS phase map", "model"]
        self.images = [W.Image(format="png", width=self.size, height=self.size) for _ in names]
        self.metrics = W.HTML()
        self.legend = W.HTML()
        for w in (self.rock, self.seed, self.brightness, self.grain):
            w.observe(lambda ch: self.update(), "value")
        boxes = [W.VBox([W.HTML(f"<b>{n}</b>"), img]) for n, img in zip(names, self.images)]
        self.widget = W.VBox([
            W.HTML("<h2 style='margin:4px 0'>Cheap images segmented by a model trained on EDS maps</h2>"
                   "<p>A small U-Net learnt from plane- and cross-polarised light and BSE images co-registered "
                   "with EDS phase maps (synthetic); here it segments a section it has not seen. Change the "
                   "rock, the seed, the grain size or the brightness.</p>"),
            W.HBox([self.rock, self.seed]), W.HBox([self.grain, self.brightness]),
            W.HBox(boxes[:3]), W.HBox(boxes[3:] + [self.legend]), self.metrics])
        self.update()

    def update(self):
        s = make_thin_section((self.size, self.size), rock=self.rock.value, seed=int(self.seed.value),
                              grain_size=float(self.grain.value), brightness=float(self.brightness.value))
        m = self.model
        x = stack({"pp": s.pp, "xp": s.xp, "bse": s.bse[..., None]}, m.meta["inputs"])
        pred = predict(m, x, views=4)
        truth = np.array([m.classes.index(n) if n in m.classes else -1 for n in s.phase_names])[s.truth]
        colors = m.meta["colors"]
        for img, rgb in zip(self.images, (s.pp, s.xp, np.repeat(s.bse[..., None], 3, -1),
                                          colourise(truth, colors), colourise(pred, colors))):
            img.value = _png(rgb)
        sc = score(truth, pred, m.classes)
        merged = sc.merged(GROUPS)
        over = overexposed({"pp": s.pp, "xp": s.xp, "bse": s.bse})
        note = "".join(f"<p>{role.upper()} overexposed: {100 * f:.0f} % of its pixels at full scale, their levels "
                       f"lost; minerals told apart by them may be confused.</p>" for role, f in over.items())
        self.legend.value = "<br>".join(
            f"<span style='background:{c};display:inline-block;width:12px;height:12px'></span> {html.escape(n)}"
            for n, c in zip(m.classes, colors))
        unknown = sorted({s.phase_names[i] for i in np.unique(s.truth)} - set(m.classes))
        scored = float(np.mean(truth >= 0))
        if scored == 0:  # a model of another rock: nothing to score, not "0.0 % right"
            self.metrics.value = (f"<p><b>No pixel to score</b>: none of this section's minerals "
                                  f"({html.escape(', '.join(unknown))}) is among the model's classes "
                                  f"({html.escape(', '.join(m.classes))}).</p>{note}")
            self.accuracy = None
            return None
        left = ("" if not unknown else f"; scored on {100 * scored:.1f} % of the pixels: "
                f"{html.escape(', '.join(unknown))} not among the model's classes, left out")
        rows = "".join(f"<tr><td>{html.escape(r[0])}</td><td>{r[1]:.1f}</td><td>{r[2]:.1f}</td>"
                       + "".join(f"<td>{_score(v)}</td>" for v in r[3:6]) + "</tr>" for r in merged.table())
        self.metrics.value = (
            f"<p><b>pixels right: {100 * sc.accuracy:.1f} %</b> ({100 * merged.accuracy:.1f} % with andesine and "
            f"labradorite as one plagioclase); largest modal error {100 * merged.max_fraction_error:.1f} points "
            f"({m.backend}){left}</p><table><tr><th>class</th><th>EDS %</th><th>model %</th><th>precision</th>"
            f"<th>recall</th><th>IoU</th></tr>{rows}</table>{note}")
        self.accuracy = sc.accuracy
        return sc
