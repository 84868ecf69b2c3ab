"""A mineral the model was not trained on is said, not silently labelled as another (session 60).

The bundled model labelled a rutile in a granite as biotite and a hornblende as biotite or K-feldspar, and ``segment``
printed the modal fractions with no word. Now the pixels whose PP / BSE levels lie far from those of the class they
were given (``phaselib.deep._unknown``) are counted and ``segment`` notes them."""

from pathlib import Path

from phaselib.__main__ import main
from phaselib.datasets import make_texture, render_thin_section, write_training_folder
from phaselib.deep import load_model, predict
from phaselib.deep._data import stack

MODEL = Path(__file__).resolve().parents[1] / "dashboards" / "data" / "deep_model.onnx"
KNOWN = ["quartz", "K-feldspar", "andesine", "biotite"]


def _section(fourth, seed, **render):
    lab, gid = make_texture((128, 128), fractions=[0.35, 0.3, 0.2, 0.15], grain_size=20, matrix_fraction=0.0,
                            seed=seed, inclusion_density=0)
    return render_thin_section(lab, gid, KNOWN[:3] + [fourth], seed=seed, **render)


def _x(s, meta):
    return stack({"pp": s.pp, "xp": s.xp, "bse": s.bse[..., None]}, meta["inputs"])


def test_a_mineral_the_model_lacks_is_counted_and_its_known_neighbours_are_not():
    from phaselib.deep._unknown import NOTE_SHARE, note, unexplained

    model = load_model(MODEL)
    meta = model.meta  # with the levels of its six training sections' classes (scripts/level_bundled_model.py)
    # rutile where biotite was (15 % of the section): the network calls it biotite (0.9 of its pixels or more)
    s = _section("rutile", 7)
    x = _x(s, meta)
    pred = predict(model, x)
    rutile = s.truth == s.phase_names.index("rutile")
    assert (pred[rutile] == meta["classes"].index("biotite")).mean() > 0.8
    shares = unexplained(x, pred, meta)
    assert sum(shares.values()) > 4 * NOTE_SHARE and max(shares, key=shares.get) == "biotite", shares
    line = note("S", shares)
    assert line and "biotite" in line and "not trained on" in line
    # the trained minerals, under another lamp, a colour cast and more blur: nothing to say
    for seed, render in ((8, {}), (9, {"brightness": 1.2}), (10, {"colour": (1.1, 1.0, 0.88)}), (11, {"blur": 0.9})):
        s = _section("biotite", seed, **render)
        x = _x(s, meta)
        shares = unexplained(x, predict(model, x), meta)
        assert sum(shares.values()) < NOTE_SHARE / 4, (render, shares)
        assert note("S", shares) is None
    # a model that records no class levels (made before session 59) has nothing to compare with
    assert unexplained(x, predict(model, x), {**meta, "class_levels": None}) == {}


def test_segment_notes_a_mineral_the_model_lacks(tmp_path, capsys):
    write_training_folder(tmp_path / "in", [_section("rutile", 7), _section("biotite", 8)], ["odd", "plain"],
                          true_labels=True)
    assert main(["segment", "--input_model", str(MODEL), "--input_path", str(tmp_path / "in"), "--output_path",
                 str(tmp_path / "out"), "--views", "1"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "not trained on" in line]
    assert len(said) == 1 and said[0].startswith("phaselib: note: odd: ") and "biotite" in said[0], err
