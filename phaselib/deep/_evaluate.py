"""Scores of segmentations against label maps, the random-forest baseline and the side-by-side PNG."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    """Scores of a predicted label map against the truth (pixels with truth ``-1`` ignored).

    Attributes
    ----------
    confusion : (K, K) ndarray of int64
        Rows: true class, columns: predicted class.
    classes : tuple of str
    """

    confusion: np.ndarray
    classes: tuple

    @property
    def accuracy(self) -> float:
        c = self.confusion
        return float(np.trace(c) / max(c.sum(), 1))

    def _ratio(self, num, den):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    @property
    def precision(self):
        return self._ratio(np.diag(self.confusion), self.confusion.sum(axis=0))

    @property
    def recall(self):
        return self._ratio(np.diag(self.confusion), self.confusion.sum(axis=1))

    @property
    def iou(self):
        c = self.confusion
        return self._ratio(np.diag(c), c.sum(axis=0) + c.sum(axis=1) - np.diag(c))

    @property
    def dice(self):
        c = self.confusion
        return self._ratio(2 * np.diag(c), c.sum(axis=0) + c.sum(axis=1))

    @property
    def true_fractions(self):
        return self.confusion.sum(axis=1) / max(self.confusion.sum(), 1)

    @property
    def predicted_fractions(self):
        return self.confusion.sum(axis=0) / max(self.confusion.sum(), 1)

    @property
    def max_fraction_error(self) -> float:
        """Largest |predicted - true| modal fraction over the classes (a fraction, not %)."""
        return float(np.abs(self.predicted_fractions - self.true_fractions).max())

    def merged(self, groups):
        """The scores with classes merged: ``groups`` maps a new name to class names."""
        names = list(self.classes)
        new = list(dict.fromkeys(next((g for g, members in groups.items() if n in members), n) for n in names))
        m = np.zeros((len(new), len(names)), np.int64)
        for i, n in enumerate(names):
            m[new.index(next((g for g, members in groups.items() if n in members), n)), i] = 1
        return Scores(m @ self.confusion @ m.T, tuple(new))

    def __add__(self, other):
        return Scores(self.confusion + other.confusion, self.classes)

    def table(self):
        """Per-class rows: name, true %, predicted %, precision, recall, IoU, Dice."""
        rows = []
        for i, n in enumerate(self.classes):
            if self.confusion[i].sum() or self.confusion[:, i].sum():
                rows.append((n, 100 * self.true_fractions[i], 100 * self.predicted_fractions[i],
                             self.precision[i], self.recall[i], self.iou[i], self.dice[i]))
        return rows


def score(truth, pred, classes):
    """:class:`Scores` of ``pred`` against ``truth`` (same shape; truth ``-1`` ignored)."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction must share a shape, got {truth.shape} and {pred.shape}.")
    k = len(classes)
    ok = (truth >= 0) & (truth < k) & (pred >= 0) & (pred < k)
    c = np.bincount(truth[ok].astype(np.int64) * k + pred[ok], minlength=k * k).reshape(k, k)
    return Scores(c, tuple(classes))


def pixel_features(stack, sigma_max=8.0):
    """(H, W, F) float32 multiscale intensity / texture features of every channel (scikit-image)."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(np.asarray(stack, np.float32), channel_axis=-1, intensity=True, edges=False,
                                     texture=True, sigma_min=1.0, sigma_max=sigma_max).astype(np.float32)


def train_forest(stacks, labels, *, n_pixels=40000, n_estimators=60, seed=0):
    """A random forest on :func:`pixel_features` of labelled pixels (the baseline)."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    per = max(1, n_pixels // len(stacks))
    for x, y in zip(stacks, labels):
        f = pixel_features(x)
        idx = np.flatnonzero(y.ravel() >= 0)
        pick = rng.choice(idx, size=min(per, idx.size), replace=False)
        xs.append(f.reshape(-1, f.shape[-1])[pick])
        ys.append(y.ravel()[pick])
    rf = RandomForestClassifier(n_estimators=n_estimators, max_depth=18, min_samples_leaf=2, n_jobs=1,
                                random_state=seed)
    rf.fit(np.concatenate(xs), np.concatenate(ys))
    return rf


def predict_forest(rf, stack):
    """(H, W) int16 classes of a stack by the forest (row blocks, bounded memory)."""
    f = pixel_features(stack)
    h, w, n = f.shape
    return rf.predict(f.reshape(-1, n)).reshape(h, w).astype(np.int16)


def colourise(labels, colors):
    """(H, W, 3) uint8 of a label map in the class colours (``-1`` light grey)."""
    table = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors] + [[217, 217, 217]], np.uint8)
    lab = np.asarray(labels)
    return table[np.where((lab < 0) | (lab >= len(colors)), len(colors), lab)]


def side_by_side(path, panels, titles):
    """Save images (H, W, 3) uint8 in a row with titles above (Pillow)."""
    from PIL import Image, ImageDraw

    h = max(p.shape[0] for p in panels)
    gap, top = 6, 16
    canvas = Image.new("RGB", (sum(p.shape[1] for p in panels) + gap * (len(panels) - 1), h + top), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for p, t in zip(panels, titles):
        canvas.paste(Image.fromarray(np.asarray(p, np.uint8)), (x, top))
        draw.text((x + 2, 2), t, fill="black")
        x += p.shape[1] + gap
    canvas.save(path)
