"""Damaged headers and absurd calibrations that a fuzzing pass took without a word (docs/bad-input.md).

* ``.rpl`` sizes after the first 64 kB of the header (a long ``;`` comment or ``title`` first) were not
  checked: ``height 0`` was mapped as one row, ``width 99999999`` kept the command line busy for minutes;
* a trailing ``; comment`` on a ``.rpl`` line, which RosettaSciIO strips, was refused;
* an X-ray map calibrated absurdly (1e9 keV per channel, an axis from 1e9 keV) with no beam energy known
  was mapped whole (the default window then ran to the top of the axis); messages about such axes
  printed 300-digit numbers.

Every file is written in ``tmp_path``; the command line runs in a forked child (``_badfiles.guarded``),
so that a hang is a failed test.
"""

import re

import numpy as np
import pytest
from _badfiles import cli_main, guarded

import phaselib
from phaselib import SpectrumImage
from phaselib.preprocess import energy_channels, energy_window, energy_window_slice

LONG = 70_000  # characters of the first line: past the 64 kB the header check used to read


@pytest.fixture(scope="module")
def rock():
    from phaselib.datasets import make_rock

    return np.asarray(make_rock((24, 30), counts_per_pixel=150, seed=1).image.data)


def write_rpl(folder, name, data, *, first=None, lines=(), width=None, height=None, origin=-0.2, scale=0.01):
    """A ``.rpl`` over ``data`` (uint16, little endian) in its ``.raw``; ``first``: a line put first,
    ``lines``: lines put before the sizes, ``width``/``height``: sizes declared instead of the data's."""
    h, w, c = data.shape
    header = [first] if first is not None else []
    header += ["key\tvalue", *lines, f"width\t{w if width is None else width}",
               f"height\t{h if height is None else height}", f"depth\t{c}", "offset\t0", "data-length\t2",
               "data-type\tunsigned", "byte-order\tlittle-endian", "record-by\tvector", f"depth-scale\t{scale}",
               f"depth-origin\t{origin}", "depth-units\tkeV"]
    rpl = folder / f"{name}.rpl"
    rpl.write_text("\n".join(header) + "\n")
    (folder / f"{name}.raw").write_bytes(data.astype("<u2").tobytes())
    return rpl


def _read(path):
    image = phaselib.load(path)
    return tuple(image.shape), int(np.asarray(image.data).sum())


def _map(path, tmp_path, *options):
    """``(exit status, stderr)`` of ``python -m phaselib map path``, in a forked child (60 s at most)."""
    result = guarded(cli_main, ["map", str(path), "--out", str(tmp_path / "out"), "--quiet", *options], timeout=60)
    assert result[0] == "ok", result  # not a hang, a crash or an exception out of main
    return result[1]


def _one_clear_line(err, tmp_path):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("phaselib: error:"), err
    assert str(tmp_path) not in err and "x" * 50 not in err and not re.search(r"\d{20}", err), err
    assert len(err) < 400, err


# ----------------------------------------------------------------- A1: the whole .rpl header is checked
@pytest.mark.parametrize("first", [";" + "x" * LONG, "title\t" + "x" * LONG], ids=["comment", "title"])
@pytest.mark.parametrize("size", [dict(height=0), dict(width=0), dict(height=-3)], ids=["height0", "width0", "neg"])
def test_rpl_sizes_after_a_long_first_line_are_checked(tmp_path, rock, first, size):
    data = rock[:1] if "height" in size else rock[:, :1]
    rpl = write_rpl(tmp_path, "long", data, first=first, **size)
    result = guarded(_read, rpl, timeout=30)
    assert result[0] == "error" and "ValueError" in result[1], result
    key, value = next(iter(size.items()))
    assert f"declares {key} {value}" in result[2] and str(tmp_path) not in result[2] and "xxxx" not in result[2]


def test_rpl_width_beyond_its_raw_after_a_long_comment_is_refused_at_once(tmp_path, rock):
    rpl = write_rpl(tmp_path, "wide", rock, first=";" + "x" * LONG, width=99_999_999, height=40)
    (tmp_path / "wide.raw").write_bytes(b"\1\0" * 50)
    code, err = _map(rpl, tmp_path)  # it ran 145 s before refusing
    assert code == 2 and "its .raw holds 100" in err, err
    _one_clear_line(err, tmp_path)


def test_rpl_header_too_big_is_refused(tmp_path, rock):
    rpl = write_rpl(tmp_path, "huge", rock, first=";" + "x" * (5 << 20))
    with pytest.raises(phaselib.io.DamagedFileError, match=r"'huge\.rpl' is too big for a \.rpl header"):
        phaselib.load(rpl)


def test_rpl_with_a_long_first_line_and_right_sizes_still_loads(tmp_path, rock):
    rpl = write_rpl(tmp_path, "fine", rock, first="title\t" + "x" * LONG)
    np.testing.assert_array_equal(np.asarray(phaselib.load(rpl).data), rock)


