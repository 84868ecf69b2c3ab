"""Synthetic SEM-EDS spectrum images of a rock (:func:`make_rock`, :func:`write_rock`), with ground truth."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import phaselib.datasets._detector as _detector
import phaselib.datasets._glass as _glass
import phaselib.datasets._minerals as _minerals
import phaselib.datasets._mixing as _mixing
import phaselib.datasets._texture as _texture

from .._atomic import reserve
from .._image import SpectrumImage
from .._validate import check_int, check_number, check_positive
from ._texture import _check_seed, _check_shape, make_texture

DEFAULT_MINERALS = ("albite", "quartz", "K-feldspar", "biotite", "magnetite", "apatite")
_MAX_COUNTS = 1e5


@dataclass(frozen=True, eq=False)
class SyntheticRock:
    """A synthetic spectrum image and its ground truth.

    Parameters
    ----------
    image : SpectrumImage
        The counts, ``(H, W, C)`` uint16 (a read-only ``np.memmap`` when written to disk).
    labels : (H, W) ndarray of int16
        Phase index ``0..K-1`` of every pixel.
    grain_ids : (H, W) ndarray of int32
        Grain id ``1..n_grains`` of every pixel; a grain is a 4-connected region of one
        phase, and touching grains of the same phase have different ids.
    phase_names : tuple of str
        Mineral name of each phase.
    phase_spectra : (K, C) ndarray of float64
        Expected spectrum of each pure phase, normalised to sum 1 over the channels.
    compositions : dict
        Mineral name -> {element: weight fraction}.
    intensity : (H, W) ndarray of float32, optional
        Expected total counts of every pixel (``counts_per_pixel`` times the topography).
    """

    image: SpectrumImage
    labels: np.ndarray
    grain_ids: np.ndarray
    phase_names: tuple
    phase_spectra: np.ndarray
    compositions: dict
    intensity: np.ndarray | None = None

    @property
    def n_phases(self) -> int:
        return len(self.phase_names)

    @property
    def n_grains(self) -> int:
        return int(self.grain_ids.max())

    @property
    def fractions(self) -> np.ndarray:
        """(K,) ndarray: true area fraction of each phase."""
        return np.bincount(self.labels.ravel(), minlength=self.n_phases) / self.labels.size

    @property
    def grain_phases(self) -> np.ndarray:
        """(n_grains + 1,) ndarray: phase of each grain id (entry 0 is -1)."""
        out = np.full(self.n_grains + 1, -1, np.int64)
        out[self.grain_ids.ravel()] = self.labels.ravel()
        return out

    def __repr__(self) -> str:
        fr = ", ".join(f"{n} {f:.1%}" for n, f in zip(self.phase_names, self.fractions))
        return f"<SyntheticRock {self.n_grains} grains; {fr}; {self.image!r}>"


def phase_spectra(minerals, *, energy_keV, beam_energy=20.0, energy_resolution_MnKa=130.0,
                  escape_peaks=0.0, sum_peaks=0.0):
    """Expected spectra of pure minerals, normalised to sum 1 over the channels.

    Parameters
    ----------
    minerals : sequence of str or dict
        Names from :data:`MINERALS`, or a dict name -> {element: weight fraction}.
    energy_keV : (C,) array_like
        Energy of each channel (evenly spaced), in keV.
    beam_energy : float
        Accelerating voltage, in kV. Lines whose ionisation edge lies above are absent.
    energy_resolution_MnKa : float
        Detector FWHM at Mn Ka, in eV; the FWHM at energy E follows
        ``FWHM(E)^2 = FWHM_MnKa^2 + 2.5 (E - 5.8987 keV) 1000 eV`` (exspy's
        ``get_FWHM_at_Energy``), at least 30 eV.
    escape_peaks, sum_peaks : float
        Detector artefacts, 0 to 0.1 (see :func:`make_rock`): Si escape peaks 1.740 keV
        below the lines above 1.839 keV, and pile-up peaks at the sums of two lines.

    Returns
    -------
    (K, C) ndarray of float64
        Characteristic lines plus a Kramers bremsstrahlung background (about 25-45 % of the
        counts), both absorbed in the specimen (so the background steps down at the
        absorption edges of its elements, e.g. Si K at 1.839 keV) and seen through the
        detector efficiency (window absorption below ~1 keV, sensor transparency above
        ~20 keV); then the escape and sum peaks, if asked for.
    """
    comps = _minerals.resolve(DEFAULT_MINERALS if minerals is None else minerals)
    e = np.asarray(energy_keV, float)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError("energy_keV must be an increasing 1-D array of at least 2 energies (keV).")
    e0 = check_positive(beam_energy, "beam_energy")
    res = check_positive(energy_resolution_MnKa, "energy_resolution_MnKa")
    if not 30 <= res <= 1000:
        raise ValueError(f"energy_resolution_MnKa is the FWHM at Mn Ka in eV (e.g. 130), "
                         f"got {energy_resolution_MnKa!r}.")
    esc = check_number(escape_peaks, "escape_peaks", low=0, high=0.1)
    pile = check_number(sum_peaks, "sum_peaks", low=0, high=0.1)
    out = np.empty((len(comps), e.size))
    for i, (name, comp) in enumerate(comps.items()):
        lines, bg = _minerals.spectrum(comp, e, e0, res)
        s = lines + bg
        if esc > 0 or pile > 0:
            s = _detector.artefacts(s, e, escape_peaks=esc, sum_peaks=pile)
        if s.sum() <= 0:
            raise ValueError(f"{name} gives no counts between {e[0]:.3g} and {e[-1]:.3g} keV "
                             f"at {e0:g} kV: check the energy axis and the beam energy.")
        out[i] = s / s.sum()
    return out


def _plan(shape, counts_per_pixel=200.0, minerals=None, fractions=None, grain_size=12.0,
          matrix_fraction=0.25, n_channels=2048, energy_scale=0.01, energy_offset=-0.2,
          beam_energy=20.0, pixel_size=1.0, energy_resolution_MnKa=130.0,
          intensity_variation=0.05, seed=0, zoning=0.0, beam_spread=0.0, glass=None,
          escape_peaks=None, sum_peaks=None, detector_artefacts=False, texture=None,
          exact_fractions=False):
    """Everything but the counts: validated options, texture, spectra, intensity."""
    h, w = _check_shape(shape)
    cpp = check_positive(counts_per_pixel, "counts_per_pixel")
    if cpp > _MAX_COUNTS:
        raise ValueError(f"`counts_per_pixel` must be at most {_MAX_COUNTS:g}, got {counts_per_pixel!r}.")
    check_int(n_channels, "n_channels", low=2)
    scale = check_positive(energy_scale, "energy_scale")
    offset = check_number(energy_offset, "energy_offset")
    var = check_number(intensity_variation, "intensity_variation", low=0, high=1, high_open=True)
    seed = _check_seed(seed)
    pixel_size = check_positive(pixel_size, "pixel_size")
    comps = _minerals.resolve(DEFAULT_MINERALS if minerals is None else minerals)
    f = _texture.check_fractions(len(comps), fractions)
    exact_fractions = _texture._check_bool(exact_fractions, "exact_fractions")
    new = _mixing.check_options(comps, (h, w), zoning=zoning, beam_spread=beam_spread,
                                glass=glass, escape_peaks=escape_peaks, sum_peaks=sum_peaks,
                                detector_artefacts=detector_artefacts, texture=texture)
    energy = offset + scale * np.arange(int(n_channels))
    spectrum_kw = dict(beam_energy=beam_energy, energy_resolution_MnKa=energy_resolution_MnKa,
                       escape_peaks=new["escape_peaks"], sum_peaks=new["sum_peaks"])
    spectra = phase_spectra(comps, energy_keV=energy, **spectrum_kw)
    glass_index = None if glass is None else list(comps).index(glass)
    if new["texture"] is not None:
        labels, grain_ids = new["texture"]
        if glass is not None:
            grain_ids = _mixing.merge_glass(labels, grain_ids, glass_index)
    elif glass is not None:
        labels, grain_ids = _glass.glass_texture((h, w), f, glass_index, grain_size=grain_size,
                                                 seed=seed, exact_fractions=exact_fractions)
    else:
        labels, grain_ids = make_texture(
            (h, w), n_phases=len(comps), fractions=fractions, grain_size=grain_size,
            matrix_fraction=matrix_fraction, seed=seed, exact_fractions=exact_fractions)
    comp_spectra, rim_of = _mixing.components(
        comps, spectra, lambda c: phase_spectra({"rim": c}, energy_keV=energy, **spectrum_kw)[0],
        new["zoning"])
    zone = (_mixing.zone_map(labels, grain_ids, rim_of >= 0, new["zoning"])
            if np.any(rim_of >= 0) else None)
    field = _texture.smooth_field((h, w), max(16.0, 2 * float(grain_size)),
                                  np.random.default_rng([seed, 1]))
    intensity = (cpp * np.clip(1.0 + var * field, 0.0, None)).astype(np.float32)
    elements = sorted({el for c in comps.values() for el, x in c.items()
                       if x > 0 and any(ln[0] >= 0.1 for ln in _minerals.xray_lines(el))},
                      key=lambda el: _minerals.element(el)["General_properties"]["Z"])
    image_kw = dict(energy_offset=offset, energy_scale=scale, beam_energy=float(beam_energy),
                    pixel_size=pixel_size, elements=tuple(elements))
    options = dict(counts_per_pixel=cpp, minerals=list(comps), fractions=fractions if fractions
                   is None else list(map(float, np.ravel(fractions))), grain_size=float(grain_size),
                   matrix_fraction=float(matrix_fraction), n_channels=int(n_channels),
                   energy_scale=scale, energy_offset=offset, beam_energy=float(beam_energy),
                   pixel_size=float(pixel_size),
                   energy_resolution_MnKa=float(energy_resolution_MnKa),
                   intensity_variation=var, seed=seed,
                   **{k: v for k, v in new.items() if k != "texture"},
                   texture=None if texture is None else "given", exact_fractions=exact_fractions)
    sampler = _minerals.alias_tables(comp_spectra)
    return dict(shape=(h, w), comps=comps, spectra=spectra, labels=labels, grain_ids=grain_ids,
                intensity=intensity, image_kw=image_kw, options=options, seed=seed,
                sampler=sampler, n_channels=int(n_channels), components=comp_spectra,
                rim_of=rim_of, zone=zone, beam_spread=new["beam_spread"],
                mixed=zone is not None or new["beam_spread"] > 0)


def _rock(plan, data, source=None):
    meta = {"synthetic": True, "options": plan["options"]}
    for key in ("labels", "grain_ids", "spectra", "intensity"):
        plan[key].flags.writeable = False  # the truth is not to be edited by accident
    return SyntheticRock(
        image=SpectrumImage(data, metadata=meta, source=source, **plan["image_kw"]),
        labels=plan["labels"], grain_ids=plan["grain_ids"], phase_names=tuple(plan["comps"]),
        phase_spectra=plan["spectra"], compositions=plan["comps"], intensity=plan["intensity"])


_OPTIONS_DOC = """
    counts_per_pixel : float
        Mean total counts of a pixel (about 10 to 1000 is realistic; at most 1e5).
    minerals : sequence of str or dict, optional
        Names from :data:`MINERALS` (case-insensitive), or a dict name ->
        {element: weight fraction}. Default: albite, quartz, K-feldspar, biotite, magnetite,
        apatite.
    fractions : sequence of float, optional
        Target area fraction of each mineral (see :func:`make_texture`).
    grain_size, matrix_fraction : float
        Grain diameter (pixels) and groundmass share, as in :func:`make_texture`.
    n_channels, energy_scale, energy_offset : int, float, float
        Energy axis: ``energy_offset + energy_scale * arange(n_channels)`` keV.
    beam_energy : float
        Accelerating voltage, kV.
    pixel_size : float
        Pixel size, micrometres.
    energy_resolution_MnKa : float
        Detector FWHM at Mn Ka, eV.
    intensity_variation : float
        Relative standard deviation of a smooth variation of the total counts (topography).
    seed : int
        Random seed: the same options give the same map, in memory or on disk.""" + _mixing.OPTIONS_DOC


def make_rock(shape=(128, 160), *, counts_per_pixel=200.0, minerals=None, fractions=None,
              grain_size=12.0, matrix_fraction=0.25, n_channels=2048, energy_scale=0.01,
              energy_offset=-0.2, beam_energy=20.0, pixel_size=1.0,
              energy_resolution_MnKa=130.0, intensity_variation=0.05, seed=0, zoning=0.0,
              beam_spread=0.0, glass=None, escape_peaks=None, sum_peaks=None,
              detector_artefacts=False, texture=None, exact_fractions=False):
    """A synthetic EDS spectrum image of a rock, in memory, with its ground truth.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` in pixels.{options}

    Returns
    -------
    SyntheticRock
    """
    plan = _plan(shape, counts_per_pixel, minerals, fractions, grain_size, matrix_fraction,
                 n_channels, energy_scale, energy_offset, beam_energy, pixel_size,
                 energy_resolution_MnKa, intensity_variation, seed, zoning, beam_spread, glass,
                 escape_peaks, sum_peaks, detector_artefacts, texture, exact_fractions)
    h, w = plan["shape"]
    data = np.empty((h, w, plan["n_channels"]), np.uint16)
    _mixing.fill_rows(plan, 0, data)
    return _rock(plan, data)


def _truth_path(path: Path) -> Path:
    return path.with_name(path.stem + "_truth.npz")


def write_rock(path, shape, *, block_rows=64, overwrite=False, **options):
    """Write a synthetic rock to an ``.npy`` file, block by block, and return it.

    The counts are those :func:`make_rock` gives with the same options, whatever
    ``block_rows``. Only one block of rows is mapped at a time, so maps far larger than
    memory can be made. The truth goes next to it, in ``<stem>_truth.npz``
    (see :func:`load_rock`).

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file to write.
    shape : (int, int)
        ``(H, W)`` in pixels.
    block_rows : int
        Rows written per block (memory ~ ``block_rows * W * n_channels * 2`` bytes).
    overwrite : bool
        Replace existing files (otherwise an existing file is an error).
    **options
        The options of :func:`make_rock`.{options}

    Returns
    -------
    SyntheticRock
        Its ``image.data`` is a read-only ``np.memmap`` of the file.
    """
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"write_rock writes a .npy file; got {str(path)!r}.")
    check_int(block_rows, "block_rows")
    unknown = set(options) - set(make_rock.__kwdefaults__)
    if unknown:
        raise ValueError(f"Unknown option(s) {sorted(unknown)}; the options are "
                         f"{sorted(make_rock.__kwdefaults__)}.")
    truth = _truth_path(path)
    for p in (path, truth):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True to replace it.")
    plan = _plan(shape, **options)
    h, w = plan["shape"]
    c = plan["n_channels"]
    need = h * w * c * 2
    free = shutil.disk_usage(path.parent if str(path.parent) else ".").free
    if need > free:
        raise OSError(f"{path} needs {need / 1e9:.2f} GB but only {free / 1e9:.2f} GB are free.")
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(h, w, c))
    header = mm.offset
    del mm
    try:
        reserve(path)  # no room after all (another writer): an error, not SIGBUS
        for r0 in range(0, h, int(block_rows)):
            rows = min(int(block_rows), h - r0)
            block = np.memmap(path, np.uint16, "r+", offset=header + r0 * w * c * 2,
                              shape=(rows, w, c))
            _mixing.fill_rows(plan, r0, block)
            block.flush()
            del block  # unmap: only one block of the file is ever held
    except BaseException:
        path.unlink(missing_ok=True)  # no half-written map left behind
        raise
    np.savez_compressed(
        truth, labels=plan["labels"], grain_ids=plan["grain_ids"], intensity=plan["intensity"],
        phase_spectra=plan["spectra"], phase_names=np.array(list(plan["comps"])),
        compositions=json.dumps(plan["comps"]), options=json.dumps(plan["options"]),
        image=json.dumps(plan["image_kw"]))
    return _rock(plan, np.load(path, mmap_mode="r"), source=str(path))


def load_rock(path):
    """Open a rock written by :func:`write_rock` (counts memory-mapped, read-only).

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file; its truth ``<stem>_truth.npz`` must lie next to it.

    Returns
    -------
    SyntheticRock
    """
    path = Path(path)
    truth = _truth_path(path)
    if not path.exists() or not truth.exists():
        raise FileNotFoundError(f"load_rock needs {path} and {truth}.")
    with np.load(truth) as t:
        comps = json.loads(str(t["compositions"]))
        kw = json.loads(str(t["image"]))
        kw["elements"] = tuple(kw["elements"])
        meta = {"synthetic": True, "options": json.loads(str(t["options"]))}
        data = np.load(path, mmap_mode="r")
        return SyntheticRock(
            image=SpectrumImage(data, metadata=meta, source=str(path), **kw),
            labels=t["labels"], grain_ids=t["grain_ids"],
            phase_names=tuple(str(n) for n in t["phase_names"]),
            phase_spectra=t["phase_spectra"], compositions=comps, intensity=t["intensity"])


if make_rock.__doc__ and write_rock.__doc__:  # (docstrings are stripped under python -OO)
    make_rock.__doc__ = make_rock.__doc__.format(options=_OPTIONS_DOC)
    write_rock.__doc__ = write_rock.__doc__.format(options=_OPTIONS_DOC)


def sample_path(name="P45"):
    """Path of a bundled real map.

    Parameters
    ----------
    name : {"P45"}
        ``"P45"``: a 75 x 100 px x 2048 ch Bruker map of a dacite (public domain).

    Returns
    -------
    pathlib.Path
    """
    files = {"P45": "P45_12bit_packed_8bit.bcf"}
    if name not in files:
        raise ValueError(f"Unknown sample {name!r}; bundled samples: {', '.join(files)}.")
    return Path(__file__).resolve().parents[1] / "data" / files[name]