# ----------------------------------------------------------------- F: lines as RosettaSciIO parses them
@pytest.mark.parametrize("lines", [
    ["width\t30 ; the width", "height\t24;rows"],  # trailing comments, stripped by RosettaSciIO
    ["width\t0", "height\t0"],  # a key given twice: RosettaSciIO keeps the last (the sizes below)
], ids=["trailing_comment", "repeated_key"])
def test_rpl_lines_parsed_as_rosettasciio_does(tmp_path, rock, lines):
    rpl = write_rpl(tmp_path, "ok", rock)
    text = rpl.read_text().splitlines()
    if lines[0].startswith("width\t30"):
        text = [ln for ln in text if not ln.startswith(("width", "height"))] + lines
    else:
        text = text[:1] + lines + text[1:]
    rpl.write_text("\r\n".join(text) + "\r\n")
    image = phaselib.load(rpl)
    assert image.shape == rock.shape
    np.testing.assert_array_equal(np.asarray(image.data), rock)


# ----------------------------------------------------------------- A6: absurd energy calibrations
@pytest.mark.parametrize("offset, scale", [(-0.2, 1e9), (1e9, 0.01)], ids=["scale1e9", "offset1e9"])
def test_map_with_an_absurd_calibration_is_refused(tmp_path, rock, offset, scale):
    np.save(tmp_path / "rock.npy", rock)
    code, err = _map(tmp_path / "rock.npy", tmp_path, "--energy-offset", str(offset), "--energy-scale", str(scale))
    assert code == 2 and "energy calibration" in err, err
    _one_clear_line(err, tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("origin, scale", [(-0.2, 1e300), (1e300, 0.01)], ids=["depth_scale", "depth_origin"])
def test_rpl_with_an_absurd_calibration_is_refused_in_short_words(tmp_path, rock, origin, scale):
    rpl = write_rpl(tmp_path, "absurd", rock, origin=origin, scale=scale)
    code, err = _map(rpl, tmp_path)
    assert code == 2, err
    _one_clear_line(err, tmp_path)  # the numbers as 1e+300, not 300 digits


def test_hspy_with_an_absurd_scale_and_a_beam_energy_is_refused_in_short_words(tmp_path, rock):
    image = SpectrumImage(rock, energy_offset=-0.2, energy_scale=1e300, beam_energy=20.0)
    path = phaselib.save(image, tmp_path / "absurd.hspy")
    code, err = _map(path, tmp_path)
    assert code == 2 and "1e+300" in err, err
    _one_clear_line(err, tmp_path)


def test_energy_window_counts_channels_in_kev(rock):
    """A millionth of a channel is 1000 keV at 1e9 keV per channel: the channel at -0.2 keV is not in 0.1-20 keV."""
    image = SpectrumImage(rock, energy_offset=-0.2, energy_scale=1e9, beam_energy=20.0)
    with pytest.raises(ValueError, match="holds 0 channel"):
        energy_window(image, 0.1, 20.0)
    with pytest.raises(ValueError, match="energy calibration"):
        energy_channels(image)
    with pytest.raises(ValueError, match="runs past the largest number"):  # an OverflowError before
        energy_window_slice(0.0, 1e306, 2048, 0.1, None)


def test_other_axes_are_windowed_as_before(rock):
    """Intensity cubes and axes in other units than keV keep their windows (the whole axis by default)."""
    cube = SpectrumImage(rock.astype(np.float32), energy_offset=1e9, energy_scale=1e9, signal="intensity",
                         axis_name="Wavelength", axis_units="Angstrom")
    assert energy_channels(cube, None) == slice(0, rock.shape[2])
    tof = SpectrumImage(rock, energy_offset=1e9, energy_scale=1e9, axis_name="Time", axis_units="us")
    assert energy_channels(tof) == slice(0, rock.shape[2])
    eds = SpectrumImage(rock, energy_offset=-0.2, energy_scale=0.01)  # an ordinary map, no beam energy
    assert energy_channels(eds) == slice(30, rock.shape[2])


@pytest.mark.parametrize("declared", [4096, 100, 2047])
def test_an_msa_whose_header_declares_other_points_than_it_holds_is_refused(tmp_path, declared):
    """An EMSA spectrum whose ``#NPOINTS`` is not the number of its values (truncated, or another file's header)
    was read without a word (fuzz campaign, session 45); the file as written, with the same header, still reads."""
    from phaselib.quantify import save_msa

    spectrum = np.random.default_rng(0).poisson(50.0, (1, 2048)).astype(float)
    [good] = save_msa(spectrum, -0.2, 0.01, tmp_path, names=["s"], beam_energy=20.0)
    assert phaselib.load(good).shape == (1, 1, 2048)
    text = good.read_text()
    bad = tmp_path / "bad.msa"
    bad.write_text(re.sub(r"#NPOINTS\s*:\s*[0-9.]+", f"#NPOINTS     : {declared}", text))
    with pytest.raises(ValueError, match=f"declares {declared} points, it holds 2048"):
        phaselib.load(bad)
